/**
 * Reads what the runtimes do not tell us from a `.tflite` file: tensor types, shapes and int8
 * quantization of the main subgraph's inputs and outputs, the operators used, the TFLite Metadata
 * (`TFLITE_METADATA` buffer) and the labels in the zip of associated files appended to the
 * FlatBuffer (as the TFLite Metadata writer does).
 *
 * The FlatBuffer tables are read by hand (schemas/schema.fbs and metadata_schema.fbs in the
 * shared folder); every offset is bounds-checked, so a truncated or corrupt file is refused with
 * an {@link EarshotError} naming the file, never read as garbage.
 */
import { readFileSync, promises as fsp } from 'node:fs';
import { parse as parseCsvText } from 'csv-parse/sync';
import { unzipSync } from 'fflate';

import { EarshotError, ExitCode } from '../../errors.js';
import { builtinOperatorName } from './builtin-ops.js';
import { FlatBufferBoundsError, FlatBufferReader, type FlatTable } from './flatbuffer-reader.js';

/** TFLite `TensorType` names, indexed by the enum value. */
export const TFLITE_DTYPES = [
  'float32',
  'float16',
  'int32',
  'uint8',
  'int64',
  'string',
  'bool',
  'int16',
  'complex64',
  'int8',
  'float64',
  'complex128',
  'uint64',
  'resource',
  'variant',
  'uint32',
  'uint16',
  'int4',
  'bfloat16',
  'int2',
  'uint4',
  'float8_e4m3fn',
  'float8_e5m2',
] as const;

/** A tensor element type, e.g. 'float32', 'int8'; `type_<n>` for a value newer than the table. */
export type TfliteDtype = (typeof TFLITE_DTYPES)[number] | `type_${number}`;

/** Affine quantization: real = scale · (q − zeroPoint). */
export interface TensorQuantization {
  /** The (first) scale. */
  readonly scale: number;
  /** The (first) zero point. */
  readonly zeroPoint: number;
  /** Per-channel scales and zero points, present only when there is more than one. */
  readonly perChannel?: { readonly scales: number[]; readonly zeroPoints: number[]; readonly axis: number };
}

export interface TfliteTensorInfo {
  /** Index of the tensor in subgraph 0. */
  readonly index: number;
  readonly name: string;
  readonly dtype: TfliteDtype;
  readonly shape: number[];
  /** Shape with −1 for dynamic dimensions, when the file gives one. */
  readonly shapeSignature?: number[];
  /** Present when the tensor has quantization scales. */
  readonly quantization?: TensorQuantization;
}

/** A SignatureDef: alias names of a subgraph's inputs and outputs. */
export interface TfliteSignature {
  readonly key: string;
  readonly subgraphIndex: number;
  readonly inputs: { readonly name: string; readonly tensorIndex: number }[];
  readonly outputs: { readonly name: string; readonly tensorIndex: number }[];
}

export interface TfliteOperatorCode {
  /** BuiltinOperator code (32 = CUSTOM). */
  readonly code: number;
  /** Builtin name ('CONV_2D'), the custom code for CUSTOM ops, `BUILTIN_<n>` for unknown codes. */
  readonly name: string;
  readonly version: number;
}

export type AssociatedFileType =
  | 'UNKNOWN'
  | 'DESCRIPTIONS'
  | 'TENSOR_AXIS_LABELS'
  | 'TENSOR_VALUE_LABELS'
  | 'TENSOR_AXIS_SCORE_CALIBRATION'
  | 'VOCABULARY'
  | 'SCANN_INDEX_FILE'
  | `TYPE_${number}`;

const ASSOCIATED_FILE_TYPES: readonly AssociatedFileType[] = [
  'UNKNOWN',
  'DESCRIPTIONS',
  'TENSOR_AXIS_LABELS',
  'TENSOR_VALUE_LABELS',
  'TENSOR_AXIS_SCORE_CALIBRATION',
  'VOCABULARY',
  'SCANN_INDEX_FILE',
];

export interface AssociatedFileInfo {
  readonly name: string;
  readonly description?: string;
  readonly type: AssociatedFileType;
  readonly locale?: string;
  /** Where the metadata attaches it: the model, subgraph 0, or an input / output tensor. */
  readonly attachedTo: 'model' | 'subgraph' | { readonly input: number } | { readonly output: number };
}

