/**
 * The `microphone_health:` config section (docs/microphone.md): its schema, with each key's type,
 * default and description, and the type derived from it, kept in its own module so
 * src/config/schema.ts only wires it in. Defaults never fire on the 36 dev scenes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { withDefault } from './schema-kit.js';

/** The schema of `microphone_health:` — when the sensor decides it cannot hear (ajv, with defaults). */
export const MicrophoneHealthSchema = Type.Object(
  {
    enabled: withDefault(
      Type.Boolean({
        default: true,
        description:
          "per-minute microphone measures (noise floor, spectral tilt, clipping, DC offset, digital silence) judged against the node's own baseline; a `microphone` problem in `/healthz`, `/metrics`, MQTT and the log (docs/microphone.md)",
      }),
    ),
    minute_seconds: withDefault(
      Type.Number({
        minimum: 1,
        maximum: 60,
        default: 60,
        description:
          '**for tests only**: seconds of audio per measured "minute" (rounded to 25 ms), so a test can build a baseline from a few minutes of audio; every `*_minutes` key counts these',
      }),
    ),
    baseline_days: withDefault(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 365,
        default: 7,
        description: 'the baseline is the last this-many days of normal minutes (stored in SQLite, kept across restarts)',
      }),
    ),
    baseline_min_minutes: withDefault(
      Type.Integer({
        minimum: 1,
        maximum: 525600,
        default: 360,
        description:
          'noise floor and tilt are judged only once the baseline holds this many minutes (6 h); clipping, DC offset and digital silence from the first minute',
      }),
    ),
    raise_after_minutes: withDefault(
      Type.Integer({ minimum: 1, maximum: 10080, default: 10, description: 'a measure is raised when its median over this many minutes is out of bounds' }),
    ),
    clear_after_minutes: withDefault(
      Type.Integer({
        minimum: 1,
        maximum: 10080,
        default: 5,
        description: 'a raised measure is cleared when its median over this many minutes is back in bounds',
      }),
    ),
    noise_floor_deviation_db: withDefault(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 120,
        default: 10,
        description: 'the noise floor (dBFS) is out of bounds more than max(this, `deviation_mads` · σ̂) dB from the baseline median',
      }),
    ),
    tilt_deviation_db: withDefault(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 120,
        default: 10,
        description: 'the spectral tilt (dB) is out of bounds more than max(this, `deviation_mads` · σ̂) dB from the baseline median',
      }),
    ),
    deviation_mads: withDefault(
      Type.Number({
        minimum: 0,
        maximum: 100,
        default: 2,
        description:
          'σ̂ = 1.4826 · MAD of the baseline (a robust standard deviation); widens the dB bound for a room whose level varies a lot; 0 = the dB bounds alone',
      }),
    ),
    clip_level: withDefault(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.999, description: 'a sample clips at |x| ≥ this (full scale 1)' })),
    max_clipping_ratio: withDefault(
      Type.Number({ minimum: 0, maximum: 1, default: 0.001, description: "clipping out of bounds above this share of a minute's samples" }),
    ),
    max_dc_offset: withDefault(
      Type.Number({ minimum: 0, maximum: 1, default: 0.05, description: 'DC offset out of bounds above this absolute mean (full scale 1)' }),
    ),
    constant_run_samples: withDefault(
      Type.Integer({
        minimum: 2,
        maximum: 960000,
        default: 160,
        description: 'runs of at least this many identical samples (10 ms) are digital silence: zeros or a stuck value',
      }),
    ),
    max_constant_ratio: withDefault(
      Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: "digital silence out of bounds above this share of a minute's samples" }),
    ),
  },
  { additionalProperties: false, default: {}, description: 'when the sensor decides it cannot hear (src/monitor, docs/microphone.md)' },
);

/** `microphone_health:` after defaults (see {@link MicrophoneHealthSchema} for each key). */
export type MicrophoneHealthConfig = Static<typeof MicrophoneHealthSchema>;
