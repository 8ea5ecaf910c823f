/**
 * Says what a file given as a model is when it is not one: a WAV recording or a text file passed
 * as `--model` should be refused as such ("not a TFLite or ONNX model (a WAV audio file)"), not
 * with "no manifest describes this file". Reads the first bytes only.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { EarshotError } from '../errors.js';

/** Bytes read from the start of the file. */
const HEAD_BYTES = 512;

/**
 * What `head` (a file's first bytes) looks like when it cannot be a model; null when it may be
 * one. TFLite files carry the FlatBuffer identifier `TFL3` at bytes 4..8; ONNX (protobuf) has no
 * magic number, so for an `.onnx` file only content that is surely something else is named.
 * @param head up to the first 512 bytes of the file
 * @param totalBytes the file's size
 */
export function nonModelKind(head: Uint8Array, totalBytes: number, onnx: boolean): string | null {
  if (totalBytes === 0) return 'an empty file';
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (!onnx && head.length >= 8 && ascii(4, 8) === 'TFL3') return null;
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'a WAV audio file';
  if (ascii(0, 4) === 'RIFF' || ascii(0, 4) === 'RF64') return 'a RIFF file (not a model)';
  if (ascii(0, 4) === 'fLaC') return 'a FLAC audio file';
  if (ascii(0, 4) === 'OggS') return 'an Ogg audio file';
  if (ascii(0, 3) === 'ID3' || (head[0] === 0xff && (head[1] & 0xe0) === 0xe0)) return 'an MP3 audio file';
  if (head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'a PNG image';
  if (ascii(0, 4) === 'PK\u0003\u0004') return 'a zip archive';
  if (ascii(0, 15) === 'SQLite format 3') return 'an SQLite database';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'a gzip archive';
  if (looksLikeText(head)) return 'a text file';
  if (onnx) return null;
  return `no "TFL3" identifier at bytes 4..8 (first bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')})`;
}

/** Printable ASCII or UTF-8 (with tabs and line breaks) throughout. */
function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  for (const b of head) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) return false;
  // Cut at a character boundary: a multi-byte sequence at the end may be incomplete.
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 4)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses a file that is not a model before anything else is done with it.
 * @throws EarshotError (exit 2) `<path>: not a TFLite or ONNX model (a WAV audio file)`; nothing
 *   when the file may be a model (its parser and manifest checks follow), or cannot be read (the
 *   caller's read reports that)
 */
export function refuseNonModel(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return;
  }
  try {
    const head = new Uint8Array(HEAD_BYTES);
    const n = readSync(fd, head, 0, HEAD_BYTES, 0);
    const size = n < HEAD_BYTES ? n : Number.POSITIVE_INFINITY;
    const kind = nonModelKind(head.subarray(0, n), size, extname(path).toLowerCase() === '.onnx');
    if (kind) throw new EarshotError(`${path}: not a TFLite or ONNX model (${kind})`);
  } finally {
    closeSync(fd);
  }
}
