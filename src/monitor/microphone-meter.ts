/**
 * Microphone health, per minute of audio: a pure, sample-exact calculator. It sees every
 * captured sample (16 kHz mono, −1..1, with absolute sample indices) and, when given them, the
 * log-mel frames the front end already computed, and closes one {@link MinuteMeasures} per minute
 * of audio time (sample index / 16 000, never the wall clock). What it measures, and why:
 *
 * - **Noise floor**: the 10th percentile (nearest rank) of the RMS level of the minute's
 *   non-overlapping 25 ms frames (400 samples, aligned to the absolute sample grid), in dBFS. 25 ms
 *   frames find the quiet moments between sounds (speech pauses, between footsteps), so the floor
 *   is the room and the microphone's self-noise, not the events; a muffled or dying microphone
 *   lowers it, a noisy one (failing preamp, interference, a drifting gain) raises it.
 * - **Spectral tilt**: per log-mel frame (25 ms every 10 ms, front end 0), `10 · log10(E_high /
 *   E_low)` with `E = Σ mel²` over the bands centred at or above {@link TILT_SPLIT_HZ} (high) and
 *   below it (low); the minute's value is the median over its frames, so a few loud events do not
 *   move it. A covered microphone loses the high bands first (a 1 kHz low-pass drops it by tens of dB).
 * - **Clipping ratio**: the fraction of samples with `|x| ≥ clipLevel` (default 0.999 of full scale).
 * - **DC offset**: the mean sample value (full scale = 1).
 * - **Digital silence**: the fraction of samples in runs of at least `constantRunSamples` identical
 *   consecutive values (a stuck converter) within the minute, and of those, runs of exact zeros.
 *
 * Levels follow src/pipeline/pipeline.ts `levels`: 20·log10(RMS), so a full-scale sine is −3.01 dBFS. An
 * all-zero frame is {@link SILENT_DBFS}. Samples lost in capture gaps are not measured: a frame
 * that a gap cuts is dropped, and constant runs never span a gap or a minute boundary.
 */
import { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES, MEL_BANDS, SAMPLE_RATE } from '../constants.js';
import { medianOfSorted, nearestRankOfSorted } from '../stats.js';

/** Level given to a frame of digital silence (RMS 0): a finite floor for baselines and gauges. */
export const SILENT_DBFS = -120;

/** Noise-floor frame length: 25 ms at 16 kHz (non-overlapping). */
export const FLOOR_FRAME_SAMPLES = 400;

/** The percentile of the frame levels that is the noise floor. */
export const FLOOR_PERCENTILE = 10;

/** Spectral tilt splits the mel bands at this frequency (Hz): band centres below it are "low". */
export const TILT_SPLIT_HZ = 1000;

/**
 * Log-mel frames whose summed linear mel magnitude is below this are left out of the tilt (a
 * frame of −60 dBFS white noise sums to about 0.5 on the YAMNet front end; digital silence to 0).
 */
export const TILT_MIN_MEL_SUM = 1e-4;

/** Added to both band energies so a frame with nothing on one side has a finite tilt (about ±100 dB at most). */
export const TILT_EPSILON = 1e-10;

/** Settings of {@link MicrophoneMeter}. */
export interface MeterOptions {
  /** Samples per minute of audio: 960 000 (60 s); a test may shorten it (a multiple of 400). */
  minuteSamples?: number;
  /** A sample clips when `|x| ≥ clipLevel` (full scale = 1). Default 0.999. */
  clipLevel?: number;
  /** Runs of this many identical consecutive samples or more count as digital silence. Default 160 (10 ms). */
  constantRunSamples?: number;
  /**
   * The log-mel frames handed to {@link MicrophoneMeter.addFrames}: their log offset (frames are
   * `ln(mel + logOffset)`) and the index of the first band centred at or above 1 kHz
   * ({@link tiltSplitBand}). Omit when no frames will come: tilt is then null.
   */
  frames?: { logOffset: number; melBands: number; splitBand: number };
}

