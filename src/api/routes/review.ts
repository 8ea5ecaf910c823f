/**
 * The routes the review page (src/web, docs/web.md) needs beyond the others:
 * - `GET /api/v1/events/stream`: Server-Sent Events, one `event` message per new, ended or newly
 *   clipped event, one `clip` message per clip stored (src/api/event-feed.ts);
 * - `DELETE /api/v1/clips/:id/labels/:label_id`: removes one label (the page's undo);
 * - `GET /api/v1/clips/:id/details`: the clip, its event's top classes, a head's label
 *   probabilities (when the node ran one) and its labels;
 * - `GET /api/v1/review/config`: the configured labels, the negative label, the node ids stored;
 * - `GET /api/v1/stats/daily`: events per label per UTC day.
 *
 * Like every route they sit behind the bearer token when one is set: the stream is read with
 * `fetch` and an `Authorization` header (an EventSource cannot send one), never a token in the URL.
 */
import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { CLIP_ID_PARAMS, sendError, type ApiContext } from '../context.js';
import { EventFeed, type FeedMessage } from '../event-feed.js';
import { toClipView } from '../queries.js';
import { ClipDetailsSchema, DailyStatsSchema, ERROR_RESPONSES, ReviewConfigSchema } from '../schemas.js';

/** The label the page stores for "false alarm" (and for a background clip confirmed empty): no configured sound in the clip. */
export const NEGATIVE_LABEL = 'none';

/** Streams open at once at most; more get 503 (each holds a socket and a listener). */
const MAX_STREAMS = 16;

/** Seconds between two comment lines on an idle stream, so proxies and clients see it alive. */
const KEEPALIVE_S = 15;

/** Days the daily chart covers at most. */
const MAX_DAYS = 366;

/** `DELETE /api/v1/clips/:id/labels/:label_id`. */
const LabelParams = Type.Object(
  { id: CLIP_ID_PARAMS.properties.id, label_id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);

/** The query of `GET /api/v1/stats/daily`; `days` is always there (default 14). */
const DailyQuery = Type.Object(
  {
    days: Type.Integer({ minimum: 1, maximum: MAX_DAYS, default: 14 }),
    node: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 64 })),
  },
  { additionalProperties: false },
);

