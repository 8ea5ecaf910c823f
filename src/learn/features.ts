/**
 * Per-window backbone features of the training clips (scores and embedding of every patch), with
 * seeded augmentation and an on-disk cache.
 *
 * Augmentation (clip-labelled clips only: pool folders): each copy mixes the clip into a stretch of
 * an ambience recording (the data's `ambience` clips and, with `siteAmbience`, the site's background
 * clips: {@link isSiteBackground}; looped when shorter), after a time shift of
 * 0–0.48 s (so patches see the event at other offsets than the grid of the original), at an
 * event-to-background ratio uniform in 0–20 dB (RMS of the event's active part — 25 ms frames within
 * 20 dB of its loudest — against the ambience's RMS over the same samples), then a gain uniform in
 * −12…0 dB on the mix (scaled down if its peak would pass 0.99). The parameters are drawn from the
 * seed and the clip's sha256, so the same seed gives the same mixes; the windows' labels are judged
 * on the event alone (its loud windows), not on the mix.
 *
 * With `ambienceGainCopies`, each ambience recording also gets `augmentCopies` copies at a gain
 * uniform in −30…0 dB, all background. In the mixes above the ambience is scaled to sit 0–20 dB
 * under the event and the mix is then turned down by up to 12 dB, so it is often far quieter than
 * its recording; without quieter copies the head hears a quiet ambience only under events and can
 * learn it as part of them: a held-out scene's quiet toad chorus (−39 dBFS, the recording is at
 * −22) fired glass_break twice (docs/evaluation.md, "Quieter ambience").
 *
 * Cache: one file per (clip sha256, model sha256, hop, augmentation) under
 * `<cache>/embeddings/`, holding each patch's start sample, level, scores and embedding (float32).
 * The augmentation is named by its parameters (ambience sha256, offset, shift, ratio, gain; a
 * quieter ambience copy by its gain), so a file is valid whatever seed chose it. Writes go through
 * a temporary file and a rename.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createResampler } from '../capture/resample.js';
import { readWav } from '../capture/wav.js';
import { EarshotError, ExitCode } from '../errors.js';
import type { Embedder } from '../inference/embedder.js';
import { fnv1a32, mulberry32 } from '../random.js';
import { FRAME_HOP_SAMPLES, PATCH_SAMPLES, SAMPLE_RATE } from '../constants.js';
import type { TrainingClip } from './dataset.js';

/** Features of one clip (or one augmented copy of it). */
export interface ClipFeatures {
  readonly clip: TrainingClip;
  /** `none`, or the augmentation's parameters. */
  readonly augmentation: string;
  readonly windows: number;
  readonly startSamples: Int32Array;
  /** Per window: the RMS level (dBFS) of the EVENT's samples in the window (for augmented copies, without the ambience). */
  readonly dbfs: Float32Array;
  /** `[windows][scoreSize]`. */
  readonly scores: Float32Array;
  readonly scoreSize: number;
  /** `[windows][embeddingSize]`. */
  readonly embeddings: Float32Array;
  readonly embeddingSize: number;
  /** Shift applied to the event (samples) in an augmented copy: spans move by this much. */
  readonly shiftSamples: number;
}

/** The default cache folder: `$XDG_CACHE_HOME/earshot`, else `~/.cache/earshot`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'earshot');
}

/** Reads a WAV as 16 kHz mono float32 (resampled when the file has another rate). */
export async function readClip16k(path: string): Promise<Float32Array> {
  const wav = readWav(path);
  if (wav.sampleRate === SAMPLE_RATE) return wav.mono;
  const resampler = await createResampler(wav.sampleRate, 1);
  try {
    const head = resampler.process(wav.mono);
    const tail = resampler.flush();
    const out = new Float32Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  } finally {
    resampler.destroy();
  }
}

/** RMS in dBFS of `samples[start, start + length)` (zero-padded past the end). */
export function windowDbfs(samples: Float32Array, start: number, length = PATCH_SAMPLES): number {
  let sum = 0;
  const end = Math.min(samples.length, start + length);
  for (let i = Math.max(0, start); i < end; i++) sum += samples[i]! * samples[i]!;
  return 20 * Math.log10(Math.sqrt(sum / length));
}

/** Parameters of one augmented copy. */
export interface MixParameters {
  ambienceSha256: string;
  /** First ambience sample used. */
  ambienceOffset: number;
  /** Samples of ambience before the event starts. */
  shiftSamples: number;
  /** Event-to-background ratio, dB. */
  ebrDb: number;
  /** Gain on the mix, dB. */
  gainDb: number;
}