/** The parts of TFLite Metadata (metadata_schema.fbs `ModelMetadata`) earshot uses. */
export interface TfliteMetadata {
  readonly name?: string;
  readonly description?: string;
  readonly version?: string;
  readonly author?: string;
  readonly license?: string;
  readonly minParserVersion?: string;
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly associatedFiles: AssociatedFileInfo[];
}

export interface TfliteModelInfo {
  readonly path: string;
  readonly fileBytes: number;
  /** Schema version (3 for all current models). */
  readonly version: number;
  /** `Model.description` ('' when absent), e.g. "TOCO Converted." or "MLIR Converted.". */
  readonly description: string;
  readonly subgraphCount: number;
  /** Inputs of subgraph 0, in order. */
  readonly inputs: TfliteTensorInfo[];
  /** Outputs of subgraph 0, in order. */
  readonly outputs: TfliteTensorInfo[];
  /** The model's operator codes, in file order. */
  readonly operatorCodes: TfliteOperatorCode[];
  /** Number of operators in subgraph 0. */
  readonly operatorCount: number;
  /** Operators of subgraph 0 by name with how many times each is used, most used first. */
  readonly operatorUsage: { readonly name: string; readonly count: number }[];
  /** SignatureDefs (e.g. key 'serving_default'), in file order; empty when there are none. */
  readonly signatures: TfliteSignature[];
  /** Names of the `Model.metadata` entries, e.g. 'min_runtime_version', 'TFLITE_METADATA'. */
  readonly metadataEntries: string[];
  /** The `min_runtime_version` metadata entry, e.g. '1.14.0'. */
  readonly minRuntimeVersion?: string;
  /** TFLite Metadata, when the model has a `TFLITE_METADATA` entry. */
  readonly metadata?: TfliteMetadata;
  /** Names of the files in the zip appended to the model (empty when there is none). */
  readonly embeddedFiles: string[];
  /**
   * Output labels from the embedded TENSOR_AXIS_LABELS file of output 0 (one per line, in output
   * order), when the model carries one. Not checked against the output size: see
   * {@link outputClassCount}.
   */
  readonly labels?: string[];
}

const TFL3 = 'TFL3';
const METADATA_NAME = 'TFLITE_METADATA';

/** A truncated/corrupt-file error for `path`. */
function corrupt(path: string, size: number, detail: string): EarshotError {
  return new EarshotError(`${path}: TFLite model is truncated or corrupt (${detail}; the file has ${size} bytes); refusing it`);
}

/**
 * Parses a TFLite model file's bytes. `path` is used in error messages only.
 * @throws EarshotError when the bytes are not a TFLite FlatBuffer or are truncated / corrupt.
 */
export function readTfliteModel(bytes: Uint8Array, path: string): TfliteModelInfo {
  if (bytes.length === 0) throw new EarshotError(`${path}: model file is empty`);
  const r = new FlatBufferReader(bytes);
  const id = r.identifier();
  if (id !== TFL3) {
    const shown = bytes.length < 8 ? `the file has only ${bytes.length} bytes` : `found ${JSON.stringify(id)}`;
    throw new EarshotError(`${path}: not a TFLite model (no "TFL3" FlatBuffer identifier at bytes 4..8: ${shown})`);
  }
  try {
    return parseModel(r, bytes, path);
  } catch (error) {
    if (error instanceof FlatBufferBoundsError) {
      throw corrupt(path, bytes.length, `${error.what} at byte ${error.offset} lies past the end`);
    }
    throw error;
  }
}

// Slots per schema.fbs (exported for the embedding-output rewrite, embedding-output.ts).
export const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadata: 6, signatureDefs: 7 };
export const OPCODE = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 };
export const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 };
export const OPERATOR = { opcodeIndex: 0, inputs: 1, outputs: 2 };
const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, shapeSignature: 7 };
const QUANT = { scale: 2, zeroPoint: 3, quantizedDimension: 6 };
const BUFFER = { data: 0, offset: 1, size: 2 };
const METADATA = { name: 0, buffer: 1 };
export const SIGNATURE = { inputs: 0, outputs: 1, key: 2, subgraphIndex: 4 };
export const TENSOR_MAP = { name: 0, tensorIndex: 1 };
const CUSTOM_OP = 32;

