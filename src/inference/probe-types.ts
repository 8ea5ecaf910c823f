/**
 * What a model probe (probe.ts) takes and returns: apart, so the probe cache (probe-cache.ts),
 * which probe.ts uses, can name them without importing probe.ts back.
 */
import type { BackendKind, BackendOptions } from './backends/backend.js';

/** How to probe a model (the backend options, plus the probe's own). */
export interface ProbeOptions extends BackendOptions {
  /** Give up (and kill the child) after this long; default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Use the probe cache (./probe-cache.ts): a model already probed with the same content, runtime and options is not probed again. Default false. */
  readonly cache?: boolean;
  /** The file's sha256 when the caller has it already (the cache key; computed otherwise). */
  readonly sha256?: string;
}

/** A tensor in a probe summary. */
export interface ProbeTensor {
  readonly name: string;
  /** Element type, e.g. 'float32', 'int8', 'int64'. */
  readonly dtype: string;
  /** Dimensions; −1 for a symbolic (ONNX) dimension. */
  readonly shape: number[];
  readonly quantization?: { readonly scale: number; readonly zeroPoint: number };
}

/** What a successful probe learnt. */
export interface ProbeResult {
  readonly ok: true;
  readonly path: string;
  readonly backend: BackendKind;
  readonly fileBytes: number;
  readonly description: string;
  readonly inputs: ProbeTensor[];
  readonly outputs: ProbeTensor[];
  /** Distinct operator names, in file order. */
  readonly operators: string[];
  /** TFLite Metadata model name, when present. */
  readonly metadataName?: string;
  /** Number of embedded labels, when the model carries a label file. */
  readonly labelCount?: number;
  /** Time to parse the file and open the interpreter, in the child. */
  readonly loadMs: number;
  /** Time of the one invoke on silence. */
  readonly invokeMs: number;
  /** The largest first-output value on silence (sanity: finite); NaN when the model was only opened. */
  readonly maxOutputOnSilence: number;
  /** What ran it, when not the plain CPU runtime (delegate, ONNX execution provider). */
  readonly accelerator?: string;
  /** Fallbacks met while opening (an unavailable ONNX execution provider). */
  readonly warnings?: readonly string[];
  /** True when this result came from the probe cache (no child was started). */
  readonly cached?: boolean;
}
