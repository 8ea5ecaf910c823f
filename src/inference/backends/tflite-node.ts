/**
 * The 'tflite-node' backend: the TFLite C runtime (with XNNPACK) of `tfjs-tflite-node`, used
 * through its raw native interpreter (`TFLiteNodeModelRunner` = the addon's `Interpreter`), not
 * its tfjs wrapper (which costs ≈6× per invoke). The addon is loaded directly with the package's
 * own `bindings`, so @tensorflow/tfjs-core is never loaded.
 *
 * The interpreter keeps one typed array per input / output tensor (`tensor.data()`, the same array
 * every time): run() writes the input into it, `infer()` copies it into TFLite, invokes, and copies
 * the outputs back. No per-call allocation besides the returned Float32Array.
 *
 * WARNING: some invalid models crash this runtime with SIGSEGV (the whole process), and so does a
 * `delegatePath` that is not a TFLite external delegate: test-load untrusted models, with the
 * delegate they will use, with probeModel() first.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';

import { EarshotError, ExitCode } from '../../errors.js';
import type { EmbeddingModel } from '../tflite/embedding-output.js';
import type { TfliteModelInfo } from '../tflite/model-file.js';
import {
  checkEmbeddingTensor,
  readFloats,
  TensorIo,
  type BackendOptions,
  type InferenceBackend,
  type ModelIo,
  type ModelOutputs,
  type TensorView,
} from './backend.js';

/** A tensor of the native interpreter (binding/node_tflite_binding.cc `TensorInfo`). */
interface NativeTensor {
  readonly name: string;
  /** 'float32', 'int8', 'uint8', 'int16', 'int32', ... */
  readonly dataType: string;
  /** Comma-separated dimensions, e.g. '1,64,96,1'. */
  readonly shape: string;
  readonly id: number;
  data(): TensorView | BigInt64Array;
}

/** The native interpreter (binding/node_tflite_binding.cc `Interpreter`). */
interface NativeInterpreter {
  getInputs(): NativeTensor[];
  getOutputs(): NativeTensor[];
  infer(): boolean;
}

interface NativeInterpreterOptions {
  threads?: number;
  delegate?: { path: string; options: Array<[string, string]> };
}

interface NativeAddon {
  Interpreter: new (model: ArrayBuffer, options: NativeInterpreterOptions) => NativeInterpreter;
}

let addon: NativeAddon | undefined;

/** Loads the tfjs-tflite-node native addon once. */
function loadAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    const packageJson = require.resolve('tfjs-tflite-node/package.json');
    // Resolve `bindings` as tfjs-tflite-node itself does (it is its dependency, not ours).
    const bindings = createRequire(packageJson)('bindings') as (options: { bindings: string; module_root: string }) => NativeAddon;
    addon = bindings({ bindings: 'node_tflite_binding', module_root: dirname(packageJson) });
  } catch (error) {
    throw new EarshotError(
      `tfjs-tflite-node: cannot load its native TFLite addon (${(error as Error).message}); reinstall it or use --backend litert-wasm`,
      ExitCode.Environment,
      { cause: error },
    );
  }
  return addon;
}

/**
 * Opens the model with the native runtime.
 * @param embedded the model rewritten to output its embedding too (tflite/embedding-output.ts):
 *   its bytes are the ones loaded, and runWithEmbedding() reads that second output
 */
