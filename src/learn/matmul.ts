/**
 * Float32 matrix products for training heads, run by ONNX Runtime (already an earshot dependency,
 * for the onnx backend): its MLAS SGEMM is vectorised, some 10–50× faster than a JavaScript loop,
 * and training spends nearly all its time in two products per step (X·Wᵀ and Gᵀ·X, rows × 1545
 * inputs × labels). The model is one `MatMul` node with symbolic dimensions (opset 13), written
 * here as protobuf bytes (onnx/onnx.proto3: ModelProto → GraphProto → NodeProto, ValueInfoProto).
 * One intra-op thread, so results are the same from run to run.
 */
import { openOnnxSession, type OnnxSession } from '../inference/backends/onnx.js';
import { bytes, int, str } from '../inference/onnx/protobuf-writer.js';

/** ValueInfoProto of a float32 tensor with symbolic dimensions. */
function valueInfo(name: string, dims: string[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, str(2, d)));
  const tensorType = [...int(1, 1 /* FLOAT */), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** The ONNX model `c = MatMul(a, b)`, a [m, n], b [n, p], c [m, p], float32. */
export function matMulModel(): Uint8Array {
  const node = [...str(1, 'a'), ...str(1, 'b'), ...str(2, 'c'), ...str(3, 'matmul'), ...str(4, 'MatMul')];
  const graph = [
    ...bytes(1, node),
    ...str(2, 'matmul'),
    ...bytes(11, valueInfo('a', ['m', 'n'])),
    ...bytes(11, valueInfo('b', ['n', 'p'])),
    ...bytes(12, valueInfo('c', ['m', 'p'])),
  ];
  return Uint8Array.from([...int(1, 7), ...str(2, 'earshot-train'), ...str(3, '1'), ...bytes(7, graph), ...bytes(8, int(2, 13))]);
}

/** Matrix products on one ONNX Runtime session. */
export interface MatMul {
  /** a [m × n] · b [n × p] → [m × p], all row-major float32. */
  multiply(a: Float32Array, m: number, n: number, b: Float32Array, p: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Opens the session. @throws EarshotError (exit 3) when ONNX Runtime cannot be loaded */
export async function openMatMul(): Promise<MatMul> {
  const opened: OnnxSession = await openOnnxSession(matMulModel(), '(training matmul)', { threads: 1 });
  const { session, ort } = opened;
  return {
    async multiply(a, m, n, b, p) {
      if (a.length !== m * n || b.length !== n * p)
        throw new RangeError(`matmul: shapes [${m},${n}]·[${n},${p}] do not match lengths ${a.length}, ${b.length}`);
      const result = await session.run({ a: new ort.Tensor('float32', a, [m, n]), b: new ort.Tensor('float32', b, [n, p]) });
      return result.c!.data as Float32Array;
    },
    async close() {
      await session.release();
    },
  };
}
