/**
 * `earshot tune`: searches detection settings (per-label thresholds, k-of-n voting, patch hop,
 * silence gate) for the best hostile event-based F1 within a false-alarm budget per hour; with
 * `extra_models` in the config, also the model combination (combine mode, each extra model's
 * weight, and which hostile labels it serves).
 *
 * Each model runs once per file at the finest hop asked for, and its scores are cached on disk
 * (keyed by model and file sha256), so a search, and the next search, never rerun a model: every
 * candidate setting combines the cached scores with the same {@link LabelCombiner} and replays
 * them through the same {@link EventDetector} the daemon uses.
 */
import { attachHead, resolveHeadSetting } from './inference/head/head-runtime.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { analyzeFile } from './analyze.js';
import type { EarshotConfig } from './config/schema.js';
import { LabelCombiner, resolveMemberLabels, unionLabels, type CombineMode } from './detect/combine.js';
import { EventDetector } from './detect/detector.js';
import { resolveLabelSpecs, type LabelSpec } from './detect/label-map.js';
import { EarshotError } from './errors.js';
import { loadModel, type LoadedModel } from './inference/load-model.js';
import { sha256File } from './inference/model-store.js';
import type { Logger } from './log.js';
import { pipelineSettings } from './setup.js';
import { FRAME_HOP_SAMPLES, PATCH_SAMPLES, SAMPLE_RATE } from './constants.js';
import { readReference } from './eval/annotations.js';
import { evaluate, type ScoredEvent } from './eval/metrics.js';
import { drawTradeoff, type TradeoffPoint } from './eval/plot.js';
import { headLabelSpecs } from './detect/head-labels.js';

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

/** How the extra models combine with the primary (only with `extra_models`). */
export interface TuneCombination {
  /** `detection.combine` (per-label overrides in the config are kept). */
  mode: CombineMode;
  /** Per extra model (config order): its weight and the labels it serves. */
  extras: { weight: number; labels: string[] }[];
}

/** A candidate setting. */
export interface TuneSetting {
  hopFrames: number;
  voteK: number;
  voteN: number;
  silenceGateDbfs: number;
  thresholds: Record<string, number>;
  combination?: TuneCombination;
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
  /** With extra models: every combination tried, with the best score found for it in the first stage (best first). */
  combinations?: { combination: TuneCombination; score: TuneScore }[];
  /** With extra models: the config's `extra_models` (paths, manifests, backends) for the snippet. */
  extraModels?: { path: string; manifest?: string; backend?: string }[];
}

const THRESHOLDS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const VOTES: [number, number][] = [
  [1, 1],
  [2, 2],
  [2, 3],
];
const GATES = [-70, -60, -50];
/** Extra-model weights tried (the primary's is 1). */
const WEIGHTS = [0.25, 0.5, 0.75, 1];
/** Combinations that get the full hop × voting × gate search after the first stage. */
const FINALISTS = 3;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** One model of the set, as tune needs it: its config key and the labels it can serve (with its classes). */
interface TuneModel {
  /** `model` or `extra_models[i]`. */
  key: string;
  labels: LabelSpec[];
}

/**
 * Runs one model over each file at `hopFrames` (cached on disk) and returns the scores of the
 * classes its labels map. Files already cached are not run again; the model is opened only when
 * some file is not cached.
 */
async function scoreFiles(
  config: EarshotConfig,
  log: Logger,
  tuneModel: TuneModel,
  model: LoadedModel,
  files: string[],
  hopFrames: number,
  cacheDir: string,
): Promise<CachedFile[]> {
  mkdirSync(cacheDir, { recursive: true });
  const modelConfig = structuredClone(config);
  modelConfig.frontend.hop_frames = hopFrames;
  modelConfig.detection.silence_gate_dbfs = -140;
  const labels = tuneModel.labels;
  const classNames = [...new Set(labels.flatMap((l) => l.classes))];
  const classIndex = classNames.map((c) => model.classNames.indexOf(c));
  const out: CachedFile[] = [];
  for (const file of files) {
    // A head's probabilities are classes of the headed model: its sha256 is part of the key.
    const key = createHash('sha256')
      .update(`${model.sha256}${model.head ? `+${model.head.head.sha256}` : ''}|${await sha256File(file)}|${hopFrames}|${classNames.join('\u0001')}`)
      .digest('hex')
      .slice(0, 24);
    const cachePath = join(cacheDir, `${basename(file)}.${key}.json`);
    if (existsSync(cachePath)) {
      out.push(JSON.parse(readFileSync(cachePath, 'utf8')) as CachedFile);
      continue;
    }
    const patches: CachedPatch[] = [];
    const analysis = await analyzeFile(file, model, labels, pipelineSettings(modelConfig), config.node_id, (report) => {
      const scores = report.classScores;
      patches.push({
        s: report.patch.startSample,
        rms: report.rmsDbfs,
        peak: report.peakDbfs,
        scores: classIndex.map((i) => (scores ? Number(scores[i].toFixed(5)) : 0)),
      });
    });
    const cached: CachedFile = { name: basename(file), duration: analysis.durationSeconds, hopFrames, classNames, patches };
    writeFileSync(cachePath, JSON.stringify(cached));
    log.info({ file: basename(file), model: tuneModel.key, patches: patches.length }, 'scored');
    out.push(cached);
  }
  return out;
}

