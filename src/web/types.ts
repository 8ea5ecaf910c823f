/**
 * The API's JSON as the page reads it (docs/api.md), derived from the API's own response schemas
 * (src/api/schemas.ts, the TypeBox schemas fastify serialises with): a change to a schema breaks the
 * page's type-check instead of drifting from it. Imports from src/api are type-only (`import type`),
 * so esbuild erases them and nothing of the server ends up in the bundle.
 */
import type { Static } from '@sinclair/typebox';
import type {
  ClassScoreSchema,
  ClipDetailsSchema,
  ClipEventViewSchema,
  ClipViewSchema,
  DailyStatsSchema,
  EventClipSchema,
  EventsPageSchema,
  EventViewSchema,
  HealthBodySchema,
  LabelViewSchema,
  NodeInfoSchema,
  QueueItemSchema,
  QueuePageSchema,
  ReviewConfigSchema,
} from '../api/schemas.js';

/** A label's group: hostile (alerts) or not. */
export type Group = EventItem['group'];

/** A clip of an event (`GET /api/v1/events`). */
export type EventClipRef = Static<typeof EventClipSchema>;

/** A stored event. */
export type EventItem = Static<typeof EventViewSchema>;

/** One page of `GET /api/v1/events`. */
export type EventsPage = Static<typeof EventsPageSchema>;

/** The event a clip was cut for. */
export type ClipEvent = Static<typeof ClipEventViewSchema>;

/** A queued clip (`GET /api/v1/active-learning/queue`): a clip view plus why it was chosen. */
export type QueueItem = Static<typeof QueueItemSchema>;

/**
 * A clip as the page holds it: a clip view (`GET /api/v1/clips/:id/details`) or a queued clip,
 * whose `uncertainty` only the queue has.
 */
export type Clip = Static<typeof ClipViewSchema> & Partial<Pick<QueueItem, 'uncertainty'>>;

/** One page of the active-learning queue. */
export type QueuePage = Static<typeof QueuePageSchema>;

/** One stored label. */
export type StoredLabel = Static<typeof LabelViewSchema>;

/** A class score of an event: its highest over the event's patches. */
export type ClassScore = Static<typeof ClassScoreSchema>;

/** `GET /api/v1/clips/:id/details`: `head` is empty without a head. */
export type ClipDetails = Static<typeof ClipDetailsSchema>;

/** `GET /api/v1/review/config`. */
export type ReviewConfig = Static<typeof ReviewConfigSchema>;

/** A label of the review config. */
export type LabelConfig = ReviewConfig['labels'][number];

/** `GET /healthz` (the same body with 200 and 503). */
export type Health = Static<typeof HealthBodySchema>;

/** `GET /api/v1/node`. */
export type NodeInfo = Static<typeof NodeInfoSchema>;

/** `GET /api/v1/stats/daily`. */
export type DailyStats = Static<typeof DailyStatsSchema>;
