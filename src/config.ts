/**
 * earshot's configuration: a YAML file validated against a JSON Schema (ajv), with every option
 * defaulted. Errors name the file, the key and the problem, e.g.
 * `earshot.yaml: detection.labels.gunshot.threshold: must be <= 1`.
 */
import { readFileSync } from 'node:fs';
import { hostname, homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import type { CombineMode } from './detect/combine.js';
import { EarshotError } from './errors.js';
import { MICROPHONE_HEALTH_SCHEMA, type MicrophoneHealthConfig } from './monitor/microphone-config.js';
import type { LabelGroup } from './types.js';

/** Per-label detection settings. Scores are the model's (0..1); the label's score is the max over its classes. */
export interface LabelConfig {
  /** hostile labels raise hostile alerts. */
  group: LabelGroup;
  /** Model class names mapped to this label; empty or omitted: taken from the model manifest. */
  classes?: string[];
  /** A patch votes to open an event when the label's score is at least this (0..1). */
  threshold: number;
  /** Hysteresis: once open, a patch keeps the event open when its score is at least this (0..threshold). */
  release: number;
  /** false turns the label off without deleting its mapping. */
  enabled: boolean;
  /** How the models serving this label combine (overrides `detection.combine`; docs/configuration.md). */
  combine?: CombineMode;
}

/** A model run beside the primary `model` (same patches); its label scores are combined with the primary's. */
export interface ExtraModelConfig {
  /** The model file (absolute after parsing). */
  path: string;
  /** Manifest id or path; undefined = matched by the file's sha256. */
  manifest?: string;
  /** Backend; undefined = `model.backend`. */
  backend?: EarshotConfig['model']['backend'];
  /** Inference threads; undefined = `model.threads`. */
  threads?: number;
  /** Weight in the combination (> 0; the primary's is 1): `max` scales the model's scores by it, `mean` weighs them. */
  weight: number;
  /** The labels this model serves; undefined = every enabled label its manifest maps. */
  labels?: string[];
}

/** The whole configuration after defaults are applied. Field docs: `docs/configuration.md`. */
export interface EarshotConfig {
  node_id: string;
  data_dir: string;
  model_dir: string;
  log_level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  source: {
    /** `file`: a WAV replayed; `alsa`: a microphone through arecord; `serial`: an MCU microphone (firmware-interface/PROTOCOL.md). */
    type: 'file' | 'alsa' | 'serial';
    /** The WAV file (file) or the serial port, e.g. /dev/ttyACM0 or /dev/serial/by-id/... (serial). */
    path?: string;
    /** ALSA device name (`default`, `hw:1,0`, `plughw:CARD=Device,DEV=0`). */
    device: string;
    /** ALSA capture rate in Hz (resampled to 16 kHz). */
    rate: number;
    /** ALSA capture channels (averaged to mono). */
    channels: number;
    /** ALSA sample format. */
    format: 'S16_LE' | 'S32_LE' | 'FLOAT_LE';
    /** Serial baud rate (UARTs; USB-CDC ignores it). */
    baud: number;
    /** Serial: seconds a lost packet may wait for the device to resend it (0 = never ask; firmware-interface/PROTOCOL.md). */
    resend_wait: number;
    pacing: 'realtime' | 'fast';
    /** Real-time speed multiplier for file replay (1 = real time). */
    speed: number;
    /** File source: play the file again from its start at its end, until stopped (bench and demo setups). */
    loop: boolean;
    chunk_seconds: number;
  };
  ring_buffer_seconds: number;
  model: {
    path?: string;
    manifest?: string;
    backend: 'tflite-node' | 'litert-wasm' | 'onnx';
    threads: number;
    /** tflite-node: TFLite external delegate library (path, or a file name such as `libedgetpu.so.1`). */
    delegate?: string;
    /** Options for the delegate, e.g. { device: usb }. */
    delegate_options?: Record<string, string>;
    /** onnx: execution providers in order of preference. */
    execution_providers: ('tensorrt' | 'cuda' | 'cpu')[];
    /** Fail instead of running on the CPU when the delegate / providers are not there. */
    require_accelerator: boolean;
    /**
     * The head run after the model (src/inference/head/): a head file (absolute after parsing),
     * `auto` (the default: the shipped head in models/heads/ trained on this model file, if any) or `none`.
     */
    head?: string;
  };
  /** Models run beside `model` on the same patches (src/detect/combine.ts); empty = one model. */
  extra_models: ExtraModelConfig[];
  /** How `earshot run` runs its models (docs/service.md, "When inference falls behind"). */
  inference: {
    /** Run each model in a worker thread (false: on the main thread, as analyze does). */
    worker: boolean;
    /** Patches that may wait for the models before the front end waits. */
    queue_patches: number;
    /** Real-time sources: classify every other patch while inference is more than this many seconds behind. */
    degrade_lag_seconds: number;
    /** Classify every patch again once the lag is below this, seconds. */
    recover_lag_seconds: number;
  };
  frontend: {
    hop_frames: number;
  };
  detection: {
    silence_gate_dbfs: number;
    vote_k: number;
    vote_n: number;
    merge_gap_seconds: number;
    min_duration_seconds: number;
    /** Groups whose labels never overlap (one incident, one event): default `[hostile]`. */
    exclusive_groups: LabelGroup[];
    /** Per label, how the scores of the models serving it combine: the max or the weighted mean. */
    combine: CombineMode;
    labels: Record<string, LabelConfig>;
  };
  store: {
    database: string;
    /** A damaged database at start (`quick_check` fails, or a 0-byte file): `refuse` (exit 3, file untouched) or `fresh` (renamed aside as `<name>.corrupt-<UTC>`, a new one started). docs/storage.md. */
    on_corrupt: 'refuse' | 'fresh';
  };
  /** Evidence clips cut from the ring buffer (docs/storage.md). */
  clips: {
    enabled: boolean;
    /** Folder for clip files, relative to data_dir. */
    dir: string;
    /** Seconds kept before an event's onset and after its offset. */
    pre_roll_seconds: number;
    post_roll_seconds: number;
    /** A clip never exceeds this (seconds), nor what the ring buffer holds: a longer event's clip keeps its beginning (from onset − pre-roll). */
    max_seconds: number;
    /** `wav` (16-bit PCM) or `flac` (when an encoder is available; else WAV with a warning). */
    format: 'wav' | 'flac';
    /** Background clips (no event) kept per hour of audio, for training negatives; 0 = none. */
    background_per_hour: number;
    /** Length of a background clip, seconds. */
    background_seconds: number;
    /** Classes stored per classified patch of an event (the `scores` table). */
    top_k: number;
  };
  /** What is deleted, and when (docs/storage.md). */
  retention: {
    /** Disk quota for clip files, bytes; beyond it the oldest clips go first (unlabelled non-hostile, then the rest). */
    max_clip_bytes: number;
    /** Unlabelled clips of non-hostile events and background clips are deleted after this many days. */
    clip_max_age_days: number;
    /** Clips of hostile events and labelled clips are kept this many days. */
    kept_clip_max_age_days: number;
    /** Events (and their scores) older than this are pruned, days. */
    event_max_age_days: number;
    /** Seconds between retention passes. */
    interval_seconds: number;
    /** Free-space floor of the data directory's file system, bytes: below it clips are not written and the oldest are deleted (unlabelled non-hostile first) until it holds again. */
    min_free_bytes: number;
  };
  /** The HTTP API (src/api): events, clips, active-learning queue, export, health, metrics. */
  api: {
    enabled: boolean;
    /** Bind address; anything but loopback requires a token. */
    host: string;
    /** TCP port (0 = any free port, logged). */
    port: number;
    /** Bearer token (prefer token_file). */
    token?: string;
    /** File whose first line is the bearer token (relative paths: the config's folder). */
    token_file?: string;
    /** Largest request body accepted, bytes. */
    body_limit_bytes: number;
    /**
     * The API's address as others reach it (behind NAT or a reverse proxy), e.g.
     * `https://sensors.example.org/garage`: alerts' `clip_url` and Home Assistant's
     * `configuration_url` start with it. Default: the address the API listens on.
     */
    public_url?: string;
    /** More Host header names the API answers to (besides localhost, 127.0.0.1, ::1, `host` and `public_url`'s host); others get 421 (DNS rebinding). */
    allowed_hosts?: string[];
  };
  mqtt: {
    url?: string;
    topic_prefix: string;
    qos: 0 | 1 | 2;
    client_id?: string;
    username?: string;
    password_file?: string;
    /** Seconds to wait for PUBACKs of queued alerts when stopping. */
    drain_timeout_seconds: number;
    /** mqtts:// material (PEM files; relative paths resolve against the config file's folder). */
    tls: {
      ca_file?: string;
      cert_file?: string;
      key_file?: string;
      /** Verify the broker's certificate and host name. */
      reject_unauthorized: boolean;
    };
    /** Seconds of audio between `<prefix>/<node>/level` messages; 0 = off. */
    level_interval_seconds: number;
    /** Seconds between retained `<prefix>/<node>/health` messages; 0 = off. */
    health_interval_seconds: number;
    /** Home Assistant MQTT discovery. */
    discovery: { enabled: boolean; prefix: string };
    /** Bound on unsent outbox rows; beyond it the oldest non-hostile rows are dropped first. */
    outbox_max_messages: number;
    /** Outbox messages awaiting PUBACK at once. */
    max_in_flight: number;
    /** Reconnect backoff: first delay and cap, seconds (full jitter in between). */
    reconnect_min_seconds: number;
    reconnect_max_seconds: number;
    /** Keepalive (PINGREQ) interval, seconds: a silent broker is noticed within 1.5 × this. */
    keepalive_seconds: number;
  };
  /** When the sensor decides it cannot hear (src/monitor, docs/microphone.md). */
  microphone_health: MicrophoneHealthConfig;
}

const HOSTILE_DEFAULTS = { group: 'hostile', enabled: true } as const;
const NON_HOSTILE_DEFAULTS = { group: 'non_hostile', enabled: true } as const;

/**
 * The default label table. Hostile thresholds were tuned for YAMNet at the default hop (0.48 s)
 * on `../shared/audio/scenes/dev` only, maximising hostile event-based F1 (onset collar 1 s)
 * with at most 7 hostile false alarms per hour on the distractor scenes, then checked against
 * the isolated clips of `../shared/audio/pool` (see docs/evaluation.md):
 * - the gunshot classes never fire on distractors, so their threshold is low (0.2);
 * - "Explosion" fires on door slams and impacts, so explosion needs 0.8 (gunshots that YAMNet
 *   hears as explosions also score a gunshot class);
 * - "Glass" fires on keys, cutlery and door slams: 0.4 is where those stop on both backends
 *   (the two runtimes' scores differ by up to 0.05, and 0.35 let one distractor through on one);
 * - the scream classes stay near zero on every distractor, and screams mixed into street
 *   ambience often score only 0.1–0.3, hence 0.1.
 * Release (hysteresis) is half the threshold. Class lists come from the model manifest.
 */
export const DEFAULT_LABELS: Record<string, LabelConfig> = {
  gunshot: { ...HOSTILE_DEFAULTS, threshold: 0.2, release: 0.1 },
  explosion: { ...HOSTILE_DEFAULTS, threshold: 0.8, release: 0.4 },
  glass_break: { ...HOSTILE_DEFAULTS, threshold: 0.4, release: 0.2 },
  scream: { ...HOSTILE_DEFAULTS, threshold: 0.1, release: 0.05 },
  speech: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
  dog_bark: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
  car_horn: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
  siren: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
  door_knock: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
  music: { ...NON_HOSTILE_DEFAULTS, threshold: 0.5, release: 0.25 },
};

/** The default model directory: `$EARSHOT_MODEL_DIR`, else `$XDG_DATA_HOME/earshot/models`, else `~/.local/share/earshot/models`. */
export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EARSHOT_MODEL_DIR) return resolve(env.EARSHOT_MODEL_DIR);
  const dataHome = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'earshot', 'models');
}

const labelSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    group: { enum: ['hostile', 'non_hostile'] },
    classes: { type: 'array', items: { type: 'string', minLength: 1 } },
    threshold: { type: 'number', minimum: 0, maximum: 1 },
    release: { type: 'number', minimum: 0, maximum: 1 },
    enabled: { type: 'boolean', default: true },
    combine: { enum: ['max', 'mean'] },
  },
} as const;

/** The JSON Schema the YAML is validated against (draft 2020-12 subset that ajv supports). */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    node_id: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', minLength: 1, maxLength: 64 },
    data_dir: { type: 'string', minLength: 1 },
    model_dir: { type: 'string', minLength: 1 },
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
    source: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        type: { enum: ['file', 'alsa', 'serial'], default: 'file' },
        path: { type: 'string', minLength: 1 },
        device: { type: 'string', minLength: 1, default: 'default' },
        rate: { type: 'integer', minimum: 8000, maximum: 192000, default: 16000 },
        channels: { type: 'integer', minimum: 1, maximum: 32, default: 1 },
        format: { enum: ['S16_LE', 'S32_LE', 'FLOAT_LE'], default: 'S16_LE' },
        baud: { type: 'integer', minimum: 1200, maximum: 16000000, default: 921600 },
        resend_wait: { type: 'number', minimum: 0, maximum: 2, default: 0.25 },
        pacing: { enum: ['realtime', 'fast'], default: 'realtime' },
        speed: { type: 'number', exclusiveMinimum: 0, maximum: 1000, default: 1 },
        loop: { type: 'boolean', default: false },
        chunk_seconds: { type: 'number', minimum: 0.01, maximum: 1, default: 0.1 },
      },
    },
    ring_buffer_seconds: { type: 'number', minimum: 2, maximum: 3600, default: 30 },
    model: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { type: 'string', minLength: 1 },
        manifest: { type: 'string', minLength: 1 },
        backend: { enum: ['tflite-node', 'litert-wasm', 'onnx'], default: 'litert-wasm' },
        threads: { type: 'integer', minimum: 1, maximum: 16, default: 1 },
        delegate: { type: 'string', minLength: 1 },
        delegate_options: { type: 'object', additionalProperties: { type: 'string' } },
        execution_providers: { type: 'array', items: { enum: ['tensorrt', 'cuda', 'cpu'] }, minItems: 1, uniqueItems: true, default: ['cpu'] },
        require_accelerator: { type: 'boolean', default: false },
        head: { type: 'string', minLength: 1, default: 'auto' },
      },
    },
    extra_models: {
      type: 'array',
      maxItems: 8,
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path: { type: 'string', minLength: 1 },
          manifest: { type: 'string', minLength: 1 },
          // Checked against model.backend's choices in parseConfig (one list to extend).
          backend: { type: 'string', minLength: 1 },
          threads: { type: 'integer', minimum: 1, maximum: 16 },
          weight: { type: 'number', exclusiveMinimum: 0, maximum: 10, default: 1 },
          labels: { type: 'array', items: { type: 'string', pattern: '^[a-z][a-z0-9_]*$' }, uniqueItems: true, minItems: 1 },
        },
      },
    },
    inference: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        worker: { type: 'boolean', default: true },
        queue_patches: { type: 'integer', minimum: 1, maximum: 64, default: 8 },
        degrade_lag_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 2 },
        recover_lag_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 1 },
      },
    },
    frontend: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        hop_frames: { type: 'integer', minimum: 1, maximum: 960, default: 48 },
      },
    },
    detection: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        silence_gate_dbfs: { type: 'number', minimum: -140, maximum: 0, default: -70 },
        vote_k: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
        vote_n: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
        merge_gap_seconds: { type: 'number', minimum: 0, maximum: 60, default: 0.5 },
        min_duration_seconds: { type: 'number', minimum: 0, maximum: 60, default: 0 },
        exclusive_groups: { type: 'array', items: { enum: ['hostile', 'non_hostile'] }, uniqueItems: true, default: ['hostile'] },
        combine: { enum: ['max', 'mean'], default: 'max' },
        labels: {
          type: 'object',
          propertyNames: { pattern: '^[a-z][a-z0-9_]*$' },
          additionalProperties: labelSchema,
        },
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        database: { type: 'string', minLength: 1, default: 'earshot.db' },
        on_corrupt: { enum: ['refuse', 'fresh'], default: 'refuse' },
      },
    },
    clips: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', minLength: 1, default: 'clips' },
        pre_roll_seconds: { type: 'number', minimum: 0, maximum: 60, default: 2 },
        post_roll_seconds: { type: 'number', minimum: 0, maximum: 60, default: 2 },
        max_seconds: { type: 'number', minimum: 1, maximum: 600, default: 20 },
        format: { enum: ['wav', 'flac'], default: 'wav' },
        background_per_hour: { type: 'number', minimum: 0, maximum: 3600, default: 2 },
        background_seconds: { type: 'number', minimum: 1, maximum: 60, default: 5 },
        top_k: { type: 'integer', minimum: 1, maximum: 50, default: 5 },
      },
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_clip_bytes: { type: 'integer', minimum: 1048576, default: 2147483648 },
        clip_max_age_days: { type: 'number', exclusiveMinimum: 0, default: 30 },
        kept_clip_max_age_days: { type: 'number', exclusiveMinimum: 0, default: 365 },
        event_max_age_days: { type: 'number', exclusiveMinimum: 0, default: 730 },
        interval_seconds: { type: 'number', minimum: 1, maximum: 86400, default: 600 },
        min_free_bytes: { type: 'integer', minimum: 0, maximum: 1099511627776, default: 67108864 },
      },
    },
    api: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8466 },
        token: { type: 'string', minLength: 16 },
        token_file: { type: 'string', minLength: 1 },
        body_limit_bytes: { type: 'integer', minimum: 1024, maximum: 104857600, default: 1048576 },
        public_url: { type: 'string', pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' },
        allowed_hosts: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.:-]+)$', maxLength: 255 } },
      },
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^(mqtts?|wss?|tcp|ssl)://' },
        topic_prefix: { type: 'string', pattern: '^[^#+\\s]+$', default: 'earshot' },
        qos: { enum: [0, 1, 2], default: 1 },
        client_id: { type: 'string', minLength: 1 },
        username: { type: 'string' },
        password_file: { type: 'string', minLength: 1 },
        drain_timeout_seconds: { type: 'number', minimum: 0, maximum: 600, default: 10 },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            ca_file: { type: 'string', minLength: 1 },
            cert_file: { type: 'string', minLength: 1 },
            key_file: { type: 'string', minLength: 1 },
            reject_unauthorized: { type: 'boolean', default: true },
          },
        },
        level_interval_seconds: { type: 'number', minimum: 0, maximum: 86400, default: 0 },
        health_interval_seconds: { type: 'number', minimum: 0, maximum: 86400, default: 60 },
        discovery: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            prefix: { type: 'string', pattern: '^[^#+\\s]+$', default: 'homeassistant' },
          },
        },
        outbox_max_messages: { type: 'integer', minimum: 10, maximum: 10000000, default: 100000 },
        max_in_flight: { type: 'integer', minimum: 1, maximum: 1000, default: 16 },
        reconnect_min_seconds: { type: 'number', minimum: 0.05, maximum: 3600, default: 1 },
        reconnect_max_seconds: { type: 'number', minimum: 0.05, maximum: 3600, default: 30 },
        keepalive_seconds: { type: 'integer', minimum: 1, maximum: 65535, default: 30 },
      },
    },
    microphone_health: MICROPHONE_HEALTH_SCHEMA,
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
const validateConfig = ajv.compile(CONFIG_SCHEMA);