/**
 * The models of the config with the labels each could serve: the primary's as the pipeline
 * resolves them, and for each extra model every enabled label its manifest maps (the search picks
 * among its hostile ones). Opens (and probes) each model once to read its manifest and sha256;
 * they stay open for scoring.
 */
async function openTuneModels(config: EarshotConfig): Promise<{ models: TuneModel[]; open: LoadedModel[] }> {
  const requests = [
    { key: 'model', path: config.model.path, manifest: config.model.manifest, backend: config.model.backend, threads: config.model.threads },
    ...config.extra_models.map((m, i) => ({
      key: `extra_models[${i}]`,
      path: m.path,
      manifest: m.manifest,
      backend: m.backend ?? config.model.backend,
      threads: m.threads ?? config.model.threads,
    })),
  ];
  const open: LoadedModel[] = [];
  try {
    const models: TuneModel[] = [];
    for (const [i, r] of requests.entries()) {
      const request = { path: r.path, manifest: r.manifest, backend: r.backend, threads: r.threads, modelDir: config.model_dir };
      let model = await loadModel(request);
      open.push(model);
      // The primary's head (model.head / --head), as the pipeline runs it.
      const head = i === 0 ? resolveHeadSetting(config.model.head, model).head : null;
      if (head) open[open.length - 1] = model = await attachHead(model, head);
      const labels =
        i === 0
          ? head
            ? headLabelSpecs(resolveLabelSpecs(config.detection.labels, model.manifest.class_map).specs, head.head).specs
            : resolveLabelSpecs(config.detection.labels, model.manifest.class_map).specs
          : resolveMemberLabels(config.detection.labels, model.manifest.class_map, undefined, r.key, `${model.manifest.id} (${model.path})`);
      // Labels the config lists for this model must exist in it (as the pipeline checks).
      if (i > 0)
        resolveMemberLabels(
          config.detection.labels,
          model.manifest.class_map,
          config.extra_models[i - 1].labels,
          r.key,
          `${model.manifest.id} (${model.path})`,
        );
      models.push({ key: r.key, labels });
    }
    return { models, open };
  } catch (error) {
    for (const m of open) m.close();
    throw error;
  }
}

/**
 * Per file, per patch at the fine hop: the label scores of one combination (pipeline label
 * order), computed once per combination so the threshold search only replays the detector.
 */
interface CombinedFile {
  name: string;
  patches: { s: number; rms: number; peak: number; scores: Float32Array }[];
}

/**
 * Combines the cached scores of every model into label scores.
 * @param perModel cached files per model (primary first), same files in the same order
 * @param served per model, the labels it serves in this combination (with its classes)
 * @throws EarshotError when the models' caches disagree on the patch grid
 */
function combineCached(
  perModel: CachedFile[][],
  labels: LabelSpec[],
  served: LabelSpec[][],
  weights: number[],
  mode: CombineMode,
  perLabel: Record<string, CombineMode>,
): CombinedFile[] {
  return perModel[0].map((file, f) => {
    const combiner = new LabelCombiner(
      labels,
      perModel.map((files, m) => ({ name: `model ${m}`, classNames: files[f].classNames, labels: served[m], weight: weights[m] })),
      { mode, perLabel },
    );
    const patches = file.patches.map((p, i) => {
      const scores = perModel.map((files) => {
        const other = files[f].patches[i];
        if (!other || other.s !== p.s)
          throw new EarshotError(`tune: the cached scores of ${file.name} do not line up between models (patch ${i}); delete the cache folder`);
        return other.scores;
      });
      return { s: p.s, rms: p.rms, peak: p.peak, scores: combiner.combine(scores) };
    });
    return { name: file.name, patches };
  });
}

