/**
 * The YAMNet / VGGish log-mel front end, streaming. Port of YAMNet's `features.py`
 * (`waveform_to_log_mel_spectrogram_patches`, tensorflow/models research/audioset/yamnet), which
 * uses tf.signal (`stft`, `linear_to_mel_weight_matrix`); VGGish's `mel_features.py` is the numpy
 * equivalent. Checked against ../shared/golden/logmel (a float64 reference) in
 * test/frontend-golden.test.ts.
 */
import FFT from 'fft.js';

import { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES, MEL_BANDS, SAMPLE_RATE } from '../constants.js';
import { melFilterbank, sparseMelBands, type SparseMelBands } from './mel.js';

export { hzToMel, melFilterbank, type MelFilterbankOptions } from './mel.js';

/** Sample rate the front end expects, in Hz (YAMNet's 16 kHz). */
export const FRONTEND_SAMPLE_RATE = SAMPLE_RATE;
export { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES } from '../constants.js';
/** FFT length in samples: the frame zero-padded to the next power of two, as tf.signal.stft does. */
export const FFT_LENGTH = 512;
/** Linear spectrum bins kept from the real FFT: `FFT_LENGTH / 2 + 1` = 257 (DC..Nyquist). */
export const SPECTRUM_BINS = FFT_LENGTH / 2 + 1;
/** YAMNet's log offset (`log_offset` in its params.py). The ST YAMNet-256 models use 1e-4. */
export const YAMNET_LOG_OFFSET = 0.001;

/** Options of {@link LogMelFrontEnd}; the defaults are YAMNet's. */
export interface LogMelOptions {
  /**
   * Added before the natural log: frames are `ln(mel + logOffset)`. Default 0.001 (YAMNet).
   * `null` emits linear mel magnitudes instead, so one front end can serve several models with
   * different offsets via {@link applyLogOffset}.
   */
  logOffset?: number | null;
  /** Lower edge of the lowest mel band in Hz. Default 125. */
  fMinHz?: number;
  /** Upper edge of the highest mel band in Hz. Default 7500 (≤ 8000, the Nyquist frequency). */
  fMaxHz?: number;
  /** Number of mel bands per frame. Default 64. */
  melBands?: number;
}

/**
 * Frames produced by one {@link LogMelFrontEnd.push}: `count` consecutive frames starting at the
 * absolute frame index `firstFrame` (frame i covers stream samples `[160 i, 160 i + 400)`).
 * `data` is `count × melBands` float32, row-major (frame by frame), owned by the caller.
 * When `count` is 0, `firstFrame` is the index the next frame will have.
 */
export interface FrameBatch {
  readonly firstFrame: number;
  readonly count: number;
  readonly data: Float32Array;
}

/** Absolute index of the first stream sample of frame `frame`: `160 · frame`. */
export function frameStartSample(frame: number): number {
  return FRAME_HOP_SAMPLES * frame;
}

/**
 * Number of whole frames in `samples` samples (no padding, as tf.signal.frame with
 * `pad_end=False`): 0 below 400 samples, else `1 + ⌊(samples − 400) / 160⌋`.
 */
export function frameCountForSamples(samples: number): number {
  return samples < FRAME_LENGTH_SAMPLES ? 0 : Math.floor((samples - FRAME_LENGTH_SAMPLES) / FRAME_HOP_SAMPLES) + 1;
}

/**
 * `out[i] = ln(linear[i] + offset)`, computed in float64 and stored as float32: the log step of
 * the front end for a caller that asked for linear mel (`logOffset: null`). `out` may be
 * `linear` itself. The result can differ from the front end's own log output by float32 rounding
 * of the linear value (≤ 1e-7 relative), far below the 2e-3 golden tolerance.
 *
 * @returns `out` (a new array of `linear.length` when omitted).
 * @throws RangeError when offset is not a positive finite number or `out` has another length.
 */
export function applyLogOffset(linear: Float32Array, offset: number, out?: Float32Array): Float32Array {
  checkLogOffset(offset);
  const target = out ?? new Float32Array(linear.length);
  if (target.length !== linear.length) {
    throw new RangeError(`applyLogOffset: out has ${target.length} values, linear has ${linear.length}`);
  }
  for (let i = 0; i < linear.length; i++) target[i] = Math.log(linear[i] + offset);
  return target;
}

function checkLogOffset(offset: number): void {
  if (!(offset > 0) || !Number.isFinite(offset)) {
    throw new RangeError(`logOffset must be a positive finite number (or null for linear mel), got ${offset}`);
  }
}

// Shared by every empty result: zero-length, so nobody can write into it.
const NO_FRAMES = new Float32Array(0);

/**
 * Streaming log-mel front end: 16 kHz mono float samples in, YAMNet log-mel frames out.
 *
 * Per frame: 400 samples × periodic Hann (`0.5 − 0.5 cos(2πn/400)`, tf.signal.hann_window with
 * periodic=True), zero-padded to 512, real FFT (fft.js), magnitude (not power) of bins 0..256,
 * × the HTK mel matrix of {@link melFilterbank}, then `ln(mel + logOffset)`. Arithmetic is float64
 * up to the stored float32 value.
 *
 * Streaming: {@link push} takes chunks of any length, keeps the < 400 samples that do not yet
 * complete a frame, and computes every frame exactly once, so the output does not depend on how
 * the stream was chunked (bit for bit). Steady state allocates only the returned batch.
 */
export class LogMelFrontEnd {
  /** `ln(mel + logOffset)`, or null when the front end emits linear mel magnitudes. */
  readonly logOffset: number | null;
  /** Mel bands per frame (row length of every batch). */
  readonly melBands: number;
  /** Mel range in Hz. */
  readonly fMinHz: number;
  readonly fMaxHz: number;

