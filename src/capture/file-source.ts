/**
 * A WAV file as an audio source: decoded, resampled to 16 kHz mono and delivered as
 * {@link AudioChunk}s, either as fast as the consumer takes them (evaluation, batch runs) or at
 * the pace a microphone would deliver them (demos, soak tests of the live pipeline).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import { createResampler, type Resampler, type ResamplerOptions } from './resample.js';
import type { WavStream } from './decoded-audio.js';
import { openWavStream } from './wav.js';

/**
 * `'fast'`: chunks as fast as the consumer takes them, yielding to the event loop before each
 * one so that timers and sockets (MQTT) keep being served.
 * `'realtime'`: each chunk is delivered when a live microphone would have finished capturing it.
 */
export type Pacing = 'fast' | 'realtime';

/** Options for {@link FileSource}. */
export interface FileSourceOptions {
  /** Delivery pace (default `'fast'`). */
  readonly pacing?: Pacing;
  /** Samples per chunk at 16 kHz, a positive integer (default 1600 = 0.1 s); the last chunk may be shorter. */
  readonly chunkSamples?: number;
  /** Realtime speed-up factor, > 0 (default 1; 2 replays a 10 s file in 5 s). Ignored in `'fast'` pacing. */
  readonly speed?: number;
  /** Resampler quality for files not at 16 kHz (see {@link ResamplerOptions}). */
  readonly resamplerQuality?: ResamplerOptions['quality'];
  /** Play the file again from its start at its end, until {@link FileSource.stop} (default false): bench and demo setups. */
  readonly loop?: boolean;
}

/** What a {@link FileSource} plays, for logs. */
export interface FileSourceInfo {
  /** The file path as given. */
  readonly path: string;
  /** Duration in seconds. */
  readonly durationSeconds: number;
  /** The file's own sample rate in Hz. */
  readonly originalSampleRate: number;
  /** The file's channel count (delivered audio is their average). */
  readonly originalChannels: number;
  /** The file's encoding, e.g. `"24-bit signed PCM (extensible)"`. */
  readonly originalEncoding: string;
  /** Samples at 16 kHz that a full pass delivers: `ceil(frames × 16000 / originalSampleRate)`. */
  readonly samples: number;
}

/** Default chunk: 0.1 s at 16 kHz. */
export const DEFAULT_CHUNK_SAMPLES = 1600;

/**
 * Plays one WAV file once. Lifecycle: `new FileSource(path, options)` → optional
 * `await open()` (decodes, returns {@link FileSourceInfo}) → iterate `chunks()` → `stop()` at any
 * time ends the iteration at the next chunk boundary (within one chunk, and at once if it is
 * waiting in realtime pacing).
 *
 * Chunks carry 16 kHz mono float32 samples; `startSample` starts at 0 and each chunk starts where
 * the previous one ended; every chunk holds `chunkSamples` samples except possibly the last.
 *
 * @example
 *   const source = new FileSource('scene.wav', { pacing: 'realtime' });
 *   log.info(await source.open());
 *   for await (const chunk of source.chunks()) pipeline.push(chunk);
 */
export class FileSource {
  readonly pacing: Pacing;
  readonly chunkSamples: number;
  readonly speed: number;
  readonly loop: boolean;
  private readonly resamplerQuality: ResamplerOptions['quality'];
  private decoding: Promise<WavStream> | undefined;
  private decodedInfo: FileSourceInfo | undefined;
  private started = false;
  private stopRequested = false;
  private readonly stopSignal = new AbortController();

  /**
   * Validates the options; reads nothing yet.
   *
   * @param path WAV file path (any format {@link readWavAsync} accepts).
   * @throws RangeError for a `chunkSamples` that is not a positive integer or a `speed` that is
   *   not a positive finite number.
   */
  constructor(
    readonly path: string,
    options: FileSourceOptions = {},
  ) {
    this.pacing = options.pacing ?? 'fast';
    this.chunkSamples = options.chunkSamples ?? DEFAULT_CHUNK_SAMPLES;
    this.speed = options.speed ?? 1;
    this.loop = options.loop ?? false;
    this.resamplerQuality = options.resamplerQuality;
    if (!Number.isInteger(this.chunkSamples) || this.chunkSamples < 1) {
      throw new RangeError(`chunkSamples must be a positive integer, got ${this.chunkSamples}`);
    }
    if (!Number.isFinite(this.speed) || this.speed <= 0) {
      throw new RangeError(`speed must be a positive number, got ${this.speed}`);
    }
    if (this.pacing !== 'fast' && this.pacing !== 'realtime') {
      throw new RangeError(`pacing must be 'fast' or 'realtime', got ${String(this.pacing)}`);
    }
  }

  /** The file's duration and format, once {@link open} has resolved; otherwise undefined. */
  get info(): FileSourceInfo | undefined {
    return this.decodedInfo;
  }

  /** True once {@link stop} has been called. */
  get stopped(): boolean {
    return this.stopRequested;
  }

