/**
 * The inference backend interface: one TFLite model, run on its single input and first output in
 * FLOAT terms. Quantized (int8 / uint8 / int16) inputs are quantized and quantized outputs are
 * dequantized here (see tflite/quantize.ts for the exact rounding), so callers always pass and get
 * float32 values whatever the model's tensor types.
 *
 * Three implementations:
 * - 'tflite-node': the native TFLite C runtime of `tfjs-tflite-node` (XNNPACK; supports external
 *   delegates such as the Coral Edge TPU through `delegatePath`). A bad model can crash the whole
 *   process (SIGSEGV): test-load unknown models with probeModel() (probe.ts) first.
 * - 'litert-wasm': LiteRT.js (`@litertjs/core`) in WebAssembly; slower to start, about as fast per
 *   invoke, and refuses bad models with an error instead of crashing.
 * - 'onnx': ONNX Runtime (`onnxruntime-node`) for `.onnx` classifiers, with execution providers
 *   (TensorRT / CUDA on a Jetson, CPU elsewhere); see onnx.ts. Its run() returns a Promise.
 *
 * This module holds the interface and the tensor helpers the implementations share; they import
 * it, and create-backend.ts (`openBackend`) picks one, so no backend imports another.
 */
import { EarshotError } from '../../errors.js';
import type { TfliteDtype, TfliteModelInfo, TfliteTensorInfo } from '../tflite/model-file.js';
import { shapeSize } from '../tflite/model-file.js';
import { ALL_BACKEND_KINDS, type BackendKind, type ExecutionProvider } from '../../constants.js';
import { dequantizeInto, quantizeInto, quantizedRange, type QuantizedArray } from '../tflite/quantize.js';
import type { EmbeddingModel } from '../tflite/embedding-output.js';

/** The backend names are stated once, in src/constants.ts. */
export { ALL_BACKEND_KINDS, BACKEND_KINDS, type BackendKind, type TfliteBackendKind } from '../../constants.js';

export interface BackendOptions {
  /** CPU threads for the interpreter (default 1). LiteRT.js's single-threaded WASM build ignores it. */
  readonly threads?: number;
  /**
   * tflite-node only: path of a TFLite external delegate library (e.g. the Coral Edge TPU's
   * `libedgetpu.so.1`), loaded with `delegateOptions` (e.g. { device: 'usb' }).
   */
  readonly delegatePath?: string;
  readonly delegateOptions?: Readonly<Record<string, string>>;
  /** onnx only: execution providers in order of preference (default ['cpu']). */
  readonly executionProviders?: readonly ExecutionProvider[];
  /** onnx only: fail (exit 3) rather than fall back to the CPU when no requested provider is available. */
  readonly requireAccelerator?: boolean;
  /** onnx only: values the input takes (from the manifest), to fix a symbolic input dimension. */
  readonly inputLength?: number;
  /**
   * TFLite only: also output the embedding of a YAMNet-family model (default true; see
   * tflite/embedding-output.ts). false opens the file exactly as it is (tests and the bench
   * compare the two).
   */
  readonly embeddingOutput?: boolean;
}

/** Both outputs of one invoke of a model with an embedding. */
export interface ModelOutputs {
  /** As {@link InferenceBackend.run} returns them (e.g. 521 class scores). */
  readonly scores: Float32Array;
  /** The embedding, dequantized when the tensor is int8 (e.g. 1024 values). */
  readonly embedding: Float32Array;
}

export interface InferenceBackend {
  readonly kind: BackendKind;
  /** The model's input tensor as described by the file (shape, dtype, quantization). */
  readonly input: TfliteTensorInfo;
  /** The model's first output tensor as described by the file. */
  readonly output: TfliteTensorInfo;
  /** Number of float values run() takes (the input's element count, e.g. 15600 or 64·96). */
  readonly inputLength: number;
  /** Number of float values run() returns (e.g. 521). */
  readonly outputLength: number;
  /**
   * What runs the model when it is not the plain CPU runtime: the delegate library
   * ('delegate libedgetpu.so.1') or the ONNX execution provider ('cuda', 'tensorrt', 'cpu').
   */
  readonly accelerator?: string;
  /** Problems met while opening that did not stop it, e.g. a provider that fell back to the CPU. */
  readonly warnings?: readonly string[];
  /**
   * The embedding tensor as the file describes it (e.g. YAMNet's int8 [1,1,1,1024]), when the
   * backend returns it: a YAMNet-family TFLite model opened with `embeddingOutput` (the default).
   */
  readonly embedding?: TfliteTensorInfo;
  /** Number of float values of the embedding (1024 for YAMNet); present with {@link embedding}. */
  readonly embeddingLength?: number;
  /**
   * One invoke giving the scores (exactly what run() gives) and the embedding (NEW arrays).
   * Present exactly when {@link embedding} is. Synchronous, as run() of the TFLite backends.
   */
  runWithEmbedding?(input: Float32Array): ModelOutputs;
  /**
   * Runs the model once. `input` holds `inputLength` floats in the input tensor's row-major order
   * (they are quantized when the tensor is int8/uint8/int16). Returns the first output as a NEW
   * Float32Array of `outputLength` values (dequantized when the tensor is quantized).
   * The TFLite backends are synchronous (they block the event loop for the invoke, ≈10 ms for
   * YAMNet); 'onnx' returns a Promise (ONNX Runtime runs on its own threads). Callers must
   * handle both.
   */
  run(input: Float32Array): Float32Array | Promise<Float32Array>;
  /** Frees the interpreter; run() throws afterwards. Idempotent. */
  close(): void;
}