export function openTfliteNodeBackend(
  bytes: Uint8Array,
  info: TfliteModelInfo,
  io: ModelIo,
  options: BackendOptions,
  embedded?: EmbeddingModel,
): InferenceBackend {
  if (embedded) {
    checkEmbeddingTensor(info.path, embedded);
    bytes = embedded.bytes;
  }
  const { Interpreter } = loadAddon();
  const threads = options.threads ?? 1;
  const nativeOptions: NativeInterpreterOptions = { threads };
  if (options.delegatePath) {
    // The native side segfaults on a delegate path it cannot dlopen() or that is not a TFLite
    // delegate: check it exists here, and test-load models with their delegate (probeModel).
    if (!isFile(options.delegatePath)) {
      throw new EarshotError(`${options.delegatePath}: TFLite delegate library not found (delegate for ${info.path})`);
    }
    nativeOptions.delegate = { path: options.delegatePath, options: Object.entries(options.delegateOptions ?? {}) };
  }
  // The addon wants an ArrayBuffer holding exactly the model (it copies it).
  const model =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes.buffer : bytes.slice().buffer;
  let interpreter: NativeInterpreter | undefined;
  try {
    interpreter = new Interpreter(model, nativeOptions);
  } catch (error) {
    const via = options.delegatePath ? ` with delegate ${options.delegatePath}` : '';
    throw new EarshotError(`${info.path}: tflite-node refused the model${via} (${oneLine(error)})`, ExitCode.BadInput, { cause: error });
  }

  const inputs = interpreter.getInputs();
  const outputs = interpreter.getOutputs();
  const inTensor = inputs[0];
  // The native output order is subgraph order, as info.outputs.
  const outTensor = outputs[0];
  if (inputs.length !== 1 || !inTensor || !outTensor) {
    throw new EarshotError(
      `${info.path}: tflite-node sees ${inputs.length} inputs and ${outputs.length} outputs; the file says ${info.inputs.length} and ${info.outputs.length}`,
    );
  }
  const inView = inTensor.data();
  const outView = outTensor.data();
  checkView(info.path, 'input', inTensor, inView, io.input.dtype, io.inputLength);
  checkView(info.path, 'output', outTensor, outView, io.output.dtype, io.outputLength);
  const tensorIo = new TensorIo(info.path, io);
  let embeddingView: TensorView | undefined;
  if (embedded) {
    const tensor = outputs[embedded.outputIndex];
    if (!tensor) throw new EarshotError(`${info.path}: tflite-node sees ${outputs.length} outputs; the embedding should be output ${embedded.outputIndex}`);
    const view = tensor.data();
    checkView(info.path, 'embedding', tensor, view, embedded.tensor.dtype, embedded.length);
    embeddingView = view as TensorView;
  }
  const invoke = (input: Float32Array): void => {
    if (!interpreter) throw new Error(`${info.path}: tflite-node backend is closed`);
    tensorIo.writeInput(input, inView as TensorView);
    try {
      interpreter.infer();
    } catch (error) {
      throw new EarshotError(`${info.path}: tflite-node failed to run the model (${oneLine(error)})`, ExitCode.BadInput, { cause: error });
    }
  };

  return {
    kind: 'tflite-node',
    input: io.input,
    output: io.output,
    inputLength: io.inputLength,
    outputLength: io.outputLength,
    ...(options.delegatePath ? { accelerator: `delegate ${basename(options.delegatePath)}` } : {}),
    ...(embedded && embeddingView
      ? {
          embedding: embedded.tensor,
          embeddingLength: embedded.length,
          runWithEmbedding(input: Float32Array): ModelOutputs {
            invoke(input);
            return { scores: tensorIo.readOutput(outView as TensorView), embedding: readFloats(embeddingView!, embedded.tensor, embedded.length) };
          },
        }
      : {}),
    run(input: Float32Array): Float32Array {
      invoke(input);
      return tensorIo.readOutput(outView as TensorView);
    },
    close(): void {
      // The addon has no explicit free: dropping the last reference lets GC delete the interpreter.
      interpreter = undefined;
    },
  };
}

function checkView(path: string, role: string, tensor: NativeTensor, view: TensorView | BigInt64Array, dtype: string, length: number): void {
  if (tensor.dataType !== dtype || view.length !== length || view instanceof BigInt64Array) {
    throw new EarshotError(
      `${path}: tflite-node's ${role} tensor "${tensor.name}" is ${tensor.dataType} [${tensor.shape}] (${view.length} values); the file says ${dtype} with ${length} values`,
    );
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