function parseModel(r: FlatBufferReader, bytes: Uint8Array, path: string): TfliteModelInfo {
  const model = r.root('Model');
  const version = model.u32(MODEL.version, 0, 'version');
  const description = model.string(MODEL.description, 'description') ?? '';

  const operatorCodes = model.tables(MODEL.operatorCodes, 'operator_codes').map((oc): TfliteOperatorCode => {
    // As TFLite's GetBuiltinCode: the larger of the deprecated byte field and the int32 field.
    const code = Math.max(oc.i8(OPCODE.deprecatedBuiltinCode, 0, 'deprecated_builtin_code'), oc.i32(OPCODE.builtinCode, 0, 'builtin_code'));
    const custom = oc.string(OPCODE.customCode, 'custom_code');
    return {
      code,
      name: code === CUSTOM_OP && custom ? custom : builtinOperatorName(code),
      version: oc.i32(OPCODE.version, 1, 'version'),
    };
  });

  // Buffers: check every one lies inside the file (data vectors are checked by vector()).
  const buffers = model.tables(MODEL.buffers, 'buffers');
  const bufferData = (index: number, what: string): Uint8Array | undefined => {
    if (index < 0 || index >= buffers.length) {
      throw corrupt(path, bytes.length, `${what} refers to buffer ${index} of ${buffers.length}`);
    }
    return readBuffer(buffers[index]!, index, bytes, path);
  };
  for (let i = 0; i < buffers.length; i++) readBuffer(buffers[i]!, i, bytes, path);

  const subgraphCount = model.tableCount(MODEL.subgraphs, 'subgraphs');
  if (subgraphCount === 0) throw corrupt(path, bytes.length, 'the model has no subgraph');
  const sg = model.tableAt(MODEL.subgraphs, 0, 'subgraphs');
  const tensorCount = sg.tableCount(SUBGRAPH.tensors, 'tensors');
  const tensor = (index: number, role: string): TfliteTensorInfo => {
    if (index < 0 || index >= tensorCount) {
      throw corrupt(path, bytes.length, `subgraph 0 ${role} refers to tensor ${index} of ${tensorCount}`);
    }
    const t = sg.tableAt(SUBGRAPH.tensors, index, 'tensors');
    const bufferIndex = t.u32(TENSOR.buffer, 0, 'buffer');
    if (bufferIndex >= buffers.length && buffers.length > 0) {
      throw corrupt(path, bytes.length, `tensor ${index} refers to buffer ${bufferIndex} of ${buffers.length}`);
    }
    return readTensor(t, index);
  };
  const inputs = sg.i32s(SUBGRAPH.inputs, 'inputs').map((i) => tensor(i, 'input'));
  const outputs = sg.i32s(SUBGRAPH.outputs, 'outputs').map((i) => tensor(i, 'output'));
  const operatorCount = sg.tableCount(SUBGRAPH.operators, 'operators');
  const usage = new Map<string, number>();
  for (const op of sg.tables(SUBGRAPH.operators, 'operators')) {
    const index = op.u32(OPERATOR.opcodeIndex, 0, 'opcode_index');
    const name = operatorCodes[index]?.name ?? `opcode_${index}`;
    usage.set(name, (usage.get(name) ?? 0) + 1);
  }
  const operatorUsage = [...usage].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));

  const tensorMaps = (s: FlatTable, slot: number, name: string) =>
    s.tables(slot, name).map((m) => ({
      name: m.string(TENSOR_MAP.name, 'name') ?? '',
      tensorIndex: m.u32(TENSOR_MAP.tensorIndex, 0, 'tensor_index'),
    }));
  const signatures = model.tables(MODEL.signatureDefs, 'signature_defs').map(
    (s): TfliteSignature => ({
      key: s.string(SIGNATURE.key, 'signature_key') ?? '',
      subgraphIndex: s.u32(SIGNATURE.subgraphIndex, 0, 'subgraph_index'),
      inputs: tensorMaps(s, SIGNATURE.inputs, 'inputs'),
      outputs: tensorMaps(s, SIGNATURE.outputs, 'outputs'),
    }),
  );

  const metadataEntries: string[] = [];
  let minRuntimeVersion: string | undefined;
  let metadata: TfliteMetadata | undefined;
  for (const m of model.tables(MODEL.metadata, 'metadata')) {
    const name = m.string(METADATA.name, 'name') ?? '';
    metadataEntries.push(name);
    const data = bufferData(m.u32(METADATA.buffer, 0, 'buffer'), `metadata "${name}"`);
    if (name === 'min_runtime_version' && data) {
      minRuntimeVersion = new TextDecoder().decode(data).replace(/\0+$/, '');
    } else if (name === METADATA_NAME && data) {
      metadata = readMetadata(data, path);
    }
  }

  let embeddedFiles: string[] = [];
  let labels: string[] | undefined;
  if (metadata && metadata.associatedFiles.length > 0) {
    const zip = readAppendedZip(bytes, path);
    embeddedFiles = Object.keys(zip);
    const labelFile = pickLabelFile(metadata.associatedFiles, embeddedFiles);
    if (labelFile) labels = parseLabelLines(new TextDecoder().decode(zip[labelFile]));
  }

  return {
    path,
    fileBytes: bytes.length,
    version,
    description,
    subgraphCount,
    inputs,
    outputs,
    operatorCodes,
    operatorCount,
    operatorUsage,
    signatures,
    metadataEntries,
    ...(minRuntimeVersion !== undefined ? { minRuntimeVersion } : {}),
    ...(metadata ? { metadata } : {}),
    embeddedFiles,
    ...(labels ? { labels } : {}),
  };
}

