/**
 * The head file: a small classifier trained by `earshot train` (src/learn/) that maps one patch's
 * backbone outputs (YAMNet's 1024-d embedding and/or its 521 class scores) to earshot's labels.
 * The inference worker runs {@link applyHead} after the backbone.
 *
 * Format (JSON, UTF-8, `"format": "earshot-head", "version": 1`), keys in this order:
 * - `kind`: `logistic` (multinomial logistic regression: one softmax layer) or `mlp` (one hidden
 *   ReLU layer, then softmax).
 * - `base_model`: `{ sha256, name }` of the model FILE whose outputs the head was trained on; a head
 *   on another model is refused ({@link assertHeadFitsModel}).
 * - `labels`: output order of the softmax; `background_label` (one of them, e.g. `other`) is the
 *   class for "none of the labels".
 * - `thresholds`: per label (background excluded) `{ threshold, release }` on the head's probability,
 *   chosen by cross-validation under a false-alarm budget.
 * - `features`: the input vector, in order: `{ name: "embedding" | "scores", size, transform }`;
 *   `transform` `none` or `logit` (ln(p / (1 − p)) with p clamped to [1e-6, 1 − 1e-6], for the
 *   sigmoid scores).
 * - `normalisation`: `{ mean, std }`, one per input feature: x' = (x − mean) / std, std > 0.
 * - `layers`: `[{ activation, weights: [out][in], bias: [out] }]`: `[softmax]` for `logistic`,
 *   `[relu, softmax]` for `mlp`; the last layer has one output per label.
 * - `training`: what it was trained on (clip counts per label, sha256 of the sorted list of the
 *   clips' sha256, seed, trained_at, options).
 * - `validation`: grouped cross-validation figures per label (precision, recall, FA/h).
 *
 * {@link serializeHead} writes this order, nested keys sorted, weights as the shortest decimals that
 * give the same float32: the same head gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EarshotError, ExitCode } from '../../errors.js';
import { describeSchemaError } from '../../schema-errors.js';
import { precompiledValidator, type ValidatorSpec } from '../../schema-validator.js';
import type { HeadOrigin } from './head-identity.js';

/** The value of `format` in every head file. */
export const HEAD_FORMAT = 'earshot-head';
/** The head file version this earshot reads and writes. */
export const HEAD_VERSION = 1;

/** A backbone output a head reads. */
export type HeadFeatureName = 'embedding' | 'scores';
/** What is done to a feature before normalisation. */
export type HeadFeatureTransform = 'none' | 'logit';

/** One block of the head's input vector. */
export interface HeadFeatureJson {
  name: HeadFeatureName;
  /** Values read from the backbone output (1024 for YAMNet's embedding, 521 for its scores). */
  size: number;
  transform: HeadFeatureTransform;
}

/** One dense layer: y = activation(W·x + b); `weights` is `[outputs][inputs]`. */
export interface HeadLayerJson {
  activation: 'relu' | 'softmax';
  weights: number[][];
  bias: number[];
}

/** Per-label cross-validation figures, at the label's chosen threshold. */
export interface HeadLabelValidationJson {
  /** Validation windows labelled with this label. */
  positives: number;
  /** Of windows scoring ≥ threshold, the fraction that are this label (0..1; 0 when none fire). */
  precision: number;
  /** Of this label's windows, the fraction scoring ≥ threshold (0..1). */
  recall: number;
  /** False alarms per hour of non-label audio: runs of consecutive false-positive windows, per hour. */
  fa_per_hour: number;
  /**
   * The threshold these figures are for: the head's `thresholds[label].threshold`, except for a label
   * in `either_labels`, whose threshold is the pair's (the trainer writes the pair's figures as
   * `either`); these are then the head's alone.
   */
  threshold: number;
}

/** The validation block. Extra keys are kept (free-form notes for the trainer's report). */
export interface HeadValidationJson {
  /** e.g. `grouped-kfold` (folds by source recording) or `none`. */
  method: string;
  folds: number;
  /** The false-alarm budget thresholds were chosen under, per hour of non-label audio. */
  fa_budget_per_hour: number;
  labels: Record<string, HeadLabelValidationJson>;
  [key: string]: unknown;
}

/** The training summary. */
export interface HeadTrainingJson {
  /** ISO 8601 UTC. */
  trained_at: string;
  seed: number;
  clip_count: number;
  clips_per_label: Record<string, number>;
  /** sha256 (hex) of the clips' sha256 values, sorted, each followed by "\n". */
  clips_sha256: string;
  window_count: number;
  windows_per_label: Record<string, number>;
  /** Trainer options (regularisation, epochs, augmentation...), free-form. */
  options: Record<string, unknown>;
  earshot_version: string;
}