  /**
   * Reads and decodes the file (once; later calls return the same result).
   *
   * @throws EarshotError (exit code 2) naming the file when it cannot be read or decoded.
   */
  async open(): Promise<FileSourceInfo> {
    if (this.decodedInfo === undefined) await this.decode();
    return this.decodedInfo!;
  }

  /**
   * Delivers the file as 16 kHz chunks, opening it first if needed. Single use: the source plays
   * its file once.
   *
   * @throws EarshotError as {@link open}; Error when called a second time.
   */
  async *chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    if (this.started) throw new Error(`${this.path}: FileSource.chunks() can only be iterated once`);
    this.started = true;
    let stream = await this.decode();
    this.decoding = undefined;
    // Deadlines are absolute offsets from one monotonic origin, so timer lateness on one chunk
    // is absorbed by the next wait instead of accumulating.
    const origin = performance.now();
    const millisecondsPerSample = 1000 / (SAMPLE_RATE * this.speed);
    // With `loop`, each pass continues the stream: its chunks start where the previous pass ended.
    let offset = 0;
    for (;;) {
      let end = offset;
      try {
        if (this.stopRequested) return;
        const resampler = await createResampler(stream.info.sampleRate, 1, { quality: this.resamplerQuality });
        try {
          for await (const piece of resampledChunks(stream, resampler, this.chunkSamples)) {
            const chunk = offset === 0 ? piece : { startSample: piece.startSample + offset, samples: piece.samples };
            end = chunk.startSample + chunk.samples.length;
            if (this.pacing === 'realtime') {
              const deadline = origin + end * millisecondsPerSample;
              if (!(await this.waitUntil(deadline))) return;
            } else {
              await yieldToEventLoop();
            }
            if (this.stopRequested) return;
            yield chunk;
            if (this.stopRequested) return;
          }
        } finally {
          resampler.destroy();
        }
      } finally {
        await stream.close();
      }
      if (!this.loop || this.stopRequested) return;
      offset = end;
      stream = await openWavStream(this.path);
    }
  }

  /**
   * Ends the iteration: the pending `next()` of {@link chunks} resolves as done (a realtime wait
   * is cut short), and no further chunk is delivered. Idempotent; safe before `chunks()`.
   */
  stop(): void {
    this.stopRequested = true;
    this.stopSignal.abort();
    // Opened but never played (doctor, a failed start): close the file now.
    if (!this.started)
      void this.decoding?.then(
        (stream) => stream.close(),
        () => undefined,
      );
  }

  /** Opens the file and checks its header (once): the audio is read block by block as it plays, never whole. */
  private decode(): Promise<WavStream> {
    this.decoding ??= openWavStream(this.path).then((stream) => {
      const decoded = stream.info;
      this.decodedInfo = {
        path: this.path,
        durationSeconds: decoded.durationSeconds,
        originalSampleRate: decoded.sampleRate,
        originalChannels: decoded.channels,
        originalEncoding: decoded.encoding,
        samples: Math.ceil((decoded.frames * SAMPLE_RATE) / decoded.sampleRate),
      };
      return stream;
    });
    return this.decoding;
  }

  /** Resolves true at `deadline` (performance.now() milliseconds), false if stopped first. */
  private async waitUntil(deadline: number): Promise<boolean> {
    const delay = deadline - performance.now();
    try {
      // A late consumer still gets a turn of the event loop between chunks.
      if (delay > 0) await sleep(delay, undefined, { signal: this.stopSignal.signal });
      else await yieldToEventLoop(undefined, { signal: this.stopSignal.signal });
      return true;
    } catch (error) {
      if (this.stopSignal.signal.aborted) return false;
      throw error;
    }
  }
}

/**
 * Reads and resamples `input` block by block and cuts the 16 kHz output into chunks of exactly
 * `chunkSamples` (the last one shorter), with contiguous start indices from 0.
 */
async function* resampledChunks(input: WavStream, resampler: Resampler, chunkSamples: number): AsyncGenerator<AudioChunk> {
  // About one output chunk per resampler call, so memory stays at a chunk or two.
  const inputStep = Math.max(1, Math.ceil((chunkSamples * resampler.inputRate) / SAMPLE_RATE));
  let current = new Float32Array(chunkSamples);
  let filled = 0;
  let startSample = 0;
  let block = await input.read(inputStep);
  for (;;) {
    const next = block === null ? null : await input.read(inputStep);
    const atEnd = next === null;
    const output = resampler.process(block ?? new Float32Array(0));
    const pieces = atEnd ? [output, resampler.flush()] : [output];
    for (const piece of pieces) {
      let consumed = 0;
      while (consumed < piece.length) {
        const taken = Math.min(chunkSamples - filled, piece.length - consumed);
        current.set(piece.subarray(consumed, consumed + taken), filled);
        filled += taken;
        consumed += taken;
        if (filled === chunkSamples) {
          yield { startSample, samples: current };
          startSample += chunkSamples;
          current = new Float32Array(chunkSamples);
          filled = 0;
        }
      }
    }
    if (atEnd) break;
    block = next;
  }
  if (filled > 0) yield { startSample, samples: current.slice(0, filled) };
}
