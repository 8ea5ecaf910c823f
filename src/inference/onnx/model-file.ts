/**
 * Reads what `earshot model info` shows of an `.onnx` file without loading it into a runtime: IR
 * version, producer, opsets, graph inputs and outputs (element type, shape with symbolic
 * dimensions), operator counts (including the subgraphs of If / Loop / Scan nodes) and the
 * metadata_props.
 *
 * An ONNX file is a protobuf `ModelProto` (onnx/onnx.proto3 in github.com/onnx/onnx); only the
 * fields named below are read, with a small wire-format reader (protobuf "Encoding" guide:
 * varints, length-delimited fields). Every length is bounds-checked, so a truncated file or one
 * that is not protobuf is refused with an {@link EarshotError} naming the file.
 */
import { promises as fsp } from 'node:fs';

import { EarshotError } from '../../errors.js';

/** ONNX `TensorProto.DataType` names (earshot's dtype spelling), indexed by the enum value. */
export const ONNX_DTYPES = [
  'undefined', 'float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool',
  'float16', 'float64', 'uint32', 'uint64', 'complex64', 'complex128', 'bfloat16', 'float8e4m3fn',
  'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz', 'uint4', 'int4', 'float4e2m1',
] as const;

/** A graph input or output. */
export interface OnnxTensorInfo {
  /** Position among the graph's (non-initializer) inputs, or among its outputs. */
  readonly index: number;
  readonly name: string;
  /** Element type, e.g. 'float32', 'int64'; `type_<n>` for a value newer than the table; 'non-tensor' for sequences / maps. */
  readonly dtype: string;
  /**
   * Dimensions: a number when fixed, the symbolic name (`dim_param`, e.g. 'batch') when named,
   * '?' when unknown. Empty for a scalar. Undefined when the file gives no shape at all.
   */
  readonly shape?: (number | string)[];
}

/** What {@link readOnnxModel} learns from a file. */
export interface OnnxModelInfo {
  readonly format: 'onnx';
  readonly path: string;
  readonly fileBytes: number;
  readonly irVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly domain: string;
  readonly modelVersion: number;
  readonly docString: string;
  /** Operator set imports; domain '' is the default ONNX domain ('ai.onnx'). */
  readonly opsets: { readonly domain: string; readonly version: number }[];
  readonly graphName: string;
  /** Graph inputs that are not initializers (weights), in order. */
  readonly inputs: OnnxTensorInfo[];
  readonly outputs: OnnxTensorInfo[];
  /** Nodes of the main graph and of every subgraph (If / Loop / Scan bodies). */
  readonly nodeCount: number;
  /** Operator type (with its domain when not the default, e.g. 'com.microsoft.FusedConv') → node count, most used first. */
  readonly operators: { readonly name: string; readonly count: number }[];
  /** `metadata_props` key → value. */
  readonly metadata: Record<string, string>;
}

/** Thrown by the wire reader; turned into an EarshotError naming the file. */
class WireError extends Error {}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** One field of a protobuf message: number, wire type and where its value lies. */
interface Field {
  readonly number: number;
  readonly wireType: number;
  /** Varint value (wire type 0). */
  readonly value: number;
  /** Payload bounds for wire type 2. */
  readonly start: number;
  readonly end: number;
}

