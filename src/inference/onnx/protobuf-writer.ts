/**
 * The few protobuf wire-format writers needed to build small ONNX graphs by hand (ModelProto,
 * onnx/onnx.proto3): varints and tagged fields, as the protobuf encoding guide defines them
 * (https://protobuf.dev/programming-guides/encoding/). Used by the trainer's one-node MatMul
 * model (src/learn/matmul.ts) and by the tests' ONNX classifiers.
 */

/** Protobuf varint of a non-negative integer (up to 2^53). */
export function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A field's tag: field number and wire type (0 varint, 2 length-delimited). */
export const tag = (field: number, wireType: number): number[] => varint(field * 8 + wireType);
/** A varint field. */
export const int = (field: number, value: number): number[] => [...tag(field, 0), ...varint(value)];
/** A length-delimited field (an embedded message or raw bytes). */
export const bytes = (field: number, payload: number[]): number[] => [...tag(field, 2), ...varint(payload.length), ...payload];
/** A UTF-8 string field. */
export const str = (field: number, text: string): number[] => bytes(field, [...Buffer.from(text, 'utf8')]);