/** The cache name of an augmentation. */
export function mixKey(p: MixParameters): string {
  return `mix1:${p.ambienceSha256.slice(0, 16)}:${p.ambienceOffset}:${p.shiftSamples}:${p.ebrDb.toFixed(2)}:${p.gainDb.toFixed(2)}`;
}

/**
 * The parameters of copy `copy` of a clip, drawn from `seed` and the clip's sha256.
 * @param ambience the ambience recordings' sha256 and length in samples, sorted by sha256
 */
export function drawMix(
  seed: number,
  clipSha256: string,
  copy: number,
  clipLength: number,
  ambience: readonly { sha256: string; length: number }[],
): MixParameters {
  const random = mulberry32(fnv1a32(`${seed}:${clipSha256}:${copy}`));
  const pick = ambience[Math.floor(random() * ambience.length)]!;
  const shiftSamples = Math.floor(random() * 48 * FRAME_HOP_SAMPLES);
  const outLength = Math.max(PATCH_SAMPLES, clipLength + shiftSamples);
  const ambienceOffset = Math.floor(random() * Math.max(1, pick.length - outLength));
  const ebrDb = Math.round(random() * 20 * 100) / 100;
  const gainDb = -Math.round(random() * 12 * 100) / 100;
  return { ambienceSha256: pick.sha256, ambienceOffset, shiftSamples, ebrDb, gainDb };
}

/** The gain (dB, −30…0 in 0.01 dB steps) of copy `copy` of an ambience recording, drawn from `seed` and its sha256. */
export function drawAmbienceGain(seed: number, ambienceSha256: string, copy: number): number {
  const random = mulberry32(fnv1a32(`${seed}:${ambienceSha256}:${copy}:gain`));
  return -Math.round(random() * 30 * 100) / 100;
}

/** RMS of the 25 ms frames within 20 dB of the loudest one: the level of the event's active part. */
function activeRms(samples: Float32Array): number {
  const frame = 400;
  const energies: number[] = [];
  for (let start = 0; start < samples.length; start += frame) {
    let sum = 0;
    const end = Math.min(samples.length, start + frame);
    for (let i = start; i < end; i++) sum += samples[i]! * samples[i]!;
    energies.push(sum / Math.max(1, end - start));
  }
  const loudest = Math.max(0, ...energies);
  if (loudest === 0) return 0;
  const active = energies.filter((e) => e >= loudest / 100);
  return Math.sqrt(active.reduce((a, b) => a + b, 0) / active.length);
}

/**
 * Mixes an event into ambience as `p` says.
 * @returns the mix, and the event alone as placed and scaled in it (for labelling the windows)
 */
export function mixIntoAmbience(event: Float32Array, ambience: Float32Array, p: MixParameters): { mix: Float32Array; eventOnly: Float32Array } {
  const length = Math.max(PATCH_SAMPLES, event.length + p.shiftSamples);
  const background = new Float32Array(length);
  for (let i = 0; i < length; i++) background[i] = ambience.length ? ambience[(p.ambienceOffset + i) % ambience.length]! : 0;
  const placed = new Float32Array(length);
  placed.set(event, p.shiftSamples);
  const eventRms = activeRms(event);
  // Background RMS over the samples where the event sits.
  let sum = 0;
  for (let i = p.shiftSamples; i < p.shiftSamples + event.length; i++) sum += background[i]! * background[i]!;
  const backgroundRms = Math.sqrt(sum / Math.max(1, event.length));
  const eventGain = eventRms > 0 && backgroundRms > 0 ? (backgroundRms * 10 ** (p.ebrDb / 20)) / eventRms : 1;
  const gain = 10 ** (p.gainDb / 20);
  const mix = new Float32Array(length);
  let peak = 0;
  for (let i = 0; i < length; i++) {
    mix[i] = gain * (background[i]! + eventGain * placed[i]!);
    peak = Math.max(peak, Math.abs(mix[i]!));
  }
  const limit = peak > 0.99 ? 0.99 / peak : 1;
  const eventOnly = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    mix[i] = mix[i]! * limit;
    eventOnly[i] = placed[i]! * eventGain * gain * limit;
  }
  return { mix, eventOnly };
}

const CACHE_MAGIC = 0x43455345; // 'ESEC'
const CACHE_VERSION = 1;

