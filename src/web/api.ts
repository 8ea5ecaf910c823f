/**
 * The page's access to the node's API: every call carries the bearer token as an `Authorization`
 * header (never in a URL or a cookie). The token lives in sessionStorage: it survives a reload,
 * not the closing of the tab. Audio and pictures are fetched the same way and shown through blob:
 * URLs, since an <audio> or <img> element cannot send a header.
 */
import { createParser } from 'eventsource-parser';

const TOKEN_KEY = 'earshot.token';

/** The stored token, or null. */
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Stores the token for this tab (null forgets it). */
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The node refused the call: no token, or a wrong one. */
export class AuthError extends Error {
  constructor(readonly tokenSent: boolean) {
    super(tokenSent ? 'wrong token: the node refused it' : 'this node needs its API token');
  }
}

/** Any other refusal, with the API's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type AuthListener = (error: AuthError) => void;
const authListeners = new Set<AuthListener>();

/** Called whenever a call is refused for its token (the app then asks for it). */
export function onAuthError(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

function headers(extra?: HeadersInit): Headers {
  const result = new Headers(extra);
  const token = getToken();
  if (token) result.set('Authorization', `Bearer ${token}`);
  return result;
}

/**
 * Fetches an API path with the token.
 * @param accept non-2xx statuses returned as they are (e.g. 503 from /healthz, which has a body)
 * @throws AuthError on 401 (listeners are told), ApiError on any other non-2xx answer
 */
export async function request(path: string, init: RequestInit = {}, accept: number[] = []): Promise<Response> {
  const response = await fetch(path, { ...init, headers: headers(init.headers), credentials: 'omit', cache: 'no-store' });
  if (response.status === 401) {
    const error = new AuthError(Boolean(getToken()));
    for (const listener of authListeners) listener(error);
    throw error;
  }
  if (!response.ok && !accept.includes(response.status)) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = ((await response.json()) as { message?: string }).message ?? message;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

/** GETs JSON. */
export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

/** Sends JSON (POST by default) and reads the JSON answer (null for 204). */
export async function sendJson<T>(path: string, body: unknown, method = 'POST'): Promise<T> {
  const response = await request(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return (response.status === 204 ? null : await response.json()) as T;
}

/** DELETE. */
export async function remove(path: string): Promise<void> {
  await request(path, { method: 'DELETE' });
}

/** Fetches a file (audio, PNG) with the token; the caller revokes the URL when done. */
export async function blobUrl(path: string, signal?: AbortSignal): Promise<string> {
  const response = await request(path, { signal });
  return URL.createObjectURL(await response.blob());
}

/** Status of the live stream. */
export type StreamState = 'connecting' | 'live' | 'reconnecting';

/**
 * Listens to `GET /api/v1/events/stream` (Server-Sent Events) with the token in a header, which
 * an EventSource cannot send: the body is read with fetch and parsed by eventsource-parser.
 * Reconnects after 2 s when the stream ends or fails (not after a refused token).
 * @returns a function that stops listening
 */
export function listen(onMessage: (type: string, data: unknown) => void, onState: (state: StreamState) => void): () => void {
  const controller = new AbortController();
  let retryMs = 2000;
  const run = async () => {
    onState('connecting');
    while (!controller.signal.aborted) {
      try {
        const response = await request('/api/v1/events/stream', { signal: controller.signal, headers: { accept: 'text/event-stream' } });
        const parser = createParser({
          onEvent: (message) => {
            if (message.event === 'hello') onState('live');
            try {
              onMessage(message.event ?? 'message', JSON.parse(message.data));
            } catch {
              // A message that is not JSON is not ours.
            }
          },
          onRetry: (ms) => (retryMs = ms),
        });
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch (error) {
        if (error instanceof AuthError || controller.signal.aborted) return;
      }
      if (controller.signal.aborted) return;
      onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  };
  void run();
  return () => controller.abort();
}