function readBuffer(b: FlatTable, index: number, bytes: Uint8Array, path: string): Uint8Array | undefined {
  const data = b.bytes(BUFFER.data, 'data');
  if (data && data.length > 0) return data;
  // Models over 2 GB keep buffer data after the FlatBuffer: offset (> 1) and size from file start.
  const offset = b.i64(BUFFER.offset, 0, 'offset');
  const size = b.i64(BUFFER.size, 0, 'size');
  if (offset > 1) {
    if (offset + size > bytes.length) {
      throw corrupt(path, bytes.length, `buffer ${index} (${size} bytes at ${offset}) lies past the end`);
    }
    return bytes.subarray(offset, offset + size);
  }
  return data;
}

/** One `Tensor` table of subgraph 0 as {@link TfliteTensorInfo} (`index` is its position). */
export function readTensor(t: FlatTable, index: number): TfliteTensorInfo {
  const typeCode = t.i8(TENSOR.type, 0, 'type');
  const dtype: TfliteDtype = TFLITE_DTYPES[typeCode] ?? `type_${typeCode}`;
  const shapeSignature = t.has(TENSOR.shapeSignature) ? t.i32s(TENSOR.shapeSignature, 'shape_signature') : undefined;
  let quantization: TensorQuantization | undefined;
  const q = t.table(TENSOR.quantization, 'quantization');
  if (q) {
    const scales = q.f32s(QUANT.scale, 'scale');
    const zeroPoints = q.i64s(QUANT.zeroPoint, 'zero_point');
    if (scales.length > 0) {
      quantization = {
        scale: scales[0]!,
        zeroPoint: zeroPoints[0] ?? 0,
        ...(scales.length > 1 ? { perChannel: { scales, zeroPoints, axis: q.i32(QUANT.quantizedDimension, 0, 'quantized_dimension') } } : {}),
      };
    }
  }
  return {
    index,
    name: t.string(TENSOR.name, 'name') ?? '',
    dtype,
    shape: t.i32s(TENSOR.shape, 'shape'),
    ...(shapeSignature ? { shapeSignature } : {}),
    ...(quantization ? { quantization } : {}),
  };
}

// metadata_schema.fbs slots.
const MODEL_METADATA = { name: 0, description: 1, version: 2, subgraphMetadata: 3, author: 4, license: 5, associatedFiles: 6, minParserVersion: 7 };
const SUBGRAPH_METADATA = { inputTensorMetadata: 2, outputTensorMetadata: 3, associatedFiles: 4 };
const TENSOR_METADATA = { name: 0, associatedFiles: 6 };
const ASSOCIATED_FILE = { name: 0, description: 1, type: 2, locale: 3 };

