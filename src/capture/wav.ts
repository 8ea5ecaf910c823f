/**
 * A hand-written RIFF/WAVE reader for the encodings a sensor or an evaluation set is likely to
 * hand us: linear PCM (8-bit unsigned, 16/24/32-bit signed), IEEE float (32/64-bit), plain or
 * WAVE_FORMAT_EXTENSIBLE, any channel count and any sample rate.
 *
 * Sources for the format: Microsoft "Multimedia Programming Interface and Data Specifications
 * 1.0" (RIFF chunks, word alignment, WAVE_FORMAT_PCM) and the "Multiple Channel Audio Data and
 * WAVE Files" note (WAVE_FORMAT_EXTENSIBLE, KSDATAFORMAT_SUBTYPE_* GUIDs).
 *
 * Truncated files are refused rather than decoded in part: a WAV whose data chunk declares more
 * bytes than the file holds is a half-copied or half-written recording, and a detector that
 * silently evaluates the first part of it gives results the user would take for the whole.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { EarshotError, ExitCode } from '../errors.js';
import { MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, type DecodedWav, type WavStream } from './decoded-audio.js';

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Every KSDATAFORMAT_SUBTYPE_* GUID for a WAVE format tag is the tag in the first two bytes
 * followed by this fixed tail (00000000-0000-0010-8000-00aa00389b71, stored little-endian).
 */
const SUBTYPE_GUID_TAIL = Uint8Array.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);

/** Names for format tags we refuse, so the error tells the user what the file actually is. */
const KNOWN_FORMAT_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0002, 'Microsoft ADPCM'],
  [0x0006, 'A-law'],
  [0x0007, 'µ-law'],
  [0x0011, 'IMA ADPCM'],
  [0x0031, 'GSM 6.10'],
  [0x0050, 'MPEG'],
  [0x0055, 'MP3'],
  [0x00ff, 'AAC'],
  [0x0161, 'WMA'],
  [0x2000, 'AC-3'],
  [0xf1ac, 'FLAC'],
]);

interface WaveFormat {
  formatTag: number;
  extensible: boolean;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

/**
 * Reads and decodes a WAV file (see {@link decodeWav} for what is accepted).
 *
 * @param path file path, used as given in error messages.
 * @returns the decoded file with its mono downmix at the file's own sample rate.
 * @throws EarshotError (exit code 2) naming `path` when the file cannot be read or decoded.
 */
export function readWav(path: string): DecodedWav {
  let bytes: Uint8Array;
  try {
    requireFile(path, statSync(path));
    bytes = readFileSync(path);
  } catch (error) {
    throw new EarshotError(`${path}: cannot read file: ${describeFsError(error)}`, ExitCode.BadInput, { cause: error });
  }
  return decodeWav(bytes, path);
}

/**
 * Like {@link readWav}, but reads the file without blocking the event loop (for the daemon,
 * where MQTT and timers must keep running while a long file loads), and also reads FLAC files
 * (src/capture/flac.ts).
 *
 * @throws EarshotError (exit code 2) naming `path`, as {@link readWav}.
 */
export async function readWavAsync(path: string): Promise<DecodedWav> {
  let bytes: Uint8Array;
  try {
    requireFile(path, await stat(path));
    bytes = await readFile(path);
  } catch (error) {
    throw new EarshotError(`${path}: cannot read file: ${describeFsError(error)}`, ExitCode.BadInput, { cause: error });
  }
  // FLAC (clips written with clips.format: flac) decodes to the same shape (./flac.ts).
  if (bytes.length >= 4 && bytes[0] === 0x66 && bytes[1] === 0x4c && bytes[2] === 0x61 && bytes[3] === 0x43)
    return (await import('./flac.js')).decodeFlac(bytes, path);
  return decodeWav(bytes, path);
}

/**
 * Decodes the bytes of a RIFF/WAVE file.
 *
 * Chunks are walked in order with their odd-size pad byte; unknown chunks (LIST, fact, cue,
 * bext...) are skipped; `fmt ` must come before `data`; anything after `data` is ignored. A data
 * chunk whose size is not a whole number of frames loses its partial last frame.
 *
 * @param bytes the whole file.
 * @param name the file's name or path, put at the start of every error message.
 * @returns the decoded file; see {@link DecodedWav} for the scaling to −1..1.
 * @throws EarshotError (exit code 2), messages of the form `<name>: <problem>`:
 *   `empty file`; `not a WAV file (no RIFF/WAVE header)`; `unsupported WAV container: RIFX
 *   (big-endian)` / `RF64`; `unsupported WAV encoding: A-law (format 6)`; `unsupported WAV
 *   encoding: 12-bit PCM`; `malformed WAV: ...` (bad fmt fields, data before fmt, no data chunk);
 *   `truncated: data chunk declares N bytes, M present` (or any chunk before the data).
 */
export function decodeWav(bytes: Uint8Array, name: string): DecodedWav {
  const { format, dataStart, dataBytes } = locateData(bytes, name, bytes.length);
  return decodeSamples(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), dataStart, dataBytes, format);
}

