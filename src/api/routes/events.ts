/** `GET /api/v1/events`: stored events, filtered, oldest onset first (or newest first), with cursor pagination. */
import type { FastifyInstance } from 'fastify';
import type { LabelGroup } from '../../types.js';
import { decodeCursor, encodeCursor, parseTimeRange, sendError, TIME_RANGE_PROPERTIES, type ApiContext } from '../context.js';

interface EventsQuery {
  since?: string;
  until?: string;
  group?: LabelGroup;
  label?: string;
  min_score?: number;
  node?: string;
  unlabelled: boolean;
  order: 'asc' | 'desc';
  limit: number;
  cursor?: string;
}

/** Registers the events route. */
export function registerEventRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get<{ Querystring: EventsQuery }>(
    '/api/v1/events',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...TIME_RANGE_PROPERTIES,
            group: { enum: ['hostile', 'non_hostile'] },
            label: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', maxLength: 64 },
            min_score: { type: 'number', minimum: 0, maximum: 1 },
            node: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', maxLength: 64 },
            unlabelled: { type: 'boolean', default: false },
            order: { enum: ['asc', 'desc'], default: 'asc' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            cursor: { type: 'string', maxLength: 400 },
          },
        },
      },
    },
    async (request, reply) => {
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
    },
  );
}
