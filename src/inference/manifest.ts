/**
 * Model manifests: what earshot cannot read from a model file. A manifest is YAML (`models/*.yaml`
 * ships one per supported model; users write their own) and says the input kind (waveform or
 * log-mel patch), the sample rate, window and hop, the patch layout and front-end parameters, the
 * output activation, where the class names come from, and which classes make each earshot label.
 *
 * A manifest whose front end earshot cannot compute (another STFT, power or dB mel, another
 * patch length) is refused when loaded, naming what differs. Models known to need such a front
 * end are listed in `models/unsupported/*.yaml` ({@link UnsupportedModel}) so that they are
 * refused by sha256 with a message naming the missing front end.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EarshotError } from '../errors.js';
import { parseYaml } from '../yaml.js';
import { describeSchemaErrors } from '../schema-errors.js';
import { precompiledValidator, type ValidatorSpec } from '../schema-validator.js';
import { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES, MEL_BANDS, PATCH_FRAMES, PATCH_SAMPLES, SAMPLE_RATE } from '../constants.js';
import type { ModelInput } from '../frontend/types.js';

/** The front end earshot computes (src/frontend/logmel.ts, patcher.ts): what a servable manifest must say. */
export const EARSHOT_FRONT_END = {
  sample_rate_hz: SAMPLE_RATE,
  window_samples: PATCH_SAMPLES,
  mel_bands: MEL_BANDS,
  frame_samples: FRAME_LENGTH_SAMPLES,
  frame_hop_samples: FRAME_HOP_SAMPLES,
  fft_size: 512,
  spectrum: 'magnitude',
  scale: 'log',
  patch_frames: PATCH_FRAMES,
} as const;

/** A parsed manifest. */
export interface ModelManifest {
  id: string;
  description: string;
  /** sha256 (hex) of the model files this manifest describes; used to find it for a file. */
  sha256: string[];
  input: ModelInput;
  output: { activation: 'none' | 'sigmoid' | 'softmax' };
  /** Class names: embedded in the model (TFLite Metadata), a labels file beside the model, or listed here. */
  labels: { source: 'embedded' } | { source: 'file'; file: string } | { source: 'inline'; names: string[] };
  /** earshot label → model class names (exact display names). */
  class_map: Record<string, string[]>;
  /** Where the manifest was read from. */
  origin: string;
}

const MANIFEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'input', 'labels', 'class_map'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
    description: { type: 'string', default: '' },
    sha256: { type: 'array', items: { type: 'string', pattern: '^[0-9a-f]{64}$' }, default: [] },
    input: {
      type: 'object',
      required: ['kind'],
      properties: { kind: { enum: ['waveform', 'logmel_patch'] } },
      if: { properties: { kind: { const: 'logmel_patch' } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable
      then: {
        additionalProperties: false,
        required: ['layout', 'log_offset'],
        properties: {
          kind: { const: 'logmel_patch' },
          layout: { enum: ['frames_mels', 'mels_frames'] },
          log_offset: { type: 'number', exclusiveMinimum: 0 },
          f_min_hz: { type: 'number', minimum: 0, default: 125 },
          f_max_hz: { type: 'number', maximum: 8000, default: 7500 },
          sample_rate_hz: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.sample_rate_hz },
          mel_bands: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.mel_bands },
          frame_samples: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.frame_samples },
          frame_hop_samples: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.frame_hop_samples },
          fft_size: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.fft_size },
          spectrum: { enum: ['magnitude', 'power'], default: EARSHOT_FRONT_END.spectrum },
          scale: { enum: ['log', 'db'], default: EARSHOT_FRONT_END.scale },
          patch_frames: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.patch_frames },
          hop_frames: { type: 'integer', minimum: 1, maximum: 960, default: 48 },
        },
      },
      else: {
        additionalProperties: false,
        properties: {
          kind: { const: 'waveform' },
          sample_rate_hz: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.sample_rate_hz },
          window_samples: { type: 'integer', minimum: 1, default: EARSHOT_FRONT_END.window_samples },
          hop_frames: { type: 'integer', minimum: 1, maximum: 960, default: 48 },
        },
      },
    },
    output: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { activation: { enum: ['none', 'sigmoid', 'softmax'], default: 'none' } },
    },
    labels: {
      type: 'object',
      required: ['source'],
      additionalProperties: false,
      properties: {
        source: { enum: ['embedded', 'file', 'inline'] },
        file: { type: 'string', minLength: 1 },
        names: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
    },
    class_map: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_]*$' },
      additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    },
  },
} as const;

