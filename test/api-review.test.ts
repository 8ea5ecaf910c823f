/**
 * The API routes the review page uses (src/api/routes/review.ts, routes/web.ts, the new events
 * filters), over real HTTP against a real SQLite file and real WAV clips: newest-first paging,
 * node and unlabelled filters, removing one label, clip details, the label set, events per day,
 * the Server-Sent Events stream (behind the token, live within a poll), and the page's own files
 * (no token needed, a strict Content-Security-Policy).
 */
import t from 'tap';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { buildNode, json, STANDARD_CLIPS } from './helpers/api-node.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const TOKEN = 'review-routes-token-0123456789';
const node = buildNode([...STANDARD_CLIPS, ...STANDARD_CLIPS.slice(0, 2)], { api: { token: TOKEN } });
const app = createApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log });
const url = await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => app.close());
const auth = { authorization: `Bearer ${TOKEN}` };
const get = (path: string) => fetch(`${url}${path}`, { headers: auth });
const eventIds = (order: 'ASC' | 'DESC', where = '1') =>
  (node.db.prepare(`SELECT id FROM events WHERE ${where} ORDER BY onset_utc ${order}, id ${order}`).all() as { id: string }[]).map((r) => r.id);

t.test('events newest first, paged by cursor; node and unlabelled filters', async (t) => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { events: { id: string }[]; next_cursor: string | null } = await json(
      get(`/api/v1/events?order=desc&limit=2${cursor ? `&cursor=${cursor}` : ''}`),
    );
    seen.push(...page.events.map((e) => e.id));
    cursor = page.next_cursor;
  } while (cursor);
  t.same(seen, eventIds('DESC'), 'every event once, newest first, over pages of 2');
  t.same((await json(get('/api/v1/events?node=test-node'))).events.length, 6, 'node filter: this node');
  t.same((await json(get('/api/v1/events?node=other-node'))).events, [], 'node filter: another node has none');
  const clip = node.clips[0];
  node.db.prepare("INSERT INTO labels (clip_id, label, source, created_utc) VALUES (?, 'gunshot', 'human', '2024-05-01T00:00:00Z')").run(clip.id);
  t.teardown(() => node.db.prepare('DELETE FROM labels WHERE clip_id = ?').run(clip.id));
  const unlabelled = (await json(get('/api/v1/events?unlabelled=true'))).events.map((e: { id: string }) => e.id);
  t.same(unlabelled, eventIds('ASC', `id != '${clip.eventId}'`), "unlabelled only: the labelled clip's event is left out");
  t.equal((await get('/api/v1/events?order=sideways')).status, 400, 'a bad order is refused');
});

t.test('one label removed by id (undo), and only from its own clip', async (t) => {
  const [a, b] = node.clips;
  const posted = await json(
    fetch(`${url}/api/v1/clips/${a.id}/labels`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ labels: [{ label: 'gunshot' }, { label: 'none' }], annotator: 'ana' }),
    }),
  );
  const [first, second] = posted.labels.map((l: { id: number }) => l.id);
  t.equal(
    (await fetch(`${url}/api/v1/clips/${b.id}/labels/${first}`, { method: 'DELETE', headers: auth })).status,
    404,
    'a label of another clip: 404, nothing removed',
  );
  t.equal((await fetch(`${url}/api/v1/clips/${a.id}/labels/${first}`, { method: 'DELETE', headers: auth })).status, 204);
  t.same(
    (await json(get(`/api/v1/clips/${a.id}/labels`))).labels.map((l: { id: number }) => l.id),
    [second],
    'exactly that label is gone',
  );
  t.equal((await fetch(`${url}/api/v1/clips/${a.id}/labels/${first}`, { method: 'DELETE', headers: auth })).status, 404, 'removing it twice: 404');
  t.equal((await fetch(`${url}/api/v1/clips/${a.id}/labels/${second}`, { method: 'DELETE' })).status, 401, 'the token is required');
  await fetch(`${url}/api/v1/clips/${a.id}/labels/${second}`, { method: 'DELETE', headers: auth });
});

