/**
 * The node's HTTP API as others reach it: the base of the links earshot sends out (an alert's
 * `clip_url`, Home Assistant's `configuration_url`).
 */
import { hostname } from 'node:os';
import type { EarshotConfig } from '../config/schema.js';
import { clipUrl } from './queries.js';

/**
 * The API's public base URL, without a trailing slash, or null when the API is off.
 *
 * `api.public_url` when set (a node behind NAT or a reverse proxy); else the address the API
 * listens on (`listeningUrl`, known once it listens), or before that `http://<api.host>:<api.port>`;
 * a wildcard bind address (0.0.0.0, ::) is replaced by the machine's host name, since it is not an
 * address another machine can use. A loopback `api.host` gives a URL only this machine can open:
 * set `api.public_url` to send links others can follow.
 * @param listeningUrl the URL the API server reported when it started listening (e.g. `http://127.0.0.1:8466`), or null
 */
export function publicBaseUrl(api: EarshotConfig['api'], listeningUrl: string | null): string | null {
  if (!api.enabled) return null;
  if (api.public_url) return api.public_url.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(listeningUrl ?? `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`);
  } catch {
    return null;
  }
  if (['0.0.0.0', '[::]'].includes(url.hostname)) url.hostname = hostname();
  if (url.port === '0') return null;
  return url.origin;
}

/** The full URL of clip `clipId` under {@link publicBaseUrl}, or null without a base. */
export function publicClipUrl(base: string | null, clipId: string | null): string | null {
  return base && clipId ? `${base}${clipUrl(clipId)}` : null;
}
