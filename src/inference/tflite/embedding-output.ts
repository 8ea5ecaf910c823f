/**
 * The embedding of a YAMNet-family TFLite model as a second output of the same invoke.
 *
 * YAMNet (and the models derived from it) end in a global average pooling (a MEAN op,
 * `global_average_pooling2d/Mean` in the waveform model, `layer28/reduce_mean` in the quantized
 * ones) feeding one FULLY_CONNECTED layer that gives the class logits (`[1,521]`), then a LOGISTIC.
 * The MEAN's output is the model's embedding (1024 values for YAMNet). The shipped files list only
 * the scores among the subgraph's outputs; {@link withEmbeddingOutput} adds the embedding tensor
 * to them, so one invoke gives both. The tensor is found by graph STRUCTURE, not by name: the last
 * FULLY_CONNECTED whose output has as many values as the model's first output (its classes); its
 * input 0 must be produced by a MEAN op. A model without that shape has no embedding (undefined).
 *
 * How the file is changed: in memory, by APPENDING to the FlatBuffer, never moving a byte of it.
 * A FlatBuffer reference (uoffset) is unsigned and points forward from where it is stored, so data
 * appended at the end can be referenced from anywhere before it. We append a new int32 vector
 * (the old outputs + the embedding tensor) and rewrite the 4-byte uoffset of `SubGraph.outputs` to
 * point at it. A SignatureDef of subgraph 0 (LiteRT.js runs models through their signature) gets
 * the same treatment: a new `[TensorMap]` vector (copies of the old maps, then `embedding`) with
 * its tables, one shared vtable and strings, all appended, and `SignatureDef.outputs` repointed.
 * Why not a full re-serialisation (unpack the object tree and pack it again): that moves every
 * buffer (weights), whose alignment the runtimes care about, copies 4 MB through JS objects, and
 * needs generated code for the whole schema; the append touches two uoffsets and leaves every
 * weight, operator and tensor where it was, which is why the scores stay bit-identical (tested,
 * test/embedding-output.test.ts). The old vectors stay in the file, unreferenced (a few bytes).
 * An appended zip of TFLite Metadata associated files (yamnet_audio_classifier_with_metadata) is
 * left where it is: the runtimes never read it, and earshot reads labels from the original bytes.
 */
import { EarshotError } from '../../errors.js';
import { FlatBufferBoundsError, FlatBufferReader, type FlatTable } from './flatbuffer-reader.js';
import {
  MODEL,
  OPERATOR,
  SIGNATURE,
  SUBGRAPH,
  TENSOR_MAP,
  outputClassCount,
  readTensor,
  shapeSize,
  type TfliteModelInfo,
  type TfliteTensorInfo,
} from './model-file.js';

/** BuiltinOperator codes (schema.fbs). */
const FULLY_CONNECTED = 9;
const MEAN = 40;

/** The alias the embedding gets in a SignatureDef's outputs. */
export const EMBEDDING_SIGNATURE_NAME = 'embedding';

/** Where a model's embedding comes from. */
export interface EmbeddingTensor {
  /** The tensor (subgraph 0), as the file describes it: e.g. float32 [1,1024] or int8 [1,1,1,1024] with its quantization. */
  readonly tensor: TfliteTensorInfo;
  /** Its number of values (1024 for YAMNet). */
  readonly length: number;
  /** Index in subgraph 0 of the MEAN op that produces it and of the FULLY_CONNECTED that reads it. */
  readonly meanOp: number;
  readonly classifierOp: number;
}

/** A model whose subgraph 0 also outputs its embedding. */
export interface EmbeddingModel extends EmbeddingTensor {
  /** The rewritten model (the original bytes plus what was appended; the input is not changed). */
  readonly bytes: Uint8Array;
  /** Position of the embedding among subgraph 0's outputs (after the original ones). */
  readonly outputIndex: number;
  /** Its alias in the SignatureDef of subgraph 0, when the model has one. */
  readonly signatureName?: string;
}

