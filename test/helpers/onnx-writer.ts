/**
 * Writes small ONNX models (protobuf ModelProto, onnx/onnx.proto3) for tests of the onnx backend
 * with a user-brought single-input classifier: no ONNX classifier ships in ../shared, and ONNX
 * Runtime runs a hand-built graph exactly as one exported from a framework.
 */
import { bytes, int, str } from '../../src/inference/onnx/protobuf-writer.js';

const FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

function valueInfo(name: string, shape: (number | string)[]): number[] {
  const dims = shape.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, FLOAT), ...bytes(2, dims)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

function node(op: string, inputs: string[], outputs: string[], attributes: number[][] = []): number[] {
  return [
    ...inputs.flatMap((i) => str(1, i)),
    ...outputs.flatMap((o) => str(2, o)),
    ...str(3, `${op}_${outputs[0]}`),
    ...str(4, op),
    ...attributes.flatMap((a) => bytes(5, a)),
  ];
}

const intsAttribute = (name: string, values: number[]) => [...str(1, name), ...values.flatMap((v) => int(8, v)), ...int(20, ATTRIBUTE_INTS)];
const intAttribute = (name: string, value: number) => [...str(1, name), ...int(3, value), ...int(20, ATTRIBUTE_INT)];

/**
 * A "loudness classifier": input `waveform` float32 [batch, 15600], output `scores` float32
 * [batch, 2] = [max |x|, mean |x|] over the window (opset 13: Abs, ReduceMax, ReduceMean, Concat).
 */
export function loudnessClassifierOnnx(): Uint8Array {
  const graph = [
    ...bytes(1, node('Abs', ['waveform'], ['magnitude'])),
    ...bytes(1, node('ReduceMax', ['magnitude'], ['peak'], [intsAttribute('axes', [1]), intAttribute('keepdims', 1)])),
    ...bytes(1, node('ReduceMean', ['magnitude'], ['level'], [intsAttribute('axes', [1]), intAttribute('keepdims', 1)])),
    ...bytes(1, node('Concat', ['peak', 'level'], ['scores'], [intAttribute('axis', 1)])),
    ...str(2, 'loudness'),
    ...bytes(11, valueInfo('waveform', ['batch', 15600])),
    ...bytes(12, valueInfo('scores', ['batch', 2])),
  ];
  const model = [...int(1, 7), ...str(2, 'earshot-test'), ...str(3, '1'), ...bytes(7, graph), ...bytes(8, int(2, 13))];
  return Uint8Array.from(model);
}
