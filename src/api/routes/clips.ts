/**
 * Clip routes: the list (`GET /api/v1/clips`), the audio (`GET /api/v1/clips/:id`, with ETag =
 * sha256, `If-None-Match`, and single byte ranges per RFC 9110 §14), its picture
 * (`/spectrogram.png`), and its labels (`GET`/`POST /api/v1/clips/:id/labels`).
 *
 * Unknown ids answer 404; a clip whose file retention deleted or reconcile found missing answers
 * 410; a row whose path leads outside the data directory answers 404 and is logged.
 */
import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import rangeParser from 'range-parser';
import { CLIP_ID_PARAMS, sendError, type ApiContext } from '../context.js';
import { isClipFileProblem, openClipFile, type OpenClipFile } from '../clip-file.js';
import { toClipView, type ClipRecord } from '../queries.js';
import { ClipLabelsSchema, ClipsPageSchema, Enum, ERROR_RESPONSES } from '../schemas.js';

const CONTENT_TYPES: Record<ClipRecord['format'], string> = { wav: 'audio/wav', flac: 'audio/flac' };

/** Pictures kept in memory (by clip id and sha256): a labelling UI asks for the same few again. */
const SPECTROGRAM_CACHE_SIZE = 16;

/** Pictures waiting to be drawn at most; beyond it 503 (each holds its clip in memory). */
const SPECTROGRAM_QUEUE = 4;

/** Seconds a label may end after the clip's end (rounding in a hand-made track). */
const LABEL_END_TOLERANCE_S = 0.05;

