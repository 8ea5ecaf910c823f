/**
 * Writes evidence clip files so that a crash at any instant leaves either the whole file under its
 * final name or no file under that name: the audio goes to `<name>.tmp` in the same folder, is
 * fsynced, renamed to `<name>` (rename(2) is atomic within a file system), and the folder is
 * fsynced so the rename itself survives a power cut. The database row is written only after
 * that (by the caller), so a row always points at a complete file; a leftover `*.tmp` or a file
 * without a row is what {@link reconcileClips} (reconcile.ts) repairs at the next start.
 *
 * Every file carries its own description (the clip row minus size and hash) so that a complete
 * file whose row was lost in a crash can be adopted back: in WAV an `esmd` chunk (JSON, before
 * the `data` chunk; readers skip unknown chunks), in FLAC a Vorbis comment `EARSHOT_CLIP=<JSON>`.
 *
 * FLAC is encoded by the reference encoder's command-line tool (`flac`, Xiph.Org, Debian package
 * `flac`) when it is on PATH; there is no FLAC encoder in earshot itself.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';

/** What a clip file says about itself (the `clips` row without path, format, bytes, sha256, status). */
export interface ClipFileMetadata {
  /** Clip id (ULID), also the file's base name. */
  id: string;
  /** events.id, or null for a background clip. */
  event_id: string | null;
  kind: 'event' | 'background';
  /** The event's group, null for background clips. */
  grp: 'hostile' | 'non_hostile' | null;
  stream_id: string;
  /** Absolute 16 kHz stream sample indices, `[start_sample, end_sample)`. */
  start_sample: number;
  end_sample: number;
  /** Seconds from the stream start. */
  start_s: number;
  /** ISO-8601 UTC wall times of the first sample and one past the last. */
  start_utc: string;
  end_utc: string;
  /** Hz. */
  sample_rate: number;
  /** Samples inside the clip that capture lost (held as zeros). */
  gap_samples: number;
  /** ISO-8601 UTC, when the file was written. */
  created_utc: string;
}

/** A written clip file. */
export interface WrittenClip {
  /** Absolute path of the final file. */
  path: string;
  format: 'wav' | 'flac';
  /** File size in bytes. */
  bytes: number;
  /** sha256 of the file's bytes, lower-case hex. */
  sha256: string;
}

/** The RIFF chunk id of earshot's clip description in WAV files. */
const METADATA_CHUNK = 'esmd';
/** The Vorbis comment field of earshot's clip description in FLAC files. */
const FLAC_TAG = 'EARSHOT_CLIP';

/** Suffix of files being written; never served, deleted by reconcile. */
export const TEMP_SUFFIX = '.tmp';

/**
 * float32 samples (−1..1) → 16-bit PCM, little-endian: `round(x × 32768)` clamped to
 * [−32768, 32767], so audio read as `int16 / 32768` goes back to the same integers.
 */
export function toPcm16(samples: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i] * 32768);
    out.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : v, i * 2);
  }
  return out;
}

/**
 * A mono 16-bit PCM WAV file (RIFF/WAVE, WAVE_FORMAT_PCM: `fmt `, optional `esmd`, `data`).
 * @param samples float32 in −1..1 (see {@link toPcm16})
 * @param sampleRate Hz
 * @param metadata written as the `esmd` chunk (JSON) when given
 */
export function encodeWav16(samples: Float32Array, sampleRate: number, metadata?: ClipFileMetadata): Buffer {
  const pcm = toPcm16(samples);
  const meta = metadata ? Buffer.from(JSON.stringify(metadata), 'utf8') : null;
  const metaChunk = meta ? 8 + meta.length + (meta.length % 2) : 0;
  const header = Buffer.alloc(12 + 24 + metaChunk + 8);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(header.length - 8 + pcm.length, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // WAVE_FORMAT_PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  let offset = 36;
  if (meta) {
    header.write(METADATA_CHUNK, offset, 'latin1');
    header.writeUInt32LE(meta.length, offset + 4);
    meta.copy(header, offset + 8);
    offset += metaChunk; // the pad byte (odd length) is already zero
  }
  header.write('data', offset, 'latin1');
  header.writeUInt32LE(pcm.length, offset + 4);
  return Buffer.concat([header, pcm]);
}

let flacPath: string | null | undefined;

/**
 * The `flac` encoder on PATH, or null when there is none (looked up once per process).
 */
export function flacEncoder(): string | null {
  if (flacPath !== undefined) return flacPath;
  flacPath = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'flac');
    try {
      accessSync(candidate, fsConstants.X_OK);
      flacPath = candidate;
      break;
    } catch {
      // not here
    }
  }
  return flacPath;
}

/** fsyncs a folder, so that entries created or renamed in it survive a power cut. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What {@link writeClipFile} writes. */
export interface ClipFileRequest {
  /** Folder of the final file (created, with its parents, when missing). */
  dir: string;
  /** Base name without extension (the clip id). */
  name: string;
  /** float32 mono samples, −1..1. */
  samples: Float32Array;
  /** Hz. */
  sampleRate: number;
  /** `flac` needs {@link flacEncoder}; the caller falls back to WAV when it is null. */
  format: 'wav' | 'flac';
  metadata: ClipFileMetadata;
}