/** The manifest schema and ajv's options (scripts/build-validators.mjs precompiles it to dist/inference/validate-manifest.js). */
export const MANIFEST_VALIDATOR: ValidatorSpec = { schema: MANIFEST_SCHEMA, options: { allErrors: true, useDefaults: true, strict: false } };
const validateManifest = await precompiledValidator(new URL('./validate-manifest.js', import.meta.url), () => MANIFEST_VALIDATOR);

/** The folder of manifests shipped with earshot (`models/` at the package root). */
export const SHIPPED_MANIFEST_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/**
 * Reads and validates a manifest file.
 * @throws EarshotError naming the file and the key at fault
 */
export function loadManifest(path: string): ModelManifest {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${path}: cannot read the model manifest (${code === 'ENOENT' ? 'not found' : (error as Error).message})`);
  }
  if (!validateManifest(raw)) {
    throw new EarshotError(describeSchemaErrors(validateManifest.errors, path, (e) => e.keyword !== 'if'));
  }
  const manifest = raw as unknown as Omit<ModelManifest, 'origin'>;
  const labels = manifest.labels as { source: string; file?: string; names?: string[] };
  if (labels.source === 'file' && !labels.file) throw new EarshotError(`${path}: labels.file: required when labels.source is file`);
  if (labels.source === 'inline' && !labels.names) throw new EarshotError(`${path}: labels.names: required when labels.source is inline`);
  const differences = frontEndDifferences(manifest.input);
  if (differences.length) {
    throw new EarshotError(`${path}: earshot cannot compute this model's front end: ${differences.join(', ')} (see docs/models.md)`);
  }
  return { ...manifest, origin: path };
}

/**
 * Where a manifest's input asks for something earshot's front end does not compute, e.g.
 * `input.frame_samples 1024 (earshot: 400)`; empty when earshot can feed the model.
 */
export function frontEndDifferences(input: ModelManifest['input']): string[] {
  const wanted: [string, unknown, unknown][] =
    input.kind === 'waveform'
      ? [
          ['sample_rate_hz', input.sample_rate_hz, EARSHOT_FRONT_END.sample_rate_hz],
          ['window_samples', input.window_samples, EARSHOT_FRONT_END.window_samples],
        ]
      : [
          ['sample_rate_hz', input.sample_rate_hz, EARSHOT_FRONT_END.sample_rate_hz],
          ['mel_bands', input.mel_bands, EARSHOT_FRONT_END.mel_bands],
          ['frame_samples', input.frame_samples, EARSHOT_FRONT_END.frame_samples],
          ['frame_hop_samples', input.frame_hop_samples, EARSHOT_FRONT_END.frame_hop_samples],
          ['fft_size', input.fft_size, EARSHOT_FRONT_END.fft_size],
          ['spectrum', input.spectrum, EARSHOT_FRONT_END.spectrum],
          ['scale', input.scale, EARSHOT_FRONT_END.scale],
          ['patch_frames', input.patch_frames, EARSHOT_FRONT_END.patch_frames],
        ];
  return wanted.filter(([, value, ours]) => value !== undefined && value !== ours).map(([key, value, ours]) => `input.${key} ${value} (earshot: ${ours})`);
}

/**
 * A model earshot knows it cannot serve (`models/unsupported/*.yaml`): its input needs a front end
 * earshot does not compute.
 */
export interface UnsupportedModel {
  id: string;
  description: string;
  /** sha256 (hex) of the model files. */
  sha256: string[];
  /** The model's input tensor, e.g. 'int8 [1,64,50,1]'. */
  input: string;
  /** One line naming the front end the model needs, e.g. 'the TFLite Micro micro-frontend (49 × 40 features)'. */
  needs_front_end: string;
  /** The front end's parameters, for the record (free-form). */
  front_end: Record<string, unknown>;
  /** Where it was read from. */
  origin: string;
}