/** The head file as JSON (what {@link serializeHead} writes and {@link parseHead} validates). */
export interface HeadJson {
  format: typeof HEAD_FORMAT;
  version: typeof HEAD_VERSION;
  kind: 'logistic' | 'mlp';
  base_model: { sha256: string; name: string };
  labels: string[];
  background_label: string;
  thresholds: Record<string, { threshold: number; release: number }>;
  /**
   * Optional: labels the head leaves to the YAMNet rule (the model's classes with the config's
   * thresholds, as without a head), because the trainer measured the rule better on them in
   * cross-validation. Absent = none: the head serves all its labels.
   */
  rule_labels?: string[];
  /**
   * Optional: labels served by the head and the YAMNet rule together: the label fires when its
   * YAMNet classes reach the config's threshold OR the head's probability reaches the head's
   * threshold for it, because the trainer measured that better than either alone in
   * cross-validation. Absent = none. A label is in at most one of rule_labels and either_labels.
   */
  either_labels?: string[];
  features: HeadFeatureJson[];
  normalisation: { mean: number[]; std: number[] };
  layers: HeadLayerJson[];
  training: HeadTrainingJson;
  validation: HeadValidationJson;
}

/** One dense layer, compiled for {@link applyHead}. */
export interface HeadLayer {
  readonly activation: 'relu' | 'softmax';
  readonly inputs: number;
  readonly outputs: number;
  /** Row-major `[outputs][inputs]`. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

/** A parsed, validated head, ready for {@link applyHead}. */
export interface Head {
  /** Output order of {@link applyHead}; includes {@link Head.backgroundLabel}. */
  readonly labels: readonly string[];
  /** The "none of these" class. */
  readonly backgroundLabel: string;
  readonly kind: 'logistic' | 'mlp';
  readonly baseModelSha256: string;
  /** sha256 (hex) of the head file's bytes. */
  readonly sha256: string;
  /** ISO 8601. */
  readonly trainedAt: string;
  /** Clips it was trained on. */
  readonly clipCount: number;
  /** Per label except the background one: probability thresholds chosen in training. */
  readonly thresholds: Readonly<Record<string, { threshold: number; release: number }>>;
  /** Labels left to the YAMNet rule ({@link HeadJson.rule_labels}); empty when the head serves all. */
  readonly ruleLabels: readonly string[];
  /** Labels the head and the rule serve together ({@link HeadJson.either_labels}); empty when none. */
  readonly eitherLabels: readonly string[];
  readonly features: readonly HeadFeatureJson[];
  /** Length of the input vector (sum of the feature sizes). */
  readonly inputSize: number;
  /** Per input value: mean and 1/std. */
  readonly mean: Float32Array;
  readonly invStd: Float32Array;
  readonly layers: readonly HeadLayer[];
  /** The file as parsed (for reports and for re-serialising). */
  readonly json: HeadJson;
}

const numberArray = { type: 'array', items: { type: 'number' } } as const;
const labelName = { type: 'string', pattern: '^[a-z][a-z0-9_]*$' } as const;

/** JSON Schema of version 1 (ajv). Shapes that depend on other fields are checked after it. */
export const HEAD_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'format',
    'version',
    'kind',
    'base_model',
    'labels',
    'background_label',
    'thresholds',
    'features',
    'normalisation',
    'layers',
    'training',
    'validation',
  ],
  properties: {
    format: { const: HEAD_FORMAT },
    version: { type: 'integer' },
    kind: { enum: ['logistic', 'mlp'] },
    base_model: {
      type: 'object',
      additionalProperties: false,
      required: ['sha256', 'name'],
      properties: { sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, name: { type: 'string' } },
    },
    labels: { type: 'array', items: labelName, minItems: 2, uniqueItems: true },
    background_label: labelName,
    rule_labels: { type: 'array', items: labelName, uniqueItems: true },
    either_labels: { type: 'array', items: labelName, uniqueItems: true },
    thresholds: {
      type: 'object',
      propertyNames: labelName,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['threshold', 'release'],
        properties: { threshold: { type: 'number', minimum: 0, maximum: 1 }, release: { type: 'number', minimum: 0, maximum: 1 } },
      },
    },
    features: {
      type: 'array',
      minItems: 1,
      maxItems: 2,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'size', 'transform'],
        properties: { name: { enum: ['embedding', 'scores'] }, size: { type: 'integer', minimum: 1 }, transform: { enum: ['none', 'logit'] } },
      },
    },
    normalisation: {
      type: 'object',
      additionalProperties: false,
      required: ['mean', 'std'],
      properties: { mean: numberArray, std: numberArray },
    },
    layers: {
      type: 'array',
      minItems: 1,
      maxItems: 2,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['activation', 'weights', 'bias'],
        properties: { activation: { enum: ['relu', 'softmax'] }, weights: { type: 'array', items: numberArray, minItems: 1 }, bias: numberArray },
      },
    },
    training: {
      type: 'object',
      additionalProperties: false,
      required: ['trained_at', 'seed', 'clip_count', 'clips_per_label', 'clips_sha256', 'window_count', 'windows_per_label', 'options', 'earshot_version'],
      properties: {
        trained_at: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' },
        seed: { type: 'integer' },
        clip_count: { type: 'integer', minimum: 0 },
        clips_per_label: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        clips_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        window_count: { type: 'integer', minimum: 0 },
        windows_per_label: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        options: { type: 'object' },
        earshot_version: { type: 'string' },
      },
    },
    validation: {
      type: 'object',
      required: ['method', 'folds', 'fa_budget_per_hour', 'labels'],
      properties: {
        method: { type: 'string' },
        folds: { type: 'integer', minimum: 0 },
        fa_budget_per_hour: { type: 'number', minimum: 0 },
        labels: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            required: ['positives', 'precision', 'recall', 'fa_per_hour', 'threshold'],
            properties: {
              positives: { type: 'integer', minimum: 0 },
              precision: { type: 'number', minimum: 0, maximum: 1 },
              recall: { type: 'number', minimum: 0, maximum: 1 },
              fa_per_hour: { type: 'number', minimum: 0 },
              threshold: { type: 'number', minimum: 0, maximum: 1 },
            },
          },
        },
      },
    },
  },
} as const;

