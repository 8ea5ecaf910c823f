/**
 * The shapes the HTTP API answers with (docs/api.md, docs/web.md), as TypeBox JSON schemas: each
 * shape is stated once here, its TypeScript type derived from it (`Static`), and the routes hand the
 * same schemas to fastify as response schemas (fast-json-stringify serialises with them).
 *
 * Careful when changing a view: the response serializer DROPS a property its schema does not list
 * and coerces a value to the declared type (null to `""` or `0` unless the type allows null), and a
 * missing required property is a 500. test/api-response-schemas.test.ts checks every JSON route's
 * body against what its handler returned. Property order is the order the handlers build objects in,
 * so the bytes on the wire stay as they were.
 *
 * Request schemas (query, params, body) sit with their route in routes/*.ts.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import type { HeadIdentity } from '../inference/head/head-identity.js';
import type { MicrophoneHealthJson } from '../monitor/microphone-status.js';

/**
 * `{ enum: values }` with the union of `values` as its type: for query and body parameters, whose
 * validation (and its error text, "must be equal to one of the allowed values") stays as it was.
 */
export function Enum<const T extends readonly string[]>(values: T, options: { default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ enum: [...values], ...options });
}

/** A string that is one of `values` (a response property: typed, so the serializer writes it as a string). */
export function StringEnum<const T extends readonly string[]>(values: T) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });
}

/** `schema` or null, as a JSON-schema type list (`["number", "null"]`): the serializer writes null as null. */
export function Nullable<T extends TSchema & { type: string }>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
}

/**
 * `schema` without its `required` list, for the serializer only (the type keeps what is required):
 * fast-json-stringify writes required properties before optional ones, so an object with an
 * optional property between required ones would come out in another order than it always had.
 */
function KeepOrder<T extends TObject>(schema: T) {
  const { required: _required, ...unordered } = schema;
  return Type.Unsafe<Static<T>>(unordered);
}

const GROUP_VALUES = ['hostile', 'non_hostile'] as const;

/** How the active-learning queue picks clips (docs/api.md). */
export const QUEUE_STRATEGIES = ['uncertainty', 'margin', 'random', 'top'] as const;
export type QueueStrategy = (typeof QUEUE_STRATEGIES)[number];

/**
 * An error answer, in fastify's own shape (`sendError` in context.ts, and fastify's errors such as
 * a failed validation, which add `code`, e.g. `FST_ERR_VALIDATION`).
 */
export const ApiErrorSchema = KeepOrder(
  Type.Object({
    statusCode: Type.Integer(),
    code: Type.Optional(Type.String()),
    error: Type.String(),
    message: Type.String(),
  }),
);
export type ApiError = Static<typeof ApiErrorSchema>;

/** The error answers of a route, for its `response` schema: every 4xx and 5xx is an {@link ApiErrorSchema}. */
export const ERROR_RESPONSES = { '4xx': ApiErrorSchema, '5xx': ApiErrorSchema } as const;

/** A clip of an event, as `GET /api/v1/events` lists it. */
export const EventClipSchema = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  status: Type.String(),
  /** File size, bytes. */
  bytes: Type.Integer(),
  sha256: Type.String(),
  /** The API path of its audio. */
  url: Type.String(),
});

/** A stored event as the API returns it. Times: ISO-8601 UTC, and seconds from stream start. */
export const EventViewSchema = Type.Object({
  id: Type.String(),
  node_id: Type.String(),
  label: Type.String(),
  group: StringEnum(GROUP_VALUES),
  onset_utc: Type.String(),
  /** null while the event is open. */
  offset_utc: Nullable(Type.String()),
  onset_s: Type.Number(),
  offset_s: Nullable(Type.Number()),
  peak_score: Type.Number(),
  mean_score: Type.Number(),
  /** null for digital silence. */
  peak_dbfs: Nullable(Type.Number()),
  patch_count: Type.Integer(),
  end_reason: Nullable(Type.String()),
  model_id: Type.String(),
  model_sha256: Type.String(),
  source: Type.String(),
  stream_id: Type.String(),
  /** true: NTP-synchronised at onset; null: unknown (older rows). */
  clock_synced: Nullable(Type.Boolean()),
  /** The label's threshold when the event opened (0..1), null for older rows. */
  threshold: Nullable(Type.Number()),
  clips: Type.Array(EventClipSchema),
});
export type EventView = Static<typeof EventViewSchema>;

