/**
 * `earshot eval`: runs the detection pipeline over files (the same code as `analyze` and `run`)
 * and scores it against DCASE-style references.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { analyzeFiles, type FilesRun } from './analyze.js';
import { endRun, moreSetsFor } from './analysis-jobs.js';
import type { ModelSet } from './pipeline/model-set.js';
import { modelOpener } from './pipeline/worker-options.js';
import type { EarshotConfig } from './config/schema.js';
import { EarshotError } from './errors.js';
import type { Logger } from './log.js';
import type { PatchReport } from './detect/patch-report.js';
import { openModelAndLabels, pipelineSettings } from './setup.js';
import { readReference } from './eval/annotations.js';
import { evaluate, filesWithGroup, medianAndP95, unmatchedEvents, type EvaluationReport, type ScoredEvent } from './eval/metrics.js';
import { drawFilePlot } from './eval/plot.js';
import { MEL_BANDS, SAMPLE_RATE } from './constants.js';

/** An evaluation with what produced it. */
export interface EvalResult {
  /** With extra models: paths, ids and backends joined with `+`, primary first. */
  model: { path: string; id: string; backend: string; head?: { path: string; sha256: string; trained_at: string; clip_count: number } };
  files: number;
  audioSeconds: number;
  /** Wall time of the analysis, seconds. */
  analysisSeconds: number;
  /** At the requested collar, and at 0.2 s. */
  reports: EvaluationReport[];
  onsetError: { median: number; p95: number };
  /** Every detected event (file names without folders). */
  detected: ScoredEvent[];
  /** Where the hostile figures at the requested collar lose: the misses and the unmatched detections. */
  hostileUnmatched: { collar: number; missed: MissedReference[]; unmatched: UnmatchedDetection[] };
}

/** A hostile reference event that no hostile detection matched (group level; times in seconds). */
export interface MissedReference extends ScoredEvent {
  /**
   * The highest score (0..1) the detector read for the reference's label in any patch overlapping
   * the event: near the threshold, a lower threshold would find it; near 0, the model (or head) does
   * not hear it as that label. Null when the detector has no such label.
   */
  peak_score: number | null;
  /** The label's threshold in the detector; null as above. */
  threshold: number | null;
}

/** A hostile detection that matched no reference event (group level; times in seconds). */
export interface UnmatchedDetection extends ScoredEvent {
  /** The file holds no hostile reference, so the detection is one of the false alarms per hour. */
  false_alarm: boolean;
  /**
   * Labels of the reference events the detection overlaps, in onset order: a non-hostile one names
   * what set it off (`clapping`); a hostile one means a second or late detection of that event.
   */
  overlaps: string[];
}

/** One patch's label scores and where it lies in its file (seconds). */
interface PatchScores {
  start: number;
  end: number;
  scores: Float32Array;
}

/** The group of a label per the config (labels the config does not know are non-hostile). */
export function groupOfLabel(config: EarshotConfig): (label: string) => string {
  return (label) => config.detection.labels[label]?.group ?? 'non_hostile';
}

/** Collects one file's log-mel frames and label scores for its picture. */
class PlotCollector {
  private readonly rows: Float32Array[] = [];
  readonly patches: { timeSeconds: number; scores: Float32Array | null }[] = [];

  onPatch(report: PatchReport, melBands: number): void {
    const { patch } = report;
    const frameCount = patch.frames.length / melBands;
    for (let f = 0; f < frameCount; f++) {
      this.rows[patch.firstFrame + f] ??= patch.frames.slice(f * melBands, (f + 1) * melBands);
    }
    this.patches.push({
      timeSeconds: (patch.startSample + patch.endSample) / 2 / SAMPLE_RATE,
      scores: report.labelScores && Float32Array.from(report.labelScores),
    });
  }

  frames(melBands: number): Float32Array {
    const out = new Float32Array(this.rows.length * melBands);
    this.rows.forEach((row, f) => {
      if (row) out.set(row, f * melBands);
    });
    return out;
  }
}

/**
 * Analyses `files` and scores them against `refPath` (DCASE TSV, or Audacity label tracks).
 * @param outDir when given, writes `report.md`, `report.json` and one `<file>.png` per file there
 * @param jobs model sets analysing files side by side (src/analysis-jobs.ts; `eval --jobs`): 1
 *   (the default) runs the models on this thread; more run every set in its own worker, the
 *   sets beyond the first only for enough audio ({@link moreSetsFor}). The figures are the same.
 * @throws EarshotError when any input is unreadable
 */
