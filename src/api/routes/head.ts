/**
 * The head routes (docs/api.md, "Heads"): what head the node runs, a new one uploaded by
 * `earshot head push`, and a rollback to the one before.
 *
 * - `GET /api/v1/head` → `{ head, previous }` (identities, docs/api.md);
 * - `PUT /api/v1/head`, body = the head file's bytes (`Content-Type: application/json`, at most
 *   8 MiB) → `200 { head }` once the node checked it against its running model in a child process
 *   and swapped it in; `422` with one line when it is not a valid head or was trained on another
 *   model (the node keeps its head); `413` when too big;
 * - `POST /api/v1/head/rollback` → `200 { head }` (the head now in use, null for none); `409`
 *   when there is nothing to go back to.
 * All need the bearer token when the node has one (server.ts). Without a running pipeline (the
 * API served over a database alone) they answer `503`.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ExitCode, isEarshotError } from '../../errors.js';
import { MAX_HEAD_BYTES } from '../../inference/head/head-runtime.js';
import { sendError, type ApiContext } from '../context.js';
import { ERROR_RESPONSES, HeadInUseSchema, HeadStateSchema } from '../schemas.js';

/** Registers the head routes. */
export function registerHeadRoutes(app: FastifyInstance, context: ApiContext): void {
  const fail = (reply: FastifyReply, error: unknown, refused: number): FastifyReply => {
    if (!isEarshotError(error)) throw error;
    const status = error.exitCode === ExitCode.BadInput ? refused : 503;
    return sendError(reply, status, error.message);
  };
  const noPipeline = (reply: FastifyReply) => sendError(reply, 503, 'this API runs without a pipeline: no head to change');

  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/api/v1/head', { schema: { response: { 200: HeadStateSchema, ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const heads = context.heads;
    if (!heads) return noPipeline(reply);
    return { head: heads.current(), previous: heads.previous() ?? null, can_roll_back: heads.previous() !== undefined };
  });

  api.post('/api/v1/head/rollback', { schema: { response: { 200: HeadInUseSchema, ...ERROR_RESPONSES } } }, async (_request, reply) => {
    const heads = context.heads;
    if (!heads) return noPipeline(reply);
    try {
      return { head: await heads.rollback() };
    } catch (error) {
      return fail(reply, error, 409);
    }
  });

  // The upload is read as text: the head's sha256 is that of the bytes sent.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_HEAD_BYTES }, (_request, body, done) => done(null, body));
    scope
      .withTypeProvider<TypeBoxTypeProvider>()
      .put('/api/v1/head', { bodyLimit: MAX_HEAD_BYTES, schema: { response: { 200: HeadInUseSchema, ...ERROR_RESPONSES } } }, async (request, reply) => {
        const heads = context.heads;
        if (!heads) return noPipeline(reply);
        const text = typeof request.body === 'string' ? request.body : '';
        if (text.trim() === '') return sendError(reply, 400, 'uploaded head: the body is empty; send the head file (earshot head push HEAD.json)');
        try {
          return { head: await heads.push(text) };
        } catch (error) {
          return fail(reply, error, 422);
        }
      });
  });
}