/** The event a clip was cut for, with its span in seconds from the clip's first sample. */
export const ClipEventViewSchema = Type.Object({
  id: Type.String(),
  label: Type.String(),
  group: StringEnum(GROUP_VALUES),
  onset_utc: Type.String(),
  peak_score: Type.Number(),
  threshold: Nullable(Type.Number()),
  model_id: Type.String(),
  model_sha256: Type.String(),
  /** Event onset and offset within the clip, seconds, clamped to [0, clip duration]. */
  onset_in_clip_s: Type.Number(),
  offset_in_clip_s: Type.Number(),
});
export type ClipEventView = Static<typeof ClipEventViewSchema>;

const CLIP_VIEW_PROPERTIES = {
  id: Type.String(),
  /** The clip's rowid: increases with every clip stored; the `after` cursor of `GET /api/v1/clips`. */
  seq: Type.Integer(),
  event_id: Nullable(Type.String()),
  kind: StringEnum(['event', 'background']),
  group: Type.Unsafe<(typeof GROUP_VALUES)[number] | null>({ type: ['string', 'null'], enum: [...GROUP_VALUES, null] }),
  format: StringEnum(['wav', 'flac']),
  start_utc: Type.String(),
  end_utc: Type.String(),
  /** (end_sample − start_sample) / 16000, seconds. */
  duration_s: Type.Number(),
  /** Hz. */
  sample_rate: Type.Integer(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  /** Samples inside the clip that capture lost (held as zeros). */
  gap_samples: Type.Integer(),
  /** `ok`; `missing` (reconcile found the file gone); `deleted` (by retention). */
  status: StringEnum(['ok', 'missing', 'deleted']),
  created_utc: Type.String(),
  /** Labels stored for the clip. */
  labels: Type.Integer(),
  event: Type.Unsafe<ClipEventView | null>({ ...ClipEventViewSchema, type: ['object', 'null'] }),
  url: Type.String(),
  spectrogram_url: Type.String(),
};

/** A clip as the API returns it. */
export const ClipViewSchema = Type.Object(CLIP_VIEW_PROPERTIES);
export type ClipView = Static<typeof ClipViewSchema>;

/** A queued clip (`GET /api/v1/active-learning/queue`): the clip plus why it was chosen. */
export const QueueItemSchema = Type.Object({
  ...CLIP_VIEW_PROPERTIES,
  /** |peak score − threshold| of the clip's event (null without a threshold). */
  threshold_margin: Nullable(Type.Number()),
  /** Smallest gap between the top two classes of one patch of the event (null without stored scores); informational, not ranked on. */
  top2_margin: Nullable(Type.Number()),
  /**
   * With a head: the normalised entropy (0..1) of the head's label probabilities in the event's
   * least certain patch (from the stored `head:<label>` scores; null without them).
   */
  head_entropy: Nullable(Type.Number()),
  /** What the uncertainty queue ranks by, lower = less certain: 1 − head_entropy with a head, else threshold_margin. */
  uncertainty: Nullable(Type.Number()),
});
export type QueueItem = Static<typeof QueueItemSchema>;

/** One stored label. Times in seconds from the clip's first sample; null = the whole clip. */
export const LabelViewSchema = Type.Object({
  id: Type.Integer(),
  clip_id: Type.String(),
  label: Type.String(),
  onset_s: Nullable(Type.Number()),
  offset_s: Nullable(Type.Number()),
  source: StringEnum(['human', 'import']),
  annotator: Nullable(Type.String()),
  created_utc: Type.String(),
});
export type LabelView = Static<typeof LabelViewSchema>;

/** A clip's labels: the answer of `GET` and `POST /api/v1/clips/:id/labels` (the POST: the labels it stored). */
export const ClipLabelsSchema = Type.Object({ clip_id: Type.String(), labels: Type.Array(LabelViewSchema) });

/** A class score of an event: its highest over the event's patches. */
export const ClassScoreSchema = Type.Object({ model_id: Type.String(), class: Type.String(), score: Type.Number() });
export type ClassScore = Static<typeof ClassScoreSchema>;

/** A head's identity (src/inference/head/head-identity.ts), or null without a head. */
const NullableHead = Type.Unsafe<HeadIdentity | null>({
  type: ['object', 'null'],
  properties: {
    sha256: Type.String(),
    trained_at: Type.String(),
    clip_count: Type.Integer(),
    labels: Type.Array(Type.String()),
    origin: StringEnum(['config', 'auto', 'push']),
  },
  required: ['sha256', 'trained_at', 'clip_count', 'labels', 'origin'],
});

/** `GET /api/v1/head`. */
export const HeadStateSchema = Type.Object({ head: NullableHead, previous: NullableHead, can_roll_back: Type.Boolean() });

/** `PUT /api/v1/head`, `POST /api/v1/head/rollback`: the head now in use. */
export const HeadInUseSchema = Type.Object({ head: NullableHead });

/** `GET /api/v1/node`. */
export const NodeInfoSchema = Type.Object({
  node_id: Type.String(),
  version: Type.String(),
  /** The API's version: 1. */
  api: Type.Integer(),
  /** The model the daemon runs, null when unknown. */
  model: Type.Unsafe<{ id: string; sha256: string } | null>({
    type: ['object', 'null'],
    properties: { id: Type.String(), sha256: Type.String() },
    required: ['id', 'sha256'],
  }),
  head: NullableHead,
  /** sha256 of the canonical config without api.token (export.ts). */
  config_hash: Type.String(),
});

/** The body of `GET /healthz` (200 and 503 alike). */
export const HealthBodySchema = Type.Object({
  /** `ok`: audio arrives, inference keeps up, disk has room. `unhealthy`: see `problems`. `no_pipeline`: the API runs without a daemon. */
  status: StringEnum(['ok', 'unhealthy', 'no_pipeline']),
  node_id: Type.String(),
  version: Type.String(),
  uptime_s: Type.Integer(),
  capture: Type.Object({
    alive: Nullable(Type.Boolean()),
    last_frame_utc: Nullable(Type.String()),
    last_frame_age_s: Nullable(Type.Number()),
    audio_s: Nullable(Type.Number()),
  }),
  inference: Type.Object({
    keeping_up: Nullable(Type.Boolean()),
    real_time_factor: Nullable(Type.Number()),
    /** Seconds between the newest captured sample and the newest patch dealt with (docs/service.md, "When inference falls behind"). */
    lag_s: Nullable(Type.Number()),
    /** True while only every other patch is classified. */
    degraded: Nullable(Type.Boolean()),
    skipped_patches: Nullable(Type.Integer()),
    failed_patches: Nullable(Type.Integer()),
    worker_restarts: Nullable(Type.Integer()),
  }),
  /** Unsent MQTT outbox rows, null without a broker. */
  outbox_depth: Nullable(Type.Integer()),
  /** Is the clock NTP-synchronised: event times are wall-clock UTC. null: unknown, or no daemon. */
  clock_synced: Nullable(Type.Boolean()),
  /** Clip bytes written since 00:00 UTC (SD-card wear). */
  clip_bytes_today: Type.Integer(),
  disk_free_bytes: Nullable(Type.Integer()),
  /** The head the node runs, null without one. */
  head: NullableHead,
  /**
   * Microphone health, null without a daemon or with microphone_health off. Its shape is the
   * monitor's (docs/schemas/microphone.schema.json, without node_id and utc): passed through whole.
   */
  microphone: Type.Unsafe<MicrophoneHealthJson | null>({ type: ['object', 'null'], additionalProperties: true }),
  problems: Type.Array(Type.String()),
});
export type HealthBody = Static<typeof HealthBodySchema>;

/** One page of events; `next_cursor` is null on the last page. */
export const EventsPageSchema = Type.Object({ events: Type.Array(EventViewSchema), next_cursor: Nullable(Type.String()) });

/** One page of clips: `next_after` is the `after` of the next page. */
export const ClipsPageSchema = Type.Object({ clips: Type.Array(ClipViewSchema), next_after: Type.Integer() });

/** One page of the queue: `seed` only for the random strategy, `next_cursor` null on the last page. */
export const QueuePageSchema = KeepOrder(
  Type.Object({
    strategy: StringEnum(QUEUE_STRATEGIES),
    seed: Type.Optional(Type.Integer()),
    clips: Type.Array(QueueItemSchema),
    next_cursor: Nullable(Type.String()),
  }),
);

/** `GET /api/v1/clips/:id/details`: `head` holds the highest `head:<label>` score of each label (empty without a head). */
export const ClipDetailsSchema = Type.Object({
  clip: ClipViewSchema,
  top_classes: Type.Array(ClassScoreSchema),
  head: Type.Array(Type.Object({ label: Type.String(), probability: Type.Number() })),
  labels: Type.Array(LabelViewSchema),
});

/** `GET /api/v1/review/config`: the enabled labels in configuration order, and the node ids that have events. */
export const ReviewConfigSchema = Type.Object({
  node_id: Type.String(),
  labels: Type.Array(Type.Object({ name: Type.String(), group: StringEnum(GROUP_VALUES), threshold: Type.Number() })),
  negative_label: Type.String(),
  nodes: Type.Array(Type.String()),
});

/** `GET /api/v1/stats/daily`: per label, one count per day of `days` (YYYY-MM-DD, oldest first). */
export const DailyStatsSchema = Type.Object({
  days: Type.Array(Type.String()),
  labels: Type.Array(Type.Object({ label: Type.String(), group: Type.String(), counts: Type.Array(Type.Integer()) })),
});
