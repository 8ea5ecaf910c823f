/**
 * The two model file formats earshot reads: TFLite FlatBuffers (`.tflite`, run by the tflite-node
 * or litert-wasm backend) and ONNX protobufs (`.onnx`, run by the onnx backend). The format is
 * told by the file name's extension: ONNX files carry no magic number to sniff.
 */
import { extname } from 'node:path';

import type { OnnxModelInfo } from './onnx/model-file.js';
import { loadTfliteModelFile, type TfliteModelInfo } from './tflite/model-file.js';

export type ModelFormat = 'tflite' | 'onnx';

/** A parsed model file of either format. */
export type ModelFileInfo = TfliteModelInfo | OnnxModelInfo;

/** The format of a model file by its name: `.onnx` is ONNX, anything else is read as TFLite. */
export function modelFormatOf(path: string): ModelFormat {
  return extname(path).toLowerCase() === '.onnx' ? 'onnx' : 'tflite';
}

/** True when `info` was read from an ONNX file. */
export function isOnnxInfo(info: ModelFileInfo): info is OnnxModelInfo {
  return (info as OnnxModelInfo).format === 'onnx';
}

/**
 * Reads and parses a model file of either format (by extension).
 * @param tfliteBytes a TFLite file's bytes when the caller has read them already
 * @throws EarshotError naming the file when it is missing, unreadable, or not a valid model of its format
 */
export async function loadModelFile(path: string, tfliteBytes?: Uint8Array): Promise<{ format: ModelFormat; bytes: Uint8Array; info: ModelFileInfo }> {
  if (modelFormatOf(path) === 'onnx') {
    // Imported for ONNX files only: its protobuf decoder is ~0.1 s of every start (issue 23).
    const { loadOnnxModelFile } = await import('./onnx/model-file.js');
    const { bytes, info } = await loadOnnxModelFile(path);
    return { format: 'onnx', bytes, info };
  }
  const { bytes, info } = await loadTfliteModelFile(path, tfliteBytes);
  return { format: 'tflite', bytes, info };
}