/** Turns one ajv error into `key.path: problem`. */
function describeError(error: ErrorObject): string {
  const key = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return `${key ? `${key}.` : ''}${extra}: unknown key`;
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return `${key || '(top level)'}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (error.keyword === 'propertyNames') {
    return `${key}: label names must be lower_snake_case`;
  }
  return `${key || '(top level)'}: ${error.message ?? 'invalid'}`;
}

/**
 * Validates a parsed YAML document and fills every default.
 * @param raw the parsed document (`undefined`/`null` = empty file = all defaults)
 * @param origin the file name to put in error messages
 * @param baseDir relative paths in the config (data_dir, model.path, source.path) resolve against this
 * @throws EarshotError naming `origin`, the key and the problem (all problems, one per line)
 */
export function parseConfig(raw: unknown, origin: string, baseDir: string): EarshotConfig {
  const doc = raw === undefined || raw === null ? {} : structuredClone(raw);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new EarshotError(`${origin}: the configuration must be a YAML mapping (key: value), not ${Array.isArray(doc) ? 'a list' : typeof doc}`);
  }
  if (!validateConfig(doc)) {
    const problems = (validateConfig.errors ?? []).map((e) => `${origin}: ${describeError(e)}`);
    throw new EarshotError([...new Set(problems)].join('\n'));
  }
  const config = doc as unknown as Partial<EarshotConfig> & Pick<EarshotConfig, 'source' | 'model' | 'extra_models' | 'inference' | 'frontend' | 'detection' | 'store' | 'clips' | 'retention' | 'api' | 'mqtt' | 'log_level' | 'ring_buffer_seconds' | 'microphone_health'>;
  const labels = mergeLabels(config.detection.labels ?? {}, origin);
  const detection = { ...config.detection, labels };
  if (detection.vote_k > detection.vote_n) {
    throw new EarshotError(`${origin}: detection.vote_k: must be <= detection.vote_n (${detection.vote_n})`);
  }
  if (config.mqtt.reconnect_min_seconds > config.mqtt.reconnect_max_seconds) {
    throw new EarshotError(`${origin}: mqtt.reconnect_min_seconds: must be <= mqtt.reconnect_max_seconds (${config.mqtt.reconnect_max_seconds})`);
  }
  if (Boolean(config.mqtt.tls.cert_file) !== Boolean(config.mqtt.tls.key_file)) {
    throw new EarshotError(`${origin}: mqtt.tls.${config.mqtt.tls.cert_file ? 'key_file' : 'cert_file'}: required with mqtt.tls.${config.mqtt.tls.cert_file ? 'cert_file' : 'key_file'} (a client certificate needs its key)`);
  }
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.api.host);
  if (config.api.enabled && !loopback && !config.api.token && !config.api.token_file) {
    throw new EarshotError(`${origin}: api.token_file: required when api.host is not a loopback address (${config.api.host}): the API serves audio`);
  }
  if (config.clips.background_seconds > config.ring_buffer_seconds) {
    throw new EarshotError(`${origin}: clips.background_seconds: must be <= ring_buffer_seconds (${config.ring_buffer_seconds})`);
  }
  checkExtraModels(config.extra_models, labels, origin);
  if (config.inference.recover_lag_seconds >= config.inference.degrade_lag_seconds) {
    throw new EarshotError(`${origin}: inference.recover_lag_seconds: must be < inference.degrade_lag_seconds (${config.inference.degrade_lag_seconds})`);
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    node_id: config.node_id ?? sanitizeNodeId(hostname()),
    data_dir: abs(config.data_dir ?? 'earshot-data'),
    model_dir: config.model_dir ? abs(config.model_dir) : defaultModelDir(),
    log_level: config.log_level,
    source: { ...config.source, path: config.source.path ? abs(config.source.path) : undefined },
    ring_buffer_seconds: config.ring_buffer_seconds,
    model: { ...config.model, path: config.model.path ? abs(config.model.path) : undefined, ...(config.model.delegate?.includes('/') ? { delegate: abs(config.model.delegate) } : {}), ...(config.model.head && config.model.head !== 'auto' && config.model.head !== 'none' ? { head: abs(config.model.head) } : {}) },
    extra_models: config.extra_models.map((m) => ({ ...m, path: abs(m.path) })),
    inference: config.inference,
    frontend: config.frontend,
    detection,
    store: config.store,
    clips: config.clips,
    retention: config.retention,
    api: { ...config.api, token_file: config.api.token_file ? abs(config.api.token_file) : undefined },
    mqtt: {
      ...config.mqtt,
      password_file: config.mqtt.password_file ? abs(config.mqtt.password_file) : undefined,
      tls: {
        ...config.mqtt.tls,
        ca_file: config.mqtt.tls.ca_file ? abs(config.mqtt.tls.ca_file) : undefined,
        cert_file: config.mqtt.tls.cert_file ? abs(config.mqtt.tls.cert_file) : undefined,
        key_file: config.mqtt.tls.key_file ? abs(config.mqtt.tls.key_file) : undefined,
      },
    },
    microphone_health: config.microphone_health,
  };
}

/** Label entries from the file are merged over {@link DEFAULT_LABELS}; a new label needs group, classes, threshold. */
function mergeLabels(fromFile: Record<string, Partial<LabelConfig>>, origin: string): Record<string, LabelConfig> {
  const merged: Record<string, LabelConfig> = structuredClone(DEFAULT_LABELS);
  for (const [name, entry] of Object.entries(fromFile)) {
    const base = merged[name];
    if (!base) {
      for (const key of ['group', 'classes', 'threshold'] as const) {
        if (entry[key] === undefined) {
          throw new EarshotError(`${origin}: detection.labels.${name}.${key}: required for a label earshot does not define by default`);
        }
      }
    }
    const threshold = entry.threshold ?? base?.threshold ?? 0.5;
    const label: LabelConfig = {
      group: entry.group ?? base!.group,
      classes: entry.classes ?? base?.classes,
      threshold,
      release: entry.release ?? Math.min(base?.release ?? threshold / 2, threshold),
      enabled: entry.enabled ?? base?.enabled ?? true,
    };
    const combine = entry.combine ?? base?.combine;
    if (combine) label.combine = combine;
    if (label.release > label.threshold) {
      throw new EarshotError(`${origin}: detection.labels.${name}.release: must be <= its threshold (${label.threshold})`);
    }
    merged[name] = label;
  }
  return merged;
}

/**
 * What the schema cannot say about `extra_models`: backends come from `model.backend`'s list, and
 * listed labels must exist. (Whether a model has a class for a label needs its manifest: checked
 * when the models are opened, src/inference/model-set.ts.)
 * @throws EarshotError naming `origin` and the key
 */
function checkExtraModels(extras: EarshotConfig['extra_models'], labels: Record<string, LabelConfig>, origin: string): void {
  const backends: readonly string[] = CONFIG_SCHEMA.properties.model.properties.backend.enum;
  extras.forEach((extra, i) => {
    if (extra.backend !== undefined && !backends.includes(extra.backend)) {
      throw new EarshotError(`${origin}: extra_models[${i}].backend: must be one of ${backends.map((b) => JSON.stringify(b)).join(', ')}`);
    }
    for (const name of extra.labels ?? []) {
      if (!labels[name]) throw new EarshotError(`${origin}: extra_models[${i}].labels: "${name}" is not a label (detection.labels has ${Object.keys(labels).join(', ')})`);
    }
  });
}

function sanitizeNodeId(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return cleaned || 'earshot';
}

/**
 * Reads and validates a YAML config file; relative paths inside it resolve against its folder.
 * @throws EarshotError when the file is missing, is not YAML, or fails the schema.
 */
export function loadConfigFile(path: string): EarshotConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${path}: cannot read the config file (${code === 'ENOENT' ? 'not found' : code ?? String(error)})`);
  }
  return parseConfigText(text, path, dirname(resolve(path)));
}