/** Where the audio of a WAV file is: its format, and the data chunk's body (byte offset, size). */
interface DataLocation {
  format: WaveFormat;
  dataStart: number;
  dataBytes: number;
}

/**
 * Walks the chunks of a WAV file's first `bytes` (the whole file, or its head when streaming) up
 * to the data chunk, checking every header field. `totalLength` is the file's size, for the
 * truncation check. Errors as {@link decodeWav}.
 */
function locateData(bytes: Uint8Array, name: string, totalLength: number): DataLocation {
  const fail = (problem: string): never => {
    throw new EarshotError(`${name}: ${problem}`);
  };
  if (totalLength === 0) fail('empty file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const riffId = fourCC(bytes, 0);
  const waveId = fourCC(bytes, 8);
  if (bytes.length >= 12 && waveId === 'WAVE' && riffId === 'RIFX') fail('unsupported WAV container: RIFX (big-endian)');
  if (bytes.length >= 12 && waveId === 'WAVE' && riffId === 'RF64') fail('unsupported WAV container: RF64');
  if (bytes.length < 12 || riffId !== 'RIFF' || waveId !== 'WAVE') fail('not a WAV file (no RIFF/WAVE header)');

  let format: WaveFormat | undefined;
  let offset = 12;
  // The RIFF size field is not trusted: writers that crash or stream leave it wrong, and the
  // chunk sizes are what actually locate the audio.
  while (offset + 8 <= totalLength) {
    if (offset + 8 > bytes.length) fail(`malformed WAV: no data chunk within the first ${bytes.length} bytes`);
    const chunkId = fourCC(bytes, offset);
    const chunkSize = view.getUint32(offset + 4, true);
    const bodyStart = offset + 8;
    const bytesPresent = totalLength - bodyStart;
    if (chunkId === 'data' && format === undefined) fail('malformed WAV: data chunk comes before the fmt chunk');
    // Every chunk read so far precedes the audio, so a short one means the audio is missing too.
    if (chunkSize > bytesPresent) {
      fail(`truncated: ${printable(chunkId)} chunk declares ${chunkSize} bytes, ${bytesPresent} present`);
    }
    if (chunkId === 'fmt ') {
      if (bodyStart + chunkSize > bytes.length) fail(`malformed WAV: fmt chunk of ${chunkSize} bytes`);
      format = parseFormat(view, bodyStart, chunkSize, fail);
    } else if (chunkId === 'data') {
      if (chunkSize < format!.blockAlign) fail(`malformed WAV: data chunk holds ${chunkSize} bytes, less than one ${format!.blockAlign}-byte frame`);
      return { format: format!, dataStart: bodyStart, dataBytes: chunkSize };
    }
    offset = bodyStart + chunkSize + (chunkSize % 2);
  }
  return fail(format === undefined ? 'malformed WAV: no fmt chunk' : 'malformed WAV: no data chunk');
}

/** How much of a file's start is read to find its fmt and data chunks when streaming. */
const STREAM_HEAD_BYTES = 4 * 1024 * 1024;

/**
 * Opens a WAV file for reading in blocks, so a long recording is never held in memory whole (a
 * 30-minute file at 16 kHz is 115 MB as float32): the header is checked as {@link decodeWav}
 * checks it, then {@link WavStream.read} decodes the data chunk a block at a time. The fmt and
 * data chunk headers must lie in the first 4 MiB.
 * @throws EarshotError (exit code 2) naming `path`, as {@link readWav}
 */
export async function openWavStream(path: string): Promise<WavStream> {
  let handle: FileHandle;
  let size: number;
  try {
    const stats = await stat(path);
    requireFile(path, stats);
    size = stats.size;
    handle = await open(path, 'r');
  } catch (error) {
    throw new EarshotError(`${path}: cannot read file: ${describeFsError(error)}`, ExitCode.BadInput, { cause: error });
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => undefined);
  };
  try {
    const head = Buffer.alloc(Math.min(size, STREAM_HEAD_BYTES));
    await readFully(handle, head, 0, path);
    // A FLAC file (clips.format: flac) is decoded whole (./flac.ts): clips are seconds long.
    if (head.length >= 4 && head.toString('latin1', 0, 4) === 'fLaC') {
      await close();
      return (await import('./flac.js')).openFlacStream(path);
    }
    const { format, dataStart, dataBytes } = locateData(head, path, size);
    const frames = Math.floor(dataBytes / format.blockAlign);
    const info = { ...decodeSamples(new DataView(head.buffer, head.byteOffset, 0), 0, 0, format), frames, durationSeconds: frames / format.sampleRate };
    const { mono: _empty, ...described } = info;
    let nextFrame = 0;
    return {
      info: described,
      read: async (maxFrames: number) => {
        if (nextFrame >= frames || closed) return null;
        const count = Math.min(Math.max(1, Math.floor(maxFrames)), frames - nextFrame);
        const block = Buffer.alloc(count * format.blockAlign);
        await readFully(handle, block, dataStart + nextFrame * format.blockAlign, path);
        nextFrame += count;
        return decodeSamples(new DataView(block.buffer, block.byteOffset, block.byteLength), 0, block.byteLength, format).mono;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function readFully(handle: FileHandle, into: Buffer, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(into, done, into.length - done, position + done));
    } catch (error) {
      throw new EarshotError(`${path}: cannot read file: ${describeFsError(error)}`, ExitCode.BadInput, { cause: error });
    }
    if (bytesRead === 0) throw new EarshotError(`${path}: truncated: the file ended while being read`, ExitCode.BadInput);
    done += bytesRead;
  }
}

function parseFormat(view: DataView, start: number, size: number, fail: (problem: string) => never): WaveFormat {
  if (size < 16) fail(`malformed WAV: fmt chunk is ${size} bytes, at least 16 expected`);
  let formatTag = view.getUint16(start, true);
  const channels = view.getUint16(start + 2, true);
  const sampleRate = view.getUint32(start + 4, true);
  const blockAlign = view.getUint16(start + 12, true);
  const bitsPerSample = view.getUint16(start + 14, true);
  let extensible = false;

  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    extensible = true;
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) after the 16 base bytes.
    if (size < 40) fail(`malformed WAV: extensible fmt chunk is ${size} bytes, 40 expected`);
    const guidStart = start + 24;
    formatTag = view.getUint16(guidStart, true);
    for (let i = 0; i < SUBTYPE_GUID_TAIL.length; i++) {
      if (view.getUint8(guidStart + 2 + i) !== SUBTYPE_GUID_TAIL[i]) {
        fail(`unsupported WAV encoding: extensible subformat GUID ${formatGuid(view, guidStart)}`);
      }
    }
  }

  if (formatTag !== WAVE_FORMAT_PCM && formatTag !== WAVE_FORMAT_IEEE_FLOAT) {
    const knownName = KNOWN_FORMAT_NAMES.get(formatTag);
    const description = knownName === undefined ? `format 0x${formatTag.toString(16).padStart(4, '0')}` : `${knownName} (format ${formatTag})`;
    fail(`unsupported WAV encoding: ${description}`);
  }
  if (channels === 0) fail('malformed WAV: fmt chunk declares 0 channels');
  if (channels > MAX_CHANNELS) fail(`malformed WAV: fmt channels is ${channels}, at most ${MAX_CHANNELS} accepted`);
  if (sampleRate === 0) fail('malformed WAV: fmt chunk declares a sample rate of 0 Hz');
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    fail(`unsupported WAV sample rate: fmt sample rate is ${sampleRate} Hz, earshot accepts ${MIN_SAMPLE_RATE}–${MAX_SAMPLE_RATE} Hz`);
  }
  if (formatTag === WAVE_FORMAT_PCM && ![8, 16, 24, 32].includes(bitsPerSample)) {
    fail(`unsupported WAV encoding: ${bitsPerSample}-bit PCM`);
  }
  if (formatTag === WAVE_FORMAT_IEEE_FLOAT && bitsPerSample !== 32 && bitsPerSample !== 64) {
    fail(`unsupported WAV encoding: ${bitsPerSample}-bit float`);
  }
  const expectedBlockAlign = channels * (bitsPerSample / 8);
  if (blockAlign !== expectedBlockAlign) {
    fail(`malformed WAV: block align is ${blockAlign} bytes, ${expectedBlockAlign} expected for ${channels} × ${bitsPerSample}-bit`);
  }
  const byteRate = view.getUint32(start + 8, true);
  if (byteRate !== sampleRate * blockAlign) {
    fail(`malformed WAV: fmt byte rate is ${byteRate} bytes/s, ${sampleRate * blockAlign} expected for ${sampleRate} Hz × ${blockAlign}-byte frames`);
  }
  return { formatTag, extensible, channels, sampleRate, blockAlign, bitsPerSample };
}

