/**
 * earshot's HTTP API (fastify): events, clips, the active-learning queue, labels, export, health
 * and metrics, under `/api/v1` (docs/api.md). It reads the daemon's own database handle and clip
 * files; it never stops the daemon: a port in use or an unreadable token file is logged and the
 * daemon listens on without the API.
 *
 * Security model: binds to 127.0.0.1 by default; any other address needs a bearer token
 * (parseConfig refuses the config otherwise), compared in constant time (auth.ts); every request
 * is authenticated before its body is read; clip ids are ULIDs checked by schema and clip paths
 * are confined to the data directory (clip-file.ts); bodies are capped at `api.body_limit_bytes`.
 */
import type Database from 'better-sqlite3';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { EarshotConfig } from '../config/schema.js';
import type { DaemonConsumer } from '../consumer.js';
import type { HeadControl } from '../inference/head/head-runtime.js';
import type { Logger } from '../log.js';
import { BearerAuth, loadApiToken } from './auth.js';
import { resolvedDataDir } from './clip-file.js';
import { hardenApi } from './hardening.js';
import { sendError, type ApiContext } from './context.js';
import type { LiveStatus } from './live-status.js';
import { ApiQueries } from './queries.js';
import { registerClipRoutes } from './routes/clips.js';
import { registerEventRoutes } from './routes/events.js';
import { registerExportRoutes } from './routes/export.js';
import { registerHeadRoutes } from './routes/head.js';
import { registerQueueRoutes } from './routes/queue.js';
import { registerReviewRoutes } from './routes/review.js';
import { registerStatusRoutes } from './routes/status.js';
import { isPublicRoute, registerWebRoutes } from './routes/web.js';

/** What the API needs from its host (the daemon, or a test). */
export interface ApiServerOptions {
  /** An open earshot database (openDatabase): read, and written only for labels. */
  db: Database.Database;
  /** `config.data_dir`: clip paths are relative to it, and no file outside it is served. */
  dataDir: string;
  /** `api.*` (bind address, token, body limit), `node_id`, `clips.top_k`; the whole config is hashed for the export manifest. */
  config: EarshotConfig;
  log: Logger;
  /** The daemon's live figures for /healthz and /metrics; without it /healthz says `no_pipeline`. */
  live?: LiveStatus;
  /** The model the daemon runs (manifest id, file sha256), for /api/v1/node and export manifests. */
  model?: { id: string; sha256: string } | null;
  /** The daemon's head control, for the head routes (routes/head.ts). */
  heads?: HeadControl;
  /** Called after a request added or removed labels (serve over a pulled folder rewrites its labels.tsv). */
  onLabelsChanged?: (clipId: string) => void;
}

/** A listening API server. */
export interface RunningApi {
  app: FastifyInstance;
  /** Where it listens, e.g. `http://127.0.0.1:8466` (the real port when `api.port` is 0). */
  url: string;
  /** Stops listening, ends open connections (an export in progress is cut), never throws. */
  close(): Promise<void>;
}

/**
 * The daemon's log gets no line per request (a labelling session or a Prometheus scrape would
 * drown the events); refused requests are logged at debug level, server errors (5xx) as errors.
 */
class QuietRequestLog extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
  override routeNotFound(request: FastifyRequest): void {
    request.log.debug({ url: request.url }, 'route not found');
  }
  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (reply.statusCode >= 500) super.defaultErrorLog(error, request, reply, metadata);
    else request.log.debug({ url: request.url, status: reply.statusCode, err: error }, 'request refused');
  }
}

/** Seconds a client may take to send a whole request (headers and body): slow-loris protection. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Builds the API (routes, authentication, limits) without listening; call `app.listen()`.
 * @throws EarshotError when `api.token_file` cannot be read or holds too short a token
 */
