/**
 * The microphone health as published: the `microphone` object of `/healthz` and of the MQTT
 * health message, the payload of `<prefix>/<node>/microphone`, and what `/metrics` reads
 * (docs/microphone.md, docs/schemas/microphone.schema.json).
 */
import type { MicrophoneMeasure } from './microphone-judge.js';

/** The last measured minute. */
export interface MicrophoneMinuteJson {
  /** ISO-8601 UTC of the minute's first sample (stream start + audio time). */
  minute_utc: string;
  /** Seconds of audio measured in it. */
  heard_s: number;
  /** dBFS (10th percentile of 25 ms frame levels; −120 = digital silence); null without a whole frame. */
  noise_floor_dbfs: number | null;
  /** dB, log-mel bands from 1 kHz over those below; null without audible frames. */
  tilt_db: number | null;
  clipping_ratio: number;
  dc_offset: number;
  constant_ratio: number;
  zero_ratio: number;
}

/** The `microphone` object. */
export interface MicrophoneHealthJson {
  /** `ok`, `problem` (see `problems`), or `measuring` before the first whole minute. */
  status: 'ok' | 'problem' | 'measuring';
  last_minute: MicrophoneMinuteJson | null;
  /** The baseline of the node's recent minutes: median and σ̂ (1.4826 · MAD) per relative measure. */
  baseline: {
    minutes: number;
    /** Minutes needed before noise floor and tilt are judged. */
    min_minutes: number;
    noise_floor_dbfs: number | null;
    noise_floor_sigma_db: number | null;
    tilt_db: number | null;
    tilt_sigma_db: number | null;
  };
  /** Raised measures. */
  raised: { measure: MicrophoneMeasure; detail: string; since_utc: string }[];
  /** One phrase per raised measure, `microphone: …` (also in `/healthz` `problems`). */
  problems: string[];
}

/** What the API and MQTT read of a running microphone monitor. */
export interface MicrophoneStatusSource {
  status(): MicrophoneHealthJson;
}
