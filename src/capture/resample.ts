/**
 * Streaming sample-rate conversion to the pipeline rate (16 kHz), using libsamplerate's
 * band-limited sinc converter (Erik de Castro Lopo, "Secret Rabbit Code"; J. O. Smith's
 * bandlimited interpolation) through `@alexanderolsen/libsamplerate-js`, a JavaScript build of
 * the C library.
 *
 * That package's `full()` calls `src_process` on one persistent SRC_STATE, so filter history is
 * carried across calls and a stream can be fed chunk by chunk; its output is time-aligned with
 * the input (an impulse at input time t comes out at output time t), but the last half filter
 * length of input is held back until more input arrives. The package never sets
 * `end_of_input`, so {@link Resampler.flush} drains that tail itself by feeding zeros (what
 * libsamplerate does internally at end of input) and cuts the output at the exact length.
 */
import type libsamplerate from '@alexanderolsen/libsamplerate-js';
import { SAMPLE_RATE } from '../constants.js';

/** A resampler from one input rate to {@link SAMPLE_RATE}, fed in pieces. */
export interface Resampler {
  /** Input rate in Hz. */
  readonly inputRate: number;
  /** Output rate in Hz (always {@link SAMPLE_RATE}). */
  readonly outputRate: number;
  /** Channels per frame; input and output are interleaved frames. */
  readonly channels: number;
  /**
   * Converts the next piece of the stream.
   *
   * @param input interleaved float32 frames at `inputRate` (length a multiple of `channels`).
   * @returns interleaved frames at 16 kHz: a new array, possibly empty; because the filter looks
   *   ahead, output lags input by a few milliseconds until {@link flush}.
   * @throws RangeError when `input.length` is not a multiple of `channels`; Error after flush/destroy.
   */
  process(input: Float32Array): Float32Array;
  /**
   * Ends the stream and returns the held-back tail, so that the total output over all calls is
   * exactly `ceil(totalInputFrames × 16000 / inputRate)` frames (every output instant that falls
   * inside the input's span). Later `process`/`flush` calls throw.
   */
  flush(): Float32Array;
  /** Releases the converter. Idempotent; the resampler is unusable afterwards. */
  destroy(): void;
}

/** Options for {@link createResampler}. */
export interface ResamplerOptions {
  /**
   * libsamplerate converter. `'best'` (default; SRC_SINC_BEST_QUALITY) is flat (±0.01 dB) up to
   * 7.5 kHz, the top edge of the front end's highest mel band, and costs about 58 ms of CPU per
   * second of 44.1 kHz mono here. `'medium'` (SRC_SINC_MEDIUM_QUALITY) costs about 17 ms but
   * rolls off early: −2.1 dB at 7.2 kHz, −13 dB at 7.5 kHz, which dulls that band (glass,
   * hiss); pick it for bulk evaluation of high-rate files when speed matters more. Both reject
   * aliases by > 120 dB from 8.5 kHz up (measured with 44.1 kHz sines).
   */
  readonly quality?: 'medium' | 'best';
}

/** libsamplerate-js refuses rates outside this range. */
const MAX_INPUT_RATE = 192000;
/**
 * Input frames per call into the converter: keeps each call far below the package's 4 MB
 * transfer buffer, past which it switches to a chunking path of its own.
 */
const MAX_FRAMES_PER_CALL = 65536;
/** Safety bound on the zero-feeding loop in flush; the longest filter needs well under 1 s. */
const MAX_FLUSH_SECONDS = 4;

/**
 * Creates a streaming resampler from `inputRate` to 16 kHz.
 *
 * When `inputRate` is already 16000 the resampler is an exact pass-through (copies of the input
 * samples, no filtering).
 *
 * @param inputRate input sample rate in Hz, an integer in 1..192000.
 * @param channels interleaved channels per frame, 1..128 (default 1).
 * @throws RangeError for a rate or channel count outside those ranges.
 */
