/**
 * `earshot tune`: searches detection settings (per-label thresholds, k-of-n voting, patch hop,
 * silence gate) for the best hostile event-based F1 within a false-alarm budget per hour.
 *
 * The model runs once per file at the finest hop asked for, and its scores are cached on disk
 * (keyed by model and file sha256), so a search, and the next search, never rerun the model:
 * every candidate setting replays the cached scores through the same {@link EventDetector} the
 * daemon uses.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { analyzeFile } from '../analyze.js';
import type { EarshotConfig } from '../config.js';
import { EventDetector } from '../detect/detector.js';
import { LabelMap, resolveLabelSpecs, type LabelSpec } from '../detect/label-map.js';
import { EarshotError } from '../errors.js';
import { resolveModelPath } from '../inference/load-model.js';
import { resolveManifest } from '../inference/manifest.js';
import { sha256File } from '../inference/model-store.js';
import type { Logger } from '../log.js';
import { openModelAndLabels, pipelineSettings } from '../setup.js';
import { SAMPLE_RATE } from '../types.js';
import { readReference } from './annotations.js';
import { evaluate, type ScoredEvent } from './metrics.js';
import { drawTradeoff, type TradeoffPoint } from './plot.js';

/** One patch's cached scores: only the classes some label maps. */
interface CachedPatch {
  s: number;
  rms: number;
  peak: number;
  scores: number[];
}

/** The cached scores of one file at one hop. */
interface CachedFile {
  name: string;
  duration: number;
  hopFrames: number;
  classNames: string[];
  patches: CachedPatch[];
}

/** A candidate setting. */
export interface TuneSetting {
  hopFrames: number;
  voteK: number;
  voteN: number;
  silenceGateDbfs: number;
  thresholds: Record<string, number>;
}

/** A candidate's figures (group hostile, collar as asked). */
export interface TuneScore {
  f1: number;
  precision: number;
  recall: number;
  falseAlarmsPerHour: number;
}

/** What `tune` found. */
export interface TuneResult {
  best: TuneSetting;
  score: TuneScore;
  /** The starting point (the config as given) for comparison. */
  baseline: { setting: TuneSetting; score: TuneScore };
  budget: number;
  simulations: number;
  curves: { label: string; chosen: number; points: TradeoffPoint[] }[];
  /** Per label, release / threshold (kept from the config while thresholds move). */
  releaseRatios: Record<string, number>;
}

const THRESHOLDS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const VOTES: [number, number][] = [[1, 1], [2, 2], [2, 3]];
const GATES = [-70, -60, -50];

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Runs the model over each file at `hopFrames` (cached on disk) and returns the scores. */
async function scoreFiles(config: EarshotConfig, log: Logger, files: string[], hopFrames: number, cacheDir: string): Promise<CachedFile[]> {
  mkdirSync(cacheDir, { recursive: true });
  const modelConfig = structuredClone(config);
  modelConfig.frontend.hop_frames = hopFrames;
  modelConfig.detection.silence_gate_dbfs = -140;
  const { model, labels } = await openModelAndLabels(modelConfig, log);
  const classNames = [...new Set(labels.flatMap((l) => l.classes))];
  const classIndex = classNames.map((c) => model.classNames.indexOf(c));
  const out: CachedFile[] = [];
  try {
    for (const file of files) {
      const key = createHash('sha256').update(`${model.sha256}|${await sha256File(file)}|${hopFrames}|${classNames.join('\u0001')}`).digest('hex').slice(0, 24);
      const cachePath = join(cacheDir, `${basename(file)}.${key}.json`);
      if (existsSync(cachePath)) {
        out.push(JSON.parse(readFileSync(cachePath, 'utf8')) as CachedFile);
        continue;
      }
      const patches: CachedPatch[] = [];
      const analysis = await analyzeFile(file, model, labels, pipelineSettings(modelConfig), config.node_id, (report) => {
        const scores = report.classScores;
        patches.push({ s: report.patch.startSample, rms: report.rmsDbfs, peak: report.peakDbfs, scores: classIndex.map((i) => (scores ? Number(scores[i].toFixed(5)) : 0)) });
      });
      const cached: CachedFile = { name: basename(file), duration: analysis.durationSeconds, hopFrames, classNames, patches };
      writeFileSync(cachePath, JSON.stringify(cached));
      log.info({ file: basename(file), patches: patches.length }, 'scored');
      out.push(cached);
    }
  } finally {
    model.close();
  }
  return out;
}