/** How deep a config may nest (earshot's own keys go 5 deep); deeper is refused before the schema runs. */
const MAX_CONFIG_DEPTH = 32;

/**
 * Parses the text of a config file (see {@link loadConfigFile}): one YAML document, a mapping,
 * not empty, nesting at most {@link MAX_CONFIG_DEPTH} levels; every error is one line naming `path`.
 * @throws EarshotError (exit 2)
 */
export function parseConfigText(text: string, path: string, baseDir: string): EarshotConfig {
  let documents: YAML.Document.Parsed[];
  try {
    documents = YAML.parseAllDocuments(text, { prettyErrors: true }) as YAML.Document.Parsed[];
  } catch (error) {
    throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(error)}`);
  }
  if (!Array.isArray(documents)) documents = [documents as unknown as YAML.Document.Parsed];
  if (documents.length > 1) throw new EarshotError(`${path}: holds ${documents.length} YAML documents (separated by ---); a config file is one document`);
  const document = documents[0];
  if (!document || document.contents === null) throw new EarshotError(`${path}: the config file is empty (no keys); write the keys you change (see config/example.yaml), or leave out --config for the defaults`);
  const problem = document.errors[0];
  if (problem) throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(problem)}`);
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(error)}`);
  }
  if (nestingDepth(raw, MAX_CONFIG_DEPTH + 1) > MAX_CONFIG_DEPTH) throw new EarshotError(`${path}: nests more than ${MAX_CONFIG_DEPTH} levels deep; earshot's keys go 5 deep`);
  return parseConfig(raw, path, baseDir);
}

/** A YAML error as one line: its message without the code frame, with its line and column. */
function yamlProblem(error: unknown): string {
  if (error instanceof RangeError || /Maximum call stack/.test(String((error as Error)?.message))) return 'nests too deeply';
  const e = error as { message?: string; linePos?: { line: number; col: number }[] };
  const message = String(e.message ?? error).split('\n')[0].replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '');
  const at = e.linePos?.[0];
  return at ? `${message} (line ${at.line}, column ${at.col})` : message;
}

/** Depth of nested lists and mappings in `value`, counted up to `limit` (no recursion: safe on any input). */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length) {
    const { value: v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest >= limit) return deepest;
    for (const child of Object.values(v as object)) stack.push({ value: child, depth: depth + 1 });
  }
  return deepest;
}

/** All defaults, as if from an empty file; relative paths resolve against `baseDir` (default: cwd). */
export function defaultConfig(baseDir = process.cwd()): EarshotConfig {
  return parseConfig({}, '(defaults)', baseDir);
}