export async function createResampler(inputRate: number, channels = 1, options: ResamplerOptions = {}): Promise<Resampler> {
  if (!Number.isInteger(inputRate) || inputRate < 1 || inputRate > MAX_INPUT_RATE) {
    throw new RangeError(`resampler input rate must be an integer from 1 to ${MAX_INPUT_RATE} Hz, got ${inputRate}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 128) {
    throw new RangeError(`resampler channel count must be an integer from 1 to 128, got ${channels}`);
  }
  if (inputRate === SAMPLE_RATE) return new PassThroughResampler(channels);
  // Loaded on first use: a 2 MB script (its WebAssembly inline) that 16 kHz input never needs (issue 23).
  const { create, ConverterType } = (await import('@alexanderolsen/libsamplerate-js')).default;
  const converterType = options.quality === 'medium' ? ConverterType.SRC_SINC_MEDIUM_QUALITY : ConverterType.SRC_SINC_BEST_QUALITY;
  const converter = await create(channels, inputRate, SAMPLE_RATE, { converterType });
  return new SincResampler(converter, inputRate, channels);
}

type Converter = Awaited<ReturnType<(typeof libsamplerate)['create']>>;

abstract class StreamState {
  protected finished = false;
  protected destroyed = false;

  constructor(readonly channels: number) {}

  protected checkInput(input: Float32Array): void {
    if (this.destroyed) throw new Error('resampler used after destroy()');
    if (this.finished) throw new Error('resampler used after flush()');
    if (input.length % this.channels !== 0) {
      throw new RangeError(`resampler input has ${input.length} samples, not a multiple of ${this.channels} channels`);
    }
  }
}

class PassThroughResampler extends StreamState implements Resampler {
  readonly inputRate = SAMPLE_RATE;
  readonly outputRate = SAMPLE_RATE;

  process(input: Float32Array): Float32Array {
    this.checkInput(input);
    // A copy, because capture drivers reuse their buffers and the caller may keep ours.
    return input.slice();
  }

  flush(): Float32Array {
    this.checkInput(new Float32Array(0));
    this.finished = true;
    return new Float32Array(0);
  }

  destroy(): void {
    this.destroyed = true;
  }
}

class SincResampler extends StreamState implements Resampler {
  readonly outputRate = SAMPLE_RATE;
  private inputFrames = 0;
  private outputFrames = 0;

  constructor(
    private readonly converter: Converter,
    readonly inputRate: number,
    channels: number,
  ) {
    super(channels);
  }

  process(input: Float32Array): Float32Array {
    this.checkInput(input);
    this.inputFrames += input.length / this.channels;
    const pieces: Float32Array[] = [];
    const step = MAX_FRAMES_PER_CALL * this.channels;
    for (let offset = 0; offset < input.length; offset += step) {
      pieces.push(this.converter.full(input.subarray(offset, offset + step)));
    }
    const output = concat(pieces);
    this.outputFrames += output.length / this.channels;
    return output;
  }

  flush(): Float32Array {
    this.checkInput(new Float32Array(0));
    this.finished = true;
    // Integer arithmetic first so that e.g. 44100 frames at 44.1 kHz give exactly 16000.
    const targetFrames = Math.ceil((this.inputFrames * SAMPLE_RATE) / this.inputRate);
    const missingFrames = targetFrames - this.outputFrames;
    if (missingFrames <= 0) return new Float32Array(0);

    const zeroBlock = new Float32Array(Math.ceil(this.inputRate / 10) * this.channels);
    const pieces: Float32Array[] = [];
    let produced = 0;
    for (let fed = 0; produced < missingFrames; fed += zeroBlock.length / this.channels) {
      if (fed > this.inputRate * MAX_FLUSH_SECONDS) {
        throw new Error(`resampler flush produced ${produced} of ${missingFrames} frames after ${MAX_FLUSH_SECONDS} s of padding`);
      }
      const piece = this.converter.full(zeroBlock);
      pieces.push(piece);
      produced += piece.length / this.channels;
    }
    this.outputFrames = targetFrames;
    return concat(pieces).slice(0, missingFrames * this.channels);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.converter.destroy();
  }
}

function concat(pieces: readonly Float32Array[]): Float32Array {
  if (pieces.length === 1) return pieces[0]!;
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const result = new Float32Array(total);
  let offset = 0;
  for (const piece of pieces) {
    result.set(piece, offset);
    offset += piece.length;
  }
  return result;
}
