/**
 * `trainHead()`: labelled audio → a head file (src/inference/head/head-file.ts), with grouped
 * cross-validation, thresholds under a false-alarm budget, and figures per label.
 *
 * Steps:
 * 1. read the data folders (dataset.ts), map classes to the head's labels (the configured labels
 *    that have training clips, then the background label `other`);
 * 2. features of every window (features.ts: scores + embedding from the backbone, seeded
 *    augmentation, on-disk cache), window labels (windows.ts);
 * 3. k-fold cross-validation grouped by source recording: source groups are dealt to folds by a
 *    seeded shuffle, stratified by their main label (see {@link assignFolds}); a group is never on
 *    both sides. Each fold trains on the other folds' windows (augmented copies included) and is
 *    scored on its own original windows only; with `cvRepeats` > 1, repeated with other deals and
 *    each window's out-of-fold probabilities averaged;
 * 4. per label, the threshold: on the out-of-fold probabilities, over 0.01…0.99 (then
 *    0.991…0.999), under a false-alarm budget (events found: runs of the label's windows with one
 *    window over the threshold; false alarms: runs of other windows over it, per hour of other
 *    windows at the hop; for a hostile label, windows of the other hostile labels count as neither).
 *    Budget `rule` (the default): the YAMNet rule's own false alarms per hour on the same validation
 *    windows (the label's model classes, max score, at the configured threshold, as the detector
 *    applies it), and the threshold with the highest event F1 within it, so a head never trades
 *    more false alarms than the rule for its recall. A number: the lowest threshold within that
 *    many false alarms per hour (more recall, whatever the precision);
 * 5. the final head: trained on all windows; its file records thresholds, CV figures and the data.
 *
 * The same data, options and seed give the same bytes (trained_at aside: give `trainedAt`, or set
 * SOURCE_DATE_EPOCH, for byte-identical files).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DEFAULT_LABELS } from '../config/labels.js';
import { resolveLabelSpecs, type LabelSettings } from '../detect/label-map.js';
import { EarshotError } from '../errors.js';
import { openEmbedder, type Embedder } from '../inference/embedder.js';
import { listManifests, resolveManifest } from '../inference/manifest.js';
import {
  HEAD_FORMAT,
  HEAD_VERSION,
  headInput,
  serializeHead,
  type HeadFeatureJson,
  type HeadJson,
  type HeadLabelValidationJson,
} from '../inference/head/head-file.js';
import { fnv1a32 } from '../random.js';
import { FRAME_HOP_SAMPLES, SAMPLE_RATE } from '../constants.js';
import { BACKGROUND_LABEL, readDataset, type TrainingClip } from './dataset.js';
import { defaultCacheDir, extractFeatures, isSiteBackground, type ClipFeatures } from './features.js';
import { balancedWeights, fitHead, predict, type FittedLayers, type Matrix } from './model.js';
import { clipWindowLabels, HOSTILE_LABELS, spanWindowLabels } from './windows.js';

/** Options of {@link trainHead}. Everything but `data`/`clips` and `modelPath` has a default. */
export interface TrainOptions {
  /** Data folders (pool, pulled or DCASE shape). */
  data?: readonly string[];
  /** More clips, already read (scripts that build their own sets). */
  clips?: readonly TrainingClip[];
  /** The backbone model file (a YAMNet-family TFLite model). */
  modelPath: string;
  /** Manifest path or id for the model (default: matched by sha256). */
  manifest?: string;
  /** An open embedder to use instead of opening `modelPath` (not closed by trainHead). */
  embedder?: Embedder;
  /** Labels the head may have (background excluded); default: earshot's default label set. A label without training clips is left out. */
  labels?: readonly string[];
  /** Seed of augmentation, fold assignment and MLP initialisation. Default 1. */
  seed?: number;
  /** Hidden ReLU units; 0 (default) = multinomial logistic regression. */
  hidden?: number;
  /** Inputs of the head. Default both: embedding and the scores (logit). */
  features?: readonly ('embedding' | 'scores')[];
  /** L2 penalty λ on the weights (inputs are standardised). Default 0.1: on pool + pool2, 0.1 kept every hostile label within a 2 FA/h budget in cross-validation with more recall than 0.01 or 0.001 at the same false alarms. */
  l2?: number;
  /** `balanced` (default): every label weighs the same in the loss; `none`: every window does. */
  classWeights?: 'balanced' | 'none';
  /** Cross-validation folds (grouped by source recording); < 2 = no cross-validation (thresholds from the training windows: optimistic). Default 5. */
  folds?: number;
  /**
   * Repeats of the cross-validation, each with its own seeded deal of source groups to folds
   * (`seed`, `seed + 1`, ...); every original window's probabilities are the mean of its
   * out-of-fold probabilities over the repeats, and thresholds and who serves each label are chosen
   * on that mean. Repeated k-fold cross-validation (Kohavi 1995, "A study of cross-validation and
   * bootstrap for accuracy estimation and model selection", IJCAI; scikit-learn's
   * `RepeatedStratifiedKFold`) lowers the variance that one deal of a few source groups gives the
   * choices. 1 = one deal (the heads of earlier versions). Default 1.
   */
  cvRepeats?: number;
  /**
   * False alarms per hour of non-label validation audio allowed per label when choosing thresholds:
   * `rule` (default) = as many as the YAMNet rule makes on the same validation windows (see
   * {@link ruleLabels}), threshold with the best event F1 within that (on a tie, the fewer false
   * alarms); a number = that many, lowest threshold within it. On pool-like data (mostly confusers)
   * a fixed 2/h leaves hostile thresholds near 1 (docs/evaluation.md, "Heads").
   */
  faBudgetPerHour?: number | 'rule';
  /**
   * The YAMNet rule the `rule` budget is measured against: per label, its model classes (the label's
   * score is the max of their scores) and its threshold, as the detector applies them. Default:
   * earshot's default label thresholds with the model manifest's class map. `earshot train` passes
   * the config's labels.
   */
  ruleLabels?: Record<string, LabelSettings>;
  /**
   * Weight of the site's own windows (clips with annotated spans: pulled folders and DCASE folders,
   * i.e. what a person labelled at the site, and its background clips) relative to pool clips, on
   * top of the balanced class weights. Default 1.
   */
  siteWeight?: number;
  /**
   * Who serves each label, with the `rule` budget ({@link servedBy}): `better` (default) = the better
   * cross-validated event F1 of the YAMNet rule (the label goes to the head's `rule_labels`) and the
   * head; `either` = the best of those two and both together (`either_labels`: the label fires when
   * the rule or the head passes its threshold; the head's threshold for it is chosen for the pair,
   * within the rule's budget); `all` = the head serves every label. `either` is not the default:
   * on the held-out folds of pool2 it found one event more and raised two false alarms more
   * (docs/evaluation.md, "Heads").
   */
  serve?: 'better' | 'either' | 'all';
  /**
   * With `serve` `better` or `either`, when all validation windows decide ({@link servedBy}): the
   * head takes a label from the rule only when its event F1 is higher by more than `serveMargin`
   * jackknife standard errors of the difference, taken over source groups
   * ({@link LabelReport.jackknife}); the rule, which YAMNet learned from 2 million clips, keeps the
   * label on a difference the validation data cannot tell from noise. 0 (default) = the higher F1
   * serves (on a tie, the rule). A trial option: 1 kept every held-out deal within the rule's false
   * alarms, but gave glass_break back to the rule, which found fewer glass breaks than the head on
   * every held-out deal, and it was worse in the simulated loop on both validation sites
   * (docs/evaluation.md, "How sure the cross-validation is").
   */
  serveMargin?: number;
  /**
   * How each label's threshold is picked among those within the budget ({@link chooseThreshold}):
   * - `site` (default): the best event F1 on the site's own validation windows (clips with
   *   annotated spans: what a person labelled at the site, and its background clips) when they hold
   *   an event of the label, then, among the thresholds tied there, the best F1 on all validation
   *   windows; as `best` when the data has no site clips (heads trained on pools alone are
   *   unchanged) and with a per-hour budget (the lowest threshold within it). The
   *   site's windows rank first as they do in deciding who serves a label ({@link servedBy}): pool
   *   clips, most of the windows, would outvote them. The budget still holds on all windows.
   * - `best`: the best event F1 on all validation windows (the default until 2026-12-03; on both
   *   validation sites of the simulated loop it gives the same hostile figures as `site`: there the
   *   rule's budget leaves no room below the chosen thresholds; docs/evaluation.md, "The site's
   *   windows pick the thresholds").
   * - `one-se`: the one-standard-error rule: of the thresholds whose F1 is within one jackknife
   *   standard error (over source groups) of the best, the one with the fewest false alarms. A trial
   *   option: it lowered false alarms and lost more recall (held-out F1 0.496 against 0.540;
   *   docs/evaluation.md, "How sure the cross-validation is").
   */
  thresholdChoice?: 'best' | 'one-se' | 'site';
  /** Augmented copies of each clip-labelled clip (mixed into ambience). Default 2. */
  augmentCopies?: number;
  /**
   * Also mix the augmented copies into the site's background clips (clips of pulled and DCASE
   * folders with no annotated span: what a node keeps as background, labelled "nothing of
   * interest"), beside the data's ambience recordings, so the head hears the pools' events over the
   * site's own noise ({@link extractFeatures}). Default false: in the simulated loop on a crowd site
   * it found more events and raised more false alarms (docs/evaluation.md, "The learning loop").
   */
  siteAmbience?: boolean;
  /**
   * Also train on `augmentCopies` quieter copies (−30…0 dB) of each ambience recording, as background
   * ({@link extractFeatures}). Default false: it removed a held-out false alarm pattern (a quiet
   * toad chorus as glass_break) but, in the simulated loop on the crowd site, raised false alarms
   * (docs/evaluation.md, "Quieter ambience").
   */
  ambienceGainCopies?: boolean;
  /** Patch hop in 10 ms frames. Default 48 (0.48 s, the pipeline's default). */
  hopFrames?: number;
  /** Cache folder; null = no cache. Default {@link defaultCacheDir}. */
  cacheDir?: string | null;
  /** L-BFGS iterations at most per fit. Default 300. */
  maxIterations?: number;
  /** The head's trained_at. Default: SOURCE_DATE_EPOCH when set, else now. */
  trainedAt?: Date;
  /** Progress (for a TTY display). */
  onProgress?: (progress: TrainProgress) => void;
}

