/** `GET /api/v1/events`: stored events, filtered, oldest onset first (or newest first), with cursor pagination. */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { decodeCursor, encodeCursor, parseTimeRange, sendError, TIME_RANGE_PROPERTIES, type ApiContext } from '../context.js';
import { Enum, ERROR_RESPONSES, EventsPageSchema } from '../schemas.js';

/** The query of `GET /api/v1/events` (docs/api.md); parameters with a default are always there. */
const EventsQuery = Type.Object(
  {
    ...TIME_RANGE_PROPERTIES,
    group: Type.Optional(Enum(['hostile', 'non_hostile'])),
    label: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]*$', maxLength: 64 })),
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    node: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 64 })),
    unlabelled: Type.Boolean({ default: false }),
    order: Enum(['asc', 'desc'], { default: 'asc' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(Type.String({ maxLength: 400 })),
  },
  { additionalProperties: false },
);

/** Registers the events route. */
export function registerEventRoutes(app: FastifyInstance, context: ApiContext): void {
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .get('/api/v1/events', { schema: { querystring: EventsQuery, response: { 200: EventsPageSchema, ...ERROR_RESPONSES } } }, async (request, reply) => {
      const query = request.query;
      const range = parseTimeRange(query);
      if ('error' in range) return sendError(reply, 400, range.error);
      let after: { onsetUtc: string; id: string } | undefined;
      if (query.cursor !== undefined) {
        const decoded = decodeCursor(query.cursor);
        if (!Array.isArray(decoded) || decoded.length !== 2 || typeof decoded[0] !== 'string' || typeof decoded[1] !== 'string') {
          return sendError(reply, 400, 'cursor: not a cursor this API returned (use next_cursor as given)');
        }
        after = { onsetUtc: decoded[0], id: decoded[1] };
      }
      const events = context.queries.events({
        since: range.since,
        until: range.until,
        group: query.group,
        label: query.label,
        minScore: query.min_score,
        node: query.node,
        unlabelled: query.unlabelled,
        order: query.order,
        limit: query.limit,
        after,
      });
      const last = events.at(-1);
      // A full page may have more after it; a short page is the end.
      const next = events.length === query.limit && last ? encodeCursor([last.onset_utc, last.id]) : null;
      return { events, next_cursor: next };
    });
}
