/** `GET /api/v1/export`: clips, labels.tsv and manifest.json as one streamed .tar.gz (src/api/export.ts). */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { parseTimeRange, sendError, TIME_RANGE_PROPERTIES, type ApiContext } from '../context.js';
import { streamExport } from '../export.js';

/** The query of `GET /api/v1/export`: clips whose start is in [since, until), only labelled ones with `labelled=true`. */
const ExportQuery = Type.Object({ ...TIME_RANGE_PROPERTIES, labelled: Type.Boolean({ default: false }) }, { additionalProperties: false });

/** Registers the export route. */
export function registerExportRoutes(app: FastifyInstance, context: ApiContext): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/v1/export',
    // No response schema: the answer is a stream (refusals are sendError's JSON).
    { schema: { querystring: ExportQuery } },
    async (request, reply) => {
      const range = parseTimeRange(request.query);
      if ('error' in range) return sendError(reply, 400, range.error);
      const stamp = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
      const stream = streamExport(
        { queries: context.queries, dataRoot: context.dataRoot, config: context.config, model: context.model, log: context.log, signal: context.closing },
        { since: range.since, until: range.until, labelledOnly: request.query.labelled },
      );
      return reply
        .type('application/gzip')
        .header('Content-Disposition', `attachment; filename="earshot-${context.config.node_id}-${stamp}.tar.gz"`)
        .header('Cache-Control', 'no-store')
        .send(stream);
    },
  );
}