/** A progress report. */
export interface TrainProgress {
  stage: 'features' | 'cross-validation' | 'final';
  done: number;
  total: number;
  /** Features: clips served from the cache so far. */
  cached?: number;
  /** Fits: the current loss. */
  loss?: number;
}

/**
 * The next threshold down for a label ({@link LabelReport.next_step}): what lowering the threshold
 * until one more validation event is found would cost, and which clips pay it. A person reading
 * it can tell confusers their site never hears (drop those clips, or set the label's threshold in
 * the config) from ones it does.
 */
export interface NextStep {
  /** The highest grid threshold below the chosen one at which more of the label's events are found. */
  threshold: number;
  /** Events found at that threshold (out of the label's `positives`). */
  detected: number;
  /** False alarms at that threshold, all of them; and per hour of non-label audio. */
  false_alarms: number;
  fa_per_hour: number;
  /** False alarms there that the chosen threshold does not raise (runs of windows whose highest probability is below it). */
  new_false_alarms: number;
  /** How many clips those new false alarms come from. */
  confuser_clips: number;
  /**
   * Those clips, highest probability first, at most {@link NEXT_STEP_CONFUSERS}: `clip` is the
   * data folder's name and the clip's path in it (`pool2/children_playing/17973-2-0-8.wav`),
   * `score` the highest out-of-fold probability of its new false alarms, `runs` how many it raises.
   */
  confusers: { clip: string; score: number; runs: number }[];
}

/** How many confuser clips a {@link NextStep} lists. */
export const NEXT_STEP_CONFUSERS = 5;

/** Per-label figures of the report. */
export interface LabelReport extends HeadLabelValidationJson {
  label: string;
  clips: number;
  windows: number;
  /** Events detected at the threshold (out of `positives`). */
  detected: number;
  false_alarms: number;
  /** Hours of non-label validation audio. */
  negative_hours: number;
  /** True when no threshold met the budget (the one with the fewest false alarms was taken). */
  over_budget: boolean;
  /** The budget this label's threshold was chosen under, false alarms per hour (absent: none, see {@link Budget}). */
  fa_budget_per_hour?: number;
  /** With the `rule` budget: the YAMNet rule's figures on the same validation windows. */
  rule?: { threshold: number; detected: number; false_alarms: number; recall: number; precision: number; fa_per_hour: number };
  /**
   * With the rule's figures and site clips (spans-labelled, see Row.site) among the validation
   * windows: the head (at its threshold) and the rule on those windows only. They decide who
   * serves the label when they tell the two apart ({@link servedByRule}).
   */
  site?: {
    positives: number;
    detected: number;
    false_alarms: number;
    rule_detected: number;
    rule_false_alarms: number;
    /** The rule and the head together (at {@link LabelReport.either}'s threshold). */
    either_detected?: number;
    either_false_alarms?: number;
  };
  /**
   * With the rule's figures: the rule and the head together (the label fires when either passes its
   * threshold) at the head threshold with the best F1 within the rule's budget; absent when no head
   * threshold keeps the pair within it.
   */
  either?: { threshold: number; detected: number; false_alarms: number; recall: number; precision: number; fa_per_hour: number };
  /**
   * What holds the threshold up, when some of the label's validation events are missed: the
   * highest threshold of the grid below it that finds more of them, and the other audio that
   * would fire there ({@link NextStep}). Absent when every event is found or no lower threshold
   * finds more. Reported by `earshot train`; not written into the head file.
   */
  next_step?: NextStep;
  /** With the rule's figures: who serves the label in the detector (`rule`: the head's rule_labels; `either`: its either_labels). */
  served_by?: 'head' | 'rule' | 'either';
  /**
   * How far these event F1 figures can be trusted: jackknife standard errors over the validation
   * windows' source groups ({@link jackknifeStandardError}), each group left out in turn; absent
   * with fewer than two groups.
   */
  jackknife?: {
    /** Source groups among the validated windows. */
    groups: number;
    /** Of the head's event F1 at its threshold. */
    f1_se: number;
    /** With the rule's figures: of the rule's event F1, and of the head's minus the rule's (paired: the same groups left out). */
    rule_f1_se?: number;
    difference_se?: number;
  };
}

/**
 * Jackknife standard error of a statistic of counts summed over groups (Quenouille 1949; Tukey
 * 1958; Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 11): the statistic with
 * each group left out in turn, θ₍ᵢ₎, gives SE = √((n−1)/n · Σ(θ₍ᵢ₎ − θ̄)²). Leaving out whole
 * source groups (not windows) is what makes it honest here: windows of one recording are not
 * independent.
 * @param groups per group, its counts (every group the same length)
 * @param statistic of the summed counts of the groups kept
 * @returns the standard error; 0 with fewer than two groups
 */