t.test('clip details, the label set, events per day', async (t) => {
  const clip = node.clips[0];
  const details = await json(get(`/api/v1/clips/${clip.id}/details`));
  t.equal(details.clip.id, clip.id);
  t.equal(details.clip.event.label, 'gunshot');
  t.match(details.top_classes[0], { model_id: 'yamnet', class: 'gunshot_class', score: 0.95 }, 'top classes by highest score over the patches');
  t.equal((await get('/api/v1/clips/01ARZ3NDEKTSV4RRFFQ69G5FAV/details')).status, 404);
  // A head's label probabilities: `head:<label>` classes among the stored top-k scores.
  const insert = node.db.prepare("INSERT INTO scores (event_id, patch_index, start_s, rank, model_id, class, score) VALUES (?, ?, 0, ?, 'yamnet', ?, ?)");
  insert.run(clip.eventId, 100, 4, 'head:gunshot', 0.97);
  insert.run(clip.eventId, 101, 4, 'head:gunshot', 0.88);
  insert.run(clip.eventId, 101, 5, 'head:explosion', 0.05);
  const headed = await json(get(`/api/v1/clips/${clip.id}/details`));
  t.same(
    headed.head,
    [
      { label: 'gunshot', probability: 0.97 },
      { label: 'explosion', probability: 0.05 },
    ],
    "the head's label probabilities, highest over the patches",
  );
  t.notOk(
    headed.top_classes.some((c: { class: string }) => c.class.startsWith('head:')),
    "and not among the model's classes",
  );
  t.same(details.head, [], 'no head: an empty list');
  const config = await json(get('/api/v1/review/config'));
  t.same(config.labels.map((l: { name: string }) => l.name).slice(0, 4), ['gunshot', 'explosion', 'glass_break', 'scream'], 'the configured labels, in order');
  t.equal(config.negative_label, 'none');
  t.same(config.nodes, ['test-node']);
  const daily = await json(get('/api/v1/stats/daily?days=3'));
  t.same(daily.days, ['2024-04-29', '2024-04-30', '2024-05-01'], "the days end on the newest event's day");
  t.same(
    daily.labels.find((l: { label: string }) => l.label === 'gunshot'),
    { label: 'gunshot', group: 'hostile', counts: [0, 0, 2] },
  );
});

t.test('the event stream: behind the token, then each new event', async (t) => {
  t.equal((await fetch(`${url}/api/v1/events/stream`)).status, 401, 'no token: 401');
  const controller = new AbortController();
  const response = await fetch(`${url}/api/v1/events/stream`, { headers: auth, signal: controller.signal });
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const until = async (test: () => boolean) => {
    while (!test()) text += (await reader.read()).value ?? '';
  };
  await until(() => text.includes('event: hello'));
  const id = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
  node.db
    .prepare(`INSERT INTO events (id, node_id, label, grp, onset_utc, onset_s, peak_score, mean_score, patch_count, model_id, model_sha256, source, stream_id)
    VALUES (?, 'test-node', 'scream', 'hostile', '2024-05-02T00:00:00.000Z', 1, 0.9, 0.8, 1, 'yamnet', '', 'test', 's')`)
    .run(id);
  t.teardown(() => node.db.prepare('DELETE FROM events WHERE id = ?').run(id));
  await until(() => text.includes(id));
  const message = text.slice(text.lastIndexOf('event: event'));
  t.match(
    JSON.parse(message.split('\n')[1].replace(/^data: /, '')),
    { id, label: 'scream', offset_utc: null, clips: [] },
    'the new event, as GET /api/v1/events shows it',
  );
  node.db.prepare("UPDATE events SET offset_utc = '2024-05-02T00:00:01.000Z' WHERE id = ?").run(id);
  await until(() => text.includes('"offset_utc":"2024-05-02T00:00:01.000Z"'));
  t.pass('and again when it ends');
  controller.abort();

  // A client that goes frees its place: 20 streams opened and dropped in turn, then one more is served.
  for (let i = 0; i < 20; i++) {
    const gone = new AbortController();
    const r = await fetch(`${url}/api/v1/events/stream`, { headers: auth, signal: gone.signal });
    t.equal(r.status, 200, `stream ${i + 1} served`);
    await r.body!.getReader().read();
    gone.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

t.test('the page: served without the token, with a strict CSP; data still needs the token', async (t) => {
  const page = await fetch(`${url}/`);
  t.equal(page.status, 200);
  t.match(await page.text(), /<script src="\/app\.js" defer><\/script>/);
  const csp = page.headers.get('content-security-policy')!;
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self'(;|$)/, "scripts only from the page's own origin, none inline");
  t.match(csp, /media-src 'self' blob:/, 'audio through blob: URLs (fetched with the token)');
  t.match(csp, /frame-ancestors 'none'/);
  t.equal((await fetch(`${url}/app.js`)).status, 200);
  t.equal((await fetch(`${url}/style.css`)).status, 200);
  t.equal((await fetch(`${url}/favicon.ico`)).status, 204);
  t.equal((await fetch(`${url}/api/v1/review/config`)).status, 401, "the page's data calls need the token");
  t.equal((await fetch(`${url}/?token=${TOKEN}`)).headers.get('set-cookie'), null, 'no cookie is ever set');
});
