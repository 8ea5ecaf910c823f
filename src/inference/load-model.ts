/**
 * Opens a model for the pipeline: finds its manifest, probes the file in a child process (a bad
 * model can crash the native TFLite runtime), reads its tensors and labels, checks that file and
 * manifest agree, and opens the chosen backend.
 */
import { existsSync } from 'node:fs';
import { EarshotError } from '../errors.js';
import type { PatchClassifier } from '../pipeline.js';
import { openBackend, type BackendKind, type InferenceBackend } from './backends/backend.js';
import { labelsFilePath, resolveManifest, type ModelManifest } from './manifest.js';
import { DEFAULT_MODEL_NAME, pulledModelPath, sha256File } from './model-store.js';
import { probeModel } from './probe.js';
import { loadTfliteModelFile, outputClassCount, readLabelsFile, shapeSize, type TfliteModelInfo } from './tflite/model-file.js';

/** YAMNet's waveform window: 0.975 s at 16 kHz (96 frames of 25 ms every 10 ms). */
export const WAVEFORM_INPUT_SAMPLES = 15600;
/** A log-mel patch: 96 frames × 64 mel bands. */
export const PATCH_INPUT_VALUES = 96 * 64;

/** What to open. */
export interface ModelRequest {
  /** The model file; undefined = the pulled default model in `modelDir`. */
  path?: string;
  /** Manifest path or shipped id; undefined = matched by the file's sha256. */
  manifest?: string;
  backend: BackendKind;
  threads: number;
  modelDir: string;
  /** Skip the child-process probe (only for a file already probed in this process's lifetime). */
  skipProbe?: boolean;
}

/** An open model, ready for {@link Pipeline}. */
export interface LoadedModel extends PatchClassifier {
  readonly path: string;
  readonly sha256: string;
  readonly manifest: ModelManifest;
  readonly info: TfliteModelInfo;
  readonly backend: InferenceBackend;
  close(): void;
}

/**
 * Resolves the model path: the requested one, or the pulled default.
 * @throws EarshotError naming the file when it does not exist, and saying which command gets the default
 */
export function resolveModelPath(path: string | undefined, modelDir: string): string {
  if (path) {
    if (!existsSync(path)) throw new EarshotError(`${path}: model file not found`);
    return path;
  }
  const pulled = pulledModelPath(modelDir);
  if (!existsSync(pulled)) {
    throw new EarshotError(`no model configured and none pulled yet (${pulled} does not exist); run \`earshot model pull ${DEFAULT_MODEL_NAME}\`, or pass --model FILE`);
  }
  return pulled;
}

function labelsFor(manifest: ModelManifest, info: TfliteModelInfo, modelPath: string): string[] {
  switch (manifest.labels.source) {
    case 'embedded':
      if (!info.labels) throw new EarshotError(`${modelPath}: the manifest ${manifest.origin} says labels are embedded, but the model carries no label file`);
      return info.labels;
    case 'file':
      return readLabelsFile(labelsFilePath(manifest, modelPath)!);
    case 'inline':
      return manifest.labels.names;
  }
}

function checkInputShape(manifest: ModelManifest, info: TfliteModelInfo, modelPath: string): void {
  const input = info.inputs[0];
  if (!input) throw new EarshotError(`${modelPath}: the model has no input tensor`);
  const expected = manifest.input.kind === 'waveform' ? WAVEFORM_INPUT_SAMPLES : PATCH_INPUT_VALUES;
  if (shapeSize(input.shape) !== expected) {
    throw new EarshotError(
      `${modelPath}: input tensor "${input.name}" has shape [${input.shape.join(',')}], but the manifest ${manifest.origin} says ${manifest.input.kind} (${expected} values)`,
    );
  }
}

/** Softmax or sigmoid in place, as the manifest's `output.activation` says. */
function activate(scores: Float32Array, activation: ModelManifest['output']['activation']): Float32Array {
  if (activation === 'sigmoid') {
    for (let i = 0; i < scores.length; i++) scores[i] = 1 / (1 + Math.exp(-scores[i]));
  } else if (activation === 'softmax') {
    let max = -Infinity;
    for (const s of scores) max = Math.max(max, s);
    let sum = 0;
    for (let i = 0; i < scores.length; i++) sum += scores[i] = Math.exp(scores[i] - max);
    for (let i = 0; i < scores.length; i++) scores[i] /= sum;
  }
  return scores;
}

/**
 * Opens a model.
 * @throws EarshotError when the file is missing, has no manifest, fails the probe (crash, bad
 *   file), disagrees with its manifest, or its labels do not match its output size
 */
export async function loadModel(request: ModelRequest): Promise<LoadedModel> {
  const path = resolveModelPath(request.path, request.modelDir);
  const sha256 = await sha256File(path);
  const manifest = resolveManifest(request.manifest, path, sha256);
  if (!request.skipProbe) await probeModel(path, request.backend);
  const { bytes, info } = await loadTfliteModelFile(path);
  checkInputShape(manifest, info, path);
  const classNames = labelsFor(manifest, info, path);
  const classes = outputClassCount(info);
  if (classNames.length !== classes) {
    throw new EarshotError(`${path}: the model has ${classes} output classes but its labels (${manifest.labels.source}) list ${classNames.length}`);
  }
  const backend = await openBackend(request.backend, bytes, info, { threads: request.threads });
  const activation = manifest.output.activation;
  return {
    path,
    sha256,
    manifest,
    info,
    backend,
    classNames,
    input: manifest.input,
    classify: (modelInput: Float32Array) => activate(Float32Array.from(backend.run(modelInput)), activation),
    close: () => backend.close(),
  };
}