/** The cache file of one (clip, model, hop, augmentation). */
export function cachePath(cacheDir: string, clipSha256: string, modelSha256: string, hopFrames: number, augmentation: string): string {
  const key = createHash('sha256').update(`v${CACHE_VERSION}|${clipSha256}|${modelSha256}|${hopFrames}|${augmentation}`).digest('hex');
  return join(cacheDir, 'embeddings', key.slice(0, 2), `${key}.bin`);
}

/** Reads a cache file; undefined when missing or not readable as one (then it is recomputed). */
function readCache(path: string): Omit<ClipFeatures, 'clip' | 'augmentation' | 'shiftSamples'> | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  if (bytes.length < 20) return undefined;
  const header = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 20));
  const [magic, version, windows, scoreSize, embeddingSize] = header as unknown as number[];
  if (magic !== CACHE_MAGIC || version !== CACHE_VERSION) return undefined;
  const floats = windows! * (2 + scoreSize! + embeddingSize!);
  if (bytes.length !== 20 + floats * 4) return undefined;
  const body = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 20, bytes.byteOffset + bytes.length));
  const ints = new Int32Array(body.buffer, 0, windows!);
  return {
    windows: windows!,
    startSamples: Int32Array.from(ints),
    dbfs: body.slice(windows!, 2 * windows!),
    scores: body.slice(2 * windows!, (2 + scoreSize!) * windows!),
    scoreSize: scoreSize!,
    embeddings: body.slice((2 + scoreSize!) * windows!),
    embeddingSize: embeddingSize!,
  };
}

function writeCache(path: string, f: Omit<ClipFeatures, 'clip' | 'augmentation' | 'shiftSamples'>): void {
  const header = Uint32Array.of(CACHE_MAGIC, CACHE_VERSION, f.windows, f.scoreSize, f.embeddingSize);
  const body = new Float32Array(f.windows * (2 + f.scoreSize + f.embeddingSize));
  new Int32Array(body.buffer, 0, f.windows).set(f.startSamples);
  body.set(f.dbfs, f.windows);
  body.set(f.scores, 2 * f.windows);
  body.set(f.embeddings, (2 + f.scoreSize) * f.windows);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, Buffer.concat([Buffer.from(header.buffer), Buffer.from(body.buffer)]));
    renameSync(temporary, path);
  } catch (error) {
    throw new EarshotError(
      `${path}: cannot write the embedding cache (${(error as NodeJS.ErrnoException).code ?? error}); give another folder with --cache`,
      ExitCode.Environment,
      { cause: error },
    );
  }
}

/** Options of {@link extractFeatures}. */
export interface ExtractOptions {
  embedder: Embedder;
  hopFrames: number;
  /** Cache folder, or null for none. */
  cacheDir: string | null;
  seed: number;
  /** Augmented copies per clip-labelled clip (0 = none). */
  augmentCopies: number;
  /** Also mix into the site's background clips: spans-labelled clips with no span (default false). */
  siteAmbience?: boolean;
  /** Also `augmentCopies` quieter copies of each ambience recording, as background (default false). */
  ambienceGainCopies?: boolean;
  /** Called after each clip (progress). */
  onClip?: (done: number, total: number, cached: boolean) => void;
}

/** What {@link extractFeatures} gives. */
export interface ExtractedFeatures {
  items: ClipFeatures[];
  /** Clip/copy features computed by the model in this run (the rest came from the cache). */
  computed: number;
  cached: number;
}

/** A site's background clip: from a pulled or DCASE folder, with no annotated span (a person said "nothing of interest"). */
export function isSiteBackground(clip: TrainingClip): boolean {
  return clip.labelling === 'spans' && (clip.spans?.length ?? 0) === 0;
}

/**
 * Features of every clip, plus `augmentCopies` augmented copies of each clip-labelled clip (when
 * the data holds ambience recordings) and, with `ambienceGainCopies`, of each ambience recording.
 * Order: clips in the given order, each followed by its copies.
 * @throws EarshotError naming a clip that cannot be read, or the cache folder that cannot be written
 */
