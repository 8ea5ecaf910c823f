/**
 * Opens a model for the pipeline: finds its manifest (refusing models whose front end earshot
 * cannot compute), probes the file in a child process (a bad model, or a TFLite delegate library
 * that is not one, can crash the native runtime), reads its tensors and labels, checks that file
 * and manifest agree, and opens the backend: tflite-node / litert-wasm for `.tflite` files, onnx
 * for `.onnx` files.
 *
 * Accelerators: a TFLite delegate (`model.delegate`, tflite-node) that cannot be found or loaded,
 * or ONNX execution providers that are not available, leave the model on the CPU with a warning
 * in {@link LoadedModel.warnings}, unless `model.require_accelerator` is true (then EarshotError,
 * exit 3).
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import { requireRegularFile } from '../fs-checks.js';
import type { PatchClassifier } from './types.js';
import type { BackendKind, InferenceBackend, ModelOutputs } from './backends/backend.js';
import { openBackend } from './backends/create-backend.js';
import { findDelegateLibrary } from './backends/delegate.js';
import { labelsFilePath, resolveManifest, type ModelManifest } from './manifest.js';
import { isOnnxInfo, loadModelFile, modelFormatOf, type ModelFileInfo, type ModelFormat } from './model-format.js';
import { DEFAULT_MODEL_NAME, pulledModelPath, sha256Bytes, sha256File } from './model-store.js';
import { refuseNonModel } from './model-sniff.js';
import type { LoadedHead } from './head/head-file.js';
import { probeModel } from './probe.js';
import { outputClassCount, readLabelsFile, readModelBytes, shapeSize, type TfliteModelInfo } from './tflite/model-file.js';
import { MEL_BANDS, PATCH_FRAMES, PATCH_SAMPLES } from '../constants.js';
import type { ModelRequest } from './model-request.js';

/** How long the probe may take to open an ONNX model with TensorRT (engine build included). */
export const TENSORRT_PROBE_TIMEOUT_MS = 15 * 60_000;

/** YAMNet's waveform window: 0.975 s at 16 kHz (96 frames of 25 ms every 10 ms). */
export const WAVEFORM_INPUT_SAMPLES = PATCH_SAMPLES;
/** A log-mel patch: 96 frames × 64 mel bands. */
export const PATCH_INPUT_VALUES = PATCH_FRAMES * MEL_BANDS;

export { acceleratorRequest } from './model-request.js';

/** An open model, ready for {@link Pipeline}. */
export interface LoadedModel extends PatchClassifier {
  readonly path: string;
  readonly sha256: string;
  readonly manifest: ModelManifest;
  /** 'tflite' or 'onnx' (by the file's extension); loadModel always sets it. */
  readonly format?: ModelFormat;
  readonly info: ModelFileInfo;
  readonly backend: InferenceBackend;
  /** What runs the model: 'cpu', `delegate <library>` or the ONNX execution provider; loadModel always sets it. */
  readonly accelerator?: string;
  /** Problems met while opening that did not stop it (a delegate or provider left for the CPU); the caller logs them. */
  readonly warnings?: readonly string[];
  /** Values of the model's embedding (1024 for YAMNet), when it gives one (YAMNet-family TFLite models). */
  readonly embeddingLength?: number;
  /**
   * One invoke: the class scores exactly as classify() gives them, and the embedding
   * (dequantized). Present exactly when {@link embeddingLength} is.
   */
  classifyWithEmbedding?(modelInput: Float32Array): ModelOutputs | Promise<ModelOutputs>;
  /**
   * With a head (src/inference/head/head-runtime.ts): the head, and the model without it. A
   * headed model's classify() gives the backbone's scores followed by the head's probabilities.
   */
  readonly head?: LoadedHead;
  readonly backbone?: LoadedModel;
  /** This model with `head` run in its own thread (a worker's; see attachHead()). */
  withHead?(head: LoadedHead): Promise<LoadedModel>;
  close(): void;
}

/**
 * Resolves the model path: the requested one, or the pulled default.
 * @throws EarshotError naming the file when it does not exist, and saying which command gets the default
 */
export function resolveModelPath(path: string | undefined, modelDir: string): string {
  if (path) {
    if (!existsSync(path)) throw new EarshotError(`${path}: model file not found`);
    requireRegularFile(path, 'model.path');
    return path;
  }
  const pulled = pulledModelPath(modelDir);
  if (!existsSync(pulled)) {
    throw new EarshotError(
      `no model configured and none pulled yet (${pulled} does not exist); run \`earshot model pull ${DEFAULT_MODEL_NAME}\`, or pass --model FILE`,
    );
  }
  return pulled;
}

