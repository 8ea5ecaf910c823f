/**
 * Models on a user's machine: `earshot model pull NAME` downloads a known model over HTTPS into
 * the model directory, verifying its sha256 and writing it atomically (temporary name, fsync,
 * rename), so a half-downloaded file is never taken for a model.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EarshotError, ExitCode } from '../errors.js';

/** A model earshot knows how to fetch. */
export interface KnownModel {
  /** File name under the base URL. */
  remoteName: string;
  /** File name in the model directory. */
  localName: string;
  sha256: string;
  bytes: number;
  description: string;
}

/** Where `model pull` fetches from unless `--base-url` or `EARSHOT_MODEL_BASE_URL` says otherwise. */
export const DEFAULT_MODEL_BASE_URL = 'https://storage.googleapis.com/download.tensorflow.org/models/tflite/task_library/audio_classification/android/';

/** The models `earshot model pull` knows. */
export const KNOWN_MODELS: Record<string, KnownModel> = {
  yamnet: {
    remoteName: 'lite-model_yamnet_classification_tflite_1.tflite',
    localName: 'yamnet.tflite',
    sha256: '10c95ea3eb9a7bb4cb8bddf6feb023250381008177ac162ce169694d05c317de',
    bytes: 4126810,
    description: 'YAMNet (AudioSet, 521 classes), official TFLite classification model with metadata',
  },
};

/** The model used when none is configured: the pulled YAMNet. */
export const DEFAULT_MODEL_NAME = 'yamnet';

/** Path of a known model in `modelDir` (whether or not it has been pulled). */
export function pulledModelPath(modelDir: string, name = DEFAULT_MODEL_NAME): string {
  return join(modelDir, KNOWN_MODELS[name].localName);
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The sha256 of bytes already read (hex), as {@link sha256File} gives for their file. */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Downloads a known model into `modelDir`. An existing file with the right sha256 is kept.
 * @param baseUrl folder URL the model's `remoteName` is appended to
 * @returns the model's path and whether it was downloaded now
 * @throws EarshotError for an unknown name, an HTTP or network failure, or a sha256 mismatch
 *   (the partial file is removed in every case)
 */
export async function pullModel(
  name: string,
  modelDir: string,
  baseUrl = process.env.EARSHOT_MODEL_BASE_URL || DEFAULT_MODEL_BASE_URL,
): Promise<{ path: string; downloaded: boolean }> {
  const known = KNOWN_MODELS[name];
  if (!known) throw new EarshotError(`unknown model "${name}"; earshot can pull: ${Object.keys(KNOWN_MODELS).join(', ')}`);
  const target = join(modelDir, known.localName);
  if (existsSync(target) && (await sha256File(target)) === known.sha256) return { path: target, downloaded: false };
  const url = new URL(known.remoteName, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  await mkdir(modelDir, { recursive: true });
  const temporary = `${target}.part-${process.pid}`;
  try {
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow' });
    } catch (error) {
      throw new EarshotError(
        `${url}: download failed: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`,
        ExitCode.Environment,
      );
    }
    if (!response.ok || !response.body) throw new EarshotError(`${url}: download failed: HTTP ${response.status} ${response.statusText}`, ExitCode.Environment);
    const hash = createHash('sha256');
    const file = await open(temporary, 'w', 0o644);
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    const digest = hash.digest('hex');
    if (digest !== known.sha256) {
      throw new EarshotError(`${url}: sha256 mismatch: got ${digest}, expected ${known.sha256}; the file was not installed`, ExitCode.Environment);
    }
    await rename(temporary, target);
    return { path: target, downloaded: true };
  } finally {
    await rm(temporary, { force: true });
  }
}