function readMetadata(data: Uint8Array, path: string): TfliteMetadata {
  const r = new FlatBufferReader(data);
  // The metadata writer sets identifier "M001"; accept a buffer without it as long as it parses.
  try {
    const mm = r.root('ModelMetadata');
    const files = (t: FlatTable, slot: number, attachedTo: AssociatedFileInfo['attachedTo']): AssociatedFileInfo[] =>
      t.tables(slot, 'associated_files').map((f) => {
        const description = f.string(ASSOCIATED_FILE.description, 'description');
        const locale = f.string(ASSOCIATED_FILE.locale, 'locale');
        const typeCode = f.i8(ASSOCIATED_FILE.type, 0, 'type');
        return {
          name: f.string(ASSOCIATED_FILE.name, 'name') ?? '',
          ...(description ? { description } : {}),
          type: ASSOCIATED_FILE_TYPES[typeCode] ?? `TYPE_${typeCode}`,
          ...(locale ? { locale } : {}),
          attachedTo,
        };
      });
    const associatedFiles = files(mm, MODEL_METADATA.associatedFiles, 'model');
    const inputNames: string[] = [];
    const outputNames: string[] = [];
    if (mm.tableCount(MODEL_METADATA.subgraphMetadata, 'subgraph_metadata') > 0) {
      const sg = mm.tableAt(MODEL_METADATA.subgraphMetadata, 0, 'subgraph_metadata');
      associatedFiles.push(...files(sg, SUBGRAPH_METADATA.associatedFiles, 'subgraph'));
      sg.tables(SUBGRAPH_METADATA.inputTensorMetadata, 'input_tensor_metadata').forEach((t, i) => {
        inputNames.push(t.string(TENSOR_METADATA.name, 'name') ?? '');
        associatedFiles.push(...files(t, TENSOR_METADATA.associatedFiles, { input: i }));
      });
      sg.tables(SUBGRAPH_METADATA.outputTensorMetadata, 'output_tensor_metadata').forEach((t, i) => {
        outputNames.push(t.string(TENSOR_METADATA.name, 'name') ?? '');
        associatedFiles.push(...files(t, TENSOR_METADATA.associatedFiles, { output: i }));
      });
    }
    const s = (slot: number, name: string, key: string) => {
      const v = mm.string(slot, name);
      return v !== undefined ? { [key]: v } : {};
    };
    return {
      ...s(MODEL_METADATA.name, 'name', 'name'),
      ...s(MODEL_METADATA.description, 'description', 'description'),
      ...s(MODEL_METADATA.version, 'version', 'version'),
      ...s(MODEL_METADATA.author, 'author', 'author'),
      ...s(MODEL_METADATA.license, 'license', 'license'),
      ...s(MODEL_METADATA.minParserVersion, 'min_parser_version', 'minParserVersion'),
      inputNames,
      outputNames,
      associatedFiles,
    };
  } catch (error) {
    if (error instanceof FlatBufferBoundsError) {
      throw new EarshotError(`${path}: the model's ${METADATA_NAME} metadata is corrupt (${error.message}); refusing it`);
    }
    throw error;
  }
}

/** The label file: output 0's TENSOR_AXIS_LABELS file (no locale first), else any such file. */
function pickLabelFile(files: AssociatedFileInfo[], present: string[]): string | undefined {
  const labels = files.filter((f) => f.type === 'TENSOR_AXIS_LABELS' && present.includes(f.name));
  const onOutput0 = labels.filter((f) => typeof f.attachedTo === 'object' && 'output' in f.attachedTo && f.attachedTo.output === 0);
  const pool = onOutput0.length > 0 ? onOutput0 : labels;
  return (pool.find((f) => !f.locale) ?? pool[0])?.name;
}

const EOCD_SIGNATURE = 0x06054b50;

/**
 * The files of the zip appended to the model, or {} when there is none. Handles zips whose offsets
 * are relative to the zip's own start as well as to the file start.
 */
function readAppendedZip(bytes: Uint8Array, path: string): Record<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // End of central directory: 22 bytes + comment (≤ 65535), searched backwards from the end.
  const lowest = Math.max(0, bytes.length - 22 - 0xffff);
  for (let e = bytes.length - 22; e >= lowest; e--) {
    if (view.getUint32(e, true) !== EOCD_SIGNATURE) continue;
    const cdSize = view.getUint32(e + 12, true);
    const cdOffset = view.getUint32(e + 16, true);
    const prefix = e - cdSize - cdOffset; // bytes before the zip, when its offsets are zip-relative
    if (prefix < 0) continue;
    try {
      return unzipSync(prefix > 0 ? bytes.subarray(prefix) : bytes);
    } catch (error) {
      throw new EarshotError(`${path}: the zip of associated files appended to the model is corrupt (${(error as Error).message}); refusing it`);
    }
  }
  return {};
}