export async function evaluateFiles(
  config: EarshotConfig,
  log: Logger,
  refPath: string,
  files: string[],
  collar: number,
  outDir?: string,
  jobs = 1,
): Promise<EvalResult> {
  if (new Set(files.map((f) => basename(f))).size !== files.length)
    throw new EarshotError('eval: two audio files share a file name; references are matched by file name');
  const reference = readReference(refPath, files);
  const known = new Set(reference.files);
  for (const file of files) {
    if (!known.has(basename(file)))
      log.warn({ file: basename(file) }, `${refPath} has no events for this file: it is scored as a file with no reference events`);
  }
  const moreSets = moreSetsFor(files, jobs);
  const load = moreSets > 0 ? modelOpener(config, log) : undefined;
  const opening = openModelAndLabels(config, log, load);
  opening.catch(() => undefined); // awaited below
  const moreOpening = Array.from({ length: moreSets }, () => openModelAndLabels(config, log, load).then(({ models: set }) => set));
  for (const more of moreOpening) more.catch(() => undefined); // analyzeFiles logs a failure; with the first failing too, nobody needs to hear
  let started = performance.now();
  const system: ScoredEvent[] = [];
  const durations = new Map<string, number>();
  const pictures: { file: string; collector: PlotCollector; duration: number }[] = [];
  const collectors = files.map(() => (outDir ? new PlotCollector() : null));
  // Every patch's label scores, for the peak score of each missed reference.
  const patchScores: PatchScores[][] = files.map(() => []);
  let run: FilesRun | undefined;
  let firstSet: ModelSet | undefined;
  try {
    const opened = await opening;
    started = performance.now(); // analysis time, not the models' opening
    firstSet = opened.models;
    run = analyzeFiles(files, firstSet, opened.labels, pipelineSettings(config), config.node_id, {
      moreSets: moreOpening,
      onPatchFor: (index) => {
        const collector = collectors[index];
        const scores = patchScores[index]!;
        return (report) => {
          if (report.labelScores)
            scores.push({
              start: report.patch.startSample / SAMPLE_RATE,
              end: report.patch.endSample / SAMPLE_RATE,
              scores: Float32Array.from(report.labelScores),
            });
          collector?.onPatch(report, MEL_BANDS);
        };
      },
      log,
    });
    for (const [index, file] of files.entries()) {
      const analysis = await run.result(index);
      durations.set(basename(file), analysis.durationSeconds);
      for (const e of analysis.events) system.push({ filename: basename(file), onset: e.onset_s, offset: e.offset_s ?? e.onset_s, label: e.label });
      const collector = collectors[index];
      if (collector) pictures.push({ file: basename(file), collector, duration: analysis.durationSeconds });
    }
  } finally {
    endRun(run, firstSet, moreOpening);
  }
  const { model, models, labels } = await opening; // opened (else the try threw): for the report
  const analysisSeconds = (performance.now() - started) / 1000;
  const refEvents = reference.events.filter((e) => durations.has(e.filename));
  const groupOf = groupOfLabel(config);
  const reports = [...new Set([collar, 0.2])].map((c) => evaluate(refEvents, system, durations, groupOf, c));
  const { missed, unmatched } = unmatchedEvents(refEvents, system, groupOf, 'hostile', collar);
  const fileIndex = new Map(files.map((f, i) => [basename(f), i]));
  const labelIndex = new Map(labels.map((l, i) => [l.name, i]));
  const filesWithHostile = filesWithGroup(refEvents, groupOf, 'hostile');
  // A span of no length (an onset-only reference or detection) still overlaps what holds its onset.
  const endOf = (e: ScoredEvent) => Math.max(e.offset, e.onset + 1e-3);
  const overlapping = (a: ScoredEvent, start: number, end: number) => start < endOf(a) && a.onset < end;
  const result: EvalResult = {
    model: {
      path: models.models.map((m) => m.path).join('+'),
      id: models.id,
      backend: [...new Set(models.models.map((m) => m.backend.kind))].join('+'),
      ...(models.head
        ? { head: { path: models.head.path, sha256: models.head.head.sha256, trained_at: models.head.head.trainedAt, clip_count: models.head.head.clipCount } }
        : {}),
    },
    files: files.length,
    audioSeconds: [...durations.values()].reduce((a, b) => a + b, 0),
    analysisSeconds,
    reports,
    onsetError: medianAndP95(reports[0].groups.hostile?.onsetErrors ?? []),
    detected: system,
    hostileUnmatched: {
      collar,
      missed: missed.map((e) => {
        const l = labelIndex.get(e.label);
        if (l === undefined) return { ...e, peak_score: null, threshold: null };
        const inEvent = patchScores[fileIndex.get(e.filename)!]!.filter((p) => overlapping(e, p.start, p.end));
        return { ...e, peak_score: Number(Math.max(0, ...inEvent.map((p) => p.scores[l]!)).toFixed(4)), threshold: labels[l]!.threshold };
      }),
      unmatched: unmatched.map((e) => ({
        ...e,
        false_alarm: !filesWithHostile.has(e.filename),
        overlaps: refEvents
          .filter((r) => r.filename === e.filename && overlapping(e, r.onset, endOf(r)))
          .sort((a, b) => a.onset - b.onset)
          .map((r) => r.label),
      })),
    },
  };
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    for (const { file, collector, duration } of pictures) {
      // Hostile labels always; a non-hostile one only where it came near its threshold.
      const shown = labels
        .map((l, i) => ({ l, i }))
        .filter(({ l, i }) => l.group === 'hostile' || collector.patches.some((p) => p.scores && p.scores[i] >= l.threshold / 2));
      const png = drawFilePlot({
        title: `${file}: ${models.id}, ${model.backend.kind}`,
        durationSeconds: duration,
        frames: collector.frames(MEL_BANDS),
        melBands: MEL_BANDS,
        patches: collector.patches.map((p) => ({ timeSeconds: p.timeSeconds, scores: p.scores && shown.map(({ i }) => p.scores![i]) })),
        labels: shown.map(({ l }) => ({ name: l.name, threshold: l.threshold })),
        reference: refEvents.filter((e) => e.filename === file),
        detected: system.filter((e) => e.filename === file),
      });
      writeFileSync(join(outDir, `${file.replace(/\.[^.]+$/, '')}.png`), png);
    }
    writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(outDir, 'report.md'), formatReport(result));
  }
  return result;
}