function decodeSamples(view: DataView, start: number, size: number, format: WaveFormat): DecodedWav {
  const { channels, blockAlign, bitsPerSample, formatTag, sampleRate } = format;
  const frames = Math.floor(size / blockAlign);
  const readSample = sampleReader(view, formatTag, bitsPerSample);
  const bytesPerSample = bitsPerSample / 8;
  const mono = new Float32Array(frames);
  for (let frame = 0, position = start; frame < frames; frame++) {
    // Summed in float64 so six channels of float32 do not lose precision before the average.
    let sum = 0;
    for (let channel = 0; channel < channels; channel++, position += bytesPerSample) sum += readSample(position);
    mono[frame] = sum / channels;
  }
  const kind = formatTag === WAVE_FORMAT_IEEE_FLOAT ? 'float' : bitsPerSample === 8 ? 'unsigned PCM' : 'signed PCM';
  return {
    sampleRate,
    channels,
    frames,
    durationSeconds: frames / sampleRate,
    encoding: `${bitsPerSample}-bit ${kind}${format.extensible ? ' (extensible)' : ''}`,
    formatTag,
    bitsPerSample,
    mono,
  };
}

/** Returns a function reading one sample at a byte position, scaled to −1..1. */
function sampleReader(view: DataView, formatTag: number, bitsPerSample: number): (position: number) => number {
  if (formatTag === WAVE_FORMAT_IEEE_FLOAT) {
    return bitsPerSample === 64 ? (p) => view.getFloat64(p, true) : (p) => view.getFloat32(p, true);
  }
  switch (bitsPerSample) {
    case 8:
      return (p) => (view.getUint8(p) - 128) / 128;
    case 16:
      return (p) => view.getInt16(p, true) / 32768;
    case 24:
      // Low two bytes unsigned, top byte signed: assembles the two's-complement value without shifts that overflow.
      return (p) => (view.getUint16(p, true) + view.getInt8(p + 2) * 65536) / 8388608;
    default:
      return (p) => view.getInt32(p, true) / 2147483648;
  }
}

