/**
 * earshot's configuration schema: every key once, with its type, bounds, default, description and
 * whether a SIGHUP reload applies it (`x-live`; src/config/schema-kit.ts). The YAML file is
 * validated against it by ajv (src/config/validate.ts), docs/configuration.md's keys table is
 * generated from it (scripts/gen-config-docs.mjs), and the TypeScript types below derive from it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ALL_BACKEND_KINDS, EXECUTION_PROVIDERS, type BackendKind } from '../constants.js';
import { MicrophoneHealthSchema } from './microphone.js';
import { OneOf, withDefault } from './schema-kit.js';

/** Label groups: hostile labels raise hostile alerts. */
export const LABEL_GROUPS = ['hostile', 'non_hostile'] as const;
/** How the scores of several models serving one label combine (src/detect/combine.ts). */
export const COMBINE_MODES = ['max', 'mean'] as const;
/** Label names: lower_snake_case. */
const LABEL_NAME = '^[a-z][a-z0-9_]*$';

/** One entry of `detection.labels` as the file gives it; src/config/labels.ts merges it over the defaults. */
export const LabelEntrySchema = Type.Object(
  {
    group: Type.Optional(OneOf(LABEL_GROUPS, { description: '`hostile` labels raise hostile alerts; `non_hostile`', 'x-default': 'the table below' })),
    classes: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: "model class names mapped to this label; omitted: the model manifest's `class_map`",
        'x-default': 'the table below',
      }),
    ),
    threshold: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: "a patch votes to open an event when the label's score (the highest of its classes', 0..1) reaches this",
        'x-default': 'the table below',
        'x-live': true,
      }),
    ),
    release: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: 'hysteresis: an open event stays open while patches score at least this (≤ `threshold`)',
        'x-default': 'half the threshold',
        'x-live': true,
      }),
    ),
    enabled: withDefault(Type.Boolean({ default: true, description: '`false` turns the label off without deleting its mapping' })),
    combine: Type.Optional(
      OneOf(COMBINE_MODES, { description: 'how the models serving this label combine; overrides `detection.combine`', 'x-default': '`detection.combine`' }),
    ),
  },
  { additionalProperties: false },
);

/** One entry of `extra_models`. */
export const ExtraModelSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'the model file (required)' }),
    manifest: Type.Optional(Type.String({ minLength: 1, description: 'manifest id or path', 'x-default': 'matched by sha256' })),
    // Checked against model.backend's choices while parsing (src/config/load.ts): one list to extend.
    backend: Type.Optional(Type.Unsafe<BackendKind>({ type: 'string', minLength: 1, description: 'the backend', 'x-default': '`model.backend`' })),
    threads: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, description: 'inference threads', 'x-default': '`model.threads`' })),
    weight: withDefault(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 10,
        default: 1,
        description:
          "the model's weight in the combination (> 0, ≤ 10; the primary's is 1): `max` multiplies its scores by it (capped at 1), `mean` weighs them",
      }),
    ),
    labels: Type.Optional(
      Type.Array(Type.String({ pattern: LABEL_NAME }), {
        uniqueItems: true,
        minItems: 1,
        description: 'the labels this model serves; a label its manifest has no class for is an error naming the key',
        'x-default': 'every enabled label its manifest maps',
      }),
    ),
  },
  { additionalProperties: false },
);

