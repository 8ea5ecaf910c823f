/**
 * The 'litert-wasm' backend: LiteRT.js (`@litertjs/core`, TFLite's successor, XNNPACK compiled to
 * WebAssembly) running in Node.
 *
 * LiteRT.js targets browsers. Its loader (`loadLiteRt(dir)`) runs the Emscripten glue script with
 * `importScripts()` and reads `self.ModuleFactory`; here, while it loads, `globalThis.self` and
 * `globalThis.importScripts` are defined: importScripts evaluates the glue with
 * `vm.runInThisContext`, wrapped in a function that gives it `require`, `__dirname` and
 * `__filename` (so no global `require` is needed), and hands it `Module = { wasmBinary }` read
 * from the `.wasm` beside it. Both globals are removed once loaded. The runtime is loaded once per
 * process, on first use.
 *
 * Models run through LiteRT's low-level compiled-model API (`liteRt.liteRtWasm`, typed in the
 * package's .d.ts) rather than `CompiledModel.run()`: it is synchronous for the WASM accelerator,
 * lets run() write straight into the input tensor buffer in WASM memory (no per-call input
 * allocation), and does not go through LiteRT.js's JS dtype table, which lacks int8 (so no patch
 * of the package is needed for int8 models).
 *
 * The glue's log lines (`INFO: ...`, `ERROR: [model_load.cc:290] Variable tensors not yet
 * supported.`) are captured rather than printed: the last ERROR lines go into error messages.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';

import type { LiteRt } from '@litertjs/core';

import { EarshotError, ExitCode } from '../../errors.js';
import type { EmbeddingModel } from '../tflite/embedding-output.js';
import type { TfliteModelInfo, TfliteTensorInfo } from '../tflite/model-file.js';
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

type LiteRtWasm = LiteRt['liteRtWasm'];
type LiteRtEnvironment = ReturnType<LiteRt['getDefaultEnvironment']>;
type WasmModel = ReturnType<LiteRtWasm['loadModel']>;
type WasmCompiledModel = Awaited<ReturnType<LiteRtWasm['compileModel']>>;
type WasmTensorBuffer = ReturnType<LiteRtWasm['LiteRtTensorBuffer']['createManaged']>;

/** ElementType codes of LiteRT (= TfLiteType values) for the dtypes run() handles. */
const ELEMENT_TYPES: Readonly<Record<string, number>> = { float32: 1, int32: 2, uint8: 3, int16: 7, int8: 9 };

export interface LiteRtRuntime {
  readonly liteRt: LiteRt;
  readonly wasm: LiteRtWasm;
  readonly environment: LiteRtEnvironment;
  /** The glue script that was loaded (compat / relaxed-SIMD build). */
  readonly glueFile: string;
}

const LOG_LINES = 40;
/** The glue's recent log lines (stdout and stderr), newest last. */
const recentLog: string[] = [];
let runtimePromise: Promise<LiteRtRuntime> | undefined;

/**
 * V8's budget for tiering a WebAssembly function up from its baseline code (Liftoff) to
 * optimised code (TurboFan): 10× V8's default (1 800 000, "bytes executed"). With the default,
 * LiteRT's one-time set-up code (model load, XNNPACK's weight packing, the first invoke) runs
 * hot enough to have hundreds of functions recompiled by TurboFan, which costs more than it
 * saves: measured on YAMNet (docs/benchmarks.md, "Start-up"), opening the model and its first
 * invoke took ≈ 0.6 s less CPU with this budget, and the kernels that run on every patch still
 * tier up (920 invokes: 10.8 ms each at the end, against 11.1 ms with the default).
 */
const WASM_TIERING_BUDGET = 18_000_000;
/** Set when the WASM module aborted: it cannot run anything afterwards. */
let abortedBy: string | undefined;

function log(line: string): void {
  recentLog.push(String(line));
  if (recentLog.length > LOG_LINES) recentLog.shift();
  if (process.env.EARSHOT_LITERT_LOG) process.stderr.write(`[litert] ${line}\n`);
}

/** The ERROR lines in the recent log, without their `ERROR: [file.cc:123]` prefix. */
function recentErrors(): string {
  return recentLog
    .filter((l) => /^(ERROR|Aborted)/.test(l))
    .map((l) => l.replace(/^ERROR:\s*(\[[^\]]*\]\s*)?/, '').trim())
    .join('; ');
}