/** One minute of audio, measured. */
export interface MinuteMeasures {
  /** Minute number from stream start (`⌊startSample / minuteSamples⌋`). */
  minute: number;
  /** First sample of the minute (absolute 16 kHz index). */
  startSample: number;
  /** Samples of the minute that were heard (fewer than a minute at the stream's end or after gaps). */
  heardSamples: number;
  /** 10th percentile of the 25 ms frame levels, dBFS (≥ {@link SILENT_DBFS}); null without one whole frame. */
  noiseFloorDbfs: number | null;
  /** Median per-frame spectral tilt, dB (high bands over low); null without frames above {@link TILT_MIN_MEL_SUM}. */
  tiltDb: number | null;
  /** Fraction of heard samples at or beyond the clip level (0..1). */
  clippingRatio: number;
  /** Mean sample value (full scale 1). */
  dcOffset: number;
  /** Fraction of heard samples in constant runs (zeros included), 0..1. */
  constantRatio: number;
  /** Fraction of heard samples in runs of exact zeros, 0..1 (≤ constantRatio). */
  zeroRatio: number;
}

/**
 * The mel band index where the "high" bands start: the first band whose centre is at or above
 * `splitHz`. Band edges are `melBands + 2` points evenly spaced in HTK mel (1127·ln(1 + f/700))
 * from `fMinHz` to `fMaxHz`, as in src/frontend/mel.ts; band b is centred on edge b + 1.
 * @returns 0..melBands (melBands when every centre is below `splitHz`)
 */
export function tiltSplitBand(fMinHz = 125, fMaxHz = 7500, melBands = MEL_BANDS, splitHz = TILT_SPLIT_HZ): number {
  const mel = (hz: number) => 1127 * Math.log1p(hz / 700);
  const low = mel(fMinHz);
  const step = (mel(fMaxHz) - low) / (melBands + 1);
  const split = mel(splitHz);
  for (let b = 0; b < melBands; b++) if (low + (b + 1) * step >= split) return b;
  return melBands;
}

/**
 * The value at percentile `p` (0 < p ≤ 100) of `values` by the nearest-rank method: the
 * `⌈p/100 · n⌉`-th smallest. Sorts `values` in place.
 * @returns NaN for an empty array
 */
export function nearestRank(values: Float64Array, p: number): number {
  return nearestRankOfSorted(values.sort(), p);
}

/** The median (mean of the two middle values for an even count). Sorts `values` in place; NaN when empty. */
export function median(values: Float64Array): number {
  return medianOfSorted(values.sort());
}

/** Per-minute sample accumulators. */
class SampleMinute {
  heard = 0;
  sum = 0;
  clipped = 0;
  constant = 0;
  zeros = 0;
  readonly frameLevels: number[] = [];
  constructor(readonly minute: number) {}
}

/**
 * Streams samples and log-mel frames in; closes minutes. Feed samples in order
 * ({@link addSamples}) and frames in order ({@link addFrames}); a minute is returned once the
 * samples, and the frames when frames are configured, have moved past it, or at {@link flush}.
 */
export class MicrophoneMeter {
  readonly minuteSamples: number;
  private readonly clipLevel: number;
  private readonly runMin: number;
  private readonly frames: MeterOptions['frames'];
  /** Next sample expected (end of the last chunk); −1 before the first. */
  private sampleEnd = -1;
  private current: SampleMinute | null = null;
  /** Partial 25 ms frame: its absolute index and sum of squares so far. */
  private floorFrame = -1;
  private floorFrameSum = 0;
  private floorFrameCount = 0;
  /** Current constant run (within the current minute, no gap): value and length. */
  private runValue = Number.NaN;
  private runLength = 0;
  /** Minutes whose samples are done, waiting for their frames. */
  private readonly doneSamples = new Map<number, Omit<MinuteMeasures, 'tiltDb'>>();
  /** Per-frame tilts per minute, and the start of the next log-mel frame expected (−1: none yet). */
  private readonly tilts = new Map<number, number[]>();
  private frameWatermark = -1;

