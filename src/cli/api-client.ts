/**
 * A small client for a node's HTTP API (docs/api.md), shared by `earshot pull` and
 * `earshot labels import`: bearer token, one-line errors naming the node, and the token sources
 * (--token, --token-file, EARSHOT_API_TOKEN).
 */
import { readFileSync } from 'node:fs';
import { EarshotError, ExitCode } from '../errors.js';

/** Seconds a JSON request may take before the node is reported unreachable. */
const JSON_TIMEOUT_MS = 60_000;

/**
 * The token for the nodes: `--token`, else the first line of `--token-file`, else
 * `$EARSHOT_API_TOKEN`, else none (nodes on loopback need none).
 * @throws EarshotError when the token file cannot be read or is empty
 */
export function tokenFrom(options: { token?: string; tokenFile?: string }, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (options.token) return options.token;
  if (options.tokenFile) {
    let text: string;
    try {
      text = readFileSync(options.tokenFile, 'utf8');
    } catch (error) {
      throw new EarshotError(`${options.tokenFile}: cannot read the token file (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
    const token = text.split(/\r?\n/)[0].trim();
    if (!token) throw new EarshotError(`${options.tokenFile}: the token file is empty (the token is its first line)`);
    return token;
  }
  return env.EARSHOT_API_TOKEN || undefined;
}

/**
 * Normalises a node address: `host:port` gets `http://`; trailing slashes go.
 * @throws EarshotError when it is not an http(s) URL
 */
export function nodeUrl(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new EarshotError(`--node ${text}: not a URL (expected http://host:8466)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EarshotError(`--node ${text}: only http:// and https:// are supported`);
  if (url.username || url.password) throw new EarshotError(`--node ${text}: put the token in --token-file or EARSHOT_API_TOKEN, not in the URL`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url;
}

/** Requests to one node. Errors are EarshotErrors naming the node: 2 for a refused token or request, 3 for the network. */
export class NodeClient {
  readonly base: string;

  constructor(
    url: URL,
    private readonly token: string | undefined,
  ) {
    this.base = url.toString().replace(/\/+$/, '');
  }

  /**
   * A request; the response is returned whatever its status, except 401 (thrown).
   * @throws EarshotError (3) when the node cannot be reached, (2) on 401
   */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { ...init, headers });
    } catch (error) {
      const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
      throw new EarshotError(`${this.base}: cannot reach the node (${cause?.code ?? cause?.message ?? (error as Error).message})`, ExitCode.Environment, {
        cause: error,
      });
    }
    if (response.status === 401) {
      await response.body?.cancel();
      throw new EarshotError(
        `${this.base}: the node refused the request (401): ${this.token ? 'wrong token' : 'it needs a token: --token-file FILE or EARSHOT_API_TOKEN'}`,
        ExitCode.BadInput,
      );
    }
    return response;
  }

  /**
   * GET (or send) JSON and parse the answer.
   * @throws EarshotError naming the node, the path, the status and the node's message on a non-2xx answer
   */
  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(path, { signal: AbortSignal.timeout(JSON_TIMEOUT_MS), ...init });
    const text = await response.text();
    if (!response.ok)
      throw new EarshotError(
        `${this.base}${path.split('?')[0]}: HTTP ${response.status}: ${messageOf(text)}`,
        response.status >= 500 ? ExitCode.Environment : ExitCode.BadInput,
      );
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new EarshotError(`${this.base}${path.split('?')[0]}: the answer is not JSON (is this an earshot node?)`, ExitCode.Environment);
    }
  }
}

/** The `message` of an API error body, else the text itself (shortened). */
export function messageOf(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: string };
    if (body.message) return body.message;
  } catch {
    // Not JSON: show the start of the text.
  }
  return text.slice(0, 200) || '(no message)';
}
