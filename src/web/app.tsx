/**
 * The page's shell: the token gate, the navigation (Events, Review, Node) and a hash router
 * (`#/events`, `#/review`, `#/node`): the server only serves `/`, and a reload keeps the view.
 */
import { useEffect, useState } from 'preact/hooks';
import { AuthError, getJson, getToken, onAuthError, setToken } from './api.js';
import { EventsView } from './events.js';
import { NodeView } from './node.js';
import { ReviewView } from './review.js';
import type { ReviewConfig } from './types.js';

type Route = 'events' | 'review' | 'node';

function currentRoute(): { route: Route; params: URLSearchParams } {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const route = (['events', 'review', 'node'] as const).find((r) => r === path) ?? 'events';
  return { route, params: new URLSearchParams(query ?? '') };
}

/** The token form: shown instead of any data while the node refuses the page's calls. */
function TokenGate(props: { problem: AuthError; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <main class="gate">
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) props.onToken(value.trim());
        }}
      >
        <h1>earshot</h1>
        <p role="alert" class={props.problem.tokenSent ? 'error' : ''} data-testid="token-problem">
          {props.problem.tokenSent
            ? 'Wrong token: the node refused it. Enter the API token again.'
            : 'This node needs its API token (api.token_file on the node).'}
        </p>
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" spellcheck={false} value={value} onInput={(e) => setValue(e.currentTarget.value)} autofocus />
        <button type="submit">Open</button>
        <p class="hint">Kept in this tab only (sessionStorage), sent as an Authorization header.</p>
      </form>
    </main>
  );
}

/** The whole page. */
export function App() {
  const [location_, setLocation] = useState(currentRoute());
  const [config, setConfig] = useState<ReviewConfig | null>(null);
  const [authProblem, setAuthProblem] = useState<AuthError | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const onHash = () => setLocation(currentRoute());
    addEventListener('hashchange', onHash);
    const stop = onAuthError((error) => {
      setConfig(null);
      setAuthProblem(error);
    });
    return () => {
      removeEventListener('hashchange', onHash);
      stop();
    };
  }, []);

  useEffect(() => {
    let live = true;
    getJson<ReviewConfig>('/api/v1/review/config')
      .then((c) => {
        if (!live) return;
        setConfig(c);
        setAuthProblem(null);
        setLoadError(null);
      })
      .catch((error: Error) => {
        if (live && !(error instanceof AuthError)) setLoadError(error.message);
      });
    return () => {
      live = false;
    };
  }, [attempt]);

  if (authProblem) {
    return (
      <TokenGate
        problem={authProblem}
        onToken={(token) => {
          setToken(token);
          setAuthProblem(null);
          setAttempt((n) => n + 1);
        }}
      />
    );
  }
  if (!config)
    return (
      <main class="loading">
        {loadError ? (
          <p role="alert" class="error">
            {loadError}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </main>
    );

  const { route, params } = location_;
  const nav = (target: Route, text: string) => (
    <a href={`#/${target}`} aria-current={route === target ? 'page' : undefined}>
      {text}
    </a>
  );
  return (
    <>
      <header class="top">
        <span class="brand">earshot</span>
        <span class="node-id" title="node">
          {config.node_id}
        </span>
        <nav>
          {nav('events', 'Events')}
          {nav('review', 'Review')}
          {nav('node', 'Node')}
        </nav>
        {getToken() && (
          <button
            class="link"
            type="button"
            onClick={() => {
              setToken(null);
              setConfig(null);
              setAuthProblem(new AuthError(false));
            }}
          >
            Forget token
          </button>
        )}
      </header>
      {route === 'events' && <EventsView config={config} />}
      {route === 'review' && <ReviewView config={config} startClip={params.get('clip')} />}
      {route === 'node' && <NodeView />}
    </>
  );
}