  /** @throws RangeError when minuteSamples is not a positive multiple of 400 */
  constructor(options: MeterOptions = {}) {
    this.minuteSamples = options.minuteSamples ?? 60 * SAMPLE_RATE;
    if (!Number.isInteger(this.minuteSamples) || this.minuteSamples <= 0 || this.minuteSamples % FLOOR_FRAME_SAMPLES !== 0) {
      throw new RangeError(`minuteSamples must be a positive multiple of ${FLOOR_FRAME_SAMPLES}, got ${this.minuteSamples}`);
    }
    this.clipLevel = options.clipLevel ?? 0.999;
    this.runMin = options.constantRunSamples ?? 160;
    this.frames = options.frames;
  }

  /**
   * Adds captured samples. A chunk that starts after the previous one ended is a gap: the samples
   * in between are not counted as heard.
   * @param startSample absolute index of `samples[0]`
   * @returns the minutes this completes, in order
   * @throws RangeError when the chunk starts before the previous one ended
   */
  addSamples(startSample: number, samples: Float32Array): MinuteMeasures[] {
    if (this.sampleEnd >= 0 && startSample < this.sampleEnd) throw new RangeError(`samples out of order: ${startSample} < ${this.sampleEnd}`);
    if (startSample > this.sampleEnd) this.breakRun(true);
    const M = this.minuteSamples;
    for (let i = 0; i < samples.length; i++) {
      const at = startSample + i;
      const minute = Math.floor(at / M);
      let m = this.current;
      if (!m || m.minute !== minute) {
        if (m) this.closeSampleMinute(m);
        m = this.current = new SampleMinute(minute);
        this.breakRun(true);
      }
      const x = samples[i];
      m.heard += 1;
      m.sum += x;
      if (x >= this.clipLevel || x <= -this.clipLevel) m.clipped += 1;
      // 25 ms frame on the absolute grid.
      const frame = Math.floor(at / FLOOR_FRAME_SAMPLES);
      if (frame !== this.floorFrame) {
        this.floorFrame = frame;
        this.floorFrameSum = 0;
        this.floorFrameCount = at % FLOOR_FRAME_SAMPLES === 0 ? 0 : -Infinity; // a frame entered midway (after a gap) never completes
      }
      this.floorFrameSum += x * x;
      this.floorFrameCount += 1;
      if (this.floorFrameCount === FLOOR_FRAME_SAMPLES) m.frameLevels.push(levelDbfs(Math.sqrt(this.floorFrameSum / FLOOR_FRAME_SAMPLES)));
      // Constant runs: count a run's samples once it reaches the minimum length.
      if (x === this.runValue) {
        this.runLength += 1;
        if (this.runLength === this.runMin) this.countRun(m, this.runMin);
        else if (this.runLength > this.runMin) this.countRun(m, 1);
      } else {
        this.runValue = x;
        this.runLength = 1;
        if (this.runMin <= 1) this.countRun(m, 1);
      }
    }
    if (samples.length > 0) this.sampleEnd = startSample + samples.length;
    else if (this.sampleEnd < 0) this.sampleEnd = startSample;
    // The current minute is closed by the first sample of the next one, or by a chunk ending exactly on the boundary.
    if (this.current && this.sampleEnd >= (this.current.minute + 1) * M) {
      this.closeSampleMinute(this.current);
      this.current = null;
    }
    return this.ready(false);
  }

