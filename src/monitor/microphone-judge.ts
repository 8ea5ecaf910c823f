/**
 * Judges measured minutes ({@link MinuteMeasures}) against absolute bounds (clipping, DC offset,
 * digital silence) and against the node's own baseline (noise floor, spectral tilt), and raises or
 * clears one `microphone` problem per measure after enough consecutive minutes. Pure: persistence
 * (src/store/microphone-store.ts), logging and publishing are the caller's (src/service/microphone-health.ts).
 *
 * Baseline statistic: per measure, the median of the last `baseline_days` of normal minutes and
 * their median absolute deviation (MAD); σ̂ = 1.4826 · MAD is the robust estimate of a standard
 * deviation for normal data (Rousseeuw & Croux 1993). A value is out of bounds when
 * `|x − median| > max(deviation_db, deviation_mads · σ̂)`: the dB bound keeps a very steady room
 * (tiny MAD) from raising on ordinary variation, σ̂ widens it for a room that varies a lot. The
 * value judged for a raise is the median of the measure over the last `raise_after_minutes`.
 * Only minutes in bounds on every measure join the baseline, so a fault does not teach the
 * baseline that it is normal.
 */
import type { MicrophoneHealthConfig } from '../config/microphone.js';
import { median, type MinuteMeasures } from './microphone-meter.js';

/** The measures judged, by name (the names of health JSON, /metrics and logs). */
export type MicrophoneMeasure = 'noise_floor' | 'tilt' | 'clipping' | 'dc_offset' | 'digital_silence';

/** Baseline statistic of one measure. */
export interface BaselineStat {
  /** Minutes in the baseline. */
  minutes: number;
  median: number | null;
  /** σ̂ = 1.4826 · MAD, or null without minutes. */
  sigma: number | null;
}

/** One raised measure. */
export interface RaisedMeasure {
  measure: MicrophoneMeasure;
  /** One phrase, e.g. `noise floor -25.1 dBFS, 21.0 dB above its baseline (-46.1 dBFS)`. */
  detail: string;
  /** Stream minute when it was raised, and minutes out of bounds when raised. */
  raisedAtMinute: number;
}

/** What one minute changed. */
export interface MinuteVerdict {
  /** false when the minute had less than half its audio (not judged, not added to the baseline). */
  judged: boolean;
  /** Measures out of bounds in this minute (with a phrase each). */
  out: Partial<Record<MicrophoneMeasure, string>>;
  /** Whether the minute joined the baseline. */
  inBaseline: boolean;
  raised: RaisedMeasure[];
  cleared: MicrophoneMeasure[];
}

interface MeasureState {
  /** The measure's values in its last judged minutes (at most max(raise_after, clear_after)). */
  recent: number[];
  raised: RaisedMeasure | null;
}

const NAMES: readonly MicrophoneMeasure[] = ['noise_floor', 'tilt', 'clipping', 'dc_offset', 'digital_silence'];

/** A bounded window of baseline values with median and σ̂. */
class BaselineWindow {
  private values: number[] = [];
  constructor(private readonly capacity: number) {}
  push(value: number): void {
    this.values.push(value);
    if (this.values.length > this.capacity * 2) this.values = this.values.slice(-this.capacity);
  }
  stat(): BaselineStat {
    const window = this.values.length > this.capacity ? this.values.slice(-this.capacity) : this.values;
    if (window.length === 0) return { minutes: 0, median: null, sigma: null };
    const mid = median(Float64Array.from(window));
    const mad = median(Float64Array.from(window, (v) => Math.abs(v - mid)));
    return { minutes: window.length, median: mid, sigma: 1.4826 * mad };
  }
}

/** The judge of one node (one per daemon run; seed it with the persisted baseline). */
export class MicrophoneJudge {
  private readonly floor: BaselineWindow;
  private readonly tilt: BaselineWindow;
  private readonly states = new Map<MicrophoneMeasure, MeasureState>(NAMES.map((n) => [n, { recent: [], raised: null }]));
  private floorStat: BaselineStat = { minutes: 0, median: null, sigma: null };
  private tiltStat: BaselineStat = { minutes: 0, median: null, sigma: null };
  /** Minutes in the baseline window: `baseline_days · 86400 / minute_seconds`. */
  readonly windowMinutes: number;

  constructor(private readonly config: MicrophoneHealthConfig) {
    this.windowMinutes = Math.max(1, Math.round((config.baseline_days * 86400) / config.minute_seconds));
    this.floor = new BaselineWindow(this.windowMinutes);
    this.tilt = new BaselineWindow(this.windowMinutes);
  }

  /** Adds persisted baseline minutes (oldest first); a null value is skipped for that measure. */
  seed(rows: readonly { noiseFloorDbfs: number | null; tiltDb: number | null }[]): void {
    for (const row of rows) {
      if (row.noiseFloorDbfs !== null) this.floor.push(row.noiseFloorDbfs);
      if (row.tiltDb !== null) this.tilt.push(row.tiltDb);
    }
    this.floorStat = this.floor.stat();
    this.tiltStat = this.tilt.stat();
  }

  /** The baseline as it stands (median, σ̂, minutes) per relative measure. */
  get baseline(): { noise_floor: BaselineStat; tilt: BaselineStat } {
    return { noise_floor: this.floorStat, tilt: this.tiltStat };
  }

  /** Raised measures, in measure order. */
  get raised(): RaisedMeasure[] {
    return NAMES.map((n) => this.states.get(n)!.raised).filter((r): r is RaisedMeasure => r !== null);
  }

