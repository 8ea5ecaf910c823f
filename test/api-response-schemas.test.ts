/**
 * The JSON routes' response schemas (src/api/schemas.ts) change no answer: over real HTTP, on a real
 * SQLite file with null-heavy rows (an open event, a deleted clip, labels without annotator or span,
 * a head's scores), every JSON body on the wire is byte for byte the JSON of the object its handler
 * returned. fastify's serializer silently drops a property its schema does not list and writes a null
 * as "" or 0 where the schema does not allow null: a view that grows a field its schema lacks fails here.
 * And docs/api.md with docs/web.md name every field of those answers.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import * as schemas from '../src/api/schemas.js';
import type { HeadControl, HeadIdentity } from '../src/inference/head/head-runtime.js';
import { LiveStatus } from '../src/api/live-status.js';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { buildNode, STANDARD_CLIPS } from './helpers/api-node.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });

const node = buildNode(STANDARD_CLIPS);
const [gunshot, , , speech, background] = node.clips;
const { db } = node;

// An open event (every nullable column null) with a clip; a clip retention deleted; labels with and
// without span and annotator; a head's probabilities among the gunshot event's scores.
const openEventId = '01HZZZZZZZZZZZZZZZZZZZZZZ1';
db.prepare(`INSERT INTO events (id, node_id, label, grp, onset_utc, offset_utc, onset_s, offset_s, peak_score, mean_score, peak_dbfs, patch_count,
    end_reason, model_id, model_sha256, source, stream_id, clock_synced, threshold)
  VALUES (?, 'test-node', 'scream', 'hostile', '2024-05-01T13:00:00.000Z', NULL, 3600.5, NULL, 0.5, 0.4, NULL, 1, NULL, 'yamnet', ?, 'file:/test.wav', 'stream-1', NULL, NULL)`).run(
  openEventId,
  'a'.repeat(64),
);
db.prepare(`INSERT INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc, end_utc, sample_rate,
    bytes, sha256, gap_samples, status, created_utc)
  SELECT '01HZZZZZZZZZZZZZZZZZZZZZZ2', ?, 'event', 'hostile', 'clips/2024-05-01/01HZZZZZZZZZZZZZZZZZZZZZZ2.wav', format, stream_id, start_sample, end_sample, start_s, start_utc, end_utc, sample_rate,
    bytes, sha256, 160, 'deleted', created_utc FROM clips WHERE id = ?`).run(openEventId, speech.id);
db.prepare(`INSERT INTO labels (clip_id, label, onset_s, offset_s, source, annotator, created_utc) VALUES
  (?, 'gunshot', 0.25, 1.2, 'human', 'ana', '2024-05-02T00:00:00.000Z'), (?, 'none', NULL, NULL, 'import', NULL, '2024-05-02T00:00:01.000Z')`).run(
  gunshot.id,
  background.id,
);
db.prepare(
  `INSERT INTO scores (event_id, patch_index, start_s, rank, model_id, class, score) VALUES (?, 100, 0, 4, 'yamnet', 'head:gunshot', 0.8), (?, 100, 0, 5, 'yamnet', 'head:other', 0.2)`,
).run(gunshot.eventId, gunshot.eventId);

const head: HeadIdentity = { sha256: 'c'.repeat(64), trained_at: '2026-12-01T00:00:00Z', clip_count: 12, labels: ['gunshot'], origin: 'push' };
const heads: HeadControl = {
  current: () => head,
  previous: () => null,
  push: async () => head,
  rollback: async () => null,
};
const live = new LiveStatus(() => 3);
live.chunk({ startSample: 0, samples: new Float32Array(1600) }, 2);
live.inference = {
  lagSeconds: 0.61234,
  maxLagSeconds: 1,
  degraded: false,
  degradedEpisodes: 0,
  queuedPatches: 0,
  backlogSeconds: 0,
  classifiedPatches: 10,
  skippedPatches: 1,
  failedPatches: 0,
  workerRestarts: 0,
};
live.microphone = {
  status: () => ({
    status: 'problem',
    last_minute: {
      minute_utc: '2024-05-01T12:00:00.000Z',
      heard_s: 60,
      noise_floor_dbfs: null,
      tilt_db: -3.5,
      clipping_ratio: 0,
      dc_offset: 0.001,
      constant_ratio: 0,
      zero_ratio: 0,
    },
    baseline: { minutes: 3, min_minutes: 60, noise_floor_dbfs: null, noise_floor_sigma_db: null, tilt_db: null, tilt_sigma_db: null },
    raised: [{ measure: 'clipping', detail: '2 % clipped', since_utc: '2024-05-01T12:00:00.000Z' }],
    problems: ['microphone: clipping (2 % clipped)'],
  }),
};

/** A server whose handlers' payloads are kept: `sent` is the last object a route handed to the serializer. */
async function start(withPipeline: boolean) {
  const app = createApiServer({
    db,
    dataDir: node.dataDir,
    config: node.config,
    log,
    ...(withPipeline ? { live, heads, model: { id: 'yamnet', sha256: 'b'.repeat(64) } } : {}),
  });
  const state = { sent: undefined as unknown };
  app.addHook('preSerialization', async (_request, _reply, payload) => {
    state.sent = payload;
    return payload;
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return {
    /** Requests `path`; the body on the wire and the JSON of what the handler returned. */
    async call(path: string, init?: RequestInit) {
      state.sent = undefined;
      const response = await fetch(`${url}${path}`, init);
      return { status: response.status, body: await response.text(), sent: state.sent === undefined ? undefined : JSON.stringify(state.sent) };
    },
  };
}

const full = await start(true);
const bare = await start(false);
t.teardown(() => db.close());

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('every JSON answer is the JSON of what its handler returned', async (t) => {
  const cases: [server: typeof full, path: string, status: number, init?: RequestInit][] = [
    [full, '/api/v1/events', 200],
    [full, '/api/v1/events?order=desc&limit=2', 200],
    [full, '/api/v1/clips', 200],
    [full, '/api/v1/clips?kind=background', 200],
    [full, '/api/v1/active-learning/queue', 200],
    [full, '/api/v1/active-learning/queue?strategy=random&seed=5', 200],
    [full, '/api/v1/active-learning/queue?strategy=top&limit=1', 200],
    [full, `/api/v1/clips/${gunshot.id}/labels`, 200],
    [full, `/api/v1/clips/${background.id}/labels`, 200],
    [
      full,
      `/api/v1/clips/${speech.id}/labels`,
      201,
      post({ labels: [{ label: 'speech' }, { label: 'speech', onset_s: 0.1, offset_s: 0.5 }], annotator: 'bo' }),
    ],
    [full, `/api/v1/clips/${gunshot.id}/details`, 200],
    [full, `/api/v1/clips/${background.id}/details`, 200],
    [full, '/api/v1/clips/01HZZZZZZZZZZZZZZZZZZZZZZ2/details', 200],
    [full, '/api/v1/review/config', 200],
    [full, '/api/v1/stats/daily?days=3', 200],
    [full, '/api/v1/node', 200],
    [full, '/healthz', 503],
    [full, '/api/v1/head', 200],
    [full, '/api/v1/head/rollback', 200, { method: 'POST' }],
    [full, '/api/v1/head', 200, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"head": 1}' }],
    // Errors a route sends itself keep fastify's shape.
    [full, '/api/v1/clips/01HZZZZZZZZZZZZZZZZZZZZZZ9/labels', 404],
    [full, '/api/v1/clips/01HZZZZZZZZZZZZZZZZZZZZZZ2/labels', 410, post({ labels: [{ label: 'scream' }] })],
    [full, '/api/v1/events?cursor=bm90IGEgY3Vyc29y', 400],
    [bare, '/api/v1/node', 200],
    [bare, '/healthz', 503],
    [bare, '/api/v1/head', 503],
  ];
  for (const [server, path, status, init] of cases) {
    const what = `${init?.method ?? 'GET'} ${server === bare ? '(no pipeline) ' : ''}${path}`;
    const answer = await server.call(path, init);
    t.equal(answer.status, status, `${what}: ${status}`);
    t.ok(answer.sent, `${what}: the handler returned an object`);
    t.equal(answer.body, answer.sent, `${what}: the body is that object's JSON`);
  }
});

t.test("fastify's own errors keep their shape, code included", async (t) => {
  const answer = await full.call('/api/v1/events?limit=0');
  t.equal(answer.status, 400);
  t.strictSame(JSON.parse(answer.body), { statusCode: 400, code: 'FST_ERR_VALIDATION', error: 'Bad Request', message: 'querystring/limit must be >= 1' });
  const tooBig = await full.call(`/api/v1/clips/${gunshot.id}/labels`, post({ labels: [{ label: 'x'.repeat(2_000_000) }] }));
  t.equal(tooBig.status, 413);
  t.strictSame(Object.keys(JSON.parse(tooBig.body)), ['statusCode', 'code', 'error', 'message']);
});

t.test('the null-heavy rows come out with their nulls', async (t) => {
  const events = JSON.parse((await full.call('/api/v1/events')).body).events as Record<string, unknown>[];
  const open = events.find((e) => e.id === openEventId);
  t.match(open, { offset_utc: null, offset_s: null, peak_dbfs: null, end_reason: null, clock_synced: null, threshold: null }, 'an open event');
  const clips = JSON.parse((await full.call('/api/v1/clips?kind=background')).body).clips as Record<string, unknown>[];
  t.match(clips[0], { event_id: null, group: null, event: null }, 'a background clip');
  const health = JSON.parse((await full.call('/healthz')).body);
  t.match(health.microphone, { last_minute: { noise_floor_dbfs: null, tilt_db: -3.5 }, raised: [{ measure: 'clipping' }] }, 'the microphone object, whole');
});

t.test('docs/api.md and docs/web.md name every field the JSON routes answer with', async (t) => {
  const docs = ['docs/api.md', 'docs/web.md'].map((path) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')).join('\n');
  const fields = new Set<string>();
  const collect = (schema: unknown): void => {
    const s = schema as { properties?: Record<string, unknown>; items?: unknown } | undefined;
    for (const [name, property] of Object.entries(s?.properties ?? {})) {
      fields.add(name);
      collect(property);
    }
    if (s?.items) collect(s.items);
  };
  for (const [name, schema] of Object.entries(schemas)) if (name.endsWith('Schema')) collect(schema);
  t.ok(fields.size > 60, `${fields.size} fields`);
  // Named as a JSON key ("seq"), in backquotes (`seq`), or in a brace list ({clip, top_classes: …}).
  const named = (field: string) => docs.includes(`"${field}"`) || docs.includes(`\`${field}\``) || new RegExp(`[{,]\\s*${field}\\s*[:,}]`).test(docs);
  t.strictSame(
    [...fields].filter((field) => !named(field)),
    [],
    'no field left undocumented',
  );
});