const UNSUPPORTED_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'sha256', 'input', 'needs_front_end'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
    description: { type: 'string', default: '' },
    sha256: { type: 'array', items: { type: 'string', pattern: '^[0-9a-f]{64}$' }, minItems: 1 },
    input: { type: 'string', minLength: 1 },
    needs_front_end: { type: 'string', minLength: 1 },
    front_end: { type: 'object', default: {} },
  },
} as const;

/** The refusal schema and ajv's options (precompiled to dist/inference/validate-unsupported.js). */
export const UNSUPPORTED_VALIDATOR: ValidatorSpec = { schema: UNSUPPORTED_SCHEMA, options: { allErrors: true, useDefaults: true, strict: false } };
const validateUnsupported = await precompiledValidator(new URL('./validate-unsupported.js', import.meta.url), () => UNSUPPORTED_VALIDATOR);

/** The folder of shipped refusals: `models/unsupported/`. */
export const UNSUPPORTED_MANIFEST_DIR = join(SHIPPED_MANIFEST_DIR, 'unsupported');

/**
 * Every refusal in `dir` (default: the shipped ones).
 * @throws EarshotError naming the file and key when one is malformed
 */
export function listUnsupportedModels(dir = UNSUPPORTED_MANIFEST_DIR): UnsupportedModel[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .map((name) => {
      const path = join(dir, name);
      const raw: unknown = parseYaml(readFileSync(path, 'utf8'));
      if (!validateUnsupported(raw)) {
        throw new EarshotError(describeSchemaErrors(validateUnsupported.errors, path));
      }
      return { ...(raw as unknown as Omit<UnsupportedModel, 'origin'>), origin: path };
    });
}

/** The shipped refusal for a model file's sha256, if any. */
export function findUnsupportedModel(sha256: string): UnsupportedModel | undefined {
  return listUnsupportedModels().find((m) => m.sha256.includes(sha256));
}

/**
 * Refuses a model earshot knows it cannot feed.
 * @throws EarshotError (exit 2), one line naming the file, the model and the missing front end,
 *   when `sha256` is listed in `models/unsupported/`
 */
export function refuseUnsupportedModel(modelPath: string, sha256: string): void {
  const known = findUnsupportedModel(sha256);
  if (known) {
    throw new EarshotError(
      `${modelPath}: earshot cannot serve ${known.id}: it needs ${known.needs_front_end}, a front end earshot does not compute (input ${known.input}; see docs/models.md)`,
    );
  }
}

/** Every manifest in `dir` (default: the shipped ones), by file name order. */
export function listManifests(dir = SHIPPED_MANIFEST_DIR): ModelManifest[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .map((name) => loadManifest(join(dir, name)));
}

/**
 * Finds the manifest for a model file.
 * @param wanted a manifest path, or the id of a shipped manifest; undefined = match by the file's sha256
 * @param modelPath the model file (for messages)
 * @param sha256 the model file's sha256 (hex)
 * @throws EarshotError when the file is a model earshot knows it cannot feed (models/unsupported/),
 *   or nothing matches, saying how to write or name one
 */
export function resolveManifest(wanted: string | undefined, modelPath: string, sha256: string, baseDir = process.cwd()): ModelManifest {
  refuseUnsupportedModel(modelPath, sha256);
  if (wanted) {
    if (wanted.endsWith('.yaml') || wanted.endsWith('.yml') || wanted.includes('/')) {
      return loadManifest(isAbsolute(wanted) ? wanted : resolve(baseDir, wanted));
    }
    const byId = listManifests().find((m) => m.id === wanted);
    if (!byId) {
      throw new EarshotError(
        `model.manifest: no shipped manifest has id "${wanted}" (shipped: ${listManifests()
          .map((m) => m.id)
          .join(', ')})`,
      );
    }
    return byId;
  }
  const match = listManifests().find((m) => m.sha256.includes(sha256));
  if (!match) {
    throw new EarshotError(
      `${modelPath}: no model manifest describes this file (sha256 ${sha256.slice(0, 12)}…); write one (see docs/models.md) and name it with model.manifest in the config or --manifest`,
    );
  }
  return match;
}

/** Resolves a manifest's labels file against the model file's folder. */
export function labelsFilePath(manifest: ModelManifest, modelPath: string): string | undefined {
  if (manifest.labels.source !== 'file') return undefined;
  const file = manifest.labels.file;
  return isAbsolute(file) ? file : join(dirname(modelPath), file);
}