  /**
   * Judges one minute; updates the baseline and the raised measures. A measure is raised when the
   * median of its last `raise_after_minutes` judged minutes is out of bounds, and cleared when the
   * median of its last `clear_after_minutes` is back in bounds (a median, so a few ordinary
   * minutes inside a fault, or a few odd minutes in a normal day, change nothing). After a clear
   * the measure needs `raise_after_minutes` new minutes before it can be raised again.
   * @param minuteSamples samples in a whole minute (a minute with less than half of them heard is not judged)
   */
  observe(m: MinuteMeasures, minuteSamples: number): MinuteVerdict {
    const verdict: MinuteVerdict = { judged: false, out: {}, inBaseline: false, raised: [], cleared: [] };
    if (m.heardSamples * 2 < minuteSamples) return verdict;
    verdict.judged = true;
    const values = new Map<MicrophoneMeasure, number>([
      ['clipping', m.clippingRatio],
      ['dc_offset', m.dcOffset],
      ['digital_silence', m.constantRatio],
    ]);
    const silent = m.constantRatio > this.config.max_constant_ratio;
    // Digital silence explains a collapsed floor and tilt: judge those only on real audio, and
    // only once the baseline is long enough.
    if (!silent && m.noiseFloorDbfs !== null && this.floorStat.minutes >= this.config.baseline_min_minutes) values.set('noise_floor', m.noiseFloorDbfs);
    if (!silent && m.tiltDb !== null && this.tiltStat.minutes >= this.config.baseline_min_minutes) values.set('tilt', m.tiltDb);
    for (const [name, value] of values) {
      const phrase = this.outOfBounds(name, value, silent ? m.zeroRatio : undefined);
      if (phrase) verdict.out[name] = phrase;
      const state = this.states.get(name)!;
      state.recent.push(value);
      if (state.recent.length > this.historyLength) state.recent.shift();
      const c = this.config;
      if (!state.raised && state.recent.length >= c.raise_after_minutes) {
        const windowed = this.outOfBounds(name, median(Float64Array.from(state.recent.slice(-c.raise_after_minutes))), silent ? m.zeroRatio : undefined);
        if (windowed) {
          state.raised = { measure: name, detail: `${windowed} (median of the last ${c.raise_after_minutes} min)`, raisedAtMinute: m.minute };
          verdict.raised.push(state.raised);
        }
      } else if (state.raised && state.recent.length >= c.clear_after_minutes) {
        const windowed = this.outOfBounds(name, median(Float64Array.from(state.recent.slice(-c.clear_after_minutes))), silent ? m.zeroRatio : undefined);
        if (windowed) state.raised.detail = `${windowed} (median of the last ${c.clear_after_minutes} min)`;
        else {
          state.raised = null;
          state.recent = [];
          verdict.cleared.push(name);
        }
      }
    }
    if (Object.keys(verdict.out).length === 0) {
      verdict.inBaseline = true;
      if (m.noiseFloorDbfs !== null) this.floor.push(m.noiseFloorDbfs);
      if (m.tiltDb !== null) this.tilt.push(m.tiltDb);
      this.floorStat = this.floor.stat();
      this.tiltStat = this.tilt.stat();
    }
    return verdict;
  }

  private get historyLength(): number {
    return Math.max(this.config.raise_after_minutes, this.config.clear_after_minutes);
  }

  /**
   * One value of a measure against its bound.
   * @param zeroRatio for digital silence: the share of zeros (names the kind of silence)
   * @returns '' in bounds, else a phrase
   */
  private outOfBounds(name: MicrophoneMeasure, value: number, zeroRatio?: number): string {
    const c = this.config;
    switch (name) {
      case 'clipping':
        return value > c.max_clipping_ratio ? `clipping on ${pct(value)} of samples (bound ${pct(c.max_clipping_ratio)})` : '';
      case 'dc_offset':
        return Math.abs(value) > c.max_dc_offset ? `DC offset ${value.toFixed(4)} of full scale (bound ±${c.max_dc_offset})` : '';
      case 'digital_silence':
        if (value <= c.max_constant_ratio) return '';
        return zeroRatio !== undefined && zeroRatio * 2 >= value
          ? `digital silence: zeros on ${pct(zeroRatio)} of samples`
          : `stuck at a constant value on ${pct(value)} of samples`;
      case 'noise_floor':
        return this.relative('noise floor', value, 'dBFS', this.floorStat, c.noise_floor_deviation_db);
      case 'tilt':
        return this.relative('spectral tilt', value, 'dB', this.tiltStat, c.tilt_deviation_db);
    }
  }

  /** A relative measure against its baseline: '' in bounds, else the phrase. */
  private relative(name: string, value: number, unit: string, stat: BaselineStat, deviationDb: number): string {
    if (stat.median === null) return '';
    const bound = Math.max(deviationDb, this.config.deviation_mads * (stat.sigma ?? 0));
    const delta = value - stat.median;
    if (Math.abs(delta) <= bound) return '';
    return `${name} ${value.toFixed(1)} ${unit}, ${Math.abs(delta).toFixed(1)} dB ${delta > 0 ? 'above' : 'below'} its baseline (${stat.median.toFixed(1)} ${unit}, bound ±${bound.toFixed(1)} dB)`;
  }
}

function pct(ratio: number): string {
  return `${(ratio * 100).toPrecision(3)}%`;
}