function wrapBounds<T>(path: string, size: number, f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof FlatBufferBoundsError) {
      throw new EarshotError(
        `${path}: TFLite model is truncated or corrupt (${error.message} while looking for its embedding; the file has ${size} bytes); refusing it`,
      );
    }
    throw error;
  }
}

/**
 * Finds the embedding tensor of a YAMNet-family model by graph structure (see the module comment).
 * @param bytes the model file, already parsed into `info` by readTfliteModel
 * @returns the tensor, or undefined when the graph does not end in MEAN → FULLY_CONNECTED(classes)
 * @throws EarshotError naming the file when an operator or tensor reference lies outside it
 */
export function findEmbeddingTensor(bytes: Uint8Array, info: TfliteModelInfo): EmbeddingTensor | undefined {
  const classes = outputClassCount(info);
  if (classes <= 0) return undefined;
  return wrapBounds(info.path, bytes.length, () => {
    const model = new FlatBufferReader(bytes).root('Model');
    const sg = model.tableAt(MODEL.subgraphs, 0, 'subgraphs');
    const tensors = sg.tableCount(SUBGRAPH.tensors, 'tensors');
    const ops = sg.tables(SUBGRAPH.operators, 'operators');
    const code = (op: FlatTable) => info.operatorCodes[op.u32(OPERATOR.opcodeIndex, 0, 'opcode_index')]?.code;
    const tensorAt = (index: number) => readTensor(sg.tableAt(SUBGRAPH.tensors, index, 'tensors'), index);
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]!;
      if (code(op) !== FULLY_CONNECTED) continue;
      const out = op.i32s(OPERATOR.outputs, 'outputs')[0];
      if (out === undefined || out < 0 || out >= tensors || shapeSize(tensorAt(out).shape) !== classes) continue;
      const input = op.i32s(OPERATOR.inputs, 'inputs')[0];
      if (input === undefined || input < 0 || input >= tensors) return undefined;
      const meanOp = ops.findIndex((p) => p.i32s(OPERATOR.outputs, 'outputs').includes(input));
      if (meanOp < 0 || code(ops[meanOp]!) !== MEAN) return undefined;
      const tensor = tensorAt(input);
      const length = shapeSize(tensor.shape);
      if (!(length > 0)) return undefined;
      return { tensor, length, meanOp, classifierOp: i };
    }
    return undefined;
  });
}