  /**
   * Adds log-mel frames (frames × melBands, row-major, values `ln(mel + logOffset)`), in order.
   * Frames already seen (patches overlap) must not be passed again; frames that reach past the
   * samples added so far (end-of-stream padding) are ignored.
   * @param firstStartSample absolute index of the first sample of the first frame
   * @returns the minutes this completes, in order
   */
  addFrames(firstStartSample: number, data: Float32Array, count: number): MinuteMeasures[] {
    const spec = this.frames;
    if (!spec) return [];
    const { logOffset, melBands, splitBand } = spec;
    for (let f = 0; f < count; f++) {
      const start = firstStartSample + f * FRAME_HOP_SAMPLES;
      if (start + FRAME_LENGTH_SAMPLES > this.sampleEnd) break;
      this.frameWatermark = Math.max(this.frameWatermark, start + 1);
      let low = 0;
      let high = 0;
      let sum = 0;
      const row = f * melBands;
      for (let b = 0; b < melBands; b++) {
        const linear = Math.max(0, Math.exp(data[row + b]) - logOffset);
        sum += linear;
        if (b < splitBand) low += linear * linear;
        else high += linear * linear;
      }
      if (sum < TILT_MIN_MEL_SUM) continue;
      const minute = Math.floor(start / this.minuteSamples);
      let list = this.tilts.get(minute);
      if (!list) {
        list = [];
        this.tilts.set(minute, list);
      }
      list.push(10 * Math.log10((high + TILT_EPSILON) / (low + TILT_EPSILON)));
    }
    return this.ready(false);
  }

  /** Closes every open minute (end of stream or shutdown) and returns them, in order. */
  flush(): MinuteMeasures[] {
    if (this.current) this.closeSampleMinute(this.current);
    this.current = null;
    this.breakRun(true);
    return this.ready(true);
  }

  private breakRun(resetFrame: boolean): void {
    this.runValue = Number.NaN;
    this.runLength = 0;
    if (resetFrame) {
      this.floorFrame = -1;
      this.floorFrameSum = 0;
      this.floorFrameCount = 0;
    }
  }

  private countRun(m: SampleMinute, n: number): void {
    m.constant += n;
    if (this.runValue === 0) m.zeros += n;
  }

  private closeSampleMinute(m: SampleMinute): void {
    const levels = Float64Array.from(m.frameLevels);
    const heard = Math.max(1, m.heard);
    this.doneSamples.set(m.minute, {
      minute: m.minute,
      startSample: m.minute * this.minuteSamples,
      heardSamples: m.heard,
      noiseFloorDbfs: levels.length ? nearestRank(levels, FLOOR_PERCENTILE) : null,
      clippingRatio: m.clipped / heard,
      dcOffset: m.sum / heard,
      constantRatio: m.constant / heard,
      zeroRatio: m.zeros / heard,
    });
  }

  /** Minutes whose samples are done and whose frames have moved past them (or all, at the end). */
  private ready(all: boolean): MinuteMeasures[] {
    const out: MinuteMeasures[] = [];
    const minutes = [...this.doneSamples.keys()].sort((a, b) => a - b);
    for (const minute of minutes) {
      // Frames come with patches, after their samples; a minute waits for them, but never more
      // than two minutes of audio (a pipeline that stopped delivering frames must not hold it).
      const framesDone = !this.frames || all || this.frameWatermark > (minute + 1) * this.minuteSamples || this.sampleEnd > (minute + 3) * this.minuteSamples;
      if (!framesDone) break;
      const base = this.doneSamples.get(minute)!;
      this.doneSamples.delete(minute);
      const tilts = this.tilts.get(minute);
      this.tilts.delete(minute);
      out.push({ ...base, tiltDb: tilts?.length ? median(Float64Array.from(tilts)) : null });
    }
    // Frames of minutes whose samples were never seen (cannot happen in order) are not kept.
    if (all) this.tilts.clear();
    return out;
  }
}

/** RMS → dBFS (20·log10), floored at {@link SILENT_DBFS}. */
export function levelDbfs(rms: number): number {
  return rms > 0 ? Math.max(SILENT_DBFS, 20 * Math.log10(rms)) : SILENT_DBFS;
}