/** The bytes of `buffer` as an ArrayBuffer of their own: its backing store when it holds exactly them (a large file read), else a copy. */
function wholeArrayBuffer(buffer: Buffer): ArrayBuffer {
  const backing = buffer.buffer as ArrayBuffer;
  if (buffer.byteOffset === 0 && buffer.byteLength === backing.byteLength) return backing;
  return backing.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

/** Loads the LiteRT.js WASM runtime once per process. */
export function loadLiteRtRuntime(): Promise<LiteRtRuntime> {
  runtimePromise ??= loadRuntimeOnce().catch((error: unknown) => {
    runtimePromise = undefined;
    throw error;
  });
  return runtimePromise;
}

async function loadRuntimeOnce(): Promise<LiteRtRuntime> {
  const require = createRequire(import.meta.url);
  let glueFile = '';
  let lrt: typeof import('@litertjs/core');
  try {
    lrt = await import('@litertjs/core');
  } catch (error) {
    throw new EarshotError(
      `@litertjs/core: cannot load LiteRT.js (${(error as Error).message}); reinstall it or use --backend tflite-node`,
      ExitCode.Environment,
      { cause: error },
    );
  }
  // Someone else in this process loaded it already: share it.
  const existing = lrt.getGlobalLiteRtPromise();
  if (existing) {
    const liteRt = await existing;
    return { liteRt, wasm: liteRt.liteRtWasm, environment: liteRt.getDefaultEnvironment(), glueFile: '(loaded elsewhere)' };
  }

  const wasmDir = join(dirname(require.resolve('@litertjs/core/package.json')), 'wasm');
  const g = globalThis as Record<string, unknown>;
  const hadSelf = 'self' in g;
  const previousImportScripts = g.importScripts;
  if (!hadSelf) g.self = globalThis;
  g.importScripts = (url: string | URL): void => {
    const file = String(url).startsWith('file:') ? fileURLToPath(url) : String(url);
    glueFile = file;
    const code = readFileSync(file, 'utf8');
    const factory = vm.runInThisContext(`(function (require, __dirname, __filename, module, exports) {${code}\n;return ModuleFactory;\n})`, {
      filename: file,
    }) as (...args: unknown[]) => unknown;
    g.ModuleFactory = factory(require, dirname(file), file, undefined, undefined);
    g.Module = {
      // An ArrayBuffer, not the Buffer: the glue wraps it in a Uint8Array, which copies a
      // Buffer's 9 MB (≈ 35 ms at start-up) but only views an ArrayBuffer.
      wasmBinary: wholeArrayBuffer(readFileSync(file.replace(/\.js$/, '.wasm'))),
      print: log,
      printErr: log,
      onAbort: (what: unknown) => {
        abortedBy = String(what);
      },
    };
  };
  // loadLiteRt() creates its default environment by trying WebGPU (navigator.gpu), which Node
  // lacks: it then console.warn()s "Failed to create default WebGPU device" with a stack. Route
  // that one warning to the log while loading.
  // Read when a module is instantiated, so set before LiteRT's; process-wide (other WebAssembly
  // here, libsamplerate and the FLAC decoder, only runs a little later to tier up).
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  const warn = console.warn;
  console.warn = (...args: unknown[]): void => {
    if (typeof args[0] === 'string' && args[0].startsWith('Failed to create default WebGPU device')) {
      log(`${args[0]} ${String((args[1] as Error)?.message ?? '')}`);
    } else {
      warn.apply(console, args);
    }
  };
  try {
    const liteRt = await lrt.loadLiteRt(`${wasmDir}/`);
    return { liteRt, wasm: liteRt.liteRtWasm, environment: liteRt.getDefaultEnvironment(), glueFile };
  } catch (error) {
    throw new EarshotError(`@litertjs/core: cannot start the LiteRT.js WASM runtime from ${wasmDir} (${(error as Error).message})`, ExitCode.Environment, {
      cause: error,
    });
  } finally {
    console.warn = warn;
    if (!hadSelf) delete g.self;
    if (previousImportScripts === undefined) delete g.importScripts;
    else g.importScripts = previousImportScripts;
  }
}

/**
 * Opens the model with LiteRT.js.
 * @param embedded the model rewritten to output its embedding too (tflite/embedding-output.ts):
 *   its bytes are the ones loaded, and runWithEmbedding() reads that output of the signature
 */
export async function openLiteRtWasmBackend(
  bytes: Uint8Array,
  info: TfliteModelInfo,
  io: ModelIo,
  options: BackendOptions,
  embedded?: EmbeddingModel,
): Promise<InferenceBackend> {
  if (embedded) {
    checkEmbeddingTensor(info.path, embedded);
    bytes = embedded.bytes;
  }
  const runtime = await loadLiteRtRuntime();
  const { wasm, environment } = runtime;
  if (abortedBy !== undefined) {
    throw new EarshotError(`${info.path}: the LiteRT.js WASM runtime aborted earlier in this process (${abortedBy}); restart to use it`, ExitCode.Environment);
  }
  const env = environment.liteRtEnvironment;
  const refused = (stage: string, error: unknown): EarshotError => {
    const said = recentErrors();
    const detail = [(error as Error)?.message ?? String(error), said].filter(Boolean).join(': ');
    return new EarshotError(`${info.path}: LiteRT.js refused the model at ${stage} (${detail})`, ExitCode.BadInput, { cause: error });
  };

  // The model bytes must stay in WASM memory while the model lives.
  const modelPtr = wasm._malloc(bytes.byteLength);
  if (!modelPtr) throw new EarshotError(`${info.path}: LiteRT.js could not allocate ${bytes.byteLength} bytes of WASM memory`, ExitCode.Environment);
  wasm.HEAPU8.set(bytes, modelPtr);
  const toDelete: { delete(): void }[] = [];
  const freeAll = () => {
    for (const o of toDelete.reverse()) {
      try {
        o.delete();
      } catch {
        // already gone
      }
    }
    toDelete.length = 0;
    wasm._free(modelPtr);
  };

  let model: WasmModel;
  let compiled: WasmCompiledModel;
  let inputBuffer: WasmTensorBuffer;
  let outputIndex: number;
  let embeddingIndex = -1;
  recentLog.length = 0; // so that refused() reports this model's log lines only
  try {
    try {
      model = wasm.loadModel(env, modelPtr, bytes.byteLength);
    } catch (error) {
      throw refused('load', error);
    }
    toDelete.push(model);
    if (model.getNumSignatures() < 1) throw new EarshotError(`${info.path}: LiteRT.js sees no signature in the model`);
    try {
      compiled = await wasm.compileModel(env, model, {
        accelerator: 'wasm',
        cpuOptions: { numThreads: options.threads ?? 1 },
        gpuOptions: {},
        webNNOptions: {},
        environment,
      } as Parameters<LiteRtWasm['compileModel']>[2]);
    } catch (error) {
      throw refused('compile', error);
    }
    toDelete.push(compiled);

    const signature = model.getSignature(0);
    toDelete.push(signature);
    const inputNames = vectorToArray(signature.inputNames());
    const outputNames = vectorToArray(signature.outputNames());
    if (inputNames.length !== 1) {
      throw new EarshotError(`${info.path}: LiteRT.js sees ${inputNames.length} inputs; earshot needs exactly one`);
    }
    outputIndex = findOutputIndex(info, info.outputs[0]!, signature.key(), outputNames);
    if (embedded) {
      embeddingIndex = findOutputIndex(info, embedded.tensor, signature.key(), outputNames, embedded.signatureName);
      if (embeddingIndex < 0 || embeddingIndex === outputIndex) {
        throw new EarshotError(`${info.path}: LiteRT.js does not list the embedding among the model's outputs (${outputNames.join(', ')})`);
      }
      const embeddingType = model.getOutputTensorType(0, embeddingIndex);
      checkTensorType(info.path, 'embedding', embeddingType, embedded.tensor.dtype, embedded.length);
      embeddingType.delete();
    }

    const inputType = model.getInputTensorType(0, 0);
    toDelete.push(inputType);
    checkTensorType(info.path, 'input', inputType, io.input.dtype, io.inputLength);
    const outputType = model.getOutputTensorType(0, outputIndex);
    checkTensorType(info.path, 'output', outputType, io.output.dtype, io.outputLength);
    outputType.delete();

    inputBuffer = wasm.LiteRtTensorBuffer.createManaged(env, wasm.LiteRtTensorBufferType.HOST_MEMORY, inputType, inputType.bytes());
    toDelete.push(inputBuffer);
  } catch (error) {
    freeAll();
    if (abortedBy !== undefined) {
      throw new EarshotError(`${info.path}: the model aborted the LiteRT.js WASM runtime (${abortedBy}); refusing it`, ExitCode.BadInput, { cause: error });
    }
    if (error instanceof EarshotError) throw error;
    throw refused('setup', error);
  }

  const tensorIo = new TensorIo(info.path, io);
  const inputCtor = typedArrayFor(io.input.dtype);
  const outputCtor = typedArrayFor(io.output.dtype);
  const embeddingCtor = embedded ? typedArrayFor(embedded.tensor.dtype) : undefined;
  const { READ, WRITE } = wasm.LiteRtTensorBufferLockMode;
  let inputView: TensorView | undefined;
  let closed = false;

  /** A view of `length` elements at `ptr`, valid until WASM memory grows. */
  const view = (ctor: TypedArrayCtor, ptr: number, length: number): TensorView => new ctor(wasm.HEAPU8.buffer, ptr, length);

  return {
    kind: 'litert-wasm',
    input: io.input,
    output: io.output,
    inputLength: io.inputLength,
    outputLength: io.outputLength,
    ...(embedded
      ? {
          embedding: embedded.tensor,
          embeddingLength: embedded.length,
          runWithEmbedding(input: Float32Array): ModelOutputs {
            return invoke(input, (outputs) => ({
              scores: read(outputs[outputIndex]!, (p) => tensorIo.readOutput(view(outputCtor, p, io.outputLength))),
              embedding: read(outputs[embeddingIndex]!, (p) => readFloats(view(embeddingCtor!, p, embedded.length), embedded.tensor, embedded.length)),
            }));
          },
        }
      : {}),
    run(input: Float32Array): Float32Array {
      return invoke(input, (outputs) => read(outputs[outputIndex]!, (p) => tensorIo.readOutput(view(outputCtor, p, io.outputLength))));
    },
    close(): void {
      if (closed) return;
      closed = true;
      inputView = undefined;
      freeAll();
    },
  };

  /** Reads one output buffer while it is locked. */
  function read<T>(out: WasmTensorBuffer, f: (ptr: number) => T): T {
    const ptr = out.lock(READ);
    try {
      return f(ptr);
    } finally {
      out.unlock();
    }
  }

  /** Writes the input, runs the model once and hands its output buffers to `take` (they are freed after). */
  function invoke<T>(input: Float32Array, take: (outputs: WasmTensorBuffer[]) => T): T {
    if (closed) throw new Error(`${info.path}: litert-wasm backend is closed`);
    if (abortedBy !== undefined) throw new EarshotError(`${info.path}: the LiteRT.js WASM runtime aborted (${abortedBy}); restart`, ExitCode.Environment);
    const inPtr = inputBuffer.lock(WRITE);
    try {
      // Reuse the view while the pointer and the WASM memory (which growth replaces) are the same.
      if (!inputView || inputView.byteOffset !== inPtr || inputView.buffer !== wasm.HEAPU8.buffer) {
        inputView = view(inputCtor, inPtr, io.inputLength);
      }
      tensorIo.writeInput(input, inputView);
    } finally {
      inputBuffer.unlock();
    }
    let outputs: WasmTensorBuffer[];
    try {
      const result = compiled.run(0, [inputBuffer]);
      if (result instanceof Promise) throw new Error('asynchronous run (JSPI build) is not supported');
      outputs = result;
    } catch (error) {
      throw new EarshotError(
        `${info.path}: LiteRT.js failed to run the model (${(error as Error).message}${abortedBy ? `; ${abortedBy}` : ''})`,
        ExitCode.BadInput,
        { cause: error },
      );
    }
    try {
      return take(outputs);
    } finally {
      for (const o of outputs) o.delete();
    }
  }
}

type TypedArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorView;

function typedArrayFor(dtype: string): TypedArrayCtor {
  switch (dtype) {
    case 'float32':
      return Float32Array;
    case 'int8':
      return Int8Array;
    case 'uint8':
      return Uint8Array;
    case 'int16':
      return Int16Array;
    case 'int32':
      return Int32Array;
    default:
      throw new Error(`no typed array for ${dtype}`);
  }
}

function vectorToArray<T>(v: { size(): number; get(i: number): T; delete(): void }): T[] {
  const out: T[] = [];
  for (let i = 0; i < v.size(); i++) out.push(v.get(i));
  v.delete();
  return out;
}

/**
 * Which of LiteRT's signature outputs is the file's first subgraph output. With a SignatureDef the
 * names are its aliases (mapped to tensors by the file); without one LiteRT names them after the
 * tensors.
 */
function findOutputIndex(info: TfliteModelInfo, wanted: TfliteTensorInfo, key: string, names: string[], alias?: string): number {
  const signature = info.signatures.find((s) => s.key === key);
  const byAlias = alias ?? signature?.outputs.find((o) => o.tensorIndex === wanted.index)?.name;
  const i = names.indexOf(byAlias ?? wanted.name);
  if (alias !== undefined || wanted !== info.outputs[0]) return i;
  return i >= 0 ? i : 0;
}

function checkTensorType(path: string, role: string, type: { elementType(): { value: number }; bytes(): number }, dtype: string, length: number): void {
  const expected = ELEMENT_TYPES[dtype];
  const elementType = type.elementType().value;
  const bytes = type.bytes();
  if (elementType !== expected || bytes !== length * bytesPer(dtype)) {
    throw new EarshotError(
      `${path}: LiteRT.js's ${role} tensor has element type ${elementType} and ${bytes} bytes; the file says ${dtype} with ${length} values`,
    );
  }
}

function bytesPer(dtype: string): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'int16' ? 2 : 1;
}