/**
 * Writes a clip atomically: `<dir>/<name>.<ext>.tmp`, fsync, rename to `<dir>/<name>.<ext>`,
 * fsync the folder. On failure the temporary file is removed (best effort) and nothing exists
 * under the final name.
 * @returns the final path, size (bytes) and sha256
 * @throws the file system's error (ENOSPC, EACCES...), or Error when `flac` fails
 */
export async function writeClipFile(request: ClipFileRequest): Promise<WrittenClip> {
  const { dir, name, format } = request;
  const finalPath = join(dir, `${name}.${format}`);
  const tempPath = finalPath + TEMP_SUFFIX;
  const created = await mkdir(dir, { recursive: true });
  // A new folder's own entry lives in its parent: sync the parents it was created in too.
  if (created) {
    const parents: string[] = [];
    for (let d = dir; d !== created && d !== dirname(d); d = dirname(d)) parents.push(dirname(d));
    parents.push(dirname(created));
    for (const parent of new Set(parents)) await fsyncDirectory(parent);
  }
  try {
    let bytes: Buffer;
    if (format === 'flac') {
      await encodeFlac(request, tempPath);
      bytes = await readFile(tempPath);
      const handle = await open(tempPath, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } else {
      bytes = encodeWav16(request.samples, request.sampleRate, request.metadata);
      const handle = await open(tempPath, 'w', 0o640);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(tempPath, finalPath);
    await fsyncDirectory(dir);
    return { path: finalPath, format, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}

/** Runs `flac` on raw PCM from stdin, output to `outPath`, with the clip description as a tag. */
function encodeFlac(request: ClipFileRequest, outPath: string): Promise<void> {
  const encoder = flacEncoder();
  if (!encoder) return Promise.reject(new Error('flac: no encoder on PATH'));
  const args = [
    '--silent',
    '--force',
    '--force-raw-format',
    '--endian=little',
    '--sign=signed',
    '--channels=1',
    '--bps=16',
    `--sample-rate=${request.sampleRate}`,
    `--tag=${FLAC_TAG}=${JSON.stringify(request.metadata)}`,
    '-o',
    outPath,
    '-',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(encoder, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.stdin.on('error', () => undefined); // reported through the exit code
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`flac exited with ${signal ?? code}: ${stderr.trim().split('\n').pop() ?? ''}`));
    });
    child.stdin.end(toPcm16(request.samples));
  });
}

/** What {@link inspectClipFile} found in a file. */
export interface ClipFileInspection {
  format: 'wav' | 'flac' | null;
  /** The clip description, or null when the file carries none (not written by earshot). */
  metadata: ClipFileMetadata | null;
  /** False for a WAV whose data chunk is cut short (never the case for a file written by {@link writeClipFile}). */
  complete: boolean;
  bytes: number;
  sha256: string;
}

/**
 * Reads a clip file's format, completeness and self-description (for reconcile).
 * @throws the file system's error when the file cannot be read
 */
export function inspectClipFile(path: string): ClipFileInspection {
  const bytes = readFileSync(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const base = { bytes: bytes.length, sha256 };
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WAVE') {
    return { ...base, format: 'wav', ...readWavMetadata(bytes) };
  }
  if (bytes.length >= 4 && bytes.toString('latin1', 0, 4) === 'fLaC') {
    const metadata = readFlacMetadata(bytes);
    return { ...base, format: 'flac', metadata, complete: metadata !== null };
  }
  return { ...base, format: null, metadata: null, complete: false };
}

function parseMetadata(text: string): ClipFileMetadata | null {
  try {
    const value = JSON.parse(text) as ClipFileMetadata;
    return typeof value?.id === 'string' && typeof value.stream_id === 'string' && Number.isInteger(value.start_sample) ? value : null;
  } catch {
    return null;
  }
}

function readWavMetadata(bytes: Buffer): { metadata: ClipFileMetadata | null; complete: boolean } {
  let metadata: ClipFileMetadata | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (body + size > bytes.length) return { metadata, complete: false };
    if (id === METADATA_CHUNK) metadata = parseMetadata(bytes.toString('utf8', body, body + size));
    if (id === 'data') return { metadata, complete: true };
    offset = body + size + (size % 2);
  }
  return { metadata, complete: false };
}

/** FLAC metadata blocks (https://xiph.org/flac/format.html): find VORBIS_COMMENT (type 4), field EARSHOT_CLIP. */
function readFlacMetadata(bytes: Buffer): ClipFileMetadata | null {
  let offset = 4;
  while (offset + 4 <= bytes.length) {
    const header = bytes[offset];
    const type = header & 0x7f;
    const length = bytes.readUIntBE(offset + 1, 3);
    const body = offset + 4;
    if (body + length > bytes.length) return null;
    if (type === 4) {
      // Vorbis comment lengths are little-endian, unlike the FLAC block header.
      let p = body + 4 + bytes.readUInt32LE(body);
      const count = bytes.readUInt32LE(p);
      p += 4;
      for (let i = 0; i < count && p + 4 <= body + length; i++) {
        const size = bytes.readUInt32LE(p);
        const comment = bytes.toString('utf8', p + 4, p + 4 + size);
        p += 4 + size;
        const eq = comment.indexOf('=');
        if (eq > 0 && comment.slice(0, eq).toUpperCase() === FLAC_TAG) return parseMetadata(comment.slice(eq + 1));
      }
      return null;
    }
    if (header & 0x80) return null;
    offset = body + length;
  }
  return null;
}
