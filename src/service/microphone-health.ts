/**
 * The daemon's microphone health consumer (docs/microphone.md): feeds every captured chunk and
 * the log-mel frames of every patch (front end 0, no second FFT) to the per-minute
 * {@link MicrophoneMeter}, judges each minute ({@link MicrophoneJudge}) against the baseline
 * kept in SQLite ({@link MicrophoneStore}), logs one line when a measure is raised and one when
 * it clears, and tells the caller (MQTT) about every change. Never throws into the daemon: a
 * database write that fails (full disk) is logged once and the judging goes on in memory.
 */
import type Database from 'better-sqlite3';
import type { LiveStatus } from '../api/live-status.js';
import type { EarshotConfig } from '../config/schema.js';
import type { DaemonConsumer } from '../consumer.js';
import type { ModelManifest } from '../inference/manifest.js';
import type { Logger } from '../log.js';
import { MicrophoneJudge, type MicrophoneMeasure } from '../monitor/microphone-judge.js';
import { MicrophoneMeter, tiltSplitBand, type MinuteMeasures } from '../monitor/microphone-meter.js';
import type { MicrophoneHealthJson, MicrophoneMinuteJson, MicrophoneStatusSource } from '../monitor/microphone-status.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { MicrophoneStore } from '../store/microphone-store.js';
import type { MqttAlerts } from '../transport/mqtt-alerts.js';
import { FRAME_HOP_SAMPLES, MEL_BANDS, SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';

/** How {@link MicrophoneHealth} is set up. */
export interface MicrophoneHealthOptions {
  config: EarshotConfig;
  db: Database.Database;
  log: Logger;
  /** Of the run (events.stream_id), and its start (ms since the Unix epoch) for minute times. */
  streamId: string;
  streamStartMs: number;
  /** The models' inputs, primary first: front end 0 is the first log-mel model's (or YAMNet's). */
  modelInputs: readonly ModelManifest['input'][];
  /** Called after a measure was raised or cleared, with the new status. */
  onChange?: (status: MicrophoneHealthJson) => void;
}

/** One run's microphone health. */
export class MicrophoneHealth implements MicrophoneStatusSource {
  private readonly meter: MicrophoneMeter;
  private readonly judge: MicrophoneJudge;
  private readonly store: MicrophoneStore;
  private readonly log: Logger;
  private readonly settings: EarshotConfig['microphone_health'];
  private readonly since = new Map<MicrophoneMeasure, string>();
  private last: MicrophoneMinuteJson | null = null;
  /** Start sample of the next log-mel frame not yet passed to the meter (patches overlap). */
  private nextFrameStart = 0;
  private storeFailed = false;

  constructor(private readonly options: MicrophoneHealthOptions) {
    this.log = options.log.child({ component: 'microphone' });
    this.settings = options.config.microphone_health;
    const input = options.modelInputs.find((i) => i.kind === 'logmel_patch');
    const frontEnd =
      input && input.kind === 'logmel_patch'
        ? { logOffset: input.log_offset, fMin: input.f_min_hz, fMax: input.f_max_hz }
        : { logOffset: 0.001, fMin: 125, fMax: 7500 };
    this.meter = new MicrophoneMeter({
      minuteSamples: Math.round(this.settings.minute_seconds * 40) * 400,
      clipLevel: this.settings.clip_level,
      constantRunSamples: this.settings.constant_run_samples,
      frames: { logOffset: frontEnd.logOffset, melBands: MEL_BANDS, splitBand: tiltSplitBand(frontEnd.fMin, frontEnd.fMax, MEL_BANDS) },
    });
    this.judge = new MicrophoneJudge(this.settings);
    this.store = new MicrophoneStore(options.db);
  }

  /** Loads the persisted baseline (a read error is logged; the baseline then starts empty). */
  start(): void {
    try {
      this.judge.seed(this.store.baseline(this.judge.windowMinutes));
    } catch (error) {
      this.log.warn({ err: error as Error }, 'cannot read the baseline; starting a new one');
    }
    const b = this.judge.baseline;
    this.log.info({ baseline_minutes: b.noise_floor.minutes, noise_floor_dbfs: round(b.noise_floor.median), tilt_db: round(b.tilt.median) }, 'baseline loaded');
  }

  /** Feeds one captured chunk; call it before the chunk goes to the pipeline (its frames come after). */
  chunk(chunk: AudioChunk): void {
    this.take(this.meter.addSamples(chunk.startSample, chunk.samples));
  }

  /** Feeds one patch's frames (from `Pipeline.onPatch`: `report.patch`); only frames not seen before are used. */
  patch(patch: { readonly startSample: number; readonly frames: Float32Array }): void {
    const count = patch.frames.length / MEL_BANDS;
    const skip = Math.max(0, Math.ceil((this.nextFrameStart - patch.startSample) / FRAME_HOP_SAMPLES));
    if (skip >= count) return;
    const first = patch.startSample + skip * FRAME_HOP_SAMPLES;
    this.nextFrameStart = patch.startSample + count * FRAME_HOP_SAMPLES;
    this.take(this.meter.addFrames(first, patch.frames.subarray(skip * MEL_BANDS), count - skip));
  }

  /** Closes the last (partial) minute; a minute with less than half its audio is stored but not judged. */
  stop(): void {
    this.take(this.meter.flush());
  }

  /** The current figures, for `/healthz`, `/metrics` and the MQTT health message. */
  status(): MicrophoneHealthJson {
    const b = this.judge.baseline;
    const raised = this.judge.raised.map((r) => ({ measure: r.measure, detail: r.detail, since_utc: this.since.get(r.measure) ?? '' }));
    return {
      status: raised.length ? 'problem' : this.last ? 'ok' : 'measuring',
      last_minute: this.last,
      baseline: {
        minutes: b.noise_floor.minutes,
        min_minutes: this.settings.baseline_min_minutes,
        noise_floor_dbfs: round(b.noise_floor.median),
        noise_floor_sigma_db: round(b.noise_floor.sigma),
        tilt_db: round(b.tilt.median),
        tilt_sigma_db: round(b.tilt.sigma),
      },
      raised,
      problems: raised.map((r) => `microphone: ${r.detail}`),
    };
  }

  private take(minutes: MinuteMeasures[]): void {
    for (const m of minutes) {
      const verdict = this.judge.observe(m, this.meter.minuteSamples);
      const minuteUtc = new Date(this.options.streamStartMs + (m.startSample / SAMPLE_RATE) * 1000).toISOString();
      this.last = {
        minute_utc: minuteUtc,
        heard_s: round(m.heardSamples / SAMPLE_RATE, 3)!,
        noise_floor_dbfs: round(m.noiseFloorDbfs),
        tilt_db: round(m.tiltDb),
        clipping_ratio: Number(m.clippingRatio.toPrecision(4)),
        dc_offset: Number(m.dcOffset.toPrecision(4)),
        constant_ratio: Number(m.constantRatio.toPrecision(4)),
        zero_ratio: Number(m.zeroRatio.toPrecision(4)),
      };
      const out = Object.keys(verdict.out);
      this.log.debug({ ...this.last, judged: verdict.judged, out: out.length ? out : undefined }, 'microphone minute');
      if (!this.storeFailed) {
        try {
          this.store.add(
            m,
            { minuteUtc, streamId: this.options.streamId, startSeconds: m.startSample / SAMPLE_RATE, inBaseline: verdict.inBaseline, out },
            this.judge.windowMinutes,
          );
        } catch (error) {
          // Full disk or read-only database: judging goes on in memory; the baseline is not persisted.
          this.storeFailed = true;
          this.log.warn({ err: error as Error }, 'cannot store minutes; the baseline is kept in memory only');
        }
      }
      for (const r of verdict.raised) {
        this.since.set(r.measure, minuteUtc);
        this.log.warn(
          { measure: r.measure, minute_utc: minuteUtc, audio_s: round(m.startSample / SAMPLE_RATE + this.meter.minuteSamples / SAMPLE_RATE, 1) },
          `microphone problem: ${r.detail}`,
        );
      }
      for (const measure of verdict.cleared) {
        this.since.delete(measure);
        this.log.info({ measure, minute_utc: minuteUtc }, `microphone problem cleared: ${measure.replace('_', ' ')} back within bounds`);
      }
      if (verdict.raised.length || verdict.cleared.length) this.options.onChange?.(this.status());
    }
  }
}

function round(value: number | null, digits = 1): number | null {
  return value === null || !Number.isFinite(value) ? null : Number(value.toFixed(digits));
}

/**
 * The microphone health of a daemon run as a daemon consumer (src/consumer.ts): every captured
 * chunk before the front end sees it (`beforeChunk`), the log-mel frames of every patch
 * (`onPatch`), the last partial minute closed at `finish`. At start it loads the baseline and puts
 * the status into `/healthz` and `/metrics` (`live`) and the MQTT health message; raises and
 * clears go to `<prefix>/<node>/microphone`.
 * @returns the consumer, or null when `microphone_health.enabled` is false
 */
export function microphoneHealthConsumer(
  config: EarshotConfig,
  db: Database.Database,
  log: Logger,
  context: { streamId: string; streamStartMs: number },
  pipeline: Pick<Pipeline, 'models'>,
  publisher: MqttAlerts | null,
  live: LiveStatus,
): DaemonConsumer | null {
  if (!config.microphone_health.enabled) return null;
  const microphone = new MicrophoneHealth({
    config,
    db,
    log,
    streamId: context.streamId,
    streamStartMs: context.streamStartMs,
    modelInputs: pipeline.models.map((m) => m.classifier.input),
    onChange: publisher ? (status) => publisher.enqueueMicrophone(status) : undefined,
  });
  return {
    name: 'microphone',
    start: () => {
      microphone.start();
      live.microphone = microphone;
      if (publisher) publisher.microphone = microphone;
    },
    beforeChunk: (chunk) => microphone.chunk(chunk),
    onPatch: (report) => microphone.patch(report.patch),
    finish: () => microphone.stop(),
  };
}