export function createApiServer(options: ApiServerOptions): FastifyInstance {
  const { config } = options;
  const token = loadApiToken(config.api);
  const auth = token ? new BearerAuth(token) : null;
  const log = options.log.child({ component: 'api' });
  const app = Fastify({
    // fastify's own lines ("Server listening", "stream closed prematurely") only from warn up:
    // the daemon logs the address itself, and a client that hangs up is not news.
    loggerInstance: log.child({}, { level: log.levelVal >= 40 ? log.level : 'warn' }) as unknown as FastifyBaseLogger,
    logController: new QuietRequestLog(),
    bodyLimit: config.api.body_limit_bytes,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Node checks these timeouts every connectionsCheckingInterval (30 s by default, so a slow
    // client got up to 60 s): checked every second, a request must arrive within 30–31 s.
    http: { headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    // Shutdown must not wait for a long download: systemd gives the daemon 5 s.
    forceCloseConnections: true,
    // Unknown keys in a query or body are errors, never silently dropped.
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
  });
  // Host header (DNS rebinding), bounded numbers, strict body types (hardening.ts): before any route.
  hardenApi(app, config);
  const closing = new AbortController();
  const context: ApiContext = {
    queries: new ApiQueries(options.db),
    dataRoot: resolvedDataDir(options.dataDir),
    config,
    live: options.live,
    model: options.model ?? null,
    ...(options.heads ? { heads: options.heads } : {}),
    log,
    closing: closing.signal,
    startedAtMs: Date.now(),
    onLabelsChanged: options.onLabelsChanged,
  };
  app.addHook('preClose', async () => closing.abort());
  if (auth) {
    // onRequest runs before the body is read: an unauthenticated upload is refused unread.
    app.addHook('onRequest', async (request, reply) => {
      if (auth.accepts(request.headers.authorization)) return;
      // The review page's HTML, script and stylesheet hold no data (routes/web.ts).
      if (isPublicRoute(request.routeOptions.config)) return;
      reply.header('WWW-Authenticate', 'Bearer realm="earshot"');
      return sendError(reply, 401, request.headers.authorization ? 'wrong bearer token' : 'a bearer token is required (Authorization: Bearer <token>)');
    });
  }
  registerStatusRoutes(app, context);
  registerEventRoutes(app, context);
  registerClipRoutes(app, context);
  registerQueueRoutes(app, context);
  registerExportRoutes(app, context);
  registerReviewRoutes(app, context);
  registerHeadRoutes(app, context);
  registerWebRoutes(app);
  return app;
}

/**
 * Builds the API and listens on `api.host`:`api.port`, for the daemon: any failure (port in use,
 * address not on this machine, unreadable token file) is logged as one error line naming
 * host:port and the daemon goes on without the API.
 * @returns the running server, or null when it could not start
 */
export async function startApiServer(options: ApiServerOptions): Promise<RunningApi | null> {
  const { host, port } = options.config.api;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const log = options.log.child({ component: 'api' });
  let app: FastifyInstance;
  try {
    app = createApiServer(options);
  } catch (error) {
    log.error({ host, port, err: error }, 'not started; the daemon runs on without the HTTP API');
    return null;
  }
  try {
    const url = await app.listen({ host, port });
    log.info({ url, host, port: Number(new URL(url).port) }, `api listening on ${url}`);
    return {
      app,
      url,
      close: async () => {
        try {
          await app.close();
        } catch (error) {
          log.warn({ err: error }, 'error while closing');
        }
      },
    };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    log.error({ host, port, code: e.code, err: e }, `cannot listen on ${where} (${e.code ?? e.message}); the daemon runs on without the HTTP API`);
    await app.close().catch(() => undefined);
    return null;
  }
}

/**
 * The daemon's HTTP API as a daemon consumer (src/consumer.ts): listens at start (a failure is
 * logged and the daemon runs on without it, see {@link startApiServer}) and closes at stop. Put it
 * last in the daemon's list: it stops first, before clips are finished and MQTT drains.
 */
export function apiConsumer(options: ApiServerOptions): DaemonConsumer & { readonly url: string | null } {
  let api: RunningApi | null = null;
  return {
    name: 'api',
    /** Where it listens once started, e.g. `http://127.0.0.1:8466`; null before, or when it could not start. */
    get url() {
      return api?.url ?? null;
    },
    start: async () => {
      api = await startApiServer(options);
    },
    stop: () => api?.close(),
  };
}
