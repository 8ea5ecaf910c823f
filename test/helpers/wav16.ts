/**
 * Test-only reader for the shared 16 kHz mono s16 PCM WAV clips. The real, general reader is in
 * src/capture; the front-end tests stay independent of it.
 */
import { readFileSync } from 'node:fs';

export { sharedPath } from './fixtures.js';

/**
 * Samples of a 16 kHz mono 16-bit PCM WAV as float32 `int16 / 32768` (exact in float32, and the
 * scaling the golden files use).
 * @throws Error when the file is not RIFF/WAVE PCM 16-bit mono 16 kHz or has no data chunk.
 */
export function readWav16(path: string): Float32Array {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error(`${path}: not a RIFF/WAVE file`);
  }
  let pos = 12;
  let fmtOk = false;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(body);
      const channels = buf.readUInt16LE(body + 2);
      const rate = buf.readUInt32LE(body + 4);
      const bits = buf.readUInt16LE(body + 14);
      if (format !== 1 || channels !== 1 || rate !== 16000 || bits !== 16) {
        throw new Error(`${path}: want PCM mono 16 kHz s16, got format ${format}, ${channels} ch, ${rate} Hz, ${bits} bit`);
      }
      fmtOk = true;
    } else if (id === 'data') {
      if (!fmtOk) throw new Error(`${path}: data chunk before fmt chunk`);
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return out;
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}