const pct = (x: number) => x.toFixed(3);

/** A Markdown report of an evaluation. */
export function formatReport(result: EvalResult): string {
  const lines = [
    `# earshot eval`,
    '',
    `model ${result.model.id} (${result.model.path}), backend ${result.model.backend}; ${result.files} files, ${(result.audioSeconds / 60).toFixed(1)} min of audio analysed in ${result.analysisSeconds.toFixed(1)} s`,
    '',
  ];
  const head = result.model.head;
  if (head) lines.splice(3, 0, `head ${head.path} (sha256 ${head.sha256.slice(0, 12)}, trained ${head.trained_at} on ${head.clip_count} clips)`);
  for (const report of result.reports) {
    lines.push(`## Onset collar ${report.collar} s`, '', '| class | ref | sys | TP | precision | recall | F1 |', '|---|---|---|---|---|---|---|');
    for (const [name, r] of Object.entries(report.groups))
      lines.push(`| **group ${name}** | ${r.nRef} | ${r.nSys} | ${r.tp} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.f1)} |`);
    for (const [name, r] of Object.entries(report.labels))
      lines.push(`| ${name} | ${r.nRef} | ${r.nSys} | ${r.tp} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.f1)} |`);
    lines.push(
      '',
      `hostile false alarms per hour on files with no hostile reference: ${report.hostileFalseAlarmsPerHour.toFixed(1)} (over ${(report.hostileFreeHours * 60).toFixed(1)} min)`,
      '',
    );
    if (report === result.reports[0]) {
      const seg = report.segments;
      lines.push(
        `Segment-based F1 (${seg.groups.resolution} s segments): ${Object.entries(seg.groups.classes)
          .map(([g, c]) => `${g} ${pct(c.f1)}`)
          .join(', ')}; over labels ${pct(seg.labels.overall.f1)}`,
        '',
      );
    }
  }
  lines.push(
    `hostile onset error (matched, collar ${result.reports[0].collar} s): median ${result.onsetError.median.toFixed(3)} s, p95 ${result.onsetError.p95.toFixed(3)} s`,
    '',
  );
  const { missed, unmatched } = result.hostileUnmatched;
  const seconds = (x: number) => x.toFixed(2);
  lines.push(
    `## Where the hostile figures lose (collar ${result.hostileUnmatched.collar} s)`,
    '',
    `Missed hostile references: ${missed.length}. The peak is the highest score the detector read for the label in the patches overlapping the event.`,
    '',
  );
  if (missed.length > 0) {
    lines.push('| file | onset s | offset s | label | peak score | threshold |', '|---|---|---|---|---|---|');
    for (const e of missed)
      lines.push(
        `| ${e.filename} | ${seconds(e.onset)} | ${seconds(e.offset)} | ${e.label} | ${e.peak_score === null ? 'not a detector label' : e.peak_score.toFixed(3)} | ${e.threshold ?? ''} |`,
      );
    lines.push('');
  }
  lines.push(
    `Hostile detections matching no reference: ${unmatched.length}. A false alarm is on a file with no hostile reference; the others are second or late detections, or detections of other sounds.`,
    '',
  );
  if (unmatched.length > 0) {
    lines.push('| file | onset s | offset s | label | false alarm | reference events overlapped |', '|---|---|---|---|---|---|');
    for (const e of unmatched)
      lines.push(
        `| ${e.filename} | ${seconds(e.onset)} | ${seconds(e.offset)} | ${e.label} | ${e.false_alarm ? 'yes' : 'no'} | ${e.overlaps.join(', ') || 'none'} |`,
      );
    lines.push('');
  }
  return lines.join('\n');
}