function fourCC(bytes: Uint8Array, offset: number): string {
  if (offset + 4 > bytes.length) return '';
  return String.fromCharCode(bytes[offset]!, bytes[offset + 1]!, bytes[offset + 2]!, bytes[offset + 3]!);
}

/** A chunk id for an error message: trailing blanks dropped, unprintable bytes shown as '?'. */
function printable(chunkId: string): string {
  return chunkId.replace(/[^\x20-\x7e]/g, '?').trimEnd();
}

function formatGuid(view: DataView, start: number): string {
  const hex = (offset: number, length: number) =>
    Array.from({ length }, (_, i) =>
      view
        .getUint8(start + offset + i)
        .toString(16)
        .padStart(2, '0'),
    ).join('');
  const data1 = view.getUint32(start, true).toString(16).padStart(8, '0');
  const data2 = view
    .getUint16(start + 4, true)
    .toString(16)
    .padStart(4, '0');
  const data3 = view
    .getUint16(start + 6, true)
    .toString(16)
    .padStart(4, '0');
  return `${data1}-${data2}-${data3}-${hex(8, 2)}-${hex(10, 6)}`;
}

/** A device (/dev/zero), FIFO or directory would never end or not be audio: refused before it is read. */
function requireFile(_path: string, stats: Stats): void {
  if (stats.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  if (!stats.isFile()) throw Object.assign(new Error('not a regular file (a device, FIFO or socket)'), { code: 'ENOTREG' });
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return error instanceof Error ? error.message : String(error);
}