/** Replays cached scores through the detector with one setting. @returns the detected events */
function replay(files: CachedFile[], labels: LabelSpec[], setting: TuneSetting, config: EarshotConfig): ScoredEvent[] {
  const specs = labels.map((l) => {
    const threshold = setting.thresholds[l.name] ?? l.threshold;
    return { ...l, threshold, release: Math.min(l.release / l.threshold, 1) * threshold };
  });
  const events: ScoredEvent[] = [];
  for (const file of files) {
    const map = new LabelMap(file.classNames, specs, 'tune');
    const detector = new EventDetector(specs, {
      voteK: setting.voteK,
      voteN: setting.voteN,
      mergeGapSamples: Math.round(config.detection.merge_gap_seconds * SAMPLE_RATE),
      minDurationSamples: Math.round(config.detection.min_duration_seconds * SAMPLE_RATE),
      hopSamples: setting.hopFrames * 160,
      exclusiveGroups: config.detection.exclusive_groups,
    }, () => '');
    const outputs = [];
    let index = 0;
    for (const p of file.patches) {
      if ((p.s / 160) % setting.hopFrames !== 0) continue;
      const gated = p.rms < setting.silenceGateDbfs;
      outputs.push(...detector.observe({ index: index++, startSample: p.s, endSample: p.s + 15600, peakDbfs: p.peak, labelScores: gated ? null : map.map(p.scores) }));
    }
    outputs.push(...detector.finish());
    for (const o of outputs) {
      if (o.kind === 'offset') events.push({ filename: file.name, onset: o.event.onsetSample / SAMPLE_RATE, offset: o.event.offsetSample / SAMPLE_RATE, label: o.event.label });
    }
  }
  return events;
}

/** Better: within budget beats over budget; then higher F1; then fewer false alarms. */
function better(a: TuneScore, b: TuneScore, budget: number): boolean {
  const aOk = a.falseAlarmsPerHour <= budget + 1e-9;
  const bOk = b.falseAlarmsPerHour <= budget + 1e-9;
  if (aOk !== bOk) return aOk;
  if (!aOk) return a.falseAlarmsPerHour < b.falseAlarmsPerHour;
  if (Math.abs(a.f1 - b.f1) > 1e-9) return a.f1 > b.f1;
  return a.falseAlarmsPerHour < b.falseAlarmsPerHour;
}

/**
 * Tunes the config's detection settings on `files` against `refPath`.
 * @param hops candidate patch hops in frames (the model runs at their greatest common divisor)
 * @param budget false alarms per hour allowed on files with no hostile reference
 * @param outDir writes `tradeoff.png` and `tune.json` there
 * @throws EarshotError for unreadable inputs or no hostile label to tune
 */