/** The query of `GET /api/v1/clips`; parameters with a default are always there. */
const ClipsQuery = Type.Object(
  {
    after: Type.Integer({ minimum: 0, default: 0 }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    kind: Type.Optional(Enum(['event', 'background'])),
  },
  { additionalProperties: false },
);

/**
 * The body of `POST /api/v1/clips/:id/labels`. `source` and `replace` have defaults, so they are
 * optional here: the strict body check (hardening.ts) sees the body as sent, before fastify fills them.
 */
const LabelsBody = Type.Object(
  {
    labels: Type.Array(
      Type.Object(
        {
          // Labels end up in TSV files and logs: no control characters (NUL, tabs, line breaks).
          label: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$' }),
          onset_s: Type.Optional(Type.Number({ minimum: 0 })),
          offset_s: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    source: Type.Optional(Enum(['human', 'import'], { default: 'human' })),
    annotator: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })),
    replace: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

/** {@link LabelsBody} after validation: fastify's ajv (useDefaults) has filled `source` and `replace`. */
type ValidLabelsBody = Required<Pick<Static<typeof LabelsBody>, 'source' | 'replace'>> & Static<typeof LabelsBody>;

/** Registers the clip routes. */
export function registerClipRoutes(app: FastifyInstance, context: ApiContext): void {
  const { queries, log } = context;
  const spectrograms = new Map<string, Buffer>();
  let drawing: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  /** The clip row, or a 404/410 reply; `allowGone` keeps rows whose file is gone (labels). */
  const findClip = (id: string, reply: FastifyReply, allowGone = false): ClipRecord | null => {
    const clip = queries.clip(id);
    if (!clip) {
      sendError(reply, 404, `clip ${id}: not found`);
      return null;
    }
    if (clip.status !== 'ok' && !allowGone) {
      sendError(reply, 410, `clip ${id}: ${clip.status === 'deleted' ? 'deleted by retention' : 'its file is missing'}`);
      return null;
    }
    return clip;
  };

  /** Opens the clip's file, or sends 404 (outside the data dir) / 410 (gone). */
  const openFile = async (clip: ClipRecord, reply: FastifyReply): Promise<OpenClipFile | null> => {
    const file = await openClipFile(context.dataRoot, clip.path);
    if (!isClipFileProblem(file)) return file;
    if (file.problem === 'outside') {
      log.warn({ clip: clip.id, path: clip.path, reason: file.reason }, 'refused a clip path outside the data directory');
      sendError(reply, 404, `clip ${clip.id}: file not available`);
    } else {
      sendError(reply, 410, `clip ${clip.id}: its file is missing`);
    }
    return null;
  };

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/api/v1/clips', { schema: { querystring: ClipsQuery, response: { 200: ClipsPageSchema, ...ERROR_RESPONSES } } }, async (request) => {
    const clips = queries.clipsAfter(request.query.after, request.query.limit, request.query.kind).map(toClipView);
    return { clips, next_after: clips.at(-1)?.seq ?? request.query.after };
  });

  // The audio and the picture are streams and buffers: no response schema (refusals are sendError's JSON).
  api.get('/api/v1/clips/:id', { schema: { params: CLIP_ID_PARAMS } }, async (request, reply) => {
    const clip = findClip(request.params.id, reply);
    if (!clip) return reply;
    const file = await openFile(clip, reply);
    if (!file) return reply;
    if (file.size !== clip.bytes) {
      await file.handle.close();
      log.error({ clip: clip.id, path: file.path, bytes: file.size, expected: clip.bytes }, 'clip file size differs from its database row');
      return sendError(reply, 500, `clip ${clip.id}: the file has ${file.size} bytes, the database says ${clip.bytes}`);
    }
    const etag = `"${clip.sha256}"`;
    reply
      .header('ETag', etag)
      .header('Accept-Ranges', 'bytes')
      // A clip id names one recording forever: its bytes never change.
      .header('Cache-Control', 'private, max-age=31536000, immutable')
      .header('Content-Disposition', `inline; filename="${clip.id}.${clip.format}"`)
      .type(CONTENT_TYPES[clip.format]);
    if (etagMatches(request.headers['if-none-match'], clip.sha256)) {
      await file.handle.close();
      return reply.code(304).send();
    }
    let start = 0;
    let end = file.size - 1;
    const rangeHeader = request.headers.range;
    const ifRange = request.headers['if-range'];
    // If-Range with another validator: the client's partial copy is stale; send it all.
    if (rangeHeader && (ifRange === undefined || ifRange === etag)) {
      const ranges = rangeParser(file.size, rangeHeader, { combine: true });
      if (ranges === -1) {
        await file.handle.close();
        reply.header('Content-Range', `bytes */${file.size}`);
        return sendError(reply, 416, `range ${rangeHeader}: outside the clip's ${file.size} bytes`);
      }
      // Malformed ranges, other units and several ranges are ignored (RFC 9110 §14.2 allows it): the whole file.
      if (ranges !== -2 && ranges.type === 'bytes' && ranges.length === 1) {
        start = ranges[0].start;
        end = ranges[0].end;
        reply.code(206).header('Content-Range', `bytes ${start}-${end}/${file.size}`);
      }
    }
    reply.header('Content-Length', end - start + 1);
    if (request.method === 'HEAD' || end < start) {
      await file.handle.close();
      // An empty stream, not an empty body: fastify would otherwise set Content-Length: 0 on a HEAD.
      return reply.send(Readable.from([]));
    }
    return reply.send(file.handle.createReadStream({ start, end, autoClose: true }));
  });

  api.get('/api/v1/clips/:id/spectrogram.png', { schema: { params: CLIP_ID_PARAMS } }, async (request, reply) => {
    const clip = findClip(request.params.id, reply);
    if (!clip) return reply;
    const etag = `"${clip.sha256}-spectrogram-1"`;
    reply.header('ETag', etag).header('Cache-Control', 'private, max-age=86400');
    if (etagMatches(request.headers['if-none-match'], `${clip.sha256}-spectrogram-1`)) return reply.code(304).send();
    const key = `${clip.id}:${clip.sha256}`;
    let png = spectrograms.get(key);
    if (!png) {
      if (waiting >= SPECTROGRAM_QUEUE) {
        reply.header('Retry-After', '2');
        return sendError(reply, 503, `busy: ${waiting} spectrograms are being drawn; retry shortly`);
      }
      const file = await openFile(clip, reply);
      if (!file) return reply;
      let bytes: Buffer;
      try {
        bytes = await file.handle.readFile();
      } finally {
        await file.handle.close();
      }
      // One picture at a time: drawing is CPU work on the daemon's own thread.
      const { drawClipSpectrogram, UndrawableClipError } = await import('../spectrogram.js');
      const scores = clip.event_id ? queries.patchScores(clip.event_id) : [];
      waiting += 1;
      const job = drawing.then(() => drawClipSpectrogram(bytes, clip, scores, context.config.detection.labels));
      drawing = job.catch(() => undefined);
      try {
        png = await job;
      } catch (error) {
        if (error instanceof UndrawableClipError) return sendError(reply, 422, error.message);
        throw error;
      } finally {
        waiting -= 1;
      }
      spectrograms.set(key, png);
      if (spectrograms.size > SPECTROGRAM_CACHE_SIZE) spectrograms.delete(spectrograms.keys().next().value!);
    }
    return reply.type('image/png').header('Content-Length', png.length).send(png);
  });

  api.get(
    '/api/v1/clips/:id/labels',
    { schema: { params: CLIP_ID_PARAMS, response: { 200: ClipLabelsSchema, ...ERROR_RESPONSES } } },
    async (request, reply) => {
      const clip = findClip(request.params.id, reply, true);
      if (!clip) return reply;
      return { clip_id: clip.id, labels: queries.labels(clip.id) };
    },
  );

  api.post(
    '/api/v1/clips/:id/labels',
    { schema: { params: CLIP_ID_PARAMS, body: LabelsBody, response: { 201: ClipLabelsSchema, ...ERROR_RESPONSES } } },
    async (request, reply) => {
      const clip = findClip(request.params.id, reply);
      if (!clip) return reply;
      const body = request.body as ValidLabelsBody;
      for (const [i, label] of body.labels.entries()) {
        const where = `labels[${i}]`;
        if ((label.onset_s === undefined) !== (label.offset_s === undefined))
          return sendError(reply, 400, `${where}: give both onset_s and offset_s, or neither (the whole clip)`);
        if (label.onset_s !== undefined && label.offset_s !== undefined) {
          if (label.offset_s < label.onset_s) return sendError(reply, 400, `${where}: offset_s (${label.offset_s}) is before onset_s (${label.onset_s})`);
          if (label.offset_s > clip.duration_s + LABEL_END_TOLERANCE_S)
            return sendError(reply, 400, `${where}: offset_s (${label.offset_s}) is after the clip's end (${clip.duration_s} s)`);
        }
      }
      const labels = queries.addLabels(
        clip.id,
        body.labels.map((l) => ({ ...l, label: l.label.trim() })),
        body.source,
        body.annotator ?? null,
        body.replace,
      );
      context.onLabelsChanged?.(clip.id);
      return reply.code(201).send({ clip_id: clip.id, labels });
    },
  );
}

/** True when an If-None-Match header names the entity tag `"<tag>"` (weak comparison, or `*`). */
function etagMatches(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const value = candidate.trim();
    return value === '*' || value.replace(/^W\//, '') === `"${tag}"`;
  });
}
