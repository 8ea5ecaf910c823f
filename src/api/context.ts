/**
 * What every route of the HTTP API shares: the queries, the data directory, the configuration,
 * the daemon's live figures; and the small helpers for cursors and error replies.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { EarshotConfig } from '../config/schema.js';
import type { HeadControl } from '../inference/head/head-runtime.js';
import type { Logger } from '../log.js';
import type { LiveStatus } from './live-status.js';
import type { ApiQueries } from './queries.js';

/** Shared state of one API server. */
export interface ApiContext {
  queries: ApiQueries;
  /** The data directory with symbolic links resolved: no clip file is read outside it. */
  dataRoot: string;
  config: EarshotConfig;
  /** The daemon's figures; absent when the API runs without a pipeline (tests, tools). */
  live?: LiveStatus;
  /** The model the daemon runs (manifest id, file sha256), when known. */
  model: { id: string; sha256: string } | null;
  /** The daemon's head control (push, rollback), when a pipeline runs. */
  heads?: HeadControl;
  log: Logger;
  /** Aborted when the server closes: long responses (export) stop. */
  closing: AbortSignal;
  /** Server start, ms since the Unix epoch. */
  startedAtMs: number;
  /** Called after labels of the clip `clipId` were added or removed. */
  onLabelsChanged?: (clipId: string) => void;
}

/** A ULID (Crockford base 32, 26 characters): the only clip id a route accepts. */
export const CLIP_ID_PATTERN = '^[0-9A-HJKMNP-TV-Z]{26}$';

/** Params schema of the `/clips/:id` routes: anything but a ULID is a 400 before any lookup. */
export const CLIP_ID_PARAMS = Type.Object({ id: Type.String({ pattern: CLIP_ID_PATTERN }) }, { additionalProperties: false });

/** Sends a JSON error in fastify's own shape: `{ statusCode, error, message }`. */
export function sendError(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply
    .code(statusCode)
    .type('application/json; charset=utf-8')
    .send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message });
}

/** An opaque pagination cursor: base64url of a JSON value. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Decodes {@link encodeCursor}; undefined when the text is not one. */
export function decodeCursor(text: string): unknown {
  try {
    return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The `since` / `until` query parameters (ISO-8601, checked by {@link parseTimeRange}) of the routes that take a time range. */
export const TIME_RANGE_PROPERTIES = {
  since: Type.Optional(Type.String({ maxLength: 40 })),
  until: Type.Optional(Type.String({ maxLength: 40 })),
};

/**
 * The `since` / `until` parameters in the stored form ({@link normaliseTime}).
 * @returns the range (absent bounds undefined), or the 400 message naming the bad parameter
 */
export function parseTimeRange(query: { since?: string; until?: string }): { since?: string; until?: string } | { error: string } {
  const range: { since?: string; until?: string } = {};
  for (const key of ['since', 'until'] as const) {
    const text = query[key];
    if (text === undefined) continue;
    const time = normaliseTime(text);
    if (time === null) return { error: `${key}: not an ISO-8601 time: ${text}` };
    range[key] = time;
  }
  return range;
}

/**
 * Parses an ISO-8601 time from a query parameter into the stored form (`toISOString`, UTC, ms).
 * @returns the normalised time, or null when `text` is not a date
 */
export function normaliseTime(text: string): string | null {
  // Date.parse also takes "March 7" and bare numbers; require at least a calendar date.
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
