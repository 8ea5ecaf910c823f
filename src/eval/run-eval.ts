/**
 * `earshot eval`: runs the detection pipeline over files (the same code as `analyze` and `run`)
 * and scores it against DCASE-style references.
 */
import { basename } from 'node:path';
import { analyzeFile } from '../analyze.js';
import type { EarshotConfig } from '../config.js';
import { EarshotError } from '../errors.js';
import type { Logger } from '../log.js';
import { openModelAndLabels, pipelineSettings } from '../setup.js';
import { readAnnotations } from './annotations.js';
import { evaluate, medianAndP95, type EvaluationReport, type ScoredEvent } from './metrics.js';

/** An evaluation with what produced it. */
export interface EvalResult {
  model: { path: string; id: string; backend: string };
  files: number;
  audioSeconds: number;
  /** Wall time of the analysis, seconds. */
  analysisSeconds: number;
  /** At the requested collar, and at 0.2 s. */
  reports: EvaluationReport[];
  onsetError: { median: number; p95: number };
}

/** The group of a label per the config (labels the config does not know are non-hostile). */
export function groupOfLabel(config: EarshotConfig): (label: string) => string {
  return (label) => config.detection.labels[label]?.group ?? 'non_hostile';
}

/**
 * Analyses `files` and scores them against `refPath`.
 * @throws EarshotError when a file is not in the reference, or any input is unreadable
 */
export async function evaluateFiles(config: EarshotConfig, log: Logger, refPath: string, files: string[], collar: number): Promise<EvalResult> {
  const reference = readAnnotations(refPath);
  const known = new Set(reference.files);
  for (const file of files) {
    if (!known.has(basename(file))) log.warn({ file: basename(file) }, `${refPath} has no events for this file: it is scored as a file with no reference events`);
  }
  if (new Set(files.map((f) => basename(f))).size !== files.length) throw new EarshotError('eval: two audio files share a file name; references are matched by file name');
  const { model, labels } = await openModelAndLabels(config, log);
  const started = performance.now();
  const system: ScoredEvent[] = [];
  const durations = new Map<string, number>();
  try {
    for (const file of files) {
      const analysis = await analyzeFile(file, model, labels, pipelineSettings(config), config.node_id);
      durations.set(basename(file), analysis.durationSeconds);
      for (const e of analysis.events) system.push({ filename: basename(file), onset: e.onset_s, offset: e.offset_s ?? e.onset_s, label: e.label });
    }
  } finally {
    model.close();
  }
  const analysisSeconds = (performance.now() - started) / 1000;
  const refEvents = reference.events.filter((e) => durations.has(e.filename));
  const groupOf = groupOfLabel(config);
  const reports = [...new Set([collar, 0.2])].map((c) => evaluate(refEvents, system, durations, groupOf, c));
  return {
    model: { path: model.path, id: model.manifest.id, backend: model.backend.kind },
    files: files.length,
    audioSeconds: [...durations.values()].reduce((a, b) => a + b, 0),
    analysisSeconds,
    reports,
    onsetError: medianAndP95(reports[0].groups.hostile?.onsetErrors ?? []),
  };
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
  for (const report of result.reports) {
    lines.push(`## Onset collar ${report.collar} s`, '', '| class | ref | sys | TP | precision | recall | F1 |', '|---|---|---|---|---|---|---|');
    for (const [name, r] of Object.entries(report.groups)) lines.push(`| **group ${name}** | ${r.nRef} | ${r.nSys} | ${r.tp} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.f1)} |`);
    for (const [name, r] of Object.entries(report.labels)) lines.push(`| ${name} | ${r.nRef} | ${r.nSys} | ${r.tp} | ${pct(r.precision)} | ${pct(r.recall)} | ${pct(r.f1)} |`);
    lines.push('', `hostile false alarms per hour on files with no hostile reference: ${report.hostileFalseAlarmsPerHour.toFixed(1)} (over ${(report.hostileFreeHours * 60).toFixed(1)} min)`, '');
  }
  lines.push(`hostile onset error (matched, collar ${result.reports[0].collar} s): median ${result.onsetError.median.toFixed(3)} s, p95 ${result.onsetError.p95.toFixed(3)} s`, '');
  return lines.join('\n');
}