/** Splits a one-label-per-line text: strips a BOM and CRs, and drops trailing empty lines. */
function parseLabelLines(text: string): string[] {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/** The number of classes of output 0: its last dimension (e.g. 521 for YAMNet's [1,521]). */
export function outputClassCount(info: TfliteModelInfo): number {
  const shape = info.outputs[0]?.shape ?? [];
  return shape.length > 0 ? shape[shape.length - 1]! : 0;
}

/** Element count of a shape (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Reads and parses a model file.
 * @param bytes the file's bytes when the caller has read them already (loadModel hashes them)
 * @throws EarshotError `<path>: model file not found`, not a regular file, empty, or not / a bad TFLite model.
 */
export async function loadTfliteModelFile(path: string, bytes?: Uint8Array): Promise<{ bytes: Uint8Array; info: TfliteModelInfo }> {
  bytes ??= await readModelBytes(path);
  return { bytes, info: readTfliteModel(bytes, path) };
}

/**
 * The bytes of a model file.
 * @throws EarshotError (exit 2) naming the file when it is missing, a directory or unreadable
 */
export async function readModelBytes(path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (error) {
    throw fileError(path, 'model file', error);
  }
}

function fileError(path: string, what: string, error: unknown): EarshotError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new EarshotError(`${path}: ${what} not found`, ExitCode.BadInput, { cause: error });
  if (code === 'EISDIR') return new EarshotError(`${path}: ${what} is a directory, not a file`, ExitCode.BadInput, { cause: error });
  if (code === 'EACCES') return new EarshotError(`${path}: ${what} is not readable (permission denied)`, ExitCode.BadInput, { cause: error });
  return new EarshotError(`${path}: cannot read ${what} (${(error as Error).message})`, ExitCode.BadInput, { cause: error });
}

/**
 * Reads a labels file: either one label per line, or a CSV with a header row and a
 * `display_name` column (YAMNet's yamnet_class_map.csv: `index,mid,display_name`, with quoted
 * fields such as "Gunshot, gunfire"). A `.csv` file must have that column.
 * @throws EarshotError when the file is missing, empty, or a CSV without `display_name`.
 */
export function readLabelsFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fileError(path, 'labels file', error);
  }
  return parseLabelsText(text, path);
}

/** {@link readLabelsFile} on text already read; `path` is for messages and the `.csv` check. */
export function parseLabelsText(text: string, path: string): string[] {
  text = text.replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new EarshotError(`${path}: labels file is empty`);
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const isCsv = /\.csv$/i.test(path) || namesDisplayName(firstLine);
  if (!isCsv) return parseLabelLines(text);

  const rows = parseCsv(text, path).filter((row) => !(row.length === 1 && row[0]!.trim() === ''));
  const header = rows[0]!.map((f) => f.trim());
  const column = header.indexOf('display_name');
  if (column < 0) {
    throw new EarshotError(`${path}: CSV labels file has no "display_name" column (header: ${header.join(',')})`);
  }
  return rows.slice(1).map((row, i) => {
    const label = row[column];
    if (label === undefined) {
      throw new EarshotError(`${path}: CSV row ${i + 2} has no "display_name" field (${row.length} fields)`);
    }
    return label;
  });
}

/**
 * RFC 4180 CSV by csv-parse: comma separated, fields optionally in double quotes ("" escapes a
 * quote), any of CRLF / LF / CR between rows, empty lines skipped. Lenient where label maps in the
 * wild are sloppy: a quote inside an unquoted field is kept, rows may differ in length.
 * @throws EarshotError naming `path` for CSV that cannot be read at all (e.g. a quote never closed)
 */
function parseCsv(text: string, path: string): string[][] {
  try {
    return parseCsvText(text, CSV_OPTIONS) as string[][];
  } catch (error) {
    throw new EarshotError(`${path}: CSV labels file cannot be read (${(error as Error).message})`, ExitCode.BadInput, { cause: error });
  }
}

const CSV_OPTIONS = { relax_quotes: true, relax_column_count: true, skip_empty_lines: true, record_delimiter: ['\r\n', '\n', '\r'] };

/** True when `line`, read as a CSV header, has a `display_name` column (a line that is not CSV has none). */
function namesDisplayName(line: string): boolean {
  try {
    return (parseCsvText(line, CSV_OPTIONS) as string[][])[0]?.some((f) => f.trim() === 'display_name') ?? false;
  } catch {
    return false;
  }
}
