/**
 * Opens a model with the backend asked for: the one place that knows the implementations
 * (tflite-node.ts, litert-wasm.ts, onnx.ts; each loaded only when used, as their runtimes are
 * heavy). The interface they implement is backend.ts.
 */
import { EarshotError } from '../../errors.js';
import { ALL_BACKEND_KINDS, type BackendKind } from '../../constants.js';
import { isOnnxInfo, type ModelFileInfo } from '../model-format.js';
import { withEmbeddingOutput } from '../tflite/embedding-output.js';
import { checkModelIo, type BackendOptions, type InferenceBackend } from './backend.js';

/**
 * Opens `bytes` (a model already parsed into `info` by readTfliteModel or readOnnxModel) with
 * backend `kind`: a TFLite model with 'tflite-node' or 'litert-wasm', an ONNX one with 'onnx'.
 * @throws EarshotError naming info.path when the model and the backend do not go together, the
 *   model has an unsupported I/O layout or the runtime refuses it (exit code 2), or when the
 *   runtime itself cannot be loaded, or a required accelerator is missing (exit code 3).
 */
export async function openBackend(kind: BackendKind, bytes: Uint8Array, info: ModelFileInfo, options: BackendOptions = {}): Promise<InferenceBackend> {
  if (isOnnxInfo(info)) {
    if (kind !== 'onnx') throw new EarshotError(`${info.path}: an ONNX model runs on the onnx backend, not ${kind}`);
    const { openOnnxBackend } = await import('./onnx.js');
    return openOnnxBackend(bytes, info, options);
  }
  if (kind === 'onnx') {
    throw new EarshotError(`${info.path}: the onnx backend runs .onnx models; this is a TFLite model (use tflite-node or litert-wasm)`);
  }
  const io = checkModelIo(info);
  // The embedding as a second output (appended to the FlatBuffer in memory; the scores are those of the file).
  const embedded = options.embeddingOutput === false ? undefined : withEmbeddingOutput(bytes, info);
  switch (kind) {
    case 'tflite-node': {
      const { openTfliteNodeBackend } = await import('./tflite-node.js');
      return openTfliteNodeBackend(bytes, info, io, options, embedded);
    }
    case 'litert-wasm': {
      if (options.delegatePath) {
        throw new EarshotError(`${info.path}: the litert-wasm backend cannot load a TFLite delegate (${options.delegatePath}); use tflite-node`);
      }
      const { openLiteRtWasmBackend } = await import('./litert-wasm.js');
      return openLiteRtWasmBackend(bytes, info, io, options, embedded);
    }
    default:
      throw new EarshotError(`unknown inference backend ${JSON.stringify(kind)} (expected ${ALL_BACKEND_KINDS.join(', ')})`);
  }
}
