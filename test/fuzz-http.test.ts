/**
 * Hostile-HTTP corpus (issue 24, "Suites that stay"): 600+ requests against one real API server
 * over a real data directory (events, clips, one clip row pointing at a FIFO): path traversal,
 * numbers (Infinity, 1e309, huge offsets), dates, cursors, bodies (wrong types, NUL and control
 * characters, deep JSON), headers, Range, methods and Host. Every answer must be below 500, carry
 * no stack and no absolute path, and come within 10 s; a wrong Host is 421; the FIFO never hangs.
 * Most go through fastify's inject (the same hooks and routes), 40 through real HTTP.
 */
import { request as httpRequest } from 'node:http';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startApiServer } from '../src/api/server.js';
import { encodeCursor } from '../src/api/context.js';
import { createLogger } from '../src/log.js';
import { mulberry32 } from '../src/random.js';
import { buildNode, STANDARD_CLIPS } from './helpers/api-node.js';

interface Case {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  what: string;
}

const node = buildNode(STANDARD_CLIPS);
const clip = node.clips[0];
// A clip row whose "file" is a FIFO: opening it for reading would block until a writer comes.
const fifoId = '01HZZZZZZZZZZZZZZZZZZZZZZZ';
execFileSync('mkfifo', [join(node.dataDir, 'clips', '2024-05-01', 'fifo.wav')]);
node.db
  .prepare(`INSERT INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc, end_utc, sample_rate, bytes, sha256, gap_samples, status, created_utc)
            VALUES (?, NULL, 'background', NULL, 'clips/2024-05-01/fifo.wav', 'wav', 's', 0, 16000, 0, '2024-05-01T13:00:00.000Z', '2024-05-01T13:00:01.000Z', 16000, 32000, ?, 0, 'ok', '2024-05-01T13:00:02.000Z')`)
  .run(fifoId, 'b'.repeat(64));