export function jackknifeStandardError(groups: readonly (readonly number[])[], statistic: (totals: readonly number[]) => number): number {
  const n = groups.length;
  if (n < 2) return 0;
  const size = groups[0]!.length;
  const totals = new Array<number>(size).fill(0);
  for (const g of groups) for (let i = 0; i < size; i++) totals[i]! += g[i]!;
  const leftOut = groups.map((g) => statistic(totals.map((t, i) => t - g[i]!)));
  const mean = leftOut.reduce((a, b) => a + b, 0) / n;
  const spread = leftOut.reduce((a, b) => a + (b - mean) ** 2, 0);
  return Math.sqrt(((n - 1) / n) * spread);
}

/** Event F1 ({@link eventF1}) of summed counts `[events, detected, false alarms]`. */
const eventF1OfCounts = (c: readonly number[]): number => eventF1(c[1]!, c[0]!, c[2]!);

/**
 * The warning `earshot train` gives when no clip is an ambience recording (a pool's `ambience`
 * class or pool.tsv kind) or a site's background clip (a pulled or DCASE clip with no event,
 * {@link isSiteBackground}): the head then hears only labelled events, never the quiet background
 * a node hears most of the time, and nothing is augmented (augmentation mixes events into
 * ambience). Even thin ambience is a risk: ../shared/audio/pool2 holds one recording (30 s of a
 * crowd), and on 2 of 5 seeds heads trained on it alone fired `explosion` (mostly above 0.95) 17
 * and 21 times in 4.5 min of the dev scenes' distractors, over toads, birds and an exercise bike,
 * where YAMNet's explosion classes scored 0 (docs/evaluation.md, "The loop's starting heads and
 * its queue").
 * @returns the warning (one line), or null when the data holds ambience or background clips
 */
export function noAmbienceWarning(clips: readonly TrainingClip[]): string | null {
  if (clips.some((c) => c.labelling === 'ambience' || isSiteBackground(c))) return null;
  return "no ambience recording or background clip in the data: the head hears only labelled events, never a site's quiet background, and no event is mixed into ambience; it may fire on background it has not heard. Add ambience recordings (a pool's ambience/ folder) or a node's background clips (clips.background_per_hour, fetched with earshot pull --strategy all)";
}

/**
 * `--serve better` (and `either`, with `withEither`): who serves the label, of the rule, the rule
 * and the head together (`either`, when {@link LabelReport.either} exists and `withEither`), and
 * the head. The site's own windows decide when they tell the candidates apart: the higher event F1 there, else (no event found, e.g.
 * a label the site has not had) the fewer false alarms there. Otherwise all validation windows
 * decide, by event F1; on a tie the earlier of rule, either, head (the rule is the known one; the
 * pair keeps what the rule finds). So a site's labels move a label to what does better on that
 * site's audio, where pool clips (most of the windows) would outvote them. With `margin` > 0 and
 * all windows deciding, the head beats the rule only by more than `margin` jackknife standard
 * errors of the F1 difference ({@link LabelReport.jackknife}; {@link TrainOptions.serveMargin}).
 */
export function servedBy(r: LabelReport, withEither = false, margin = 0): 'head' | 'rule' | 'either' {
  if (!r.rule) return 'head';
  type Who = 'head' | 'rule' | 'either';
  const site = r.site;
  // Each candidate: its F1 on all validation windows, and its F1 and false alarms on the site's.
  const candidate = (who: Who, detected: number, falseAlarms: number, siteDetected = 0, siteFalseAlarms = 0) => ({
    who,
    all: eventF1(detected, r.positives, falseAlarms),
    siteF1: site ? eventF1(siteDetected, site.positives, siteFalseAlarms) : 0,
    siteFalseAlarms: site ? siteFalseAlarms : 0,
  });
  const candidates = [candidate('rule', r.rule.detected, r.rule.false_alarms, site?.rule_detected, site?.rule_false_alarms)];
  if (withEither && r.either) candidates.push(candidate('either', r.either.detected, r.either.false_alarms, site?.either_detected, site?.either_false_alarms));
  candidates.push(candidate('head', r.detected, r.false_alarms, site?.detected, site?.false_alarms));
  let best = candidates[0]!;
  for (const c of candidates.slice(1)) {
    const better =
      c.siteF1 !== best.siteF1
        ? c.siteF1 > best.siteF1
        : c.siteFalseAlarms !== best.siteFalseAlarms
          ? c.siteFalseAlarms < best.siteFalseAlarms
          : c.all - best.all > (c.who === 'head' && best.who === 'rule' ? margin * (r.jackknife?.difference_se ?? 0) : 0);
    if (better) best = c;
  }
  return best.who;
}

/** `--serve better`: true when the YAMNet rule keeps the label ({@link servedBy} of rule and head alone). */
export function servedByRule(r: LabelReport): boolean {
  return servedBy(r, false) === 'rule';
}

/** Event F1 from events found, events in all, and false alarms (0 when nothing is found). */
export function eventF1(detected: number, events: number, falseAlarms: number): number {
  if (detected === 0) return 0;
  const precision = detected / (detected + falseAlarms);
  const recall = detected / events;
  return (2 * precision * recall) / (precision + recall);
}

/**
 * How a label's threshold is chosen: `perHour` = the lowest threshold within that many false alarms
 * per hour; `rule` = the threshold with the best event F1 (on a tie, the fewer false alarms) whose
 * false alarms per hour are no more than the rule's (`score`: the rule's label score of a row,
 * fired at `threshold`); `rule: null` = the rule cannot hear this label (no class maps to it): the
 * best F1 (on a tie, the fewer false alarms), no budget.
 */
export type Budget = { perHour: number } | { rule: { score: (row: number) => number; threshold: number } | null };

/**
 * The rule's class indices and threshold per label: `options.ruleLabels` (else earshot's defaults)
 * resolved against the model manifest's class map, as the detector resolves them.
 */
function ruleOf(options: TrainOptions, embedder: Embedder): Map<string, { classIndices: number[]; threshold: number }> {
  const manifest = listManifests().find((m) => m.id === embedder.manifestId) ?? resolveManifest(options.manifest, embedder.modelPath, embedder.modelSha256);
  const { specs } = resolveLabelSpecs(options.ruleLabels ?? DEFAULT_LABELS, manifest.class_map);
  const indexOf = new Map(embedder.classNames.map((name, i) => [name, i] as const));
  const out = new Map<string, { classIndices: number[]; threshold: number }>();
  for (const spec of specs) {
    const classIndices = spec.classes.map((c) => indexOf.get(c)).filter((i): i is number => i !== undefined);
    if (classIndices.length > 0) out.set(spec.name, { classIndices, threshold: spec.threshold });
  }
  return out;
}

/** What {@link trainHead} returns. */
export interface TrainResult {
  head: HeadJson;
  /** The head file's text (what to write). */
  text: string;
  report: {
    labels: LabelReport[];
    clips: number;
    windows: number;
    augmentedWindows: number;
    groups: number;
    folds: number;
    /** The fold of each source group in cross-validation (empty without). */
    foldOfGroup: Record<string, number>;
    /** Clip features computed by the model in this run / read from the cache. */
    featuresComputed: number;
    featuresCached: number;
    unmappedClasses: Record<string, number>;
    warnings: string[];
    /** Seconds spent per stage. */
    seconds: { features: number; crossValidation: number; final: number; total: number };
    modelSha256: string;
  };
}

/** One training window. */
export interface Row {
  item: number;
  window: number;
  label: number;
  group: string;
  augmented: boolean;
  /** From a clip with annotated spans (the site's own labels). */
  site: boolean;
}

function earshotVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Deals source groups to folds: groups sorted by (main label, seeded hash), then each to the fold
 * holding the fewest windows of that label so far (ties: the lowest fold). Deterministic for a seed.
 * @param groups group → its main label index and window count
 * @returns group → fold
 */
export function assignFolds(groups: ReadonlyMap<string, { label: number; windows: number }>, folds: number, seed: number): Map<string, number> {
  const entries = [...groups.entries()].map(([name, g]) => ({ name, ...g, key: fnv1a32(`${seed}:${name}`) }));
  entries.sort((a, b) => a.label - b.label || b.windows - a.windows || a.key - b.key || (a.name < b.name ? -1 : 1));
  const load = new Map<number, Float64Array>();
  const result = new Map<string, number>();
  for (const g of entries) {
    const perFold = load.get(g.label) ?? new Float64Array(folds);
    load.set(g.label, perFold);
    // Start the scan at a seeded fold, so equal loads do not always favour fold 0.
    const offset = g.key % folds;
    let best = offset;
    for (let j = 0; j < folds; j++) {
      const f = (offset + j) % folds;
      if (perFold[f]! < perFold[best]!) best = f;
    }
    perFold[best] += g.windows;
    result.set(g.name, best);
  }
  return result;
}

/**
 * Trains a head.
 * @throws EarshotError (exit 2) for unreadable data or model, too few labels (a head needs at least
 *   one label besides the background, with clips), a bad option
 */
