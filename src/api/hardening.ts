/**
 * Defences of the HTTP API against hostile requests that every route shares (issue 24):
 *
 * - **Host header** (DNS rebinding): a web page on a name the attacker controls, re-pointed at
 *   127.0.0.1, would otherwise read a node's events and audio through the visitor's browser. Only
 *   the names the node is reached by are accepted: `localhost`, `127.0.0.1`, `::1`, the bind
 *   address, the host of `api.public_url`, and `api.allowed_hosts`; anything else is `421
 *   Misdirected Request` before authentication or any route runs. With a bind address of `0.0.0.0`
 *   or `::`, any Host is accepted unless `api.allowed_hosts` lists the names (a token is required
 *   there anyway).
 * - **Numbers**: every number and integer of a route's querystring, params and body schema gets
 *   bounds when it has none (±1e12 for numbers, ±2^53−1 for integers), so `Infinity`, `1e309` and
 *   huge offsets are `400` instead of reaching SQLite (`SQLITE_MISMATCH`, a 500).
 * - **Body types**: query strings are coerced (`limit=5`), but a JSON body is checked as sent,
 *   without coercion: `{"label": 1}` or `true` for a string is `400`, not the text "1".
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { EarshotConfig } from '../config/schema.js';
import { describeSchemaError } from '../schema-errors.js';
import { sendError } from './context.js';

/** Bounds given to numbers a schema leaves unbounded. */
const NUMBER_BOUND = 1e12;
const INTEGER_BOUND = Number.MAX_SAFE_INTEGER;

/** Host names (lower case, no port, no IPv6 brackets) the API answers to; null = any (a wildcard bind with no allowed_hosts). */
export function allowedHosts(api: EarshotConfig['api'] & { allowed_hosts?: string[] }): Set<string> | null {
  const hosts = new Set(['localhost', '127.0.0.1', '::1']);
  const wildcard = api.host === '0.0.0.0' || api.host === '::';
  if (!wildcard) hosts.add(api.host.toLowerCase());
  if (api.public_url) {
    try {
      hosts.add(bareHost(new URL(api.public_url).hostname));
    } catch {
      // The config schema checked it: nothing to add.
    }
  }
  for (const name of api.allowed_hosts ?? []) hosts.add(bareHost(name.toLowerCase()));
  if (wildcard && !api.allowed_hosts?.length) return null;
  return hosts;
}

function bareHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * The host name of a Host header value (`name`, `name:port`, `[v6]:port`), lower case; null when
 * it is not one.
 */
export function hostOfHeader(value: string | undefined): string | null {
  if (!value || value.length > 255) return null;
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) return null;
  return bareHost(match[1]).replace(/\.$/, '');
}

/** Adds the Host check, the number bounds and the strict body types to `app` (call before the routes are registered). */
export function hardenApi(app: FastifyInstance, config: EarshotConfig): void {
  const hosts = allowedHosts(config.api);
  if (hosts) {
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const host = hostOfHeader(request.headers.host);
      if (host !== null && hosts.has(host)) return;
      return sendError(
        reply,
        421,
        `Host ${JSON.stringify(String(request.headers.host ?? '').slice(0, 80))} is not a name of this node (api.allowed_hosts, api.public_url)`,
      );
    });
  }
  const strict = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as Record<string, unknown> | undefined;
    if (!schema) return;
    for (const part of ['querystring', 'params', 'body', 'headers']) if (schema[part]) boundNumbers(schema[part]);
    const numericKeys = [...numericProperties(schema.querystring), ...numericProperties(schema.params)];
    if (numericKeys.length) {
      // ajv coerces "Infinity" and "1e309" to a number that passes `integer` and `maximum`: the
      // text is checked before coercion instead.
      const checkNumbers = async (request: FastifyRequest, reply: FastifyReply) => {
        for (const [part, values] of [
          ['query', request.query],
          ['params', request.params],
        ] as const) {
          for (const key of numericKeys) {
            const raw = (values as Record<string, unknown> | undefined)?.[key];
            for (const text of Array.isArray(raw) ? raw : [raw]) {
              if (typeof text !== 'string') continue;
              if (!FINITE_NUMBER.test(text) || !Number.isFinite(Number(text)))
                return sendError(reply, 400, `${part === 'query' ? 'querystring' : 'params'}/${key} must be a finite number`);
            }
          }
        }
      };
      addPreValidation(route, checkNumbers);
    }
    if (!schema.body) return;
    let validate: ValidateFunction;
    try {
      validate = strict.compile(structuredClone(schema.body) as object);
    } catch {
      return; // A schema only fastify's own ajv understands: its validation stands alone.
    }
    addPreValidation(route, async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.body === undefined || validate(request.body)) return;
      const e = validate.errors?.[0];
      return sendError(reply, 400, e ? describeSchemaError(e, 'body') : 'body: is not valid');
    });
  });
}

/** A number as a query parameter may write it: decimal, optional fraction and exponent. */
const FINITE_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Runs `hook` before the route's own preValidation hooks. */
function addPreValidation(route: RouteOptions, hook: Hook): void {
  const previous = route.preValidation as Hook | Hook[] | undefined;
  route.preValidation = (previous ? [hook, ...(Array.isArray(previous) ? previous : [previous])] : hook) as RouteOptions['preValidation'];
}

/** Names of the number/integer properties of an object schema (querystring, params). */
function numericProperties(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties;
  if (!properties) return [];
  return Object.entries(properties)
    .filter(([, p]) => {
      const types = Array.isArray(p?.type) ? p.type : [p?.type];
      return types.includes('number') || types.includes('integer');
    })
    .map(([key]) => key);
}

/** Gives every number/integer in a JSON schema bounds when it has none (in place). */
function boundNumbers(node: unknown): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach(boundNumbers);
    return;
  }
  const s = node as Record<string, unknown>;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const integer = types.includes('integer');
  if (integer || types.includes('number')) {
    const bound = integer ? INTEGER_BOUND : NUMBER_BOUND;
    if (s.maximum === undefined && s.exclusiveMaximum === undefined) s.maximum = bound;
    if (s.minimum === undefined && s.exclusiveMinimum === undefined) s.minimum = -bound;
  }
  for (const [key, value] of Object.entries(s)) if (key !== 'enum' && key !== 'const' && key !== 'default' && key !== 'examples') boundNumbers(value);
}
