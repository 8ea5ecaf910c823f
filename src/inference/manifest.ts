/**
 * Model manifests: what earshot cannot read from a model file. A manifest is YAML (`models/*.yaml`
 * ships one per supported model; users write their own) and says the input kind (waveform or
 * log-mel patch), the patch layout and front-end parameters, the output activation, where the
 * class names come from, and which classes make each earshot label.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { EarshotError } from '../errors.js';

/** The model takes 15600 samples (0.975 s) of 16 kHz waveform in −1..1. */
export interface WaveformInput {
  kind: 'waveform';
}

/** The model takes one log-mel patch of 96 frames × 64 mel bands. */
export interface LogMelPatchInput {
  kind: 'logmel_patch';
  /** `frames_mels` = [96][64] (YAMNet), `mels_frames` = [64][96] (ST models). */
  layout: 'frames_mels' | 'mels_frames';
  /** Added before the natural log: 0.001 (YAMNet) or 1e-4 (ST). */
  log_offset: number;
  f_min_hz: number;
  f_max_hz: number;
}

/** A parsed manifest. */
export interface ModelManifest {
  id: string;
  description: string;
  /** sha256 (hex) of the model files this manifest describes; used to find it for a file. */
  sha256: string[];
  input: WaveformInput | LogMelPatchInput;
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
      then: {
        additionalProperties: false,
        required: ['layout', 'log_offset'],
        properties: {
          kind: { const: 'logmel_patch' },
          layout: { enum: ['frames_mels', 'mels_frames'] },
          log_offset: { type: 'number', exclusiveMinimum: 0 },
          f_min_hz: { type: 'number', minimum: 0, default: 125 },
          f_max_hz: { type: 'number', maximum: 8000, default: 7500 },
        },
      },
      else: { additionalProperties: false, properties: { kind: { const: 'waveform' } } },
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

const validateManifest = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(MANIFEST_SCHEMA);

/** The folder of manifests shipped with earshot (`models/` at the package root). */
export const SHIPPED_MANIFEST_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/**
 * Reads and validates a manifest file.
 * @throws EarshotError naming the file and the key at fault
 */
export function loadManifest(path: string): ModelManifest {
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${path}: cannot read the model manifest (${code === 'ENOENT' ? 'not found' : (error as Error).message})`);
  }
  if (!validateManifest(raw)) {
    const problems = (validateManifest.errors ?? [])
      .filter((e) => e.keyword !== 'if')
      .map((e) => `${path}: ${e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)'}: ${e.message}${e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ''}`);
    throw new EarshotError([...new Set(problems)].join('\n'));
  }
  const manifest = raw as unknown as Omit<ModelManifest, 'origin'>;
  const labels = manifest.labels as { source: string; file?: string; names?: string[] };
  if (labels.source === 'file' && !labels.file) throw new EarshotError(`${path}: labels.file: required when labels.source is file`);
  if (labels.source === 'inline' && !labels.names) throw new EarshotError(`${path}: labels.names: required when labels.source is inline`);
  return { ...manifest, origin: path };
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
 * @throws EarshotError when nothing matches, saying how to write or name one
 */
export function resolveManifest(wanted: string | undefined, modelPath: string, sha256: string, baseDir = process.cwd()): ModelManifest {
  if (wanted) {
    if (wanted.endsWith('.yaml') || wanted.endsWith('.yml') || wanted.includes('/')) {
      return loadManifest(isAbsolute(wanted) ? wanted : resolve(baseDir, wanted));
    }
    const byId = listManifests().find((m) => m.id === wanted);
    if (!byId) {
      throw new EarshotError(`model.manifest: no shipped manifest has id "${wanted}" (shipped: ${listManifests().map((m) => m.id).join(', ')})`);
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