const NUMBERS = ['Infinity', '-Infinity', '1e309', '-1e309', 'NaN', '-1', '0', '1.5', '9007199254740993', '1e20', '0x10', '', '%00', 'true', '1,2', '[]'];
const DATES = [
  '2024-05-01',
  '2024-05-01T12:00:00Z',
  '2024-13-45T99:99:99Z',
  '99999-01-01',
  '0000-00-00',
  '2024-05-01T12:00:00+99:00',
  'yesterday',
  '1714564800',
  '',
  '%00',
  '2024-05-01%00',
];
const CURSORS = [
  encodeCursor(['x', 'y']),
  encodeCursor([1, 2]),
  encodeCursor({ strategy: 'uncertainty', offset: 1e300, seed: 1 }),
  encodeCursor({ strategy: 'uncertainty', offset: -5, seed: 1 }),
  encodeCursor({ strategy: 'uncertainty', offset: 10, seed: 1e20 }),
  encodeCursor({ strategy: 'random', offset: 1.5, seed: 1 }),
  encodeCursor(null),
  'not-base64!!',
  '%00',
  'A'.repeat(399),
  encodeCursor('a'.repeat(250)),
];
const TRAVERSALS = [
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2Fetc%2Fpasswd',
  `${clip.id}%00`,
  `${clip.id}/../../..`,
  '....//....//etc',
  'A'.repeat(300),
  '%c0%ae%c0%ae/',
  `${clip.id.toLowerCase()}`,
  fifoId,
];
const LABELS = [
  '{"labels":[{"label":"1"}]}',
  '{"labels":[{"label":1}]}',
  '{"labels":[{"label":true}]}',
  '{"labels":[{"label":"a\\u0000b"}]}',
  '{"labels":[{"label":"a\\u0007b"}]}',
  '{"labels":[{"label":"a\\tb"}]}',
  '{"labels":[{"label":"ok","onset_s":1e308,"offset_s":1e309}]}',
  '{"labels":[{"label":"ok","onset_s":-1,"offset_s":0}]}',
  '{"labels":[]}',
  '{"labels":"x"}',
  '{"labels":[{"label":"ok"}],"annotator":"a\\u0000"}',
  '{"labels":[{"label":"ok"}],"replace":"true"}',
  '[]',
  'null',
  '{',
  `{"labels":${'['.repeat(5000)}${']'.repeat(5000)}}`,
  '{"__proto__":{"x":1},"labels":[{"label":"ok"}]}',
  `{"labels":[{"label":"${'x'.repeat(100)}"}]}`,
];

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (what: string, method: string, url: string, extra: Partial<Case> = {}) => cases.push({ what, method, url, ...extra });
  for (const n of NUMBERS) {
    for (const key of ['limit', 'min_score']) add(`events ${key}=${n}`, 'GET', `/api/v1/events?${key}=${n}`);
    for (const key of ['limit', 'seed']) add(`queue ${key}=${n}`, 'GET', `/api/v1/active-learning/queue?${key}=${n}`);
    for (const key of ['after', 'limit']) add(`clips ${key}=${n}`, 'GET', `/api/v1/clips?${key}=${n}`);
    add(`stats days=${n}`, 'GET', `/api/v1/stats/daily?days=${n}`);
    add(`export limit=${n}`, 'GET', `/api/v1/export?since=2024-05-01&limit=${n}`);
  }
  for (const d of DATES)
    for (const key of ['since', 'until']) {
      add(`events ${key}=${d}`, 'GET', `/api/v1/events?${key}=${d}`);
      add(`export ${key}=${d}`, 'GET', `/api/v1/export?${key}=${d}`);
    }
  for (const c of CURSORS) {
    add(`events cursor`, 'GET', `/api/v1/events?cursor=${c}`);
    for (const strategy of ['uncertainty', 'margin', 'random', 'top'])
      add(`queue cursor ${strategy}`, 'GET', `/api/v1/active-learning/queue?strategy=${strategy}&cursor=${c}`);
  }
  for (const p of TRAVERSALS) {
    for (const suffix of ['', '/details', '/labels', '/spectrogram.png']) add(`clip ${p}${suffix}`, 'GET', `/api/v1/clips/${p}${suffix}`);
    add(`raw ${p}`, 'GET', `/${p}`);
  }
  for (const body of LABELS) {
    add(`labels body ${body.slice(0, 40)}`, 'POST', `/api/v1/clips/${clip.id}/labels`, { body, headers: { 'content-type': 'application/json' } });
  }
  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-7',
    'application/octet-stream',
  ]) {
    add(`labels content-type ${type}`, 'POST', `/api/v1/clips/${clip.id}/labels`, { body: '{"labels":[{"label":"ok"}]}', headers: { 'content-type': type } });
  }
  for (const range of [
    'bytes=0-10',
    'bytes=-5',
    'bytes=999999999-',
    'bytes=5-1',
    'bytes=0-1,2-3',
    'bytes=abc',
    'items=0-1',
    'bytes=-0',
    'bytes=0-18446744073709551616',
  ]) {
    add(`range ${range}`, 'GET', `/api/v1/clips/${clip.id}`, { headers: { range } });
    add(`range fifo ${range}`, 'GET', `/api/v1/clips/${fifoId}`, { headers: { range } });
  }
  for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND']) {
    for (const url of [
      '/api/v1/events',
      `/api/v1/clips/${clip.id}`,
      '/healthz',
      '/api/v1/head',
      `/api/v1/clips/${clip.id}/labels/1`,
      `/api/v1/clips/${clip.id}/labels/99999999999999999999`,
    ])
      add(`${method} ${url}`, method, url);
  }
  for (const host of [
    'rebind.evil.example',
    'evil.example:8466',
    '127.0.0.1.evil.example',
    'localhost.',
    '[::1]:8466',
    '127.0.0.1:80',
    'LOCALHOST',
    '0x7f.1',
    '',
    'a'.repeat(300),
    'local host',
    '127.0.0.1:99999',
  ]) {
    for (const url of [
      '/api/v1/events',
      `/api/v1/clips/${clip.id}`,
      `/api/v1/clips/${clip.id}/details`,
      '/healthz',
      '/metrics',
      '/api/v1/node',
      '/api/v1/stats/daily',
      '/',
    ])
      add(`host ${host}`, 'GET', url, { headers: { host } });
  }
  for (const [name, value] of [
    ['authorization', 'Bearer x'],
    ['authorization', 'Basic Og=='],
    ['accept', '*/*;q=NaN'],
    ['if-none-match', '"x"'.repeat(100)],
    ['if-modified-since', 'garbage'],
    ['x-forwarded-for', '1.2.3.4'],
    ['transfer-encoding', 'gzip'],
    ['accept-encoding', 'br;q=1e309'],
    ['cookie', 'a=b; '.repeat(200)],
  ]) {
    add(`header ${name}`, 'GET', `/api/v1/clips/${clip.id}`, { headers: { [name]: value } });
  }
  for (const query of [
    'unknown=1',
    'group=evil',
    'label=GUNSHOT',
    'label=../x',
    'node=a%00b',
    'order=sideways',
    'unlabelled=maybe',
    'limit=1&limit=2',
    'limit[]=1',
    `label=${'a'.repeat(5000)}`,
  ])
    add(`events ${query.slice(0, 20)}`, 'GET', `/api/v1/events?${query}`);
  for (const n of NUMBERS) add(`DELETE label ${n}`, 'DELETE', `/api/v1/clips/${clip.id}/labels/${n}`);
  // Seeded mixtures: several hostile parameters in one query.
  const random = mulberry32(500);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  for (let i = 0; i < 60; i++) {
    const query = [`limit=${pick(NUMBERS)}`, `since=${pick(DATES)}`, `min_score=${pick(NUMBERS)}`, `cursor=${pick(CURSORS)}`]
      .filter(() => random() < 0.7)
      .join('&');
    add(`mix ${i}`, 'GET', `/api/v1/${pick(['events', 'active-learning/queue', 'clips'])}?${query}`);
  }
  return cases;
}