  private readonly fft: FFT;
  private readonly window = new Float64Array(FRAME_LENGTH_SAMPLES);
  // Tail of FFT_LENGTH − FRAME_LENGTH_SAMPLES stays zero forever: that is the zero padding.
  private readonly fftIn = new Float64Array(FFT_LENGTH);
  private readonly fftOut = new Float64Array(2 * FFT_LENGTH);
  private readonly magnitude = new Float64Array(SPECTRUM_BINS);
  private readonly mel: SparseMelBands;
  // Stream samples from the start of the next frame onwards (< FRAME_LENGTH_SAMPLES of them).
  private readonly carry = new Float32Array(FRAME_LENGTH_SAMPLES);
  private carryLength = 0;
  private frameIndex = 0;

  /**
   * @param options see {@link LogMelOptions}; defaults give YAMNet's front end.
   * @throws RangeError on a logOffset that is neither null nor positive, a non-positive or
   *   non-integer melBands, or a mel range outside `0 ≤ fMinHz < fMaxHz ≤ 8000`.
   */
  constructor(options: LogMelOptions = {}) {
    const { logOffset = YAMNET_LOG_OFFSET, fMinHz = 125, fMaxHz = 7500, melBands = MEL_BANDS } = options;
    if (logOffset !== null) checkLogOffset(logOffset);
    this.logOffset = logOffset;
    this.melBands = melBands;
    this.fMinHz = fMinHz;
    this.fMaxHz = fMaxHz;
    const dense = melFilterbank({
      melBands,
      spectrumBins: SPECTRUM_BINS,
      sampleRateHz: FRONTEND_SAMPLE_RATE,
      fMinHz,
      fMaxHz,
    });
    this.mel = sparseMelBands(dense, SPECTRUM_BINS, melBands);
    for (let n = 0; n < FRAME_LENGTH_SAMPLES; n++) {
      this.window[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / FRAME_LENGTH_SAMPLES);
    }
    this.fft = new FFT(FFT_LENGTH);
  }

  /** Absolute index of the next frame {@link push} will emit (= frames emitted since reset). */
  get nextFrame(): number {
    return this.frameIndex;
  }

  /**
   * Appends `samples` (16 kHz mono float, −1..1, any length including 0) to the stream and
   * returns every frame they complete, in order.
   *
   * @returns a fresh {@link FrameBatch}; `count` may be 0.
   * @throws TypeError when `samples` is not a Float32Array.
   */
  push(samples: Float32Array): FrameBatch {
    if (!(samples instanceof Float32Array)) {
      throw new TypeError('LogMelFrontEnd.push: samples must be a Float32Array');
    }
    const firstFrame = this.frameIndex;
    const available = this.carryLength + samples.length;
    const count = frameCountForSamples(available);
    if (count === 0) {
      this.carry.set(samples, this.carryLength);
      this.carryLength = available;
      return { firstFrame, count: 0, data: NO_FRAMES };
    }

    const bands = this.melBands;
    const data = new Float32Array(count * bands);
    for (let f = 0; f < count; f++) {
      this.computeFrame(samples, f * FRAME_HOP_SAMPLES, data, f * bands);
    }

    // Keep what the next frame starts with: always < 400 samples, so the copy is bounded.
    const consumed = count * FRAME_HOP_SAMPLES;
    const remaining = available - consumed;
    const carry = this.carry;
    if (consumed < this.carryLength) {
      carry.copyWithin(0, consumed, this.carryLength);
      carry.set(samples, this.carryLength - consumed);
    } else {
      const from = consumed - this.carryLength;
      for (let i = 0; i < remaining; i++) carry[i] = samples[from + i];
    }
    this.carryLength = remaining;
    this.frameIndex = firstFrame + count;
    return { firstFrame, count, data };
  }

  /** Forgets buffered samples and restarts frame numbering at 0 (e.g. a new stream). */
  reset(): void {
    this.carryLength = 0;
    this.frameIndex = 0;
  }

  /**
   * One frame: the 400 samples at offset `start` of (carry ++ samples), written as `melBands`
   * float32 values at `out[outOffset]`.
   */
  private computeFrame(samples: Float32Array, start: number, out: Float32Array, outOffset: number): void {
    const input = this.fftIn;
    const window = this.window;
    const carry = this.carry;
    const carryLength = this.carryLength;

    let n = 0;
    const fromCarry = Math.min(FRAME_LENGTH_SAMPLES, Math.max(0, carryLength - start));
    for (; n < fromCarry; n++) input[n] = window[n] * carry[start + n];
    const shift = start - carryLength;
    for (; n < FRAME_LENGTH_SAMPLES; n++) input[n] = window[n] * samples[shift + n];

    // realTransform fills complex bins 0..FFT_LENGTH/2 (DC..Nyquist inclusive), all we need.
    const spectrum = this.fftOut;
    this.fft.realTransform(spectrum, input);

    const mel = this.mel;
    const magnitude = this.magnitude;
    for (let k = mel.minBin; k < mel.endBin; k++) {
      const re = spectrum[2 * k];
      const im = spectrum[2 * k + 1];
      magnitude[k] = Math.sqrt(re * re + im * im);
    }

    const { firstBin, binCount, offset, weights } = mel;
    const logOffset = this.logOffset;
    for (let b = 0; b < mel.melBands; b++) {
      let sum = 0;
      const k0 = firstBin[b];
      const w0 = offset[b];
      const len = binCount[b];
      for (let j = 0; j < len; j++) sum += weights[w0 + j] * magnitude[k0 + j];
      out[outOffset + b] = logOffset === null ? sum : Math.log(sum + logOffset);
    }
  }
}
