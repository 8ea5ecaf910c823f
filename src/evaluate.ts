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
import { evaluate, medianAndP95, type EvaluationReport, type ScoredEvent } from './eval/metrics.js';
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
        return collector ? (report) => collector.onPatch(report, MEL_BANDS) : undefined;
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
  return lines.join('\n');
}