/** Host headers that are not a name of the node (the others are: localhost., [::1], any port). */
const FOREIGN_HOSTS = ['rebind.evil.example', 'evil.example:8466', '127.0.0.1.evil.example', '0x7f.1', 'a'.repeat(300), 'local host'];

/**
 * Below 500; 503 only where it is the documented answer of an API without a pipeline
 * (`/healthz`: no_pipeline; the head routes: no head to change).
 */
function safe(url: string, status: number): boolean {
  return status < 500 || (status === 503 && (url.startsWith('/healthz') || url.startsWith('/api/v1/head')));
}

/** True when a response shows a stack or a path of this machine. */
function leaks(body: string): boolean {
  return (
    /\n\s+at .+:\d+:\d+/.test(body) ||
    /(^|["\s(])\/(work|home|root|usr|tmp|opt|var|etc)\//.test(body) ||
    body.includes(node.dataDir) ||
    /node_modules|file:\/\//.test(body)
  );
}

t.test('hostile requests answer below 500, without stacks or paths, within 10 s', async (t) => {
  const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
  const api = await startApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log });
  t.ok(api, 'the API listens');
  t.teardown(async () => {
    await api?.close();
    node.db.close();
    rmSync(node.dir, { recursive: true, force: true });
  });
  const cases = corpus();
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const c of cases) {
    const started = performance.now();
    const response = await Promise.race([
      api!.app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, payload: c.body }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000).unref()),
    ]);
    if (!response) {
      failures.push(`${c.what}: no answer in 10 s`);
      continue;
    }
    statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
    if (!safe(c.url, response.statusCode) || leaks(response.body) || performance.now() - started > 10_000)
      failures.push(`${c.what}: ${response.statusCode} ${response.body.slice(0, 200)}`);
    if (c.what.startsWith('host ') && FOREIGN_HOSTS.includes(c.headers!.host) && response.statusCode !== 421)
      failures.push(`${c.what}: ${response.statusCode}, not 421`);
  }
  t.same(failures, [], `all ${cases.length} requests failed safe`);
  t.ok(cases.length >= 500, `${cases.length} requests`);
  t.comment(
    `tried ${cases.length} in-process: ${[...statuses]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}×${n}`)
      .join(' ')}`,
  );

  // The same server over real HTTP: Host checks, the FIFO clip, numbers, and then /healthz still answers.
  const real = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(path, api!.url);
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
      req.on('error', reject);
      req.end();
    });
  const random = mulberry32(421);
  const sample = Array.from({ length: 30 }, () => cases[Math.floor(random() * cases.length)]).filter((c) => c.method === 'GET');
  const realFailures: string[] = [];
  for (const c of sample) {
    const answer = await real(c.url, c.headers ?? {}).catch((error: Error) => ({ status: 0, body: error.message }));
    if (answer.status === 0 || !safe(c.url, answer.status) || leaks(answer.body)) realFailures.push(`${c.what}: ${answer.status} ${answer.body.slice(0, 120)}`);
  }
  t.same(realFailures, [], `${sample.length} sampled requests over real HTTP failed safe`);
  const rebound = await real('/api/v1/events', { host: 'rebind.evil.example' });
  t.equal(rebound.status, 421, 'DNS rebinding: a foreign Host gets 421 over real HTTP');
  t.notMatch(rebound.body, /gunshot/, 'and no events');
  t.equal((await real('/api/v1/events?limit=1e309')).status, 400, 'limit=1e309: 400');
  t.equal(
    (await real(`/api/v1/active-learning/queue?cursor=${encodeCursor({ strategy: 'uncertainty', offset: 1e300, seed: 1 })}`)).status,
    400,
    'a queue cursor with a huge offset: 400',
  );
  const fifo = await Promise.all(Array.from({ length: 6 }, () => real(`/api/v1/clips/${fifoId}`)));
  t.ok(
    fifo.every((a) => a.status === 404),
    'six requests for a clip that is a FIFO: 404 at once, none hangs',
  );
  t.equal((await real('/healthz')).status, 503, '/healthz still answers after them (no pipeline: 503)');
  for (const [label, why] of [
    ['1', 'a number'],
    ['true', 'a boolean'],
    ['"a\\u0000b"', 'a NUL'],
    ['"a\\u001bb"', 'an escape character'],
  ]) {
    const answer = await api!.app.inject({
      method: 'POST',
      url: `/api/v1/clips/${clip.id}/labels`,
      headers: { 'content-type': 'application/json' },
      payload: `{"labels":[{"label":${label}}]}`,
    });
    t.equal(answer.statusCode, 400, `a label that is ${why}: 400, not stored`);
  }
  const download = await real(`/api/v1/clips/${clip.id}`);
  t.equal(download.status, 200, 'and a real clip still downloads');
});
