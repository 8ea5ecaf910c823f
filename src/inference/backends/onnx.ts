/**
 * The 'onnx' backend: ONNX Runtime (`onnxruntime-node`) with execution providers chosen in the
 * config (`model.execution_providers`: 'tensorrt', 'cuda', 'cpu').
 *
 * Provider fallback: ONNX Runtime refuses to create a session at all when a requested provider's
 * library cannot be loaded (the npm build ships the CPU provider only, plus the CUDA one on
 * linux x64 when its install script downloaded it). So the accelerators are tried in the order
 * given, each with the ones after it and the CPU behind it; when none can be had, the model runs
 * on the CPU with a warning naming the provider, or the open fails (exit 3) when
 * `model.require_accelerator` is true.
 *
 * Two uses: {@link openOnnxSession} gives a raw session (the Silero VAD, with its several
 * inputs), and {@link openOnnxBackend} wraps a single-input classifier in the same
 * `run(Float32Array) → Float32Array` contract as the TFLite backends (asynchronous here: ONNX
 * Runtime runs the graph on its own threads and resolves a Promise).
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';

import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../../constants.js';
import { EarshotError, ExitCode } from '../../errors.js';
import type { OnnxModelInfo } from '../onnx/model-file.js';
import type { TfliteTensorInfo } from '../tflite/model-file.js';
import type { BackendOptions, InferenceBackend } from './backend.js';

/** Options of {@link openOnnxSession}. */
export interface OnnxSessionOptions {
  /** Providers in order of preference (default ['cpu']); the CPU is always the last resort. */
  readonly executionProviders?: readonly ExecutionProvider[];
  /** Fail (EarshotError, exit 3) instead of falling back to the CPU. */
  readonly requireAccelerator?: boolean;
  /** CPU threads inside one operator (ONNX Runtime's intra-op pool; default 1). */
  readonly threads?: number;
}

/** An open ONNX Runtime session and what it runs on. */
export interface OnnxSession {
  readonly session: InferenceSession;
  /** The provider list the session was created with, e.g. ['cuda', 'cpu'] or ['cpu']. */
  readonly providers: readonly ExecutionProvider[];
  /** The preferred provider in use: 'tensorrt', 'cuda' or 'cpu'. */
  readonly accelerator: ExecutionProvider;
  /** One line per requested provider that could not be used (empty when all went as asked). */
  readonly warnings: readonly string[];
  /** The onnxruntime-node module, for making tensors. */
  readonly ort: typeof import('onnxruntime-node');
}

let ortPromise: Promise<typeof import('onnxruntime-node')> | undefined;

/** Loads onnxruntime-node once, with its own logging quiet: earshot reports failures itself. */
function loadOrt(): Promise<typeof import('onnxruntime-node')> {
  ortPromise ??= import('onnxruntime-node')
    .then((ort) => {
      // The native logger prints a multi-line error for every provider library it cannot load;
      // the warning earshot gives says the same in one line. EARSHOT_ORT_LOG_LEVEL restores it.
      ort.env.logLevel = ortLogLevel();
      return ort;
    })
    .catch((error: unknown) => {
      ortPromise = undefined;
      throw new EarshotError(`onnxruntime-node: cannot load ONNX Runtime (${oneLine(error)}); reinstall it`, ExitCode.Environment, { cause: error });
    });
  return ortPromise;
}

const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

function ortLogLevel(): (typeof ORT_LOG_LEVELS)[number] {
  const wanted = process.env.EARSHOT_ORT_LOG_LEVEL as (typeof ORT_LOG_LEVELS)[number] | undefined;
  return wanted && ORT_LOG_LEVELS.includes(wanted) ? wanted : 'fatal';
}

/**
 * Opens `model` (an ONNX file's bytes) in ONNX Runtime with the preferred execution providers.
 * @param path the model file, for messages
 * @throws EarshotError exit 2 when a provider name is unknown, when `requireAccelerator` is set
 *   without any accelerator in the list, or when ONNX Runtime refuses the model; exit 3 when no
 *   requested accelerator is available and `requireAccelerator` is true, or when ONNX Runtime
 *   itself cannot be loaded
 */