/** Replays combined scores through the detector with one setting. @returns the detected events */
function replay(files: CombinedFile[], labels: LabelSpec[], setting: TuneSetting, config: EarshotConfig): ScoredEvent[] {
  const specs = labels.map((l) => {
    const threshold = setting.thresholds[l.name] ?? l.threshold;
    return { ...l, threshold, release: Math.min(l.release / l.threshold, 1) * threshold };
  });
  const events: ScoredEvent[] = [];
  for (const file of files) {
    const detector = new EventDetector(
      specs,
      {
        voteK: setting.voteK,
        voteN: setting.voteN,
        mergeGapSamples: Math.round(config.detection.merge_gap_seconds * SAMPLE_RATE),
        minDurationSamples: Math.round(config.detection.min_duration_seconds * SAMPLE_RATE),
        hopSamples: setting.hopFrames * FRAME_HOP_SAMPLES,
        exclusiveGroups: config.detection.exclusive_groups,
      },
      () => '',
    );
    const outputs = [];
    let index = 0;
    for (const p of file.patches) {
      if ((p.s / FRAME_HOP_SAMPLES) % setting.hopFrames !== 0) continue;
      const gated = p.rms < setting.silenceGateDbfs;
      outputs.push(
        ...detector.observe({ index: index++, startSample: p.s, endSample: p.s + PATCH_SAMPLES, peakDbfs: p.peak, labelScores: gated ? null : p.scores }),
      );
    }
    outputs.push(...detector.finish());
    for (const o of outputs) {
      if (o.kind === 'offset')
        events.push({ filename: file.name, onset: o.event.onsetSample / SAMPLE_RATE, offset: o.event.offsetSample / SAMPLE_RATE, label: o.event.label });
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

/** Every subset of `items` (the empty one first). */
function subsets<T>(items: readonly T[]): T[][] {
  const all: T[][] = [[]];
  for (const item of items) {
    for (const subset of all.slice()) all.push([...subset, item]);
  }
  return all;
}

/**
 * The combinations to try: per extra model every weight of {@link WEIGHTS} and every non-empty
 * subset of the hostile labels it can serve (its non-hostile labels stay as configured), in both
 * combine modes; plus one where the extra models serve no hostile label (the primary alone, for
 * comparison).
 */
function combinationCandidates(extras: readonly TuneModel[], configured: TuneCombination, isHostile: (label: string) => boolean): TuneCombination[] {
  const perExtra = extras.map((extra, i) => {
    const kept = configured.extras[i].labels.filter((l) => !isHostile(l));
    const hostileSets = subsets(extra.labels.map((l) => l.name).filter(isHostile)).filter((set) => set.length > 0);
    return WEIGHTS.flatMap((weight) =>
      hostileSets.map((set) => ({ weight, labels: extra.labels.map((l) => l.name).filter((l) => kept.includes(l) || set.includes(l)) })),
    );
  });
  const products = perExtra.reduce<TuneCombination['extras'][]>((all, options) => all.flatMap((prefix) => options.map((option) => [...prefix, option])), [[]]);
  const candidates: TuneCombination[] = (['max', 'mean'] as const).flatMap((mode) => products.map((extrasOption) => ({ mode, extras: extrasOption })));
  candidates.push({ mode: configured.mode, extras: configured.extras.map((e) => ({ weight: e.weight, labels: e.labels.filter((l) => !isHostile(l)) })) });
  return candidates;
}

/**
 * Tunes the config's detection settings on `files` against `refPath`.
 *
 * One model: coordinate descent over the hostile thresholds, for every hop, voting and silence
 * gate. With extra models, in two stages to keep the run short: first every model combination
 * ({@link combinationCandidates}) gets the threshold descent at each hop with the config's voting
 * and gate; then the {@link FINALISTS} best combinations get the full search.
 * @param hops candidate patch hops in frames (the models run at their greatest common divisor)
 * @param budget false alarms per hour allowed on files with no hostile reference
 * @param outDir writes `tradeoff.png` and `tune.json` there
 * @throws EarshotError for unreadable inputs or no hostile label to tune
 */
export async function tune(
  config: EarshotConfig,
  log: Logger,
  refPath: string,
  files: string[],
  options: { hops: number[]; budget: number; collar: number; outDir: string; cacheDir: string },
): Promise<TuneResult> {
  const reference = readReference(refPath, files);
  const fineHop = options.hops.reduce(gcd);
  const { models, open } = await openTuneModels(config);
  const perModel: CachedFile[][] = [];
  try {
    for (const [i, model] of models.entries()) perModel.push(await scoreFiles(config, log, model, open[i], files, fineHop, options.cacheDir));
  } finally {
    for (const m of open) m.close();
  }
  const groupOf = (label: string) => config.detection.labels[label]?.group ?? 'non_hostile';
  const isHostile = (label: string) => groupOf(label) === 'hostile';
  const [primary, ...extras] = models;
  const perLabel = Object.fromEntries(Object.entries(config.detection.labels).flatMap(([name, l]) => (l.combine ? [[name, l.combine]] : [])));
  const configured: TuneCombination | undefined = extras.length
    ? {
        mode: config.detection.combine,
        extras: extras.map((extra, i) => ({
          weight: config.extra_models[i].weight,
          labels: extra.labels.map((l) => l.name).filter((l) => config.extra_models[i].labels?.includes(l) ?? true),
        })),
      }
    : undefined;
  const combined = new Map<string, { labels: LabelSpec[]; files: CombinedFile[] }>();
  const dataFor = (combination: TuneCombination | undefined) => {
    const key = JSON.stringify(combination ?? null);
    let data = combined.get(key);
    if (!data) {
      const served = [primary.labels, ...extras.map((extra, i) => extra.labels.filter((l) => combination!.extras[i].labels.includes(l.name)))];
      const labels = unionLabels(Object.keys(config.detection.labels), served);
      const weights = [1, ...(combination?.extras.map((e) => e.weight) ?? [])];
      data = { labels, files: combineCached(perModel, labels, served, weights, combination?.mode ?? config.detection.combine, perLabel) };
      combined.set(key, data);
    }
    return data;
  };
  const hostile = unionLabels(
    Object.keys(config.detection.labels),
    models.map((m) => m.labels),
  )
    .filter((l) => l.group === 'hostile')
    .map((l) => l.name);
  if (hostile.length === 0) throw new EarshotError(`tune: no enabled hostile label has classes in the model${extras.length ? 's' : ''}`);
  const durations = new Map(perModel[0].map((f) => [f.name, f.duration]));
  const refEvents = reference.events.filter((e) => durations.has(e.filename));
  let simulations = 0;
  const score = (setting: TuneSetting): TuneScore => {
    simulations += 1;
    const data = dataFor(setting.combination);
    const report = evaluate(refEvents, replay(data.files, data.labels, setting, config), durations, groupOf, options.collar);
    const h = report.groups.hostile ?? { f1: 0, precision: 0, recall: 0 };
    return { f1: h.f1, precision: h.precision, recall: h.recall, falseAlarmsPerHour: report.hostileFalseAlarmsPerHour };
  };
  const baselineSetting: TuneSetting = {
    hopFrames: options.hops.includes(config.frontend.hop_frames) ? config.frontend.hop_frames : options.hops[0],
    voteK: config.detection.vote_k,
    voteN: config.detection.vote_n,
    silenceGateDbfs: config.detection.silence_gate_dbfs,
    thresholds: Object.fromEntries(hostile.map((name) => [name, config.detection.labels[name].threshold])),
    ...(configured ? { combination: configured } : {}),
  };
  const baseline = { setting: baselineSetting, score: score(baselineSetting) };
  // Coordinate descent over the hostile thresholds, from the config's values and from two
  // uniform starts (one label's threshold alone is often stuck where a pair moving together is not).
  const descend = (base: TuneSetting) => {
    let found: { setting: TuneSetting; score: TuneScore } | null = null;
    const starts = [baselineSetting.thresholds, Object.fromEntries(hostile.map((n) => [n, 0.2])), Object.fromEntries(hostile.map((n) => [n, 0.5]))];
    for (const start of starts) {
      let current = { setting: { ...base, thresholds: { ...start } }, score: { f1: -1, precision: 0, recall: 0, falseAlarmsPerHour: Infinity } };
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
      if (!found || better(current.score, found.score, options.budget)) found = current;
    }
    return found!;
  };
  const fullSearch = (combination: TuneCombination | undefined, best: { setting: TuneSetting; score: TuneScore }) => {
    for (const hopFrames of options.hops) {
      for (const [voteK, voteN] of VOTES) {
        for (const silenceGateDbfs of GATES) {
          const found = descend({ ...baselineSetting, hopFrames, voteK, voteN, silenceGateDbfs, ...(combination ? { combination } : {}) });
          if (better(found.score, best.score, options.budget)) best = found;
        }
      }
    }
    return best;
  };
  let best = baseline;
  let combinations: TuneResult['combinations'];
  if (!configured) {
    best = fullSearch(undefined, best);
  } else {
    const candidates = combinationCandidates(extras, configured, isHostile);
    log.info({ combinations: candidates.length }, 'searching model combinations');
    combinations = candidates.map((combination) => {
      let found: { setting: TuneSetting; score: TuneScore } | null = null;
      for (const hopFrames of options.hops) {
        const s = descend({ ...baselineSetting, hopFrames, combination });
        if (!found || better(s.score, found.score, options.budget)) found = s;
      }
      return { combination, score: found!.score };
    });
    combinations.sort((a, b) => (better(a.score, b.score, options.budget) ? -1 : better(b.score, a.score, options.budget) ? 1 : 0));
    for (const { combination, score: s } of combinations.slice(0, FINALISTS)) {
      log.info({ combination, f1: Number(s.f1.toFixed(3)), fa_per_hour: Number(s.falseAlarmsPerHour.toFixed(1)) }, 'full search of a model combination');
      best = fullSearch(combination, best);
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
  const labels = dataFor(best.setting.combination).labels;
  const releaseRatios = Object.fromEntries(labels.map((l) => [l.name, l.threshold > 0 ? l.release / l.threshold : 0.5]));
  const result: TuneResult = { best: best.setting, score: best.score, baseline, budget: options.budget, simulations, curves, releaseRatios };
  if (combinations) {
    result.combinations = combinations;
    result.extraModels = config.extra_models.map((m) => ({
      path: m.path,
      ...(m.manifest ? { manifest: m.manifest } : {}),
      ...(m.backend ? { backend: m.backend } : {}),
    }));
  }
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(join(options.outDir, 'tradeoff.png'), drawTradeoff(curves, options.budget));
  writeFileSync(join(options.outDir, 'tune.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** The best setting as a config snippet (YAML), with the figures as comments. */
export function configSnippet(result: TuneResult): string {
  const s = result.best;
  const fig = (x: TuneScore) =>
    `hostile F1 ${x.f1.toFixed(3)} (P ${x.precision.toFixed(3)}, R ${x.recall.toFixed(3)}), ${x.falseAlarmsPerHour.toFixed(1)} false alarms/h`;
  return [
    `# earshot tune: ${fig(result.score)} (budget ${result.budget}/h; ${result.simulations} settings tried)`,
    `# the config as given: ${fig(result.baseline.score)}`,
    ...combinationSnippet(result),
    'frontend:',
    `  hop_frames: ${s.hopFrames}`,
    'detection:',
    ...(s.combination ? [`  combine: ${s.combination.mode}`] : []),
    `  silence_gate_dbfs: ${s.silenceGateDbfs}`,
    `  vote_k: ${s.voteK}`,
    `  vote_n: ${s.voteN}`,
    '  labels:',
    ...Object.entries(s.thresholds).map(
      ([name, t]) => `    ${name}: { threshold: ${t}, release: ${Number((t * (result.releaseRatios[name] ?? 0.5)).toFixed(4))} }`,
    ),
    '',
  ].join('\n');
}

/** The `extra_models` lines of the snippet (none for one model). */
function combinationSnippet(result: TuneResult): string[] {
  const combination = result.best.combination;
  if (!combination || !result.extraModels) return [];
  const lines: string[] = [];
  const servesHostile = combination.extras.some((e) => e.labels.some((l) => result.curves.some((c) => c.label === l)));
  if (!servesHostile) lines.push('# the extra models did not help any hostile label here: consider dropping extra_models');
  const kept = combination.extras.filter((e) => e.labels.length > 0);
  if (kept.length < combination.extras.length) lines.push('# extra models that serve no label here are left out');
  if (kept.length === 0) return lines;
  lines.push('extra_models:');
  combination.extras.forEach((extra, i) => {
    if (extra.labels.length === 0) return;
    const model = result.extraModels![i];
    lines.push(`  - path: ${JSON.stringify(model.path)}`);
    if (model.manifest) lines.push(`    manifest: ${JSON.stringify(model.manifest)}`);
    if (model.backend) lines.push(`    backend: ${model.backend}`);
    lines.push(`    weight: ${extra.weight}`);
    lines.push(`    labels: [${extra.labels.join(', ')}]`);
  });
  return lines;
}