/** The head schema and ajv's options (scripts/build-validators.mjs precompiles it to dist/inference/head/validate-head.js). */
export const HEAD_VALIDATOR: ValidatorSpec = { schema: HEAD_SCHEMA, options: { allErrors: false, strict: true } };
const validateHeadJson = await precompiledValidator(new URL('./validate-head.js', import.meta.url), () => HEAD_VALIDATOR);

/** The first non-finite number in a nested array, as `[i][j]`, or undefined. */
function firstNonFinite(values: unknown[], path = ''): string | undefined {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Array.isArray(v)) {
      const inner = firstNonFinite(v, `${path}[${i}]`);
      if (inner !== undefined) return inner;
    } else if (typeof v === 'number' && !Number.isFinite(v)) {
      return `${path}[${i}]`;
    }
  }
  return undefined;
}

/**
 * Parses and validates a head file's text.
 * @param text the file's contents (UTF-8 JSON)
 * @param source the file name (or URL) to name in errors
 * @throws EarshotError (exit 2), one line `SOURCE: head file: problem`: not JSON (e.g. truncated),
 *   another format or version, a schema violation, inconsistent shapes, a non-finite number
 */
export function parseHead(text: string, source: string): Head {
  return parseHeadBytes(text, createHash('sha256').update(text, 'utf8').digest('hex'), source);
}

