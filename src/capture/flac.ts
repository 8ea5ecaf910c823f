/**
 * FLAC files (the evidence clips earshot writes with `clips.format: flac`, or recordings a user
 * has) decoded with `@wasm-audio-decoders/flac` (libFLAC compiled to WebAssembly), into the same
 * {@link DecodedWav} shape the WAV reader gives, so `analyze`, `eval`, the file source and the
 * spectrogram route read both.
 *
 * As for WAV, a damaged or truncated file is refused rather than decoded in part: the decoder
 * goes on through errors (leaving gaps), so any error it reports, or fewer samples than the
 * STREAMINFO block declares, is an error here.
 *
 * Format: https://xiph.org/flac/format.html (the `fLaC` marker, then the STREAMINFO block).
 */
import { createHash } from 'node:crypto';
import { EarshotError, ExitCode } from '../errors.js';
import { readFile } from 'node:fs/promises';
import { MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, type DecodedWav, type WavStream } from './decoded-audio.js';

/** The stream marker every FLAC file starts with. */
export const FLAC_MARKER = 'fLaC';

/** True when `bytes` start with the FLAC stream marker. */
export function isFlac(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x66 && bytes[1] === 0x4c && bytes[2] === 0x61 && bytes[3] === 0x43;
}

/** What STREAMINFO says about the stream. */
export interface FlacStreamInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Samples per channel; 0 when the encoder did not know (a stream). */
  totalSamples: number;
  /** MD5 of the unencoded audio (hex), or null when the encoder left it zero. */
  md5: string | null;
}

/**
 * Reads the STREAMINFO block (the first metadata block, 34 bytes after its 4-byte header).
 * @throws EarshotError (exit 2) naming `name` when the block is missing or cut short
 */
export function readStreamInfo(bytes: Uint8Array, name: string): FlacStreamInfo {
  if (bytes.length < 8 + 34 || (bytes[4] & 0x7f) !== 0) throw new EarshotError(`${name}: malformed FLAC: no STREAMINFO block`);
  const b = (i: number) => bytes[8 + i];
  // Bits from byte 10 on: sample rate (20), channels − 1 (3), bits per sample − 1 (5), total samples (36).
  const sampleRate = (b(10) << 12) | (b(11) << 4) | (b(12) >> 4);
  const channels = ((b(12) >> 1) & 0x07) + 1;
  const bitsPerSample = (((b(12) & 0x01) << 4) | (b(13) >> 4)) + 1;
  const totalSamples = (b(13) & 0x0f) * 2 ** 32 + (((b(14) << 24) | (b(15) << 16) | (b(16) << 8) | b(17)) >>> 0);
  const md5Bytes = Buffer.from(bytes.subarray(8 + 18, 8 + 34));
  return { sampleRate, channels, bitsPerSample, totalSamples, md5: md5Bytes.some((x) => x !== 0) ? md5Bytes.toString('hex') : null };
}

/**
 * Decodes the bytes of a FLAC file.
 * @param name the file's name or path, put at the start of every error message
 * @returns the stream as {@link DecodedWav} (`formatTag` 0xf1ac, the WAVE tag for FLAC): the mono
 *   downmix is the average of the channels, int / 2^(bits−1) as for WAV (s16 / 32768)
 * @throws EarshotError (exit code 2): `<name>: malformed FLAC: ...`, `<name>: damaged FLAC: ...`
 *   (decoder errors, or audio that does not match STREAMINFO's MD5), `<name>: truncated or damaged:
 *   STREAMINFO declares N samples, M decoded`, or an
 *   unsupported sample rate or channel count
 */