/** True when `value` names a backend. */
export function isBackendKind(value: string): value is BackendKind {
  return (ALL_BACKEND_KINDS as readonly string[]).includes(value);
}

/** The model's input and first output, checked to be something run() can feed and read. */
export interface ModelIo {
  readonly input: TfliteTensorInfo;
  readonly output: TfliteTensorInfo;
  readonly inputLength: number;
  readonly outputLength: number;
}

const FLOAT_IO: readonly TfliteDtype[] = ['float32'];
const INT_OUTPUTS: readonly TfliteDtype[] = ['int8', 'uint8', 'int16', 'int32'];

/** Checks the model has one float32 or quantized input and a float32 or integer first output. */
export function checkModelIo(info: TfliteModelInfo): ModelIo {
  if (info.inputs.length !== 1) {
    throw new EarshotError(`${info.path}: model has ${info.inputs.length} inputs; earshot needs a model with exactly one`);
  }
  if (info.outputs.length === 0) throw new EarshotError(`${info.path}: model has no output`);
  const input = info.inputs[0]!;
  const output = info.outputs[0]!;
  if (!FLOAT_IO.includes(input.dtype)) {
    if (!quantizedRange(input.dtype)) {
      throw new EarshotError(`${info.path}: input tensor "${input.name}" is ${input.dtype}; earshot needs float32, int8, uint8 or int16`);
    }
    if (!input.quantization || input.quantization.perChannel || !(input.quantization.scale > 0)) {
      throw new EarshotError(`${info.path}: input tensor "${input.name}" is ${input.dtype} without a usable per-tensor quantization scale`);
    }
  }
  if (!FLOAT_IO.includes(output.dtype) && !INT_OUTPUTS.includes(output.dtype)) {
    throw new EarshotError(`${info.path}: output tensor "${output.name}" is ${output.dtype}; earshot needs float32 or an integer type`);
  }
  if (output.quantization?.perChannel) {
    throw new EarshotError(`${info.path}: output tensor "${output.name}" has per-channel quantization; earshot needs per-tensor`);
  }
  const inputLength = shapeSize(input.shape);
  const outputLength = shapeSize(output.shape);
  if (input.shape.some((d) => d < 1) || output.shape.some((d) => d < 1)) {
    throw new EarshotError(`${info.path}: model has a dynamic or empty tensor shape (input [${input.shape}], output [${output.shape}])`);
  }
  return { input, output, inputLength, outputLength };
}

/** A typed array as the runtimes hand out for a tensor's memory. */
export type TensorView = Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array;

/**
 * Copies / quantizes float input into a runtime's input tensor view and copies / dequantizes its
 * output view into a new Float32Array. Shared by both backends.
 */
export class TensorIo {
  private readonly inputRange;

  constructor(
    readonly path: string,
    readonly io: ModelIo,
  ) {
    this.inputRange = quantizedRange(io.input.dtype);
  }

  /** Writes `input` (float) into the input tensor view `dst`. */
  writeInput(input: Float32Array, dst: TensorView): void {
    if (input.length !== this.io.inputLength) {
      throw new RangeError(`${this.path}: run() got ${input.length} input values; the model takes ${this.io.inputLength} ([${this.io.input.shape}])`);
    }
    if (dst instanceof Float32Array) {
      dst.set(input);
    } else if (this.inputRange && !(dst instanceof Int32Array)) {
      quantizeInto(input, dst as QuantizedArray, this.io.input.quantization!, this.inputRange.min, this.inputRange.max);
    } else {
      throw new Error(`${this.path}: input view ${dst.constructor.name} does not match dtype ${this.io.input.dtype}`);
    }
  }

  /** The output tensor view `src` as new float32 values. */
  readOutput(src: TensorView): Float32Array {
    return readFloats(src, this.io.output, this.io.outputLength);
  }
}

/** `length` values of a tensor view as new float32 values, dequantized when the tensor is quantized. */
export function readFloats(src: TensorView, tensor: TfliteTensorInfo, length: number): Float32Array {
  const out = new Float32Array(length);
  if (src instanceof Float32Array) {
    out.set(src.subarray(0, out.length));
  } else if (tensor.quantization) {
    dequantizeInto(src, out, tensor.quantization);
  } else {
    for (let i = 0; i < out.length; i++) out[i] = src[i]!;
  }
  return out;
}

/** Checks the embedding tensor is one run() can read (float32, or int8 / uint8 / int16 with a per-tensor scale). */
export function checkEmbeddingTensor(path: string, embedded: EmbeddingModel): void {
  const t = embedded.tensor;
  if (t.dtype !== 'float32' && !(quantizedRange(t.dtype) && t.quantization && !t.quantization.perChannel)) {
    throw new EarshotError(`${path}: the embedding tensor "${t.name}" is ${t.dtype} without a per-tensor quantization; earshot cannot read it`);
  }
}