export async function tune(config: EarshotConfig, log: Logger, refPath: string, files: string[], options: { hops: number[]; budget: number; collar: number; outDir: string; cacheDir: string }): Promise<TuneResult> {
  const reference = readReference(refPath, files);
  const fineHop = options.hops.reduce(gcd);
  const cached = await scoreFiles(config, log, files, fineHop, options.cacheDir);
  // Label specs as the pipeline builds them (classes from the manifest), without reopening the model.
  const modelPath = resolveModelPath(config.model.path, config.model_dir);
  const manifest = resolveManifest(config.model.manifest, modelPath, await sha256File(modelPath));
  const labels = resolveLabelSpecs(config.detection.labels, manifest.class_map).specs;
  const hostile = labels.filter((l) => l.group === 'hostile').map((l) => l.name);
  if (hostile.length === 0) throw new EarshotError('tune: no enabled hostile label has classes in this model');
  const durations = new Map(cached.map((f) => [f.name, f.duration]));
  const refEvents = reference.events.filter((e) => durations.has(e.filename));
  const groupOf = (label: string) => config.detection.labels[label]?.group ?? 'non_hostile';
  let simulations = 0;
  const score = (setting: TuneSetting): TuneScore => {
    simulations += 1;
    const report = evaluate(refEvents, replay(cached, labels, setting, config), durations, groupOf, options.collar);
    const h = report.groups.hostile ?? { f1: 0, precision: 0, recall: 0 };
    return { f1: h.f1, precision: h.precision, recall: h.recall, falseAlarmsPerHour: report.hostileFalseAlarmsPerHour };
  };
  const baselineSetting: TuneSetting = {
    hopFrames: options.hops.includes(config.frontend.hop_frames) ? config.frontend.hop_frames : options.hops[0],
    voteK: config.detection.vote_k,
    voteN: config.detection.vote_n,
    silenceGateDbfs: config.detection.silence_gate_dbfs,
    thresholds: Object.fromEntries(hostile.map((name) => [name, config.detection.labels[name].threshold])),
  };
  const baseline = { setting: baselineSetting, score: score(baselineSetting) };
  let best = baseline;
  for (const hopFrames of options.hops) {
    for (const [voteK, voteN] of VOTES) {
      for (const silenceGateDbfs of GATES) {
        // Coordinate descent over the hostile thresholds, from the config's values and from two
        // uniform starts (one label's threshold alone is often stuck where a pair moving together is not).
        const starts = [baselineSetting.thresholds, Object.fromEntries(hostile.map((n) => [n, 0.2])), Object.fromEntries(hostile.map((n) => [n, 0.5]))];
        for (const start of starts) {
          let current = { setting: { ...baselineSetting, hopFrames, voteK, voteN, silenceGateDbfs, thresholds: { ...start } }, score: { f1: -1, precision: 0, recall: 0, falseAlarmsPerHour: Infinity } };
          current.score = score(current.setting);
          for (let round = 0; round < 2; round++) {
            for (const name of hostile) {
              for (const threshold of THRESHOLDS) {
                const setting = { ...current.setting, thresholds: { ...current.setting.thresholds, [name]: threshold } };
                const s = score(setting);
                if (better(s, current.score, options.budget)) current = { setting, score: s };
              }
            }
          }
          if (better(current.score, best.score, options.budget)) best = current;
        }
      }
    }
  }
  // The trade-off of each hostile label's threshold around the best setting.
  const curves = hostile.map((name) => ({
    label: name,
    chosen: best.setting.thresholds[name],
    points: THRESHOLDS.map((threshold) => {
      const s = score({ ...best.setting, thresholds: { ...best.setting.thresholds, [name]: threshold } });
      return { threshold, precision: s.precision, recall: s.recall, f1: s.f1, falseAlarmsPerHour: s.falseAlarmsPerHour };
    }),
  }));
  const releaseRatios = Object.fromEntries(labels.map((l) => [l.name, l.threshold > 0 ? l.release / l.threshold : 0.5]));
  const result: TuneResult = { best: best.setting, score: best.score, baseline, budget: options.budget, simulations, curves, releaseRatios };
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(join(options.outDir, 'tradeoff.png'), drawTradeoff(curves, options.budget));
  writeFileSync(join(options.outDir, 'tune.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The best setting as a config snippet (YAML), with the figures as comments. */
export function configSnippet(result: TuneResult): string {
  const s = result.best;
  const fig = (x: TuneScore) => `hostile F1 ${x.f1.toFixed(3)} (P ${x.precision.toFixed(3)}, R ${x.recall.toFixed(3)}), ${x.falseAlarmsPerHour.toFixed(1)} false alarms/h`;
  return [
    `# earshot tune: ${fig(result.score)} (budget ${result.budget}/h; ${result.simulations} settings tried)`,
    `# the config as given: ${fig(result.baseline.score)}`,
    'frontend:',
    `  hop_frames: ${s.hopFrames}`,
    'detection:',
    `  silence_gate_dbfs: ${s.silenceGateDbfs}`,
    `  vote_k: ${s.voteK}`,
    `  vote_n: ${s.voteN}`,
    '  labels:',
    ...Object.entries(s.thresholds).map(([name, t]) => `    ${name}: { threshold: ${t}, release: ${Number((t * (result.releaseRatios[name] ?? 0.5)).toFixed(4))} }`),
    '',
  ].join('\n');
}