/** Iterates the fields of the message in `bytes[start, end)`. */
function* fields(bytes: Uint8Array, start: number, end: number): Generator<Field> {
  let at = start;
  const varint = (): number => {
    // Up to 10 bytes; values above 2^53 lose precision, which none of the fields read here reach.
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= end) throw new WireError(`a varint runs past the end of its message at byte ${at}`);
      const b = bytes[at++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new WireError(`a varint longer than 10 bytes at byte ${at}`);
  };
  while (at < end) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (number === 0) throw new WireError(`field number 0 at byte ${at}`);
    switch (wireType) {
      case VARINT:
        yield { number, wireType, value: varint(), start: at, end: at };
        break;
      case FIXED64:
        if (at + 8 > end) throw new WireError(`a 64-bit field runs past the end at byte ${at}`);
        yield { number, wireType, value: 0, start: at, end: at + 8 };
        at += 8;
        break;
      case FIXED32:
        if (at + 4 > end) throw new WireError(`a 32-bit field runs past the end at byte ${at}`);
        yield { number, wireType, value: 0, start: at, end: at + 4 };
        at += 4;
        break;
      case LENGTH_DELIMITED: {
        const length = varint();
        if (at + length > end) throw new WireError(`field ${number} (${length} bytes at byte ${at}) runs past the end`);
        yield { number, wireType, value: 0, start: at, end: at + length };
        at += length;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${wireType} (field ${number}) at byte ${at}`);
    }
  }
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const text = (bytes: Uint8Array, f: Field): string => decoder.decode(bytes.subarray(f.start, f.end));

// Field numbers from onnx.proto3.
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 };
const OPSET = { domain: 1, version: 2 };
const ENTRY = { key: 1, value: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const NODE = { opType: 4, attribute: 5, domain: 7 };
const ATTRIBUTE = { g: 6, graphs: 11 };
const TENSOR_NAME = 8;
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensorType: 1 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE = { dim: 1 };
const DIM = { value: 1, param: 2 };

/**
 * Parses an ONNX model file's bytes. `path` is used in error messages only.
 * @throws EarshotError (exit 2) when the bytes are empty, not a protobuf ModelProto, truncated,
 *   or have no graph.
 */
export function readOnnxModel(bytes: Uint8Array, path: string): OnnxModelInfo {
  if (bytes.length === 0) throw new EarshotError(`${path}: model file is empty`);
  try {
    return parseModel(bytes, path);
  } catch (error) {
    if (error instanceof WireError) {
      throw new EarshotError(`${path}: not an ONNX model, or a truncated / corrupt one (${error.message}; the file has ${bytes.length} bytes); refusing it`);
    }
    throw error;
  }
}

function parseModel(bytes: Uint8Array, path: string): OnnxModelInfo {
  let irVersion = 0;
  let producerName = '';
  let producerVersion = '';
  let domain = '';
  let modelVersion = 0;
  let docString = '';
  let graph: Field | undefined;
  const opsets: { domain: string; version: number }[] = [];
  const metadata: Record<string, string> = {};
  for (const f of fields(bytes, 0, bytes.length)) {
    const delimited = f.wireType === LENGTH_DELIMITED;
    if (f.number === MODEL.irVersion && f.wireType === VARINT) irVersion = f.value;
    else if (f.number === MODEL.producerName && delimited) producerName = text(bytes, f);
    else if (f.number === MODEL.producerVersion && delimited) producerVersion = text(bytes, f);
    else if (f.number === MODEL.domain && delimited) domain = text(bytes, f);
    else if (f.number === MODEL.modelVersion && f.wireType === VARINT) modelVersion = f.value;
    else if (f.number === MODEL.docString && delimited) docString = text(bytes, f);
    else if (f.number === MODEL.graph && delimited) graph = f;
    else if (f.number === MODEL.opsetImport && delimited) {
      let d = '';
      let version = 0;
      for (const o of fields(bytes, f.start, f.end)) {
        if (o.number === OPSET.domain && o.wireType === LENGTH_DELIMITED) d = text(bytes, o);
        else if (o.number === OPSET.version && o.wireType === VARINT) version = o.value;
      }
      opsets.push({ domain: d, version });
    } else if (f.number === MODEL.metadataProps && delimited) {
      let key = '';
      let value = '';
      for (const e of fields(bytes, f.start, f.end)) {
        if (e.number === ENTRY.key && e.wireType === LENGTH_DELIMITED) key = text(bytes, e);
        else if (e.number === ENTRY.value && e.wireType === LENGTH_DELIMITED) value = text(bytes, e);
      }
      metadata[key] = value;
    }
  }
  // Any byte string parses as *some* protobuf now and then; a model has an IR version and a graph.
  if (!graph || irVersion < 1) {
    throw new EarshotError(`${path}: not an ONNX model (no ${graph ? 'ir_version' : 'graph'} in the protobuf ModelProto); refusing it`);
  }

  const counts = new Map<string, number>();
  let nodeCount = 0;
  const main = readGraph(bytes, graph, (op) => {
    nodeCount += 1;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  });
  const operators = [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  return {
    format: 'onnx',
    path,
    fileBytes: bytes.length,
    irVersion,
    producerName,
    producerVersion,
    domain,
    modelVersion,
    docString,
    opsets,
    graphName: main.name,
    inputs: main.inputs,
    outputs: main.outputs,
    nodeCount,
    operators,
    metadata,
  };
}

/** Reads a GraphProto: its name, non-initializer inputs, outputs; reports every node's operator (recursing into subgraphs). */
function readGraph(bytes: Uint8Array, graph: Field, onNode: (op: string) => void): { name: string; inputs: OnnxTensorInfo[]; outputs: OnnxTensorInfo[] } {
  let name = '';
  const initializers = new Set<string>();
  const inputs: OnnxTensorInfo[] = [];
  const outputs: OnnxTensorInfo[] = [];
  for (const f of fields(bytes, graph.start, graph.end)) {
    if (f.wireType !== LENGTH_DELIMITED) continue;
    if (f.number === GRAPH.name) name = text(bytes, f);
    else if (f.number === GRAPH.node) readNode(bytes, f, onNode);
    else if (f.number === GRAPH.initializer) {
      for (const t of fields(bytes, f.start, f.end)) if (t.number === TENSOR_NAME && t.wireType === LENGTH_DELIMITED) initializers.add(text(bytes, t));
    } else if (f.number === GRAPH.input) inputs.push(readValueInfo(bytes, f, inputs.length));
    else if (f.number === GRAPH.output) outputs.push(readValueInfo(bytes, f, outputs.length));
  }
  // IR < 4 lists initializers among the graph inputs too: they are weights, not inputs to feed.
  const fed = inputs.filter((i) => !initializers.has(i.name)).map((i, index) => ({ ...i, index }));
  return { name, inputs: fed, outputs };
}

function readNode(bytes: Uint8Array, node: Field, onNode: (op: string) => void): void {
  let opType = '';
  let domain = '';
  const subgraphs: Field[] = [];
  for (const f of fields(bytes, node.start, node.end)) {
    if (f.wireType !== LENGTH_DELIMITED) continue;
    if (f.number === NODE.opType) opType = text(bytes, f);
    else if (f.number === NODE.domain) domain = text(bytes, f);
    else if (f.number === NODE.attribute) {
      for (const a of fields(bytes, f.start, f.end)) {
        if ((a.number === ATTRIBUTE.g || a.number === ATTRIBUTE.graphs) && a.wireType === LENGTH_DELIMITED) subgraphs.push(a);
      }
    }
  }
  onNode(domain && domain !== 'ai.onnx' ? `${domain}.${opType}` : opType);
  for (const g of subgraphs) readGraph(bytes, g, onNode);
}

function readValueInfo(bytes: Uint8Array, info: Field, index: number): OnnxTensorInfo {
  let name = '';
  let dtype = 'non-tensor';
  let shape: (number | string)[] | undefined;
  for (const f of fields(bytes, info.start, info.end)) {
    if (f.wireType !== LENGTH_DELIMITED) continue;
    if (f.number === VALUE_INFO.name) name = text(bytes, f);
    else if (f.number === VALUE_INFO.type) {
      for (const t of fields(bytes, f.start, f.end)) {
        if (t.number !== TYPE.tensorType || t.wireType !== LENGTH_DELIMITED) continue;
        dtype = 'undefined';
        for (const tt of fields(bytes, t.start, t.end)) {
          if (tt.number === TENSOR_TYPE.elemType && tt.wireType === VARINT) dtype = ONNX_DTYPES[tt.value] ?? `type_${tt.value}`;
          else if (tt.number === TENSOR_TYPE.shape && tt.wireType === LENGTH_DELIMITED) {
            shape = [];
            for (const d of fields(bytes, tt.start, tt.end)) {
              if (d.number !== SHAPE.dim || d.wireType !== LENGTH_DELIMITED) continue;
              let dim: number | string = '?';
              for (const v of fields(bytes, d.start, d.end)) {
                if (v.number === DIM.value && v.wireType === VARINT) dim = v.value;
                else if (v.number === DIM.param && v.wireType === LENGTH_DELIMITED) dim = text(bytes, v) || '?';
              }
              shape.push(dim);
            }
          }
        }
      }
    }
  }
  return { index, name, dtype, ...(shape ? { shape } : {}) };
}

/** The opset of the default ONNX domain ('' or 'ai.onnx'), or undefined when not imported. */
export function defaultOpset(info: OnnxModelInfo): number | undefined {
  return info.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
}

/**
 * Reads and parses an ONNX model file.
 * @throws EarshotError `<path>: model file not found` / unreadable, or not / a bad ONNX model
 */
export async function loadOnnxModelFile(path: string): Promise<{ bytes: Uint8Array; info: OnnxModelInfo }> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EarshotError(`${path}: model file not found`, 2, { cause: error });
    if (code === 'EISDIR') throw new EarshotError(`${path}: model file is a directory, not a file`, 2, { cause: error });
    throw new EarshotError(`${path}: cannot read model file (${(error as Error).message})`, 2, { cause: error });
  }
  return { bytes, info: readOnnxModel(bytes, path) };
}