/** The JSON Schema the YAML is validated against (the draft-07/2020-12 subset ajv supports), with every default. */
export const ConfigSchema = Type.Object(
  {
    node_id: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_-]+$',
        minLength: 1,
        maxLength: 64,
        description: 'identifies this sensor in events and MQTT topics (`[A-Za-z0-9_-]`)',
        'x-default': 'host name',
      }),
    ),
    data_dir: Type.Optional(Type.String({ minLength: 1, description: 'database and clips', 'x-default': '`./earshot-data`' })),
    model_dir: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'where `earshot model pull` puts models',
        'x-default': '`$EARSHOT_MODEL_DIR`, else `$XDG_DATA_HOME/earshot/models`, else `~/.local/share/earshot/models`',
      }),
    ),
    log_level: withDefault(
      OneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
        default: 'info',
        description: 'trace, debug, info, warn, error, fatal, silent',
        'x-live': true,
      }),
    ),
    source: withDefault(
      Type.Object(
        {
          type: withDefault(
            OneOf(['file', 'alsa', 'serial'], {
              default: 'file',
              description:
                '`file` (a WAV replayed), `alsa` (a microphone through `arecord`), `serial` (an MCU microphone speaking firmware-interface/PROTOCOL.md); see docs/capture.md',
            }),
          ),
          path: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                'file: the WAV file (any PCM encoding, any rate, any channels; resampled to 16 kHz mono); serial: the port (`/dev/ttyACM0`, `/dev/serial/by-id/...`)',
              'x-default': '—',
            }),
          ),
          device: withDefault(
            Type.String({
              minLength: 1,
              default: 'default',
              description: 'alsa: the ALSA device (`hw:1,0`, `plughw:CARD=Device,DEV=0`); `earshot devices` lists them',
            }),
          ),
          rate: withDefault(Type.Integer({ minimum: 8000, maximum: 192000, default: 16000, description: 'alsa: capture rate in Hz (resampled to 16 kHz)' })),
          channels: withDefault(Type.Integer({ minimum: 1, maximum: 32, default: 1, description: 'alsa: capture channels (averaged to mono)' })),
          format: withDefault(OneOf(['S16_LE', 'S32_LE', 'FLOAT_LE'], { default: 'S16_LE', description: 'alsa: `S16_LE`, `S32_LE` or `FLOAT_LE`' })),
          baud: withDefault(Type.Integer({ minimum: 1200, maximum: 16000000, default: 921600, description: 'serial: baud rate (UARTs; USB-CDC ignores it)' })),
          resend_wait: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 2,
              default: 0.25,
              description:
                'serial: seconds a lost packet may wait for the device to resend it; the audio after it is held meanwhile (0 = never ask: lost packets are gaps at once). See firmware-interface/PROTOCOL.md',
            }),
          ),
          pacing: withDefault(
            OneOf(['realtime', 'fast'], { default: 'realtime', description: 'file: `realtime` replays as if from a microphone; `fast` as fast as possible' }),
          ),
          speed: withDefault(Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 1, description: 'file: real-time multiplier' })),
          loop: withDefault(
            Type.Boolean({
              default: false,
              description:
                'file: `true` plays the file again from its start at its end, as one continuous stream (sample counts and onset times go on), until the daemon is stopped: bench and demo setups',
            }),
          ),
          chunk_seconds: withDefault(Type.Number({ minimum: 0.01, maximum: 1, default: 0.1, description: 'audio delivered per chunk' })),
        },
        { additionalProperties: false, default: {}, description: 'where the audio comes from (docs/capture.md)' },
      ),
    ),
    ring_buffer_seconds: withDefault(
      Type.Number({ minimum: 2, maximum: 3600, default: 30, description: 'seconds of recent audio kept in memory (for clips with pre-roll)' }),
    ),
    model: withDefault(
      Type.Object(
        {
          path: Type.Optional(
            Type.String({
              minLength: 1,
              description: '`.tflite` or `.onnx` file (an `.onnx` file always runs on the `onnx` backend)',
              'x-default': 'the pulled YAMNet',
              'x-live': true,
            }),
          ),
          manifest: Type.Optional(
            Type.String({ minLength: 1, description: 'manifest id (`models/*.yaml`) or path', 'x-default': 'matched by sha256', 'x-live': true }),
          ),
          backend: withDefault(
            OneOf(ALL_BACKEND_KINDS, {
              default: 'litert-wasm',
              description:
                '`litert-wasm` (LiteRT.js, WebAssembly), `tflite-node` (native TFLite; Coral delegate) or `onnx` (ONNX Runtime; CUDA / TensorRT); which to pick: docs/models.md',
            }),
          ),
          threads: withDefault(Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'inference threads' })),
          delegate: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                '`tflite-node`: TFLite external delegate library, a path or a file name found like the dynamic loader does (`libedgetpu.so.1` for a Coral Edge TPU); not found or not loadable: a warning and the CPU',
            }),
          ),
          delegate_options: Type.Optional(
            Type.Unsafe<Record<string, string>>({
              type: 'object',
              additionalProperties: { type: 'string' },
              description: 'options for the delegate, strings, e.g. `{device: usb}`',
            }),
          ),
          execution_providers: withDefault(
            Type.Array(OneOf(EXECUTION_PROVIDERS), {
              minItems: 1,
              uniqueItems: true,
              default: ['cpu'],
              description:
                '`onnx`: ONNX Runtime providers in order of preference, from `tensorrt`, `cuda`, `cpu`; one that is not installed is skipped with a warning',
            }),
          ),
          require_accelerator: withDefault(
            Type.Boolean({
              default: false,
              description: '`true`: exit 3 instead of running on the CPU when the delegate or no requested provider can be loaded',
            }),
          ),
          head: withDefault(
            Type.String({
              minLength: 1,
              default: 'auto',
              'x-live': true,
              description:
                "the head run after the model (`earshot train` writes one; docs/api.md, \"Heads\"): a head file; `auto`, the shipped head in `models/heads/` trained on this model file, if any; `none`, the model's class scores alone. The head's labels read its probabilities with its thresholds, unless `detection.labels.<label>.threshold` is set to other than earshot's default; `--head FILE|auto|none` on analyze, eval, tune and run",
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the primary model' },
      ),
    ),
    extra_models: withDefault(
      Type.Array(ExtraModelSchema, {
        maxItems: 8,
        default: [],
        description: 'models run beside `model` on the same patches, their label scores combined per label (see "Several models" below); `[]`: one model',
      }),
    ),
    inference: withDefault(
      Type.Object(
        {
          worker: withDefault(
            Type.Boolean({
              default: true,
              description:
                '`earshot run` runs each model in a worker thread, so capture, MQTT and the API never wait on a model (a model that throws or a worker that dies costs a patch, the worker is restarted); `false`: on the main thread',
            }),
          ),
          queue_patches: withDefault(
            Type.Integer({
              minimum: 1,
              maximum: 64,
              default: 8,
              description:
                'patches (0.48 s apart) that may wait for the models before the front end waits; captured audio then queues before it (up to `ring_buffer_seconds`, beyond which it is lost and stored as a `backlog` gap)',
            }),
          ),
          degrade_lag_seconds: withDefault(
            Type.Number({
              exclusiveMinimum: 0,
              maximum: 3600,
              default: 2,
              description:
                'real-time sources (a microphone, serial, a file with `pacing: realtime`): when inference is this many seconds of audio behind capture, or the patch queue is full, classify only every other patch (docs/service.md, "When inference falls behind")',
            }),
          ),
          recover_lag_seconds: withDefault(
            Type.Number({
              exclusiveMinimum: 0,
              maximum: 3600,
              default: 1,
              description: 'classify every patch again once the lag is below this (< `degrade_lag_seconds`)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'how `earshot run` runs its models (docs/service.md, "When inference falls behind")' },
      ),
    ),
    frontend: withDefault(
      Type.Object(
        {
          hop_frames: withDefault(Type.Integer({ minimum: 1, maximum: 960, default: 48, description: 'frames (10 ms) between patch starts: 48 = 0.48 s' })),
        },
        { additionalProperties: false, default: {}, description: 'the log-mel front end' },
      ),
    ),
    detection: withDefault(
      Type.Object(
        {
          silence_gate_dbfs: withDefault(
            Type.Number({ minimum: -140, maximum: 0, default: -70, description: 'patches with an RMS below this (dBFS) are not classified' }),
          ),
          vote_k: withDefault(
            Type.Integer({
              minimum: 1,
              maximum: 64,
              default: 1,
              description: "an event opens when `vote_k` of the last `vote_n` patches reach the label's threshold (≤ `vote_n`)",
            }),
          ),
          vote_n: withDefault(Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'the voting window, patches (see `detection.vote_k`)' })),
          merge_gap_seconds: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 60,
              default: 0.5,
              description: 'voting stretches closer than this (end of one voting patch to start of the next) are one event',
            }),
          ),
          min_duration_seconds: withDefault(
            Type.Number({ minimum: 0, maximum: 60, default: 0, description: 'events shorter than this (onset to offset) are not reported' }),
          ),
          exclusive_groups: withDefault(
            Type.Array(OneOf(LABEL_GROUPS), {
              uniqueItems: true,
              default: ['hostile'],
              description:
                'groups whose labels never overlap: one gunshot heard as both "gunshot" and "explosion" is one event (the label with the higher score), one alert',
            }),
          ),
          combine: withDefault(
            OneOf(COMBINE_MODES, {
              default: 'max',
              description:
                'per label, how the scores of the models serving it combine: `max` (the highest weighted score: either model can raise the label) or `mean` (weighted mean: the models must agree)',
            }),
          ),
          labels: Type.Optional(
            Type.Unsafe<Record<string, Static<typeof LabelEntrySchema>>>({
              type: 'object',
              propertyNames: { pattern: LABEL_NAME },
              additionalProperties: LabelEntrySchema,
              description: 'per label (lower_snake_case), merged over the default table below',
              'x-default': 'the table below',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'how patch scores become events' },
      ),
    ),
    store: withDefault(
      Type.Object(
        {
          database: withDefault(Type.String({ minLength: 1, default: 'earshot.db', description: 'SQLite file, relative to `data_dir`' })),
          on_corrupt: withDefault(
            OneOf(['refuse', 'fresh'], {
              default: 'refuse',
              description:
                'a damaged database at start (`PRAGMA quick_check` fails, or a 0-byte file): `refuse` exits 3 and leaves the file untouched; `fresh` renames it aside (`earshot.db.corrupt-<UTC time>`, with its -wal/-shm) and starts a new one (docs/storage.md)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the SQLite database (docs/storage.md)' },
      ),
    ),
    clips: withDefault(
      Type.Object(
        {
          enabled: withDefault(Type.Boolean({ default: true, description: 'write an evidence clip per event (and background clips); see docs/storage.md' })),
          dir: withDefault(
            Type.String({
              minLength: 1,
              default: 'clips',
              description: 'clip folder, relative to `data_dir` (files go to `<dir>/<YYYY-MM-DD>/<clip id>.wav`)',
            }),
          ),
          pre_roll_seconds: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 60,
              default: 2,
              description:
                "audio kept before an event's onset (rounded up to whole hops, so a clip starts on the patch grid); shortened (with a warning) when `ring_buffer_seconds` cannot hold both rolls around a one-patch event",
            }),
          ),
          post_roll_seconds: withDefault(
            Type.Number({ minimum: 0, maximum: 60, default: 2, description: "audio kept after an event's offset (see `clips.pre_roll_seconds`)" }),
          ),
          max_seconds: withDefault(
            Type.Number({
              minimum: 1,
              maximum: 600,
              default: 20,
              description:
                "longest clip; a longer event's clip keeps its beginning (from onset − pre-roll). Also capped by `ring_buffer_seconds` (less one chunk and 0.5 s), with a warning",
            }),
          ),
          format: withDefault(
            OneOf(['wav', 'flac'], {
              default: 'wav',
              description:
                '`wav` (16-bit PCM) or `flac` (lossless, about half the size; needs the `flac` encoder on PATH, Debian package `flac`, else WAV with a warning)',
            }),
          ),
          background_per_hour: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 3600,
              default: 2,
              description: 'clips of audio with no event kept per hour of audio, at random places, as negatives for training; `0` = none',
            }),
          ),
          background_seconds: withDefault(
            Type.Number({ minimum: 1, maximum: 60, default: 5, description: 'length of a background clip (≤ `ring_buffer_seconds`)' }),
          ),
          top_k: withDefault(
            Type.Integer({
              minimum: 1,
              maximum: 50,
              default: 5,
              description: 'classes stored per classified patch of an event (`scores` table: what the model heard)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'evidence clips cut from the ring buffer (docs/storage.md)' },
      ),
    ),
    retention: withDefault(
      Type.Object(
        {
          max_clip_bytes: withDefault(
            Type.Integer({
              minimum: 1048576,
              default: 2147483648,
              description:
                'disk quota for clip files; beyond it the oldest go first, unlabelled non-hostile and background clips before hostile or labelled ones',
            }),
          ),
          clip_max_age_days: withDefault(
            Type.Number({
              exclusiveMinimum: 0,
              default: 30,
              description: 'unlabelled clips of non-hostile events and background clips are deleted after this many days',
            }),
          ),
          kept_clip_max_age_days: withDefault(
            Type.Number({ exclusiveMinimum: 0, default: 365, description: 'clips of hostile events and labelled clips are deleted after this many days' }),
          ),
          event_max_age_days: withDefault(
            Type.Number({
              exclusiveMinimum: 0,
              default: 730,
              description: 'events (with their scores), capture gaps and the rows of deleted clips older than this are pruned from the database',
            }),
          ),
          interval_seconds: withDefault(
            Type.Number({ minimum: 1, maximum: 86400, default: 600, description: 'seconds between retention passes (one also runs at start)' }),
          ),
          min_free_bytes: withDefault(
            Type.Integer({
              minimum: 0,
              maximum: 1099511627776,
              default: 67108864,
              description:
                'free-space floor of the data directory\'s file system: below it no clip is written and the oldest clips are deleted (in the quota\'s order) until it holds again; checked every 5 s and at once when a write finds the disk full (docs/storage.md, "A full disk")',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'what is deleted, and when (docs/storage.md)' },
      ),
    ),
    api: withDefault(
      Type.Object(
        {
          enabled: withDefault(
            Type.Boolean({
              default: true,
              description:
                'serve the HTTP API (events, clips, labelling queue, labels, export, `/healthz`, `/metrics`); see docs/api.md. A port already in use is logged and the daemon runs on without it',
            }),
          ),
          host: withDefault(
            Type.String({
              minLength: 1,
              default: '127.0.0.1',
              description: 'bind address; anything but `127.0.0.1`, `::1` or `localhost` requires `api.token` or `api.token_file` (the API serves audio)',
            }),
          ),
          port: withDefault(
            Type.Integer({ minimum: 0, maximum: 65535, default: 8466, description: 'TCP port; `0` = any free port (the daemon logs the address it got)' }),
          ),
          token: Type.Optional(
            Type.String({
              minLength: 16,
              description: 'bearer token, at least 16 characters; prefer `api.token_file` (a config file is often world-readable)',
            }),
          ),
          token_file: Type.Optional(
            Type.String({
              minLength: 1,
              description:
                'file whose first line is the bearer token, e.g. `/run/credentials/earshot.service/api_token` (systemd credential `api_token`); relative to the config file',
            }),
          ),
          body_limit_bytes: withDefault(
            Type.Integer({
              minimum: 1024,
              maximum: 104857600,
              default: 1048576,
              description: 'largest request body accepted (label uploads); larger ones get 413',
            }),
          ),
          public_url: Type.Optional(
            Type.String({
              pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
              description:
                "the API as others reach it (NAT, reverse proxy), e.g. `https://sensors.example.org/garage`: alerts' `clip_url` and Home Assistant's `configuration_url` start with it; default: the address the API listens on (a wildcard bind address becomes the host name)",
            }),
          ),
          allowed_hosts: Type.Optional(
            Type.Array(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.:-]+)$', maxLength: 255 }), {
              maxItems: 64,
              description:
                'more names the API answers to in the `Host` header, besides `localhost`, `127.0.0.1`, `::1`, `api.host` and the host of `api.public_url`; any other Host gets `421` (DNS rebinding, docs/api.md). With `api.host: 0.0.0.0` or `::` and no list, any Host is accepted',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the HTTP API (src/api): events, clips, active-learning queue, export, health, metrics' },
      ),
    ),
    mqtt: withDefault(
      Type.Object(
        {
          url: Type.Optional(
            Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://', description: '`mqtt://host:1883`, `mqtts://host:8883`', 'x-default': 'none (no publishing)' }),
          ),
          topic_prefix: withDefault(Type.String({ pattern: '^[^#+\\s]+$', default: 'earshot', description: 'first topic level' })),
          qos: withDefault(OneOf([0, 1, 2], { default: 1, description: 'QoS of alerts and event states' })),
          client_id: Type.Optional(Type.String({ minLength: 1, description: 'the MQTT client id', 'x-default': '`earshot-<node_id>`' })),
          username: Type.Optional(Type.String({ description: 'the MQTT user name' })),
          password_file: Type.Optional(Type.String({ minLength: 1, description: 'file holding the password (or `EARSHOT_MQTT_PASSWORD`); never logged' })),
          drain_timeout_seconds: withDefault(
            Type.Number({ minimum: 0, maximum: 600, default: 10, description: 'at exit, how long to wait for the broker to acknowledge queued alerts' }),
          ),
          tls: withDefault(
            Type.Object(
              {
                ca_file: Type.Optional(
                  Type.String({
                    minLength: 1,
                    description: "PEM file of the CAs that sign the broker's certificate, for `mqtts://`; relative to the config file",
                    'x-default': 'none (system CAs)',
                  }),
                ),
                cert_file: Type.Optional(
                  Type.String({
                    minLength: 1,
                    description: 'PEM client certificate (with `mqtt.tls.key_file`); relative to the config file',
                    'x-default': 'none (no client certificate)',
                  }),
                ),
                key_file: Type.Optional(
                  Type.String({
                    minLength: 1,
                    description: 'PEM key of the client certificate (with `mqtt.tls.cert_file`); relative to the config file',
                    'x-default': 'none (no client certificate)',
                  }),
                ),
                reject_unauthorized: withDefault(Type.Boolean({ default: true, description: "verify the broker's certificate and host name" })),
              },
              { additionalProperties: false, default: {}, description: 'mqtts:// material (PEM files)' },
            ),
          ),
          level_interval_seconds: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 86400,
              default: 0,
              description: 'seconds of audio between sound level messages (`<prefix>/<node>/level`); `0` = off',
            }),
          ),
          health_interval_seconds: withDefault(
            Type.Number({
              minimum: 0,
              maximum: 86400,
              default: 60,
              description: 'seconds between retained health messages (`<prefix>/<node>/health`); `0` = off',
            }),
          ),
          discovery: withDefault(
            Type.Object(
              {
                enabled: withDefault(Type.Boolean({ default: true, description: 'Home Assistant MQTT discovery' })),
                prefix: withDefault(Type.String({ pattern: '^[^#+\\s]+$', default: 'homeassistant', description: "Home Assistant's discovery topic prefix" })),
              },
              { additionalProperties: false, default: {}, description: 'Home Assistant MQTT discovery' },
            ),
          ),
          outbox_max_messages: withDefault(
            Type.Integer({
              minimum: 10,
              maximum: 10000000,
              default: 100000,
              description: 'bound on unsent outbox rows; beyond it the oldest non-hostile rows are dropped first (logged, counted)',
            }),
          ),
          max_in_flight: withDefault(Type.Integer({ minimum: 1, maximum: 1000, default: 16, description: 'outbox messages awaiting PUBACK at once' })),
          reconnect_min_seconds: withDefault(
            Type.Number({
              minimum: 0.05,
              maximum: 3600,
              default: 1,
              description: 'reconnect backoff: the first delay (exponential, full jitter, capped; ≤ `mqtt.reconnect_max_seconds`)',
            }),
          ),
          reconnect_max_seconds: withDefault(Type.Number({ minimum: 0.05, maximum: 3600, default: 30, description: 'reconnect backoff: the cap' })),
          keepalive_seconds: withDefault(
            Type.Integer({
              minimum: 1,
              maximum: 65535,
              default: 30,
              description: 'MQTT keepalive (PINGREQ interval); a silent broker is noticed within 1.5 × this',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'alerts, event states, levels and health over MQTT (docs/mqtt.md)' },
      ),
    ),
    microphone_health: withDefault(MicrophoneHealthSchema),
  },
  { additionalProperties: false },
);

/** A config file's contents after ajv filled in the defaults (paths still as written, labels not merged). */
export type ConfigFile = Static<typeof ConfigSchema>;

/** One entry of `detection.labels` as written in the file. */
export type LabelEntry = Static<typeof LabelEntrySchema>;

/**
 * A label's settings after merging over the defaults (src/config/labels.ts): group, threshold,
 * release and enabled always set. Scores are the model's (0..1); the label's score is the max over its classes.
 */
export type LabelConfig = Required<Pick<LabelEntry, 'group' | 'threshold' | 'release' | 'enabled'>> & Pick<LabelEntry, 'classes' | 'combine'>;

/** A model run beside the primary `model` (same patches); `path` is absolute after parsing. */
export type ExtraModelConfig = Static<typeof ExtraModelSchema>;

/**
 * The whole configuration as earshot uses it (src/config/load.ts): {@link ConfigFile} with
 * `node_id`, `data_dir` and `model_dir` filled in, every path absolute, and `detection.labels`
 * the full merged table. Each key's meaning: {@link ConfigSchema} or docs/configuration.md.
 */
export type EarshotConfig = Omit<ConfigFile, 'node_id' | 'data_dir' | 'model_dir' | 'detection'> & {
  node_id: string;
  data_dir: string;
  model_dir: string;
  detection: Omit<ConfigFile['detection'], 'labels'> & { labels: Record<string, LabelConfig> };
};