/** Registers the review page's routes. */
export function registerReviewRoutes(app: FastifyInstance, context: ApiContext): void {
  const { queries } = context;
  const feed = new EventFeed(queries);
  // Prepared once (better-sqlite3 is synchronous: nothing is re-parsed on the daemon's thread).
  const deleteLabel = queries.db.prepare('DELETE FROM labels WHERE id = ? AND clip_id = ?');
  const nodeIds = queries.db.prepare('SELECT DISTINCT node_id FROM events ORDER BY node_id LIMIT 100');
  const newestOnset = queries.db.prepare('SELECT MAX(onset_utc) AS t FROM events WHERE (@node IS NULL OR node_id = @node)');
  // A head's label probabilities are stored as `head:<label>` classes among an event's top-k scores.
  const headScores = queries.db.prepare(`SELECT substr(class, 6) AS label, MAX(score) AS probability FROM scores
    WHERE event_id = ? AND class LIKE 'head:%' GROUP BY class ORDER BY probability DESC, label`);
  const perDay = queries.db.prepare(`SELECT substr(onset_utc, 1, 10) AS day, label, grp, COUNT(*) AS n FROM events
    WHERE onset_utc >= @since AND (@node IS NULL OR node_id = @node) GROUP BY day, label ORDER BY label`);
  const streams = new Set<PassThrough>();
  app.addHook('preClose', async () => {
    feed.close();
    for (const stream of streams) stream.end();
  });

  app.get('/api/v1/events/stream', async (_request, reply) => {
    if (streams.size >= MAX_STREAMS) {
      reply.header('Retry-After', '5');
      return sendError(reply, 503, `busy: ${streams.size} event streams are open`);
    }
    const stream = new PassThrough();
    streams.add(stream);
    const send = (messages: FeedMessage[]) => {
      for (const message of messages) {
        const data = message.type === 'event' ? message.event : message.clip;
        stream.write(`event: ${message.type}\ndata: ${JSON.stringify(data)}\n\n`);
      }
    };
    const unsubscribe = feed.subscribe(send);
    const keepalive = setInterval(() => stream.write(': keepalive\n\n'), KEEPALIVE_S * 1000);
    keepalive.unref();
    const end = () => {
      clearInterval(keepalive);
      unsubscribe();
      streams.delete(stream);
      stream.end();
    };
    // The response closes when the client goes (or the server stops): stop listening then.
    reply.raw.once('close', end);
    stream.once('close', end);
    // The first message says the stream is live: events stored from now on will come.
    stream.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ node_id: context.config.node_id })}\n\n`);
    return reply.type('text/event-stream; charset=utf-8').header('Cache-Control', 'no-store').header('X-Accel-Buffering', 'no').send(stream);
  });

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.delete(
    '/api/v1/clips/:id/labels/:label_id',
    // 204 without a body on success: no response schema.
    { schema: { params: LabelParams } },
    async (request, reply) => {
      const { id, label_id: labelId } = request.params;
      const deleted = deleteLabel.run(labelId, id).changes;
      if (deleted === 0) return sendError(reply, 404, `clip ${id}: no label ${labelId}`);
      context.onLabelsChanged?.(id);
      return reply.code(204).send();
    },
  );

  api.get(
    '/api/v1/clips/:id/details',
    { schema: { params: CLIP_ID_PARAMS, response: { 200: ClipDetailsSchema, ...ERROR_RESPONSES } } },
    async (request, reply) => {
      const clip = queries.clip(request.params.id);
      if (!clip) return sendError(reply, 404, `clip ${request.params.id}: not found`);
      const k = context.config.clips.top_k;
      const classes = clip.event_id
        ? queries
            .topClasses(clip.event_id, k + 32)
            .filter((c) => !c.class.startsWith('head:'))
            .slice(0, k)
        : [];
      return {
        clip: toClipView(clip),
        top_classes: classes,
        head: clip.event_id ? (headScores.all(clip.event_id) as { label: string; probability: number }[]) : [],
        labels: queries.labels(clip.id),
      };
    },
  );

  api.get('/api/v1/review/config', { schema: { response: { 200: ReviewConfigSchema, ...ERROR_RESPONSES } } }, async () => {
    const labels = Object.entries(context.config.detection.labels)
      .filter(([, label]) => label.enabled)
      .map(([name, label]) => ({ name, group: label.group, threshold: label.threshold }));
    const nodes = (nodeIds.all() as { node_id: string }[]).map((r) => r.node_id);
    return { node_id: context.config.node_id, labels, negative_label: NEGATIVE_LABEL, nodes };
  });

  api.get('/api/v1/stats/daily', { schema: { querystring: DailyQuery, response: { 200: DailyStatsSchema, ...ERROR_RESPONSES } } }, async (request) => {
    const { days } = request.query;
    const node = request.query.node ?? null;
    // The range ends on the day of the newest event (today on a live node; the end of the
    // recording for a copied data dir), so old data still draws a chart.
    const newest = newestOnset.get({ node }) as { t: string | null };
    const endMs = Date.parse(`${(newest.t ?? new Date().toISOString()).slice(0, 10)}T00:00:00Z`);
    const dayList = Array.from({ length: days }, (_, i) => new Date(endMs - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
    const rows = perDay.all({ since: `${dayList[0]}T00:00:00.000Z`, node }) as { day: string; label: string; grp: string; n: number }[];
    const byLabel = new Map<string, { label: string; group: string; counts: number[] }>();
    for (const row of rows) {
      const index = dayList.indexOf(row.day);
      if (index < 0) continue;
      let entry = byLabel.get(row.label);
      if (!entry) {
        entry = { label: row.label, group: row.grp, counts: dayList.map(() => 0) };
        byLabel.set(row.label, entry);
      }
      entry.counts[index] += row.n;
    }
    return { days: dayList, labels: [...byLabel.values()] };
  });
}