function labelsFor(manifest: ModelManifest, info: ModelFileInfo, modelPath: string): string[] {
  switch (manifest.labels.source) {
    case 'embedded':
      if (isOnnxInfo(info))
        throw new EarshotError(
          `${modelPath}: the manifest ${manifest.origin} says labels are embedded, but earshot reads embedded labels from TFLite Metadata only; use labels.file or labels.names`,
        );
      if (!info.labels) throw new EarshotError(`${modelPath}: the manifest ${manifest.origin} says labels are embedded, but the model carries no label file`);
      return info.labels;
    case 'file':
      return readLabelsFile(labelsFilePath(manifest, modelPath)!);
    case 'inline':
      return manifest.labels.names;
  }
}

/** Values the model takes per input, by its manifest: 15600 samples or 96 × 64 log-mel values. */
export function manifestInputLength(manifest: ModelManifest): number {
  return manifest.input.kind === 'waveform' ? WAVEFORM_INPUT_SAMPLES : PATCH_INPUT_VALUES;
}

function checkInputShape(manifest: ModelManifest, info: TfliteModelInfo, modelPath: string): void {
  const input = info.inputs[0];
  if (!input) throw new EarshotError(`${modelPath}: the model has no input tensor`);
  const expected = manifestInputLength(manifest);
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
 * The backend a file runs on: an `.onnx` file always on 'onnx' (whatever TFLite backend is
 * configured, since the default is one); a TFLite file on the requested TFLite backend.
 * @throws EarshotError when 'onnx' is asked for a TFLite file
 */
export function backendFor(path: string, requested: BackendKind): BackendKind {
  if (modelFormatOf(path) === 'onnx') return 'onnx';
  if (requested === 'onnx')
    throw new EarshotError(`${path}: model.backend is onnx, but this is a TFLite model; use tflite-node or litert-wasm, or an .onnx model`);
  return requested;
}

/**
 * Settles the TFLite delegate: checks `model.delegate` against the backend, finds the library and
 * test-loads the model with it in the probe child. A delegate that cannot be had is dropped with
 * a warning, or is an error when `requireAccelerator` is set.
 * @returns the delegate library to open with (undefined = CPU) and the warnings
 * @throws EarshotError exit 2 for a delegate on a backend other than tflite-node or
 *   `requireAccelerator` without a delegate; exit 3 when a required delegate cannot be loaded;
 *   the probe's error when the model itself is bad
 */
async function settleTfliteAccelerator(
  path: string,
  kind: BackendKind,
  request: ModelRequest,
  sha256?: string,
): Promise<{ delegatePath?: string; warnings: string[] }> {
  const warnings: string[] = [];
  // The daemon and the CLI trust a probe already made of the same file, runtime and options (probe-cache.ts).
  const probeOptions = { threads: request.threads, cache: true, sha256 };
  if (!request.delegate) {
    if (request.requireAccelerator) {
      throw new EarshotError(
        `model.require_accelerator is true, but no accelerator is configured for ${path} (set model.delegate with backend tflite-node, or use an .onnx model with model.execution_providers)`,
      );
    }
    if (!request.skipProbe) await probeModel(path, kind, probeOptions);
    return { warnings };
  }
  if (kind !== 'tflite-node') {
    throw new EarshotError(
      `model.delegate (${request.delegate}): TFLite delegates load in the tflite-node backend only; set model.backend: tflite-node (it is ${kind})`,
    );
  }
  const found = findDelegateLibrary(request.delegate);
  let failure: string | undefined;
  if (!found.path) {
    failure = `not found (looked in ${found.searched.join(', ')})`;
  } else if (!request.skipProbe) {
    try {
      await probeModel(path, kind, {
        ...probeOptions,
        delegatePath: found.path,
        ...(request.delegateOptions ? { delegateOptions: request.delegateOptions } : {}),
      });
    } catch (error) {
      if (!isEarshotError(error)) throw error;
      // Was it the delegate or the model? The model alone answers (and a bad model is refused here).
      await probeModel(path, kind, probeOptions);
      failure = `cannot be used (the test load with it failed: ${error.message.replace(`${path}: `, '').replace(/; refusing it$/, '')})`;
    }
  }
  if (failure === undefined) return { delegatePath: found.path, warnings };
  const problem = `model.delegate ${request.delegate}: TFLite delegate library ${failure}`;
  if (request.requireAccelerator) {
    throw new EarshotError(`${problem}; model.require_accelerator is true, so earshot will not run ${path} on the CPU`, ExitCode.Environment);
  }
  if (!found.path && !request.skipProbe) await probeModel(path, kind, probeOptions);
  warnings.push(`${problem}; running ${basename(path)} on the CPU`);
  return { warnings };
}

/**
 * Opens a model.
 * @throws EarshotError when the file is missing, is a model earshot cannot feed
 *   (models/unsupported/), has no manifest, fails the probe (crash, bad file), disagrees with its
 *   manifest, or its labels do not match its output size (exit 2); when a required accelerator
 *   cannot be had (exit 3)
 */
export async function loadModel(request: ModelRequest): Promise<LoadedModel> {
  const path = resolveModelPath(request.path, request.modelDir);
  refuseNonModel(path);
  // A TFLite file is read once, for its hash and its parse (the worker's start, issue 23).
  const tfliteBytes = modelFormatOf(path) === 'tflite' ? await readModelBytes(path) : undefined;
  const sha256 = tfliteBytes ? sha256Bytes(tfliteBytes) : await sha256File(path);
  const manifest = resolveManifest(request.manifest, path, sha256);
  const kind = backendFor(path, request.backend);
  const inputLength = manifestInputLength(manifest);
  let delegatePath: string | undefined;
  const warnings: string[] = [];
  if (kind === 'onnx') {
    if (request.delegate)
      throw new EarshotError(`model.delegate (${request.delegate}): TFLite delegates do not apply to ONNX models; use model.execution_providers`);
    if (!request.skipProbe) {
      await probeModel(path, kind, {
        threads: request.threads,
        cache: true,
        sha256,
        inputLength,
        // TensorRT builds its engine while the session opens: minutes on a Jetson, not seconds.
        ...(request.executionProviders?.includes('tensorrt') ? { timeoutMs: TENSORRT_PROBE_TIMEOUT_MS } : {}),
        ...(request.executionProviders ? { executionProviders: request.executionProviders } : {}),
        ...(request.requireAccelerator !== undefined ? { requireAccelerator: request.requireAccelerator } : {}),
      });
    }
  } else {
    const settled = await settleTfliteAccelerator(path, kind, request, sha256);
    delegatePath = settled.delegatePath;
    warnings.push(...settled.warnings);
  }
  const { format, bytes, info } = await loadModelFile(path, tfliteBytes);
  if (!isOnnxInfo(info)) checkInputShape(manifest, info, path);
  const classNames = labelsFor(manifest, info, path);
  const backend = await openBackend(kind, bytes, info, {
    threads: request.threads,
    inputLength,
    ...(delegatePath ? { delegatePath, ...(request.delegateOptions ? { delegateOptions: request.delegateOptions } : {}) } : {}),
    ...(request.executionProviders ? { executionProviders: request.executionProviders } : {}),
    ...(request.requireAccelerator !== undefined ? { requireAccelerator: request.requireAccelerator } : {}),
  });
  const classes = isOnnxInfo(info) ? backend.outputLength : outputClassCount(info);
  if (classNames.length !== classes) {
    backend.close();
    throw new EarshotError(`${path}: the model has ${classes} output classes but its labels (${manifest.labels.source}) list ${classNames.length}`);
  }
  warnings.push(...(backend.warnings ?? []));
  const activation = manifest.output.activation;
  const runWithEmbedding = backend.runWithEmbedding?.bind(backend);
  return {
    path,
    sha256,
    manifest,
    format,
    info,
    backend,
    accelerator: backend.accelerator ?? 'cpu',
    warnings,
    classNames,
    input: manifest.input,
    classify: (modelInput: Float32Array) => {
      const scores = backend.run(modelInput);
      return scores instanceof Promise ? scores.then((s) => activate(s, activation)) : activate(Float32Array.from(scores), activation);
    },
    ...(runWithEmbedding && backend.embeddingLength
      ? {
          embeddingLength: backend.embeddingLength,
          classifyWithEmbedding: (modelInput: Float32Array): ModelOutputs => {
            const { scores, embedding } = runWithEmbedding(modelInput);
            return { scores: activate(scores, activation), embedding };
          },
        }
      : {}),
    close: () => backend.close(),
  };
}