/** {@link parseHead} with the sha256 of the file's bytes given. */
function parseHeadBytes(text: string, sha256: string, source: string): Head {
  const fail = (problem: string): never => {
    throw new EarshotError(`${source}: head file: ${problem}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    fail(`not valid JSON (${detail})${text.trimEnd().endsWith('}') ? '' : '; the file looks truncated'}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('not a JSON object');
  const doc = raw as Record<string, unknown>;
  if (doc.format !== HEAD_FORMAT) fail(`"format" is ${JSON.stringify(doc.format)}, not "${HEAD_FORMAT}" (is this a head file?)`);
  if (doc.version !== HEAD_VERSION) fail(`version ${JSON.stringify(doc.version)} is not supported (this earshot reads version ${HEAD_VERSION})`);
  if (!validateHeadJson(doc)) fail(describeSchemaError(validateHeadJson.errors![0]!));
  const json = doc as unknown as HeadJson;

  // Numbers: JSON has no NaN, but 1e999 parses to Infinity, and a writer may emit null (schema catches).
  const nonFiniteIn = (name: string, values: unknown[]) => {
    const at = firstNonFinite(values);
    if (at !== undefined) fail(`${name}${at}: not a finite number`);
  };
  nonFiniteIn('normalisation.mean', json.normalisation.mean);
  nonFiniteIn('normalisation.std', json.normalisation.std);
  json.layers.forEach((layer, i) => {
    nonFiniteIn(`layers[${i}].weights`, layer.weights);
    nonFiniteIn(`layers[${i}].bias`, layer.bias);
  });

  if (!json.labels.includes(json.background_label)) fail(`background_label "${json.background_label}" is not one of labels (${json.labels.join(', ')})`);
  for (const label of Object.keys(json.thresholds)) {
    if (!json.labels.includes(label)) fail(`thresholds.${label}: not one of labels (${json.labels.join(', ')})`);
    if (label === json.background_label) fail(`thresholds.${label}: the background label has no threshold`);
    const { threshold, release } = json.thresholds[label]!;
    if (release > threshold) fail(`thresholds.${label}.release: ${release} is above its threshold ${threshold}`);
  }
  const ownLabels = json.labels.filter((l) => l !== json.background_label);
  for (const key of ['rule_labels', 'either_labels'] as const) {
    for (const label of json[key] ?? []) if (!ownLabels.includes(label)) fail(`${key}: "${label}" is not one of the head's labels (${ownLabels.join(', ')})`);
  }
  for (const label of json.either_labels ?? []) {
    if (json.rule_labels?.includes(label)) fail(`either_labels: "${label}" is in rule_labels too (a label is served one way)`);
    if (!json.thresholds[label]) fail(`either_labels: "${label}" has no entry in thresholds (the head's threshold for it)`);
  }
  const names = json.features.map((f) => f.name);
  if (new Set(names).size !== names.length) fail(`features: "${names[0]}" is listed twice`);

  const inputSize = json.features.reduce((sum, f) => sum + f.size, 0);
  if (json.normalisation.mean.length !== inputSize) fail(`normalisation.mean: ${json.normalisation.mean.length} values, the features give ${inputSize}`);
  if (json.normalisation.std.length !== inputSize) fail(`normalisation.std: ${json.normalisation.std.length} values, the features give ${inputSize}`);
  const badStd = json.normalisation.std.findIndex((s) => !(s > 0));
  if (badStd >= 0) fail(`normalisation.std[${badStd}]: must be > 0`);

  const expected = json.kind === 'logistic' ? ['softmax'] : ['relu', 'softmax'];
  const activations = json.layers.map((l) => l.activation);
  if (activations.join() !== expected.join()) fail(`layers: a ${json.kind} head has layers [${expected.join(', ')}], this one [${activations.join(', ')}]`);
  const layers: HeadLayer[] = [];
  let inputs = inputSize;
  json.layers.forEach((layer, i) => {
    const outputs = layer.weights.length;
    if (i === json.layers.length - 1 && outputs !== json.labels.length) {
      fail(`layers[${i}].weights: ${outputs} rows, the head has ${json.labels.length} labels`);
    }
    if (layer.bias.length !== outputs) fail(`layers[${i}].bias: ${layer.bias.length} values, the layer has ${outputs} outputs`);
    const weights = new Float32Array(outputs * inputs);
    layer.weights.forEach((row, o) => {
      if (row.length !== inputs) fail(`layers[${i}].weights[${o}]: ${row.length} values, the layer has ${inputs} inputs`);
      weights.set(row, o * inputs);
    });
    layers.push({ activation: layer.activation, inputs, outputs, weights, bias: Float32Array.from(layer.bias) });
    inputs = outputs;
  });

  const mean = Float32Array.from(json.normalisation.mean);
  const invStd = Float32Array.from(json.normalisation.std, (s) => 1 / s);
  return {
    labels: json.labels,
    backgroundLabel: json.background_label,
    kind: json.kind,
    baseModelSha256: json.base_model.sha256,
    sha256,
    trainedAt: json.training.trained_at,
    clipCount: json.training.clip_count,
    thresholds: json.thresholds,
    ruleLabels: json.rule_labels ?? [],
    eitherLabels: json.either_labels ?? [],
    features: json.features,
    inputSize,
    mean,
    invStd,
    layers,
    json,
  };
}

/**
 * Reads and parses a head file.
 * @throws EarshotError (exit 2) naming `path` when it cannot be read or is not a valid head
 */
export function loadHeadFile(path: string): Head {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${path}: head file: cannot be read (${code ?? (error as Error).message})`, ExitCode.BadInput, { cause: error });
  }
  return parseHeadBytes(bytes.toString('utf8'), createHash('sha256').update(bytes).digest('hex'), path);
}

/**
 * Refuses a head trained on another model's outputs.
 * @param modelSha256 sha256 (hex) of the running model file
 * @param source the head's file name, for the message
 * @throws EarshotError (exit 2) naming both sha256 values
 */
export function assertHeadFitsModel(head: Head, modelSha256: string, source: string): void {
  if (head.baseModelSha256 !== modelSha256.toLowerCase()) {
    throw new EarshotError(
      `${source}: head file: trained on model sha256 ${head.baseModelSha256} (${head.json.base_model.name}), ` +
        `but the running model is sha256 ${modelSha256}; train a head on this model (earshot train --model ...)`,
    );
  }
}

const LOGIT_EPS = 1e-6;

/** ln(p / (1 − p)) with p clamped to [1e-6, 1 − 1e-6]: the logit transform of a sigmoid score. */
export function logit(p: number): number {
  const q = p < LOGIT_EPS ? LOGIT_EPS : p > 1 - LOGIT_EPS ? 1 - LOGIT_EPS : p;
  return Math.log(q / (1 - q));
}

/**
 * Writes a head's raw input vector (features in order, transformed, not yet normalised) into `out`.
 * Shared by {@link applyHead} and the trainer, so both see the same numbers.
 * @param out length ≥ the sum of the feature sizes
 * @throws EarshotError when a backbone output is shorter than the head's feature size
 */
export function headInput(features: readonly HeadFeatureJson[], embedding: Float32Array, scores: Float32Array, out: Float32Array | Float64Array): void {
  let at = 0;
  for (const feature of features) {
    const source = feature.name === 'embedding' ? embedding : scores;
    if (source.length !== feature.size) {
      throw new EarshotError(`head: the model gives ${source.length} ${feature.name} values, the head reads ${feature.size}`);
    }
    if (feature.transform === 'logit') for (let i = 0; i < feature.size; i++) out[at + i] = logit(source[i]!);
    else for (let i = 0; i < feature.size; i++) out[at + i] = source[i]!;
    at += feature.size;
  }
}

/** Per head: the first layer with the normalisation folded in, and buffers for the forward pass. */
interface Compiled {
  /** W'[o][i] = W[o][i] / std[i]; b'[o] = b[o] − Σᵢ W'[o][i]·mean[i] (float64). */
  readonly first: { weights: Float64Array; bias: Float64Array };
  readonly buffers: Float64Array[];
}

const compiled = new WeakMap<Head, Compiled>();

function compile(head: Head): Compiled {
  const layer = head.layers[0]!;
  const weights = new Float64Array(layer.weights.length);
  const bias = new Float64Array(layer.outputs);
  for (let o = 0; o < layer.outputs; o++) {
    let shift = 0;
    for (let i = 0; i < layer.inputs; i++) {
      const w = layer.weights[o * layer.inputs + i]! * head.invStd[i]!;
      weights[o * layer.inputs + i] = w;
      shift += w * head.mean[i]!;
    }
    bias[o] = layer.bias[o]! - shift;
  }
  return { first: { weights, bias }, buffers: [new Float64Array(head.inputSize), ...head.layers.map((l) => new Float64Array(l.outputs))] };
}

/**
 * The head's forward pass on one patch: transform the features, dense layers (the normalisation
 * (x − mean) / std folded into the first one when the head is first used), softmax. Accumulates in
 * float64. About 1.6 k multiply-adds per label for a logistic head on both features.
 * @param embedding the patch's embedding (1024 values for YAMNet), read when the head uses it
 * @param scores the patch's class scores (521 for YAMNet), read when the head uses them
 * @returns probabilities in `head.labels` order (sum 1)
 * @throws EarshotError when an output's length differs from the head's feature size
 */
export function applyHead(head: Head, embedding: Float32Array, scores: Float32Array): Float32Array {
  let c = compiled.get(head);
  if (!c) {
    c = compile(head);
    compiled.set(head, c);
  }
  const x = c.buffers[0]!;
  headInput(head.features, embedding, scores, x);
  let input = x;
  head.layers.forEach((layer, l) => {
    const y = c!.buffers[l + 1]!;
    denseForward(layer.activation, layer.inputs, layer.outputs, l === 0 ? c!.first.weights : layer.weights, l === 0 ? c!.first.bias : layer.bias, input, y);
    input = y;
  });
  return Float32Array.from(input);
}

/** y = activation(W·x + b) for one layer; softmax is computed stably (max subtracted). */
function denseForward(
  activation: 'relu' | 'softmax',
  inputs: number,
  outputs: number,
  weights: Float32Array | Float64Array,
  bias: Float32Array | Float64Array,
  x: Float64Array,
  y: Float64Array,
): void {
  for (let o = 0; o < outputs; o++) {
    let sum = bias[o]!;
    const row = o * inputs;
    for (let i = 0; i < inputs; i++) sum += weights[row + i]! * x[i]!;
    y[o] = sum;
  }
  if (activation === 'relu') {
    for (let o = 0; o < outputs; o++) if (y[o]! < 0) y[o] = 0;
    return;
  }
  let max = -Infinity;
  for (let o = 0; o < outputs; o++) if (y[o]! > max) max = y[o]!;
  let total = 0;
  for (let o = 0; o < outputs; o++) {
    y[o] = Math.exp(y[o]! - max);
    total += y[o]!;
  }
  for (let o = 0; o < outputs; o++) y[o] = y[o]! / total;
}

/**
 * The shortest decimal that reads back as the same float32 as `value` (weights are float32 at run
 * time, so more digits would only make the file bigger).
 */
export function float32Text(value: number): string {
  const f = Math.fround(value);
  if (!Number.isFinite(f)) throw new EarshotError(`head: cannot write a non-finite number (${value})`, ExitCode.Unexpected);
  if (Number.isInteger(f) && Math.abs(f) < 1e15) return String(f === 0 ? 0 : f);
  for (let digits = 1; digits <= 9; digits++) {
    const text = String(Number(f.toPrecision(digits)));
    if (Math.fround(Number(text)) === f) return text;
  }
  return String(f);
}

/** Top-level key order of a head file. */
const TOP_KEYS: readonly (keyof HeadJson)[] = [
  'format',
  'version',
  'kind',
  'base_model',
  'labels',
  'background_label',
  'thresholds',
  'rule_labels',
  'either_labels',
  'features',
  'normalisation',
  'layers',
  'training',
  'validation',
];
/** Keys whose number arrays are float32 weights. */
const FLOAT32_KEYS = new Set(['mean', 'std', 'weights', 'bias']);

/** JSON text of a plain value: objects with sorted keys, number arrays on one line. */
function writeValue(value: unknown, indent: string, float32: boolean): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new EarshotError(`head: cannot write a non-finite number (${value})`, ExitCode.Unexpected);
    return float32 ? float32Text(value) : JSON.stringify(value);
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v === 'number' || typeof v === 'string')) {
      return `[${value.map((v) => writeValue(v, inner, float32)).join(',')}]`;
    }
    return `[\n${value.map((v) => inner + writeValue(v, inner, float32)).join(',\n')}\n${indent}]`;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort();
    if (keys.length === 0) return '{}';
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${writeValue((value as Record<string, unknown>)[k], inner, float32 || FLOAT32_KEYS.has(k))}`).join(',\n')}\n${indent}}`;
  }
  throw new EarshotError(`head: cannot write a ${typeof value}`, ExitCode.Unexpected);
}

/**
 * The head file's text: top-level keys in the format's order, nested keys sorted, weight arrays as
 * float32 shortest decimals, number arrays on one line, a final newline. Deterministic: the same
 * head gives the same bytes.
 * @throws EarshotError (exit 1) on a non-finite number (a training bug)
 */
export function serializeHead(head: HeadJson): string {
  const known = new Set<string>(TOP_KEYS);
  const extra = Object.keys(head).filter((k) => !known.has(k));
  if (extra.length > 0) throw new EarshotError(`head: unknown top-level key "${extra[0]}"`, ExitCode.Unexpected);
  // Optional keys (rule_labels, either_labels) are left out when absent, so older heads keep their bytes.
  const lines = TOP_KEYS.filter((key) => head[key] !== undefined).map(
    (key) => `  ${JSON.stringify(key)}: ${writeValue(head[key], '  ', FLOAT32_KEYS.has(key))}`,
  );
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** Where a head in use came from (head-identity.ts). */
export type { HeadOrigin } from './head-identity.js';

/** A parsed head with its file's text (what the inference worker is sent) and where it came from. */
export interface LoadedHead {
  readonly head: Head;
  /** The file's text (UTF-8). */
  readonly text: string;
  /** The file it was read from (for a pushed head: where the node keeps it). */
  readonly path: string;
  readonly origin: HeadOrigin;
}
