/** `GET /api/v1/export`: clips, labels.tsv and manifest.json as one streamed .tar.gz (src/api/export.ts). */
import type { FastifyInstance } from 'fastify';
import { parseTimeRange, sendError, TIME_RANGE_PROPERTIES, type ApiContext } from '../context.js';
import { streamExport } from '../export.js';

interface ExportQuery {
  since?: string;
  until?: string;
  labelled: boolean;
}

/** Registers the export route. */
export function registerExportRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get<{ Querystring: ExportQuery }>(
    '/api/v1/export',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...TIME_RANGE_PROPERTIES,
            labelled: { type: 'boolean', default: false },
          },
        },
      },
    },
    async (request, reply) => {
      const range = parseTimeRange(request.query);
      if ('error' in range) return sendError(reply, 400, range.error);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
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