/** Appends little-endian values to a growing byte array, 4-byte aligned. */
class Appender {
  private readonly chunks: number[] = [];
  constructor(readonly base: number) {}
  /** Absolute position of the next byte. */
  get pos(): number {
    return this.base + this.chunks.length;
  }
  u32(v: number): number {
    const at = this.pos;
    this.chunks.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return at;
  }
  u16(v: number): void {
    this.chunks.push(v & 0xff, (v >>> 8) & 0xff);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.chunks.push(x);
  }
  align4(): void {
    while (this.pos % 4 !== 0) this.chunks.push(0);
  }
  /** Overwrites a u32 already appended (at absolute `at`). */
  setU32(at: number, v: number): void {
    const i = at - this.base;
    this.chunks[i] = v & 0xff;
    this.chunks[i + 1] = (v >>> 8) & 0xff;
    this.chunks[i + 2] = (v >>> 16) & 0xff;
    this.chunks[i + 3] = (v >>> 24) & 0xff;
  }
  get length(): number {
    return this.chunks.length;
  }
  toBytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

const utf8 = new TextEncoder();

/**
 * The model with its embedding added to subgraph 0's outputs (and to the outputs of the
 * SignatureDef of subgraph 0, if any), by appending to the FlatBuffer (see the module comment).
 * The first outputs are unchanged, so output 0 (the scores) is still output 0.
 * @param bytes the model file, already parsed into `info` by readTfliteModel (not modified)
 * @returns undefined when the model has no embedding by {@link findEmbeddingTensor}; the same
 *   bytes when the embedding is already an output
 * @throws EarshotError naming the file when it is corrupt
 */
export function withEmbeddingOutput(bytes: Uint8Array, info: TfliteModelInfo): EmbeddingModel | undefined {
  const found = findEmbeddingTensor(bytes, info);
  if (!found) return undefined;
  const embeddingIndex = found.tensor.index;
  const existing = info.outputs.findIndex((t) => t.index === embeddingIndex);
  if (existing >= 0) return { ...found, bytes, outputIndex: existing };

  return wrapBounds(info.path, bytes.length, () => {
    const reader = new FlatBufferReader(bytes);
    const model = reader.root('Model');
    const sg = model.tableAt(MODEL.subgraphs, 0, 'subgraphs');
    const outputsField = sg.fieldOffset(SUBGRAPH.outputs);
    if (!outputsField) return undefined;
    // Patches to make in the copy: [absolute position of a uoffset field, absolute target].
    const patches: [number, number][] = [];
    const tail = new Appender(Math.ceil(bytes.length / 4) * 4);

    // 1. SubGraph.outputs: old outputs, then the embedding.
    const outputs = info.outputs.map((t) => t.index);
    const outputsVector = tail.u32(outputs.length + 1);
    for (const o of [...outputs, embeddingIndex]) tail.u32(o);
    patches.push([sg.pos + outputsField, outputsVector]);

    // 2. SignatureDef.outputs of subgraph 0: copies of the old TensorMaps, then the embedding's.
    let signatureName: string | undefined;
    for (const signature of model.tables(MODEL.signatureDefs, 'signature_defs')) {
      const field = signature.fieldOffset(SIGNATURE.outputs);
      if (signature.u32(SIGNATURE.subgraphIndex, 0, 'subgraph_index') !== 0 || !field) continue;
      const maps = signature.tables(SIGNATURE.outputs, 'outputs').map((m) => ({
        name: m.string(TENSOR_MAP.name, 'name') ?? '',
        tensorIndex: m.u32(TENSOR_MAP.tensorIndex, 0, 'tensor_index'),
      }));
      let name = EMBEDDING_SIGNATURE_NAME;
      for (let k = 1; maps.some((m) => m.name === name); k++) name = `${EMBEDDING_SIGNATURE_NAME}_${k}`;
      signatureName ??= name;
      maps.push({ name, tensorIndex: embeddingIndex });
      // The vector of uoffsets, then one vtable for every table, the tables, the strings: every
      // uoffset points forward; a table's soffset to its vtable may point back (it is signed).
      const vector = tail.u32(maps.length);
      const slots = maps.map(() => tail.u32(0));
      const vtable = tail.pos;
      tail.u16(8); // vtable size: 4 + 2 fields · 2
      tail.u16(12); // table size: soffset + name uoffset + tensor_index
      tail.u16(4); // name at +4
      tail.u16(8); // tensor_index at +8
      const nameFields: number[] = [];
      maps.forEach((m, i) => {
        const table = tail.u32(0);
        tail.setU32(table, table - vtable);
        tail.setU32(slots[i]!, table - slots[i]!);
        nameFields.push(tail.u32(0));
        tail.u32(m.tensorIndex);
      });
      maps.forEach((m, i) => {
        const encoded = utf8.encode(m.name);
        const string = tail.u32(encoded.length);
        tail.bytes(encoded);
        tail.bytes(new Uint8Array(1));
        tail.align4();
        tail.setU32(nameFields[i]!, string - nameFields[i]!);
      });
      patches.push([signature.pos + field, vector]);
    }

    const out = new Uint8Array(tail.base + tail.length);
    out.set(bytes);
    out.set(tail.toBytes(), tail.base);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const [at, target] of patches) view.setUint32(at, target - at, true);
    return { ...found, bytes: out, outputIndex: outputs.length, ...(signatureName ? { signatureName } : {}) };
  });
}
