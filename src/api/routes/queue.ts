/**
 * `GET /api/v1/active-learning/queue`: unlabelled clips worth a person's ear (docs/api.md).
 *
 * - `uncertainty` (default): event clips whose event the model was least sure of: the label's peak
 *   score closest to its threshold; with a head, the highest entropy of the head's label
 *   probabilities (uncertainty sampling: Settles, "Active Learning Literature Survey", 2009, §3.1);
 * - `margin`: event clips by how close the label's peak score sat to its threshold, with a head
 *   too (the head's probability against the head's threshold): in the simulated learning loop it
 *   labelled more useful clips than the head's entropy (docs/evaluation.md, "The loop's starting
 *   heads and its queue");
 * - `top`: event clips by peak score, highest first (check the alerts the node is surest of);
 * - `random`: any unlabelled clip, background clips included (the negatives the model never
 *   flagged), in a fixed pseudo-random order per `seed`.
 *
 * Pages are offset-based (`next_cursor`); the order is fixed for a given state of the database, and
 * a clip that gets labelled leaves the queue.
 */
import { randomInt } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { decodeCursor, encodeCursor, sendError, type ApiContext } from '../context.js';
import { Enum, ERROR_RESPONSES, QueuePageSchema, QUEUE_STRATEGIES } from '../schemas.js';

/** The query of the queue route; parameters with a default are always there. */
const QueueQuery = Type.Object(
  {
    strategy: Enum(QUEUE_STRATEGIES, { default: 'uncertainty' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

/** Deepest offset a queue cursor may carry: far beyond any real queue, well inside SQLite's integers. */
const MAX_QUEUE_OFFSET = 1_000_000_000;

/** Registers the active-learning queue route. */
export function registerQueueRoutes(app: FastifyInstance, context: ApiContext): void {
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .get(
      '/api/v1/active-learning/queue',
      { schema: { querystring: QueueQuery, response: { 200: QueuePageSchema, ...ERROR_RESPONSES } } },
      async (request, reply) => {
        const { strategy, limit } = request.query;
        let offset = 0;
        let seed = request.query.seed ?? randomInt(0, 2 ** 32 - 1);
        if (request.query.cursor !== undefined) {
          const decoded = decodeCursor(request.query.cursor) as { strategy?: unknown; offset?: unknown; seed?: unknown } | undefined;
          if (
            !decoded ||
            decoded.strategy !== strategy ||
            !Number.isInteger(decoded.offset) ||
            !Number.isInteger(decoded.seed) ||
            (decoded.offset as number) < 0 ||
            (decoded.offset as number) > MAX_QUEUE_OFFSET ||
            (decoded.seed as number) < 0 ||
            (decoded.seed as number) > 4294967295
          ) {
            return sendError(reply, 400, `cursor: not a cursor of the ${strategy} queue (use next_cursor as given, with the same strategy)`);
          }
          offset = decoded.offset as number;
          seed = decoded.seed as number;
        }
        const clips = context.queries.queue(strategy, limit, offset, seed);
        const next = clips.length === limit ? encodeCursor({ strategy, offset: offset + limit, seed }) : null;
        return { strategy, seed: strategy === 'random' ? seed : undefined, clips, next_cursor: next };
      },
    );
}