export async function decodeFlac(bytes: Uint8Array, name: string): Promise<DecodedWav> {
  if (!isFlac(bytes)) throw new EarshotError(`${name}: not a FLAC file (no fLaC marker)`);
  const info = readStreamInfo(bytes, name);
  if (info.sampleRate < MIN_SAMPLE_RATE || info.sampleRate > MAX_SAMPLE_RATE)
    throw new EarshotError(`${name}: unsupported sample rate ${info.sampleRate} Hz (${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE})`);
  if (info.channels > MAX_CHANNELS) throw new EarshotError(`${name}: unsupported channel count ${info.channels}`);
  // Loaded here: the WebAssembly module is only compiled when a FLAC file is read.
  const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
  const decoder = new FLACDecoder();
  let decoded;
  try {
    await decoder.ready;
    decoded = await decoder.decodeFile(bytes);
  } catch (error) {
    throw new EarshotError(`${name}: damaged FLAC: ${(error as Error).message}`, ExitCode.BadInput, { cause: error });
  } finally {
    decoder.free();
  }
  if (decoded.errors.length > 0) {
    const first = decoded.errors[0];
    throw new EarshotError(`${name}: damaged FLAC: ${first.message}${decoded.errors.length > 1 ? ` (and ${decoded.errors.length - 1} more errors)` : ''}`);
  }
  const frames = decoded.samplesDecoded;
  if (info.totalSamples > 0 && frames < info.totalSamples)
    throw new EarshotError(`${name}: truncated or damaged: STREAMINFO declares ${info.totalSamples} samples, ${frames} decoded`);
  if (frames === 0) throw new EarshotError(`${name}: empty FLAC stream (no samples)`);
  const channels = decoded.channelData.length;
  // The decoder scales integers by 1 / (2^(bits−1) − 1); earshot (as the WAV reader) by
  // 1 / 2^(bits−1): back to the integers, which the MD5 check needs too.
  const bits = decoded.bitDepth;
  const peak = 2 ** (bits - 1) - 1;
  const ints = decoded.channelData.map((channel) => {
    const out = new Int32Array(frames);
    for (let i = 0; i < frames; i++) out[i] = Math.round(channel[i] * peak);
    return out;
  });
  if (info.md5) {
    // STREAMINFO's MD5 is of the interleaved little-endian samples, ceil(bits / 8) bytes each.
    const width = Math.ceil(bits / 8);
    const raw = Buffer.alloc(frames * channels * width);
    let at = 0;
    for (let i = 0; i < frames; i++) for (let c = 0; c < channels; c++, at += width) raw.writeIntLE(ints[c][i], at, width);
    if (createHash('md5').update(raw).digest('hex') !== info.md5)
      throw new EarshotError(`${name}: damaged FLAC: the decoded audio does not match the MD5 in its STREAMINFO`);
  }
  const scale = 2 ** (bits - 1);
  const mono = new Float32Array(frames);
  if (channels === 1) {
    for (let i = 0; i < frames; i++) mono[i] = ints[0][i] / scale;
  } else {
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += ints[c][i];
      mono[i] = sum / channels / scale;
    }
  }
  return {
    sampleRate: decoded.sampleRate,
    channels,
    frames,
    durationSeconds: frames / decoded.sampleRate,
    encoding: `${decoded.bitDepth}-bit FLAC`,
    formatTag: 0xf1ac,
    bitsPerSample: decoded.bitDepth,
    mono,
  };
}

/**
 * A FLAC file as a {@link WavStream} (what the file source reads): decoded whole at open, then
 * handed out in blocks.
 * @throws EarshotError (exit code 2) naming `path` when it cannot be read or decoded
 */
export async function openFlacStream(path: string): Promise<WavStream> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new EarshotError(`${path}: cannot read file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, ExitCode.BadInput, {
      cause: error,
    });
  }
  const { mono, ...info } = await decodeFlac(bytes, path);
  let next = 0;
  let closed = false;
  return {
    info,
    read: async (maxFrames: number) => {
      if (closed || next >= mono.length) return null;
      const block = mono.slice(next, next + Math.max(1, Math.floor(maxFrames)));
      next += block.length;
      return block;
    },
    close: async () => {
      closed = true;
    },
  };
}
