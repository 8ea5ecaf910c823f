/**
 * The review page (src/web, built into dist/web by `npm run build`): `GET /` answers index.html,
 * `/app.js` and `/style.css` the bundle. These three routes carry no data and are the only ones
 * served without the bearer token (a browser cannot add a header to a navigation); the page then
 * asks for the token and sends it as a header with every API call.
 *
 * The page is served with a Content-Security-Policy that allows only its own script and
 * stylesheet (no inline script, no other origin), blob: URLs for the audio and pictures it fetches
 * with the token, and no framing. The API sends no CORS headers: another origin's page cannot
 * read it.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { sendError } from '../context.js';

/** dist/web, from src/api/routes (tests) and dist/api/routes (the built CLI) alike. */
const WEB_DIR = new URL('../../../dist/web/', import.meta.url);

/** The page's Content-Security-Policy (docs/web.md, "Security"). */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Marks a route as one the bearer token does not guard (see server.ts). */
export const PUBLIC_ROUTE = { public: true } as const;

/** True for the routes registered with {@link PUBLIC_ROUTE}. */
export function isPublicRoute(config: unknown): boolean {
  return (config as { public?: unknown } | undefined)?.public === true;
}

/** Registers the page's routes. */
export function registerWebRoutes(app: FastifyInstance): void {
  // Browsers ask for it unprompted; with a token set it would otherwise be a 401 in every log.
  app.get('/favicon.ico', { config: PUBLIC_ROUTE }, async (_request, reply) => reply.code(204).send());
  for (const [path, { file, type }] of Object.entries(FILES)) {
    app.get(path, { config: PUBLIC_ROUTE }, async (_request, reply) => {
      let body: Buffer;
      try {
        // Read on each request (a few tens of kB): a rebuilt page is served without a restart.
        body = await readFile(new URL(file, WEB_DIR));
      } catch {
        return sendError(reply, 503, `the review page is not built (dist/web/${file} is missing): run npm run build`);
      }
      return reply
        .type(type)
        .header('Content-Security-Policy', PAGE_CSP)
        .header('X-Content-Type-Options', 'nosniff')
        .header('X-Frame-Options', 'DENY')
        .header('Referrer-Policy', 'no-referrer')
        .header('Cache-Control', 'no-cache')
        .send(body);
    });
  }
}