export async function openOnnxSession(model: Uint8Array, path: string, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
  const requested = options.executionProviders?.length ? [...options.executionProviders] : (['cpu'] as ExecutionProvider[]);
  for (const p of requested) {
    if (!EXECUTION_PROVIDERS.includes(p)) {
      throw new EarshotError(`model.execution_providers: unknown provider ${JSON.stringify(p)} (expected ${EXECUTION_PROVIDERS.join(', ')})`);
    }
  }
  const accelerators = [...new Set(requested.filter((p) => p !== 'cpu'))];
  if (options.requireAccelerator && accelerators.length === 0) {
    throw new EarshotError(
      `model.require_accelerator is true, but model.execution_providers [${requested.join(', ')}] names no accelerator (tensorrt or cuda)`,
    );
  }
  const ort = await loadOrt();
  const severity = ORT_LOG_LEVELS.indexOf(ortLogLevel()) as 0 | 1 | 2 | 3 | 4;
  const create = (providers: readonly ExecutionProvider[]) =>
    ort.InferenceSession.create(model, {
      executionProviders: [...providers],
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: severity,
    });

  const failures: string[] = [];
  for (let i = 0; i < accelerators.length; i++) {
    const providers = [...accelerators.slice(i), 'cpu'] as ExecutionProvider[];
    try {
      const session = await create(providers);
      const warnings = failures.length ? [`${path}: ${notAvailable(failures)}; using ${accelerators[i]}`] : [];
      return { session, providers, accelerator: accelerators[i]!, warnings, ort };
    } catch (error) {
      failures.push(`${accelerators[i]} (${oneLine(error)})`);
    }
  }

  let session: InferenceSession;
  try {
    session = await create(['cpu']);
  } catch (error) {
    throw new EarshotError(`${path}: ONNX Runtime refused the model (${oneLine(error)})`, ExitCode.BadInput, { cause: error });
  }
  const warnings: string[] = [];
  if (failures.length) {
    const missing = `${path}: ${notAvailable(failures)}`;
    if (options.requireAccelerator) {
      await session.release().catch(() => undefined);
      throw new EarshotError(`${missing}; model.require_accelerator is true, so earshot will not run it on the CPU`, ExitCode.Environment);
    }
    warnings.push(`${missing}; running on the CPU`);
  }
  return { session, providers: ['cpu'], accelerator: 'cpu', warnings, ort };
}

/**
 * Opens a single-input ONNX classifier as an {@link InferenceBackend}: float32 input of
 * `inputLength` values (the batch dimension is 1; one other symbolic dimension may be solved from
 * `options.inputLength`, e.g. 15600 for a waveform model), float32 first output. The output size
 * is learnt from one run on zeros when the file leaves it symbolic.
 * @throws EarshotError (exit 2) naming the file when the model has another I/O layout or fails to
 *   run; see {@link openOnnxSession} for the provider errors
 */
