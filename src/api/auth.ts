/**
 * Bearer-token authentication for the HTTP API (RFC 6750, `Authorization: Bearer <token>`).
 *
 * The token comes from `api.token` or the first line of `api.token_file` (a systemd credential,
 * docs/api.md). Tokens are compared in constant time: both sides are hashed with SHA-256 first, so
 * `crypto.timingSafeEqual` always sees two 32-byte buffers and neither the length nor any prefix
 * of the configured token leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { EarshotConfig } from '../config/schema.js';
import { EarshotError } from '../errors.js';

/** Fewest characters a token may have (the config schema's `api.token` minimum). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * The configured bearer token: `api.token`, else the first line of `api.token_file`, else null
 * (no authentication: only allowed on a loopback address, which parseConfig enforces).
 * @throws EarshotError naming the token file when it cannot be read, is empty, or is shorter
 *   than {@link MIN_TOKEN_LENGTH} characters
 */
export function loadApiToken(api: EarshotConfig['api']): string | null {
  if (api.token) return api.token;
  if (!api.token_file) return null;
  let text: string;
  try {
    text = readFileSync(api.token_file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${api.token_file}: cannot read the API token file (${code === 'ENOENT' ? 'not found' : (code ?? String(error))})`);
  }
  const token = text.split(/\r?\n/)[0].trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new EarshotError(`${api.token_file}: the API token (first line) must have at least ${MIN_TOKEN_LENGTH} characters, it has ${token.length}`);
  }
  return token;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Checks `Authorization` headers against one token in constant time. */
export class BearerAuth {
  private readonly expected: Buffer;

  /** @param token the configured token (see {@link loadApiToken}) */
  constructor(token: string) {
    this.expected = digest(token);
  }

  /**
   * True when `header` is `Bearer <the token>` (scheme case-insensitive, as RFC 7235 says).
   * A missing or malformed header is compared too, against a dummy, so every path costs the same.
   */
  accepts(header: string | undefined): boolean {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    const offered = digest(match ? match[1] : '');
    return timingSafeEqual(offered, this.expected) && match !== null;
  }
}