export async function trainHead(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const seed = options.seed ?? 1;
  const hidden = options.hidden ?? 0;
  const featureNames = [...(options.features ?? ['embedding', 'scores'])];
  const l2 = options.l2 ?? 0.1;
  const folds = options.folds ?? 5;
  const cvRepeats = options.cvRepeats ?? 1;
  const faBudget = options.faBudgetPerHour ?? 'rule';
  const siteWeight = options.siteWeight ?? 1;
  const serve = options.serve ?? 'better';
  const serveMargin = options.serveMargin ?? 0;
  const thresholdChoice = options.thresholdChoice ?? 'site';
  const augmentCopies = options.augmentCopies ?? 2;
  const siteAmbience = options.siteAmbience ?? false;
  const ambienceGainCopies = options.ambienceGainCopies ?? false;
  const hopFrames = options.hopFrames ?? 48;
  const maxIterations = options.maxIterations ?? 300;
  const classWeights = options.classWeights ?? 'balanced';
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  if (!Number.isInteger(seed)) throw new EarshotError(`seed: must be a whole number, got ${seed}`);
  if (!(Number.isInteger(hidden) && hidden >= 0 && hidden <= 4096)) throw new EarshotError(`hidden: must be a whole number 0..4096, got ${hidden}`);
  if (!(Number.isInteger(cvRepeats) && cvRepeats >= 1 && cvRepeats <= 20)) throw new EarshotError(`cv repeats: must be a whole number 1..20, got ${cvRepeats}`);
  if (!(l2 >= 0)) throw new EarshotError(`l2: must be >= 0, got ${l2}`);
  if (!(Number.isInteger(folds) && folds >= 0)) throw new EarshotError(`folds: must be a whole number >= 0, got ${folds}`);
  if (faBudget !== 'rule' && !(typeof faBudget === 'number' && faBudget >= 0))
    throw new EarshotError(`FA budget: must be "rule" or >= 0 per hour, got ${faBudget}`);
  if (serve !== 'better' && serve !== 'either' && serve !== 'all') throw new EarshotError(`serve: "better", "either" or "all", got ${String(serve)}`);
  if (!(typeof serveMargin === 'number' && serveMargin >= 0 && Number.isFinite(serveMargin)))
    throw new EarshotError(`serve margin: must be a number >= 0 (standard errors), got ${serveMargin}`);
  if (thresholdChoice !== 'best' && thresholdChoice !== 'one-se' && thresholdChoice !== 'site')
    throw new EarshotError(`threshold choice: "best", "one-se" or "site", got ${String(thresholdChoice)}`);
  if (!(typeof siteWeight === 'number' && siteWeight > 0 && Number.isFinite(siteWeight)))
    throw new EarshotError(`site weight: must be a number > 0, got ${siteWeight}`);
  if (featureNames.length === 0 || featureNames.some((f) => f !== 'embedding' && f !== 'scores'))
    throw new EarshotError(`features: embedding and/or scores, got ${featureNames.join(',')}`);
  const wanted = [...(options.labels ?? Object.keys(DEFAULT_LABELS))].filter((l) => l !== BACKGROUND_LABEL);

  // 1. Data.
  const dataset = readDataset(options.data ?? [], wanted);
  const clips = [...dataset.clips, ...(options.clips ?? [])];
  if (clips.length === 0) throw new EarshotError('train: no clips (give --data DIR)');
  const unheard = noAmbienceWarning(clips);
  if (unheard) dataset.warnings.push(unheard);

  // 2. Features.
  const embedder = options.embedder ?? (await openEmbedder({ modelPath: options.modelPath, ...(options.manifest ? { manifest: options.manifest } : {}) }));
  const usedEmbedder = embedder;
  let extracted;
  try {
    extracted = await extractFeatures(clips, {
      embedder,
      hopFrames,
      cacheDir,
      seed,
      augmentCopies,
      siteAmbience,
      ambienceGainCopies,
      onClip: (done, total) => options.onProgress?.({ stage: 'features', done, total }),
    });
  } finally {
    if (!options.embedder) await embedder.close();
  }
  const afterFeatures = performance.now();
  const items = extracted.items;

  // Window labels (names), then the head's label list: wanted labels that have windows, then background.
  const windowNames = items.map((item) => namesOf(item));
  const present = new Set(windowNames.flat().filter((n): n is string => n !== null));
  const labels = [...wanted.filter((l) => present.has(l)), BACKGROUND_LABEL];
  if (labels.length < 2)
    throw new EarshotError(
      `train: no clip carries any of the labels ${wanted.join(', ')}; a head needs at least one (class names are mapped by folder or pool.tsv class)`,
    );
  if (!present.has(BACKGROUND_LABEL)) dataset.warnings.push('no background windows (ambience or other classes): the head cannot learn what to ignore');
  const labelIndex = new Map(labels.map((l, i) => [l, i]));

  const rows: Row[] = [];
  items.forEach((item, i) => {
    windowNames[i]!.forEach((name, w) => {
      if (name === null || !labelIndex.has(name)) return;
      rows.push({
        item: i,
        window: w,
        label: labelIndex.get(name)!,
        group: item.clip.group,
        augmented: item.augmentation !== 'none',
        site: item.clip.labelling === 'spans',
      });
    });
  });
  const scoreSize = items.find((it) => it.windows > 0)?.scoreSize ?? 0;
  const embeddingSize = items.find((it) => it.windows > 0)?.embeddingSize ?? 0;
  const features: HeadFeatureJson[] = featureNames.map((name) => ({
    name,
    size: name === 'embedding' ? embeddingSize : scoreSize,
    transform: name === 'scores' ? 'logit' : 'none',
  }));
  const inputSize = features.reduce((s, f) => s + f.size, 0);
  const raw = new Float32Array(rows.length * inputSize);
  {
    const scratch = new Float32Array(inputSize);
    rows.forEach((row, r) => {
      const item = items[row.item]!;
      headInput(
        features,
        item.embeddings.subarray(row.window * item.embeddingSize, (row.window + 1) * item.embeddingSize),
        item.scores.subarray(row.window * item.scoreSize, (row.window + 1) * item.scoreSize),
        scratch,
      );
      raw.set(scratch, r * inputSize);
    });
  }
  const targets = Int32Array.from(rows, (r) => r.label);

  /** Balanced class weights and/or the site weight for the rows `use` (nothing when all are 1). */
  const rowWeightsFor = (use: number[], t: Int32Array): { rowWeights?: Float64Array } => {
    const siteRows = siteWeight !== 1 && use.some((r) => rows[r]!.site);
    if (classWeights !== 'balanced' && !siteRows) return {};
    const w = classWeights === 'balanced' ? balancedWeights(t, labels.length) : new Float64Array(use.length).fill(1);
    if (siteRows) {
      use.forEach((r, i) => {
        if (rows[r]!.site) w[i] = w[i]! * siteWeight;
      });
    }
    return { rowWeights: w };
  };

  /** Fits on the rows `use` and returns the normalisation and layers. */
  const fit = async (use: number[], stage: TrainProgress['stage'], done: number, total: number) => {
    const { mean, std } = normalisation(raw, inputSize, use);
    const x = normalisedMatrix(raw, inputSize, use, mean, std);
    const t = Int32Array.from(use, (r) => targets[r]!);
    const fitted = await fitHead(x, t, {
      classes: labels.length,
      hidden,
      l2,
      seed,
      maxIterations,
      ...rowWeightsFor(use, t),
      onIteration: (iteration, loss) => options.onProgress?.({ stage, done: done + Math.min(0.99, iteration / maxIterations), total, loss }),
    });
    return { mean, std, fitted };
  };

  // 3. Cross-validation.
  const groupInfo = new Map<string, { label: number; windows: number; counts: Map<number, number> }>();
  for (const row of rows) {
    const g = groupInfo.get(row.group) ?? { label: 0, windows: 0, counts: new Map() };
    g.windows += 1;
    g.counts.set(row.label, (g.counts.get(row.label) ?? 0) + 1);
    groupInfo.set(row.group, g);
  }
  for (const g of groupInfo.values()) {
    // The main label: the non-background label with the most windows, else background.
    let best = labels.length - 1;
    let bestCount = -1;
    for (const [label, count] of [...g.counts.entries()].sort((a, b) => a[0] - b[0])) {
      if (label !== labels.length - 1 && count > bestCount) [best, bestCount] = [label, count];
    }
    g.label = best;
  }
  const usedFolds = folds >= 2 ? Math.min(folds, groupInfo.size) : 0;
  if (usedFolds >= 2) {
    // A label heard in one source recording only: the fold holding it trains without it, so no fold
    // finds it and its threshold is chosen without one found event (under the rule's budget: the
    // one raising the fewest false alarms, chooseThreshold).
    for (let l = 0; l < labels.length - 1; l++) {
      const groups = [...groupInfo.entries()].filter(([, g]) => g.counts.has(l)).map(([name]) => name);
      if (groups.length === 1)
        dataset.warnings.push(
          `${labels[l]}: every clip of it is from one source recording (${groups[0]}), so cross-validation cannot find it and its threshold is chosen without one found event; label clips of it from other recordings`,
        );
    }
  }
  const probabilities = new Float64Array(rows.length * labels.length);
  const validated = new Uint8Array(rows.length);
  let method = 'none';
  const foldOfGroup: Record<string, number> = {};
  if (usedFolds >= 2) {
    method = 'grouped-kfold';
    // Out-of-fold probabilities summed over the repeats, then divided by how many repeats scored
    // each window (`validated` counts them: every repeat, unless a fold was empty).
    const total = usedFolds * cvRepeats;
    for (let repeat = 0; repeat < cvRepeats; repeat++) {
      const foldOf = assignFolds(groupInfo, usedFolds, seed + repeat);
      if (repeat === 0) for (const [group, fold] of [...foldOf.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) foldOfGroup[group] = fold;
      for (let f = 0; f < usedFolds; f++) {
        const train: number[] = [];
        const test: number[] = [];
        rows.forEach((row, r) => {
          if (foldOf.get(row.group) === f) {
            if (!row.augmented) test.push(r);
          } else train.push(r);
        });
        if (test.length === 0 || train.length === 0) continue;
        const { mean, std, fitted } = await fit(train, 'cross-validation', repeat * usedFolds + f, total);
        const p = predict(fitted.layers, normalisedMatrix(raw, inputSize, test, mean, std));
        test.forEach((r, i) => {
          for (let c = 0; c < labels.length; c++) probabilities[r * labels.length + c]! += p[i * labels.length + c]!;
          validated[r] += 1;
        });
      }
    }
    if (cvRepeats > 1)
      validated.forEach((times, r) => {
        for (let c = 0; c < labels.length; c++) if (times > 1) probabilities[r * labels.length + c]! /= times;
      });
  }
  const afterCv = performance.now();

  // 5. Final fit on everything (before thresholds only so that, without CV, they come from it).
  const all = rows.map((_, r) => r);
  const final = await fit(all, 'final', 0, 1);
  if (usedFolds < 2) {
    method = 'resubstitution';
    const p = predict(final.fitted.layers, normalisedMatrix(raw, inputSize, all, final.mean, final.std));
    probabilities.set(p);
    rows.forEach((row, r) => {
      validated[r] = row.augmented ? 0 : 1;
    });
  }
  const afterFinal = performance.now();

  // 4. Thresholds and figures per label.
  const hopSeconds = (hopFrames * FRAME_HOP_SAMPLES) / SAMPLE_RATE;
  const reports: LabelReport[] = [];
  const clipsPerLabel = countClips(items, windowNames, labels);
  const windowsPerLabel: Record<string, number> = {};
  for (const row of rows) windowsPerLabel[labels[row.label]!] = (windowsPerLabel[labels[row.label]!] ?? 0) + 1;
  const hostileIndices = new Set(labels.flatMap((l, i) => (HOSTILE_LABELS.has(l) ? [i] : [])));
  const rule = faBudget === 'rule' ? ruleOf(options, usedEmbedder) : null;
  const siteRows = Uint8Array.from(rows, (row) => (row.site ? 1 : 0));
  const clipOfRow = (r: number) => {
    const clip = items[rows[r]!.item]!.clip;
    return `${basename(clip.dataDir)}/${clip.name}`;
  };
  for (let l = 0; l < labels.length - 1; l++) {
    const spec = rule?.get(labels[l]!);
    const ruleScore = spec
      ? (r: number): number => {
          const row = rows[r]!;
          const item = items[row.item]!;
          const base = row.window * item.scoreSize;
          let best = 0;
          for (const c of spec.classIndices) best = Math.max(best, item.scores[base + c]!);
          return best;
        }
      : undefined;
    const budget: Budget = faBudget === 'rule' ? { rule: ruleScore ? { score: ruleScore, threshold: spec!.threshold } : null } : { perHour: faBudget };
    reports.push({
      label: labels[l]!,
      clips: clipsPerLabel[labels[l]!] ?? 0,
      windows: windowsPerLabel[labels[l]!] ?? 0,
      ...chooseThreshold(
        rows,
        validated,
        probabilities,
        labels.length,
        l,
        budget,
        hopSeconds,
        hostileIndices,
        siteRows,
        serve === 'either',
        thresholdChoice,
        clipOfRow,
      ),
    });
  }

  // Labels left to the rule: where the rule's cross-validated F1 is at least the head's (the site's windows first).
  const choosing = serve !== 'all' && usedFolds >= 2;
  for (const r of reports) if (r.rule) r.served_by = choosing ? servedBy(r, serve === 'either', serveMargin) : 'head';
  const ruleLabels = reports.filter((r) => r.served_by === 'rule').map((r) => r.label);
  const eitherLabels = reports.filter((r) => r.served_by === 'either').map((r) => r.label);
  // Labels the rule and the head serve together: the head's threshold is the pair's.
  const headThreshold = (r: LabelReport) => (r.served_by === 'either' && r.either ? r.either.threshold : r.threshold);

  const trainedAt = options.trainedAt ?? (process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date());
  const sortedShas = [...new Set(clips.map((c) => c.sha256))].sort();
  const head: HeadJson = {
    format: HEAD_FORMAT,
    version: HEAD_VERSION,
    kind: hidden > 0 ? 'mlp' : 'logistic',
    base_model: { sha256: (options.embedder ?? embedder).modelSha256, name: basename((options.embedder ?? embedder).modelPath ?? options.modelPath) },
    labels,
    background_label: BACKGROUND_LABEL,
    thresholds: Object.fromEntries(reports.map((r) => [r.label, { threshold: headThreshold(r), release: Math.round(headThreshold(r) * 50) / 100 }])),
    ...(ruleLabels.length > 0 ? { rule_labels: ruleLabels } : {}),
    ...(eitherLabels.length > 0 ? { either_labels: eitherLabels } : {}),
    features,
    normalisation: { mean: Array.from(final.mean), std: Array.from(final.std) },
    layers: final.fitted.layers.map((layer) => ({
      activation: layer.activation,
      weights: Array.from({ length: layer.outputs }, (_, o) => Array.from(layer.weights.subarray(o * layer.inputs, (o + 1) * layer.inputs))),
      bias: Array.from(layer.bias),
    })),
    training: {
      trained_at: trainedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      seed,
      clip_count: sortedShas.length,
      clips_per_label: clipsPerLabel,
      clips_sha256: createHash('sha256')
        .update(sortedShas.map((s) => `${s}\n`).join(''))
        .digest('hex'),
      window_count: rows.length,
      windows_per_label: windowsPerLabel,
      options: {
        augment_copies: augmentCopies,
        ...(siteAmbience ? { site_ambience: true } : {}),
        ...(ambienceGainCopies ? { ambience_gain_copies: true } : {}),
        class_weights: classWeights,
        ...(siteWeight !== 1 ? { site_weight: siteWeight } : {}),
        serve,
        ...(serveMargin !== 0 ? { serve_margin: serveMargin } : {}),
        threshold_choice: thresholdChoice,
        data: [...(options.data ?? [])].map((d) => basename(d.replace(/[\\/]+$/, ''))),
        hidden,
        hop_frames: hopFrames,
        l2,
        max_iterations: maxIterations,
        iterations: final.fitted.iterations,
        loss: Number(final.fitted.loss.toFixed(6)),
      },
      earshot_version: earshotVersion(),
    },
    validation: {
      method,
      folds: usedFolds,
      ...(cvRepeats > 1 && usedFolds >= 2 ? { repeats: cvRepeats } : {}),
      // With the rule budget: the largest per-label budget (each label's own is in its entry).
      fa_budget_per_hour: faBudget === 'rule' ? Math.max(0, ...reports.map((r) => r.fa_budget_per_hour ?? 0)) : faBudget,
      ...(faBudget === 'rule' ? { fa_budget: 'rule' } : {}),
      labels: Object.fromEntries(
        reports.map((r) => [
          r.label,
          {
            positives: r.positives,
            precision: r.precision,
            recall: r.recall,
            fa_per_hour: r.fa_per_hour,
            threshold: r.threshold,
            detected: r.detected,
            false_alarms: r.false_alarms,
            negative_hours: r.negative_hours,
            ...(r.fa_budget_per_hour !== undefined && faBudget === 'rule' ? { fa_budget_per_hour: r.fa_budget_per_hour } : {}),
            ...(r.rule ? { rule: r.rule } : {}),
            ...(r.either ? { either: r.either } : {}),
            ...(r.site ? { site: r.site } : {}),
            ...(r.served_by ? { served_by: r.served_by } : {}),
            ...(r.jackknife ? { jackknife: r.jackknife } : {}),
          },
        ]),
      ),
      groups: groupInfo.size,
    },
  };
  const text = serializeHead(head);
  const end = performance.now();
  return {
    head,
    text,
    report: {
      labels: reports,
      clips: sortedShas.length,
      windows: rows.filter((r) => !r.augmented).length,
      augmentedWindows: rows.filter((r) => r.augmented).length,
      groups: groupInfo.size,
      folds: usedFolds,
      foldOfGroup,
      featuresComputed: extracted.computed,
      featuresCached: extracted.cached,
      unmappedClasses: dataset.unmappedClasses,
      warnings: dataset.warnings,
      seconds: {
        features: round((afterFeatures - started) / 1000, 2),
        crossValidation: round((afterCv - afterFeatures) / 1000, 2),
        final: round((afterFinal - afterCv) / 1000, 2),
        total: round((end - started) / 1000, 2),
      },
      modelSha256: (options.embedder ?? embedder).modelSha256,
    },
  };
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** Window label names of one item (null = left out). */
function namesOf(item: ClipFeatures): (string | null)[] {
  const clip = item.clip;
  if (clip.labelling === 'ambience') return Array.from({ length: item.windows }, () => BACKGROUND_LABEL);
  if (clip.labelling === 'clip') return clipWindowLabels(clip.clipLabel ?? BACKGROUND_LABEL, item.dbfs);
  const shift = item.shiftSamples / SAMPLE_RATE;
  const spans = (clip.spans ?? []).map((s) => ({ ...s, onset: s.onset + shift, offset: s.offset + shift }));
  return spanWindowLabels(item.startSamples, spans, HOSTILE_LABELS);
}

/** Clips per label (original clips only): a clip counts under each label its windows carry. */
function countClips(items: readonly ClipFeatures[], names: readonly (string | null)[][], labels: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  items.forEach((item, i) => {
    if (item.augmentation !== 'none') return;
    for (const label of new Set(names[i]!.filter((n): n is string => n !== null && labels.includes(n)))) counts[label] = (counts[label] ?? 0) + 1;
  });
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Mean and std per input over the rows `use`, rounded to float32 (as the head file stores them); std 0 → 1. */
function normalisation(raw: Float32Array, d: number, use: readonly number[]): { mean: Float32Array; std: Float32Array } {
  const sum = new Float64Array(d);
  const sumSq = new Float64Array(d);
  for (const r of use) {
    const base = r * d;
    for (let i = 0; i < d; i++) sum[i] += raw[base + i]!;
  }
  const mean = Float32Array.from(sum, (s) => s / Math.max(1, use.length));
  for (const r of use) {
    const base = r * d;
    for (let i = 0; i < d; i++) {
      const v = raw[base + i]! - mean[i]!;
      sumSq[i] += v * v;
    }
  }
  const std = Float32Array.from(sumSq, (s) => {
    const v = Math.sqrt(s / Math.max(1, use.length));
    return v > 1e-6 ? v : 1;
  });
  return { mean, std };
}

/** The rows `use` of `raw`, normalised, as a matrix (the arithmetic of applyHead: (x − mean) · (1/std) in float32 steps). */
function normalisedMatrix(raw: Float32Array, d: number, use: readonly number[], mean: Float32Array, std: Float32Array): Matrix {
  const invStd = Float32Array.from(std, (s) => 1 / s);
  const data = new Float32Array(use.length * d);
  use.forEach((r, j) => {
    const base = r * d;
    const out = j * d;
    for (let i = 0; i < d; i++) data[out + i] = (raw[base + i]! - mean[i]!) * invStd[i]!;
  });
  return { rows: use.length, cols: d, data };
}

/**
 * A label's threshold on the validated rows (grid 0.01 … 0.99 by 0.01, then 0.991 … 0.999 by 0.001:
 * softmax heads put confident windows near 1) under `budget` ({@link Budget}), with the figures at it.
 * When no threshold meets the budget, the one with the fewest false alarms (`over_budget`).
 * With `withEither` and the rule's budget, also the pair's head threshold ({@link LabelReport.either}).
 * `choice` ({@link TrainOptions.thresholdChoice}): `best` = the best F1 on all validated windows;
 * `site` = the best F1 on the site's windows (`siteRows`) first when they hold an event of the
 * label; `one-se` = the one-standard-error rule. Jackknife standard errors over source groups come with
 * the figures ({@link LabelReport.jackknife}), and, when events are missed, the next threshold down
 * that finds more with the clips it would raise false alarms on ({@link LabelReport.next_step}).
 * Exported for its tests; {@link trainHead} is the way in.
 * @param rows every training window (`validated[r]` = 1: row r has out-of-fold probabilities)
 * @param probabilities row-major `[rows × k]` out-of-fold label probabilities
 * @param label the label's index in `[0, k)`
 * @param hopSeconds seconds between windows (one window of non-label audio = that many seconds)
 * @param clipOfRow the clip a row's window is from, as {@link NextStep.confusers} names it
 */
export function chooseThreshold(
  rows: readonly Row[],
  validated: Uint8Array,
  probabilities: Float64Array,
  k: number,
  label: number,
  budget: Budget,
  hopSeconds: number,
  hostileIndices: ReadonlySet<number>,
  siteRows?: Uint8Array,
  withEither = false,
  choice: 'best' | 'one-se' | 'site' = 'best',
  clipOfRow: (r: number) => string = (r) => `window ${r}`,
): Omit<LabelReport, 'label' | 'clips' | 'windows'> {
  // Sequences of validated windows per item, in window order.
  const sequences = (include: (r: number) => boolean): number[][] => {
    const byItem = new Map<number, number[]>();
    rows.forEach((row, r) => {
      if (!validated[r] || !include(r)) return;
      const list = byItem.get(row.item) ?? [];
      list.push(r);
      byItem.set(row.item, list);
    });
    return [...byItem.values()];
  };
  const allSequences = sequences(() => true);
  // The site's own windows (pulled and DCASE clips): they rank thresholds (`site`) and are reported.
  const siteSequences = siteRows ? sequences((r) => siteRows[r] === 1) : [];
  // For a hostile label, windows of another hostile label are neither events nor false alarms (the
  // alert would be right, its label wrong): false alarms are counted on non-hostile audio only.
  const ignored = (l: number) => l !== label && hostileIndices.has(label) && hostileIndices.has(l);
  let negatives = 0;
  for (const list of allSequences) for (const r of list) if (rows[r]!.label !== label && !ignored(rows[r]!.label)) negatives += 1;
  const negativeHours = (negatives * hopSeconds) / 3600;
  const headScore = (r: number) => probabilities[r * k + label]!;
  /**
   * Events, detected events and false alarms at `threshold`. A false alarm is a run of contiguous
   * non-label windows over the threshold (another hostile label's window, or a gap, ends it);
   * `onAlarmRun`, when given, hears each run as it ends, by its highest-scoring window.
   */
  const evaluate = (
    threshold: number,
    score: (r: number) => number = headScore,
    lists: readonly number[][] = allSequences,
    onAlarmRun?: (peakRow: number) => void,
  ) => {
    let events = 0;
    let detected = 0;
    let falseAlarms = 0;
    for (const list of lists) {
      let inEvent = false;
      let eventHit = false;
      // The open false alarm's highest-scoring window, or -1 when none is open.
      let alarmRow = -1;
      let alarmScore = 0;
      const endAlarm = () => {
        if (alarmRow >= 0) onAlarmRun?.(alarmRow);
        alarmRow = -1;
      };
      let previousWindow = -2;
      for (const r of list) {
        const row = rows[r]!;
        const contiguous = row.window === previousWindow + 1;
        previousWindow = row.window;
        const value = score(r);
        const over = value >= threshold;
        if (ignored(row.label)) {
          // Breaks runs without counting.
          if (inEvent && eventHit) detected += 1;
          inEvent = false;
          endAlarm();
          continue;
        }
        if (row.label === label) {
          endAlarm();
          if (!inEvent || !contiguous) {
            if (inEvent && eventHit) detected += 1;
            events += 1;
            inEvent = true;
            eventHit = false;
          }
          if (over) eventHit = true;
        } else {
          if (inEvent) {
            if (eventHit) detected += 1;
            inEvent = false;
          }
          if (over) {
            if (alarmRow < 0 || !contiguous) {
              endAlarm();
              falseAlarms += 1;
              alarmRow = r;
              alarmScore = value;
            } else if (value > alarmScore) {
              alarmRow = r;
              alarmScore = value;
            }
          } else endAlarm();
        }
      }
      endAlarm();
      if (inEvent && eventHit) detected += 1;
    }
    return { events, detected, falseAlarms };
  };
  const perHour = (falseAlarms: number) => (negativeHours > 0 ? falseAlarms / negativeHours : 0);
  const precisionOf = (r: { detected: number; falseAlarms: number }) => (r.detected + r.falseAlarms > 0 ? r.detected / (r.detected + r.falseAlarms) : 0);
  const f1Of = (r: { events: number; detected: number; falseAlarms: number }) => eventF1(r.detected, r.events, r.falseAlarms);

  // The validated sequences of each source group, and a result's counts, for jackknife standard errors.
  const listsOfGroup = new Map<string, number[][]>();
  for (const list of allSequences) {
    const group = rows[list[0]!]!.group;
    const lists = listsOfGroup.get(group) ?? [];
    lists.push(list);
    listsOfGroup.set(group, lists);
  }
  const counts = (c: { events: number; detected: number; falseAlarms: number }) => [c.events, c.detected, c.falseAlarms];

  let limit = Infinity;
  let ruleFigures: LabelReport['rule'];
  if ('perHour' in budget) limit = budget.perHour;
  else if (budget.rule) {
    const r = evaluate(budget.rule.threshold, budget.rule.score);
    limit = perHour(r.falseAlarms);
    ruleFigures = {
      threshold: budget.rule.threshold,
      detected: r.detected,
      false_alarms: r.falseAlarms,
      recall: r.events > 0 ? round(r.detected / r.events, 4) : 0,
      precision: round(precisionOf(r), 4),
      fa_per_hour: round(limit, 3),
    };
  }
  const byF1 = !('perHour' in budget);
  // `site`: the site's own windows rank the thresholds within the budget first, when they hold an
  // event of the label (as they decide who serves it, servedBy).
  const siteRanks = choice === 'site' && byF1 && siteSequences.length > 0 && evaluate(1, headScore, siteSequences).events > 0;
  const siteF1At = (threshold: number) => (siteRanks ? f1Of(evaluate(threshold, headScore, siteSequences)) : 0);
  type Pick = { threshold: number; events: number; detected: number; falseAlarms: number; siteF1: number };
  /** True when `r` ranks above `than`: the site's F1 (0 for both unless the site ranks), then the F1, then the fewer false alarms. */
  const ranksAbove = (r: Pick, than: Pick): boolean => {
    for (const [a, b] of [
      [r.siteF1, than.siteF1],
      [f1Of(r), f1Of(than)],
      [-r.falseAlarms, -than.falseAlarms],
    ] as const) {
      if (a - b > 1e-12) return true;
      if (b - a > 1e-12) return false;
    }
    return false;
  };

  let chosen: Pick | null = null;
  let fewest: Pick | null = null;
  const grid = [...Array.from({ length: 99 }, (_, i) => (i + 1) / 100), ...Array.from({ length: 9 }, (_, i) => (991 + i) / 1000)];
  const evaluated: Pick[] = [];
  for (const threshold of grid) {
    const r = { threshold, ...evaluate(threshold), siteF1: siteF1At(threshold) };
    evaluated.push(r);
    if (!fewest || r.falseAlarms < fewest.falseAlarms) fewest = r;
    // A small tolerance: the same count of false alarms must compare equal to the rule's.
    if (perHour(r.falseAlarms) <= limit + 1e-9) {
      if (!byF1) {
        chosen = r;
        break;
      }
      // The best F1 within the budget (with `site`, the site's F1 first); on a tie the fewer false
      // alarms, then the lower threshold (more recall, as the grid ascends). Fewer false alarms
      // first: a label the validation folds never find (F1 0 at every threshold, e.g. one site clip
      // of it) would otherwise take the lowest threshold within the budget, raising as many false
      // alarms as the rule's budget allows.
      if (!chosen || ranksAbove(r, chosen)) chosen = r;
    }
  }
  // The one-standard-error rule (Breiman, Friedman, Olshen & Stone 1984, "Classification and
  // Regression Trees", §3.4.3; Hastie, Tibshirani & Friedman, "The Elements of Statistical
  // Learning", 2nd ed., §7.10): the best F1 on the validation windows is an optimistic pick among
  // 108 thresholds, so take, of the thresholds within the budget whose F1 is within one jackknife
  // standard error of the best, the one with the fewest false alarms (then the higher F1, then the
  // lower threshold).
  let pick = chosen ?? fewest!;
  if (choice === 'one-se' && chosen) {
    const best = chosen;
    const se = jackknifeStandardError(
      [...listsOfGroup.values()].map((lists) => counts(evaluate(best.threshold, headScore, lists))),
      eventF1OfCounts,
    );
    for (const r of evaluated) {
      if (perHour(r.falseAlarms) > limit + 1e-9 || f1Of(r) < f1Of(best) - se - 1e-12) continue;
      if (r.falseAlarms < pick.falseAlarms || (r.falseAlarms === pick.falseAlarms && f1Of(r) > f1Of(pick) + 1e-12)) pick = r;
    }
  }

  // The next threshold down (NextStep): the highest below the pick that finds more events, and the
  // runs of non-label windows that fire there but not at the pick (each run's highest window).
  let nextStep: NextStep | undefined;
  const lower = evaluated.filter((r) => r.threshold < pick.threshold && r.detected > pick.detected).at(-1);
  if (lower) {
    // Per clip: its new false alarms (runs) and their highest probability.
    const byClip = new Map<string, { clip: string; score: number; runs: number }>();
    let newFalseAlarms = 0;
    evaluate(lower.threshold, headScore, allSequences, (peakRow) => {
      if (headScore(peakRow) >= pick.threshold) return;
      newFalseAlarms += 1;
      const clip = clipOfRow(peakRow);
      const entry = byClip.get(clip) ?? { clip, score: 0, runs: 0 };
      entry.runs += 1;
      entry.score = Math.max(entry.score, round(headScore(peakRow), 4));
      byClip.set(clip, entry);
    });
    const confusers = [...byClip.values()].sort((a, b) => b.score - a.score || (a.clip < b.clip ? -1 : a.clip > b.clip ? 1 : 0));
    nextStep = {
      threshold: lower.threshold,
      detected: lower.detected,
      false_alarms: lower.falseAlarms,
      fa_per_hour: round(perHour(lower.falseAlarms), 3),
      new_false_alarms: newFalseAlarms,
      confuser_clips: confusers.length,
      confusers: confusers.slice(0, NEXT_STEP_CONFUSERS),
    };
  }

  // The rule and the head together: a window fires when the rule's score passes the rule's
  // threshold or the head's passes `threshold`. The best F1 within the rule's budget; on a tie the
  // highest head threshold (the head adds what it is surest of).
  let either: (Omit<Pick, 'siteF1'> & { score: (r: number) => number }) | null = null;
  if (withEither && 'rule' in budget && budget.rule) {
    const rule = budget.rule;
    const pairScore = (threshold: number) => (r: number) => (rule.score(r) >= rule.threshold || headScore(r) >= threshold ? 1 : 0);
    for (const threshold of grid) {
      const score = pairScore(threshold);
      const r = { threshold, score, ...evaluate(0.5, score) };
      if (perHour(r.falseAlarms) <= limit + 1e-9 && (!either || f1Of(r) >= f1Of(either) - 1e-12)) either = r;
    }
  }
  let site: LabelReport['site'];
  if ('rule' in budget && budget.rule && siteSequences.length > 0) {
    const head = evaluate(pick.threshold, headScore, siteSequences);
    const rule = evaluate(budget.rule.threshold, budget.rule.score, siteSequences);
    const pair = either ? evaluate(0.5, either.score, siteSequences) : null;
    site = {
      positives: head.events,
      detected: head.detected,
      false_alarms: head.falseAlarms,
      rule_detected: rule.detected,
      rule_false_alarms: rule.falseAlarms,
      ...(pair ? { either_detected: pair.detected, either_false_alarms: pair.falseAlarms } : {}),
    };
  }
  // Jackknife over source groups: each group's counts, the head at its threshold and the rule.
  let jackknife: LabelReport['jackknife'];
  if (listsOfGroup.size >= 2) {
    const perGroup = [...listsOfGroup.values()].map((lists) => [
      ...counts(evaluate(pick.threshold, headScore, lists)),
      ...(ruleFigures && 'rule' in budget && budget.rule ? counts(evaluate(budget.rule.threshold, budget.rule.score, lists)) : []),
    ]);
    const se = (statistic: (totals: readonly number[]) => number) => round(jackknifeStandardError(perGroup, statistic), 4);
    jackknife = {
      groups: perGroup.length,
      f1_se: se((c) => eventF1OfCounts(c)),
      ...(ruleFigures
        ? { rule_f1_se: se((c) => eventF1OfCounts(c.slice(3))), difference_se: se((c) => eventF1OfCounts(c) - eventF1OfCounts(c.slice(3))) }
        : {}),
    };
  }
  return {
    positives: pick.events,
    precision: round(precisionOf(pick), 4),
    recall: pick.events > 0 ? round(pick.detected / pick.events, 4) : 0,
    fa_per_hour: round(perHour(pick.falseAlarms), 3),
    threshold: pick.threshold,
    detected: pick.detected,
    false_alarms: pick.falseAlarms,
    negative_hours: round(negativeHours, 4),
    over_budget: chosen === null,
    ...(Number.isFinite(limit) ? { fa_budget_per_hour: round(limit, 3) } : {}),
    ...(ruleFigures ? { rule: ruleFigures } : {}),
    ...(either
      ? {
          either: {
            threshold: either.threshold,
            detected: either.detected,
            false_alarms: either.falseAlarms,
            recall: either.events > 0 ? round(either.detected / either.events, 4) : 0,
            precision: round(precisionOf(either), 4),
            fa_per_hour: round(perHour(either.falseAlarms), 3),
          },
        }
      : {}),
    ...(site ? { site } : {}),
    ...(jackknife ? { jackknife } : {}),
    ...(nextStep ? { next_step: nextStep } : {}),
  };
}

export type { FittedLayers };