export async function openOnnxBackend(bytes: Uint8Array, info: OnnxModelInfo, options: BackendOptions = {}): Promise<InferenceBackend> {
  const path = info.path;
  if (info.inputs.length !== 1) {
    throw new EarshotError(
      `${path}: ONNX model has ${info.inputs.length} inputs (${info.inputs.map((i) => i.name).join(', ')}); earshot classifies with a model that has exactly one`,
    );
  }
  if (info.outputs.length === 0) throw new EarshotError(`${path}: ONNX model has no output`);
  const inputInfo = info.inputs[0]!;
  const outputInfo = info.outputs[0]!;
  if (inputInfo.dtype !== 'float32') throw new EarshotError(`${path}: input "${inputInfo.name}" is ${inputInfo.dtype}; earshot feeds ONNX models float32`);
  if (outputInfo.dtype !== 'float32') throw new EarshotError(`${path}: output "${outputInfo.name}" is ${outputInfo.dtype}; earshot reads float32 ONNX outputs`);
  const inputShape = resolveInputShape(path, inputInfo.name, inputInfo.shape, options.inputLength);
  const inputLength = inputShape.reduce((a, b) => a * b, 1);

  const opened = await openOnnxSession(bytes, path, {
    ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
    ...(options.requireAccelerator !== undefined ? { requireAccelerator: options.requireAccelerator } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  const { ort } = opened;
  let session: InferenceSession | undefined = opened.session;
  const inputName = session.inputNames[0] ?? inputInfo.name;
  const outputName = session.outputNames[0] ?? outputInfo.name;

  const invoke = async (input: Float32Array): Promise<Float32Array> => {
    if (!session) throw new Error(`${path}: onnx backend is closed`);
    if (input.length !== inputLength) {
      throw new RangeError(`${path}: run() got ${input.length} input values; the model takes ${inputLength} ([${inputShape}])`);
    }
    // A copy: the caller may reuse its buffer while ONNX Runtime still reads this one.
    const feeds: Record<string, Tensor> = { [inputName]: new ort.Tensor('float32', Float32Array.from(input), inputShape) };
    let result: InferenceSession.OnnxValueMapType;
    try {
      result = await session.run(feeds, [outputName]);
    } catch (error) {
      throw new EarshotError(`${path}: ONNX Runtime failed to run the model (${oneLine(error)})`, ExitCode.BadInput, { cause: error });
    }
    const data = (result[outputName] as Tensor | undefined)?.data;
    if (!(data instanceof Float32Array)) throw new EarshotError(`${path}: output "${outputName}" did not come back as float32`);
    return Float32Array.from(data);
  };

  let outputLength: number;
  try {
    outputLength = (await invoke(new Float32Array(inputLength))).length;
  } catch (error) {
    await session.release().catch(() => undefined);
    throw error;
  }
  const tensor = (t: typeof inputInfo, shape: number[]): TfliteTensorInfo => ({ index: t.index, name: t.name, dtype: 'float32', shape });
  const outputShape = (outputInfo.shape ?? [outputLength]).map((d, i, all) => (typeof d === 'number' ? d : i === all.length - 1 ? outputLength : 1));

  return {
    kind: 'onnx',
    input: tensor(inputInfo, inputShape),
    output: tensor(outputInfo, outputShape),
    inputLength,
    outputLength,
    accelerator: opened.accelerator,
    warnings: opened.warnings,
    run: invoke,
    close(): void {
      const s = session;
      session = undefined;
      void s?.release().catch(() => undefined);
    },
  };
}

/**
 * Fixes an ONNX input shape: a symbolic first (batch) dimension becomes 1; one other symbolic
 * dimension is solved so that the shape holds `expectedLength` values.
 */
function resolveInputShape(path: string, name: string, shape: (number | string)[] | undefined, expectedLength: number | undefined): number[] {
  if (!shape) {
    if (expectedLength) return [1, expectedLength];
    throw new EarshotError(`${path}: input "${name}" has no shape in the file; name the input kind in a manifest`);
  }
  const dims = shape.map((d, i) => (typeof d === 'number' ? d : i === 0 && shape.length > 1 ? 1 : undefined));
  const unknown = dims.filter((d) => d === undefined).length;
  const known = dims.reduce<number>((a, d) => a * (d ?? 1), 1);
  if (unknown === 0) {
    if (expectedLength && known !== expectedLength) {
      throw new EarshotError(`${path}: input "${name}" has shape [${shape}] (${known} values), but the manifest says ${expectedLength}`);
    }
    return dims as number[];
  }
  if (unknown === 1 && expectedLength && expectedLength % known === 0) {
    return dims.map((d) => d ?? expectedLength / known);
  }
  throw new EarshotError(
    `${path}: input "${name}" has symbolic dimensions [${shape}] that earshot cannot fix${expectedLength ? ` to ${expectedLength} values` : '; name the input kind in a manifest'}`,
  );
}

function notAvailable(failures: readonly string[]): string {
  return `ONNX execution provider${failures.length > 1 ? 's' : ''} not available: ${failures.join(', ')}`;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}
