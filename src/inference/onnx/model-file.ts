/**
 * Reads what `earshot model info` shows of an `.onnx` file without loading it into a runtime: IR
 * version, producer, opsets, graph inputs and outputs (element type, shape with symbolic
 * dimensions), operator counts (including the subgraphs of If / Loop / Scan nodes) and the
 * metadata_props.
 *
 * An ONNX file is a protobuf `ModelProto` (onnx/onnx.proto in github.com/onnx/onnx), decoded by
 * protobufjs with the `onnx-proto` package's static code for onnx.proto (ONNX 1.10; fields added
 * since are skipped as unknown, and none of the ones read here changed). protobufjs checks every
 * length, so a truncated file or one that is not protobuf is refused with an {@link EarshotError}
 * naming the file.
 */
import { promises as fsp } from 'node:fs';
import onnxProto, { type onnx as proto } from 'onnx-proto';

import { EarshotError, ExitCode } from '../../errors.js';

const { onnx } = onnxProto;

/** ONNX `TensorProto.DataType` names (earshot's dtype spelling), indexed by the enum value. */
export const ONNX_DTYPES = [
  'undefined',
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'string',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
  'complex64',
  'complex128',
  'bfloat16',
  'float8e4m3fn',
  'float8e4m3fnuz',
  'float8e5m2',
  'float8e5m2fnuz',
  'uint4',
  'int4',
  'float4e2m1',
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

/** A protobuf int64 as protobufjs decodes it: a number, or a Long when the `long` package is there. */
type Int64 = number | { toNumber(): number } | null | undefined;

/** An int64 field as a Number (exact up to 2^53; none of the fields read here come near). */
const int = (value: Int64): number => (value == null ? 0 : typeof value === 'number' ? value : value.toNumber());

/**
 * Parses an ONNX model file's bytes. `path` is used in error messages only.
 * @throws EarshotError (exit 2) when the bytes are empty, not a protobuf ModelProto, truncated,
 *   or have no graph.
 */
export function readOnnxModel(bytes: Uint8Array, path: string): OnnxModelInfo {
  if (bytes.length === 0) throw new EarshotError(`${path}: model file is empty`);
  let model: proto.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    // protobufjs throws on a length past the end, an invalid wire type or varint: the bytes are not (all of) a ModelProto.
    throw new EarshotError(
      `${path}: not an ONNX model, or a truncated / corrupt one (${(error as Error).message}; the file has ${bytes.length} bytes); refusing it`,
      ExitCode.BadInput,
      { cause: error },
    );
  }
  const irVersion = int(model.irVersion);
  // Any byte string parses as *some* protobuf now and then; a model has an IR version and a graph.
  if (!model.graph || irVersion < 1) {
    throw new EarshotError(`${path}: not an ONNX model (no ${model.graph ? 'ir_version' : 'graph'} in the protobuf ModelProto); refusing it`);
  }
  const metadata: Record<string, string> = {};
  for (const entry of model.metadataProps) metadata[entry.key ?? ''] = entry.value ?? '';

  const counts = new Map<string, number>();
  let nodeCount = 0;
  const main = readGraph(model.graph, (op) => {
    nodeCount += 1;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  });
  const operators = [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  return {
    format: 'onnx',
    path,
    fileBytes: bytes.length,
    irVersion,
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: int(model.modelVersion),
    docString: model.docString,
    opsets: model.opsetImport.map((o) => ({ domain: o.domain ?? '', version: int(o.version) })),
    graphName: main.name,
    inputs: main.inputs,
    outputs: main.outputs,
    nodeCount,
    operators,
    metadata,
  };
}

/** Reads a GraphProto: its name, non-initializer inputs, outputs; reports every node's operator (recursing into subgraphs). */
function readGraph(graph: proto.IGraphProto, onNode: (op: string) => void): { name: string; inputs: OnnxTensorInfo[]; outputs: OnnxTensorInfo[] } {
  for (const node of graph.node ?? []) {
    const domain = node.domain ?? '';
    onNode(domain && domain !== 'ai.onnx' ? `${domain}.${node.opType ?? ''}` : (node.opType ?? ''));
    for (const attribute of node.attribute ?? []) {
      if (attribute.g) readGraph(attribute.g, onNode);
      for (const g of attribute.graphs ?? []) readGraph(g, onNode);
    }
  }
  // IR < 4 lists initializers among the graph inputs too: they are weights, not inputs to feed.
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? '')).map(readValueInfo);
  return { name: graph.name ?? '', inputs, outputs: (graph.output ?? []).map(readValueInfo) };
}

function readValueInfo(info: proto.IValueInfoProto, index: number): OnnxTensorInfo {
  const tensor = info.type?.tensorType;
  if (!tensor) return { index, name: info.name ?? '', dtype: 'non-tensor' };
  const elemType = tensor.elemType ?? 0;
  const dtype = ONNX_DTYPES[elemType] ?? `type_${elemType}`;
  const shape = tensor.shape
    ? (tensor.shape.dim ?? []).map((d) => ((d as proto.TensorShapeProto.Dimension).value === 'dimValue' ? int(d.dimValue) : d.dimParam || '?'))
    : undefined;
  return { index, name: info.name ?? '', dtype, ...(shape ? { shape } : {}) };
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
    if (code === 'ENOENT') throw new EarshotError(`${path}: model file not found`, ExitCode.BadInput, { cause: error });
    if (code === 'EISDIR') throw new EarshotError(`${path}: model file is a directory, not a file`, ExitCode.BadInput, { cause: error });
    throw new EarshotError(`${path}: cannot read model file (${(error as Error).message})`, ExitCode.BadInput, { cause: error });
  }
  return { bytes, info: readOnnxModel(bytes, path) };
}