export async function extractFeatures(clips: readonly TrainingClip[], options: ExtractOptions): Promise<ExtractedFeatures> {
  const { embedder, hopFrames, cacheDir } = options;
  const ambienceClips = clips
    .filter((c) => c.labelling === 'ambience' || (options.siteAmbience && isSiteBackground(c)))
    .sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0))
    // One recording once, however many folders hold it.
    .filter((c, i, sorted) => i === 0 || sorted[i - 1]!.sha256 !== c.sha256);
  const ambienceAudio = new Map<string, Float32Array>();
  const ambienceOf = async (sha: string) => {
    let audio = ambienceAudio.get(sha);
    if (!audio) {
      audio = await readClip16k(ambienceClips.find((c) => c.sha256 === sha)!.path);
      ambienceAudio.set(sha, audio);
    }
    return audio;
  };
  // The ambience lengths decide the mix parameters (read once; kept for mixing).
  const ambienceInfo: { sha256: string; length: number }[] = [];
  if (options.augmentCopies > 0) {
    for (const c of ambienceClips) ambienceInfo.push({ sha256: c.sha256, length: (await ambienceOf(c.sha256)).length });
  }
  const items: ClipFeatures[] = [];
  let computed = 0;
  let cachedCount = 0;
  const jobs: { clip: TrainingClip; copy: number }[] = [];
  for (const clip of clips) {
    jobs.push({ clip, copy: -1 });
    // Copies: an event mixed into ambience, or (ambienceGainCopies) an ambience recording made quieter.
    const copied = (clip.labelling === 'clip' && ambienceInfo.length > 0) || (clip.labelling === 'ambience' && options.ambienceGainCopies);
    if (copied) for (let copy = 0; copy < options.augmentCopies; copy++) jobs.push({ clip, copy });
  }
  let audioOf: { sha: string; samples: Float32Array } | null = null;
  const clipAudio = async (clip: TrainingClip) => {
    if (audioOf?.sha !== clip.sha256) audioOf = { sha: clip.sha256, samples: await readClip16k(clip.path) };
    return audioOf.samples;
  };
  for (const [index, { clip, copy }] of jobs.entries()) {
    let augmentation = 'none';
    let params: MixParameters | null = null;
    let ambienceGainDb: number | null = null;
    if (copy >= 0 && clip.labelling === 'ambience') {
      ambienceGainDb = drawAmbienceGain(options.seed, clip.sha256, copy);
      augmentation = `gain1:${ambienceGainDb.toFixed(2)}`;
    } else if (copy >= 0) {
      // The clip's length decides the parameters; it is needed anyway when the cache misses.
      const samples = await clipAudio(clip);
      params = drawMix(options.seed, clip.sha256, copy, samples.length, ambienceInfo);
      augmentation = mixKey(params);
    }
    const path = cacheDir ? cachePath(cacheDir, clip.sha256, embedder.modelSha256, hopFrames, augmentation) : null;
    let features = path ? readCache(path) : undefined;
    const fromCache = features !== undefined;
    if (!features) {
      let audio = await clipAudio(clip);
      let eventOnly = audio;
      if (params) ({ mix: audio, eventOnly } = mixIntoAmbience(audio, await ambienceOf(params.ambienceSha256), params));
      if (ambienceGainDb !== null) {
        const gain = 10 ** (ambienceGainDb / 20);
        audio = audio.map((x) => x * gain);
        eventOnly = audio;
      }
      let patches;
      try {
        patches = await embedder.embed(audio, hopFrames);
      } catch (error) {
        if (error instanceof EarshotError) throw new EarshotError(`${clip.path}: ${error.message}`, error.exitCode, { cause: error });
        throw error;
      }
      const windows = patches.length;
      const scoreSize = patches[0]?.scores.length ?? 0;
      const embeddingSize = patches[0]?.embedding.length ?? 0;
      const scores = new Float32Array(windows * scoreSize);
      const embeddings = new Float32Array(windows * embeddingSize);
      const startSamples = new Int32Array(windows);
      const dbfs = new Float32Array(windows);
      patches.forEach((p, i) => {
        scores.set(p.scores, i * scoreSize);
        embeddings.set(p.embedding, i * embeddingSize);
        startSamples[i] = p.startSample;
        dbfs[i] = windowDbfs(eventOnly, p.startSample);
      });
      features = { windows, startSamples, dbfs, scores, scoreSize, embeddings, embeddingSize };
      if (path) writeCache(path, features);
      computed += 1;
    } else {
      cachedCount += 1;
    }
    items.push({ ...features, clip, augmentation, shiftSamples: params?.shiftSamples ?? 0 });
    options.onClip?.(index + 1, jobs.length, fromCache);
  }
  return { items, computed, cached: cachedCount };
}
