/**
 * The `microphone_health:` config section (docs/microphone.md): its type and JSON schema, kept
 * here so src/config.ts only wires it in. Defaults never fire on the 36 dev scenes.
 */

/** `microphone_health:` — when the sensor decides it cannot hear (docs/microphone.md). */
export interface MicrophoneHealthConfig {
  enabled: boolean;
  /** Seconds of audio per measured minute (rounded to 25 ms). 60; shorter only for tests. */
  minute_seconds: number;
  /** The baseline is the node's last this-many days of normal minutes (persisted in SQLite). */
  baseline_days: number;
  /** Noise floor and tilt are judged against the baseline only once it holds this many minutes. */
  baseline_min_minutes: number;
  /** A measure whose median over this many minutes is out of bounds raises the `microphone` problem. */
  raise_after_minutes: number;
  /** A raised measure clears when its median over this many minutes is back in bounds. */
  clear_after_minutes: number;
  /** Noise floor (dBFS) out of bounds when it moves more than max(this, deviation_mads · σ̂) from the baseline median. */
  noise_floor_deviation_db: number;
  /** Spectral tilt (dB) out of bounds when it moves more than max(this, deviation_mads · σ̂) from the baseline median. */
  tilt_deviation_db: number;
  /** σ̂ = 1.4826 · MAD of the baseline (a robust standard deviation); 0 = use the dB bounds alone. */
  deviation_mads: number;
  /** A sample clips at |x| ≥ this (full scale 1). */
  clip_level: number;
  /** Clipping out of bounds above this fraction of a minute's samples. */
  max_clipping_ratio: number;
  /** DC offset out of bounds above this absolute mean (full scale 1). */
  max_dc_offset: number;
  /** Runs of at least this many identical samples are digital silence (zeros or a stuck value). */
  constant_run_samples: number;
  /** Digital silence out of bounds above this fraction of a minute's samples. */
  max_constant_ratio: number;
}

/** The JSON schema of `microphone_health:` (ajv, with defaults). */
export const MICROPHONE_HEALTH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    enabled: { type: 'boolean', default: true },
    minute_seconds: { type: 'number', minimum: 1, maximum: 60, default: 60 },
    baseline_days: { type: 'number', exclusiveMinimum: 0, maximum: 365, default: 7 },
    baseline_min_minutes: { type: 'integer', minimum: 1, maximum: 525600, default: 360 },
    raise_after_minutes: { type: 'integer', minimum: 1, maximum: 10080, default: 10 },
    clear_after_minutes: { type: 'integer', minimum: 1, maximum: 10080, default: 5 },
    noise_floor_deviation_db: { type: 'number', exclusiveMinimum: 0, maximum: 120, default: 10 },
    tilt_deviation_db: { type: 'number', exclusiveMinimum: 0, maximum: 120, default: 10 },
    deviation_mads: { type: 'number', minimum: 0, maximum: 100, default: 2 },
    clip_level: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.999 },
    max_clipping_ratio: { type: 'number', minimum: 0, maximum: 1, default: 0.001 },
    max_dc_offset: { type: 'number', minimum: 0, maximum: 1, default: 0.05 },
    constant_run_samples: { type: 'integer', minimum: 2, maximum: 960000, default: 160 },
    max_constant_ratio: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
  },
} as const;
