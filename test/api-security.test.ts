/**
 * The HTTP API's security model over real HTTP: a bearer token when one is configured (and a
 * non-loopback address refused without one), path traversal attempts answered 400/404 with
 * nothing outside the data directory read (also for a damaged database whose clip paths point
 * outside it), and the request body limit.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { createApiServer, startApiServer } from '../src/api/server.js';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { buildNode, encodeWav16, STANDARD_CLIPS, type TestNode } from './helpers/api-node.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const TOKEN = 'correct-horse-battery-staple-42';

async function start(node: TestNode) {
  const app = createApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

/** A GET with the path sent exactly as written (fetch would normalise `..` and `//`). */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a non-loopback address needs a token (config)', async (t) => {
  t.throws(
    () => parseConfig({ api: { host: '0.0.0.0' } }, 'earshot.yaml', '/tmp'),
    /earshot\.yaml: api\.token_file: required when api\.host is not a loopback address \(0\.0\.0\.0\)/,
  );
  t.doesNotThrow(() => parseConfig({ api: { host: '0.0.0.0', token_file: 'token' } }, 'earshot.yaml', '/tmp'));
  t.doesNotThrow(() => parseConfig({ api: { host: '::1' } }, 'earshot.yaml', '/tmp'), 'IPv6 loopback needs none');
  t.throws(() => parseConfig({ api: { token: 'short' } }, 'earshot.yaml', '/tmp'), /api\.token: must NOT have fewer than 16 characters/);
});

t.test('with a token: missing or wrong → 401 on every route, right → 200', async (t) => {
  const node = buildNode([STANDARD_CLIPS[0]], { api: { token: TOKEN } });
  const server = await start(node);
  t.teardown(async () => {
    await server.app.close();
    node.db.close();
  });
  const clip = node.clips[0];
  for (const path of [
    '/api/v1/events',
    `/api/v1/clips/${clip.id}`,
    `/api/v1/clips/${clip.id}/spectrogram.png`,
    '/api/v1/active-learning/queue',
    '/api/v1/export',
    '/healthz',
    '/metrics',
    '/api/v1/node',
  ]) {
    const missing = await fetch(`${server.url}${path}`);
    t.equal(missing.status, 401, `${path} without a token: 401`);
    t.equal(missing.headers.get('www-authenticate'), 'Bearer realm="earshot"');
    const wrong = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` } });
    t.equal(wrong.status, 401, `${path} with a wrong token: 401`);
    t.notOk(Buffer.from(await wrong.arrayBuffer()).includes(clip.bytes.subarray(100, 200)), 'no audio in a refusal');
  }
  for (const header of [TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`, `Bearer ${TOKEN}${TOKEN}`, 'Bearer ']) {
    t.equal((await fetch(`${server.url}/api/v1/events`, { headers: { Authorization: header } })).status, 401, `"${header.slice(0, 12)}…": 401`);
  }
  const ok = await fetch(`${server.url}/api/v1/clips/${clip.id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.equal(ok.status, 200);
  t.ok(Buffer.from(await ok.arrayBuffer()).equals(clip.bytes));
  t.equal((await fetch(`${server.url}/api/v1/events`, { headers: { Authorization: `bearer ${TOKEN}` } })).status, 200, 'the scheme is case-insensitive');
  const upload = await fetch(`${server.url}/api/v1/clips/${clip.id}/labels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labels: [{ label: 'x' }] }),
  });
  t.equal(upload.status, 401, 'a POST without a token: 401');
  t.equal((node.db.prepare('SELECT COUNT(*) AS n FROM labels').get() as { n: number }).n, 0, 'and nothing stored');
});

t.test('the token can come from a file; an unreadable one keeps the API off, not the daemon', async (t) => {
  const node = buildNode([STANDARD_CLIPS[0]]);
  const tokenFile = join(node.dir, 'api-token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const config = { ...node.config, api: { ...node.config.api, token_file: tokenFile } };
  const app = createApiServer({ db: node.db, dataDir: node.dataDir, config, log });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    node.db.close();
  });
  t.equal((await fetch(`${url}/api/v1/events`)).status, 401);
  t.equal((await fetch(`${url}/api/v1/events`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200);

  const lines: string[] = [];
  const capture = createLogger({ level: 'info', pretty: false, fd: 2 });
  const spy = new Proxy(capture, {
    get(target, key) {
      // The error is logged as an Error object (pino's serializer keeps its message): keep the message here too.
      if (key === 'error')
        return (fields: object, message: string) =>
          lines.push(`${message} ${JSON.stringify(fields, (_key, value: unknown) => (value instanceof Error ? { message: value.message } : value))}`);
      return Reflect.get(target, key);
    },
  });
  const missing = await startApiServer({
    db: node.db,
    dataDir: node.dataDir,
    config: { ...config, api: { ...config.api, token_file: join(node.dir, 'nope') } },
    log: spy,
  });
  t.equal(missing, null, 'not started');
  t.match(lines.join('\n'), /runs on without the HTTP API.*nope: cannot read the API token file \(not found\)/);
  writeFileSync(tokenFile, 'short\n');
  lines.length = 0;
  t.equal(await startApiServer({ db: node.db, dataDir: node.dataDir, config, log: spy }), null);
  t.match(lines.join('\n'), /api-token: the API token \(first line\) must have at least 16 characters, it has 5/);
});

t.test('path traversal: 400/404, and nothing outside the data directory is read', async (t) => {
  const node = buildNode([STANDARD_CLIPS[0], STANDARD_CLIPS[1]]);
  // A secret beside the data directory, and a real WAV outside it (so only the path check can refuse it).
  const canary = encodeWav16(
    new Float32Array(16000).map((_, i) => Math.sin(i / 3) * 0.5),
    16000,
  );
  const secretDir = join(node.dir, 'secret');
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, 'secret.wav'), canary);
  writeFileSync(join(node.dir, 'passwd'), canary);
  symlinkSync(join(secretDir, 'secret.wav'), join(node.dataDir, 'clips', 'link.wav'));
  const server = await start(node);
  t.teardown(async () => {
    await server.app.close();
    node.db.close();
  });
  const leaked = (body: Buffer) => body.includes(canary.subarray(200, 400));
  const valid = node.clips[0].id;
  const attempts = [
    '/api/v1/clips/..%2f..%2fpasswd',
    '/api/v1/clips/..%2F..%2F..%2Fetc%2Fpasswd',
    '/api/v1/clips/..%252f..%252fpasswd',
    '/api/v1/clips/../../passwd',
    '/api/v1/clips/%2Fetc%2Fpasswd',
    `/api/v1/clips/${encodeURIComponent(join(secretDir, 'secret.wav'))}`,
    '/api/v1/clips//etc/passwd',
    '/api/v1/clips/%00',
    `/api/v1/clips/${valid}%00`,
    `/api/v1/clips/${valid}%00.wav`,
    `/api/v1/clips/${valid}/..%2f..%2f..%2fsecret%2fsecret.wav`,
    `/api/v1/clips/${valid}/../../../secret/secret.wav`,
    '/api/v1/clips/..%5c..%5cpasswd',
    '/api/v1/clips/..%2f..%2fpasswd/spectrogram.png',
    '/api/v1/clips/..%2f..%2fpasswd/labels',
    '/../../passwd',
    '/api/v1/../../passwd',
  ];
  for (const path of attempts) {
    const { status, body } = await rawGet(server.url, path);
    t.ok(status === 400 || status === 404, `${path}: ${status}`);
    t.notOk(leaked(body), `${path}: nothing of the secret`);
  }

  const long = await rawGet(server.url, `/api/v1/clips/${'A'.repeat(500)}`);
  t.equal(long.status, 414, 'an overlong id: 414');

  // Defence in depth: rows whose path leads out of the data directory (a damaged or edited database).
  const insert = node.db.prepare(`INSERT INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc, end_utc,
      sample_rate, bytes, sha256, gap_samples, status, created_utc)
    SELECT ?, NULL, 'background', NULL, ?, 'wav', stream_id, start_sample, end_sample, start_s, start_utc, end_utc, sample_rate, ?, sha256, 0, 'ok', created_utc
    FROM clips WHERE id = ?`);
  const hostile: [string, string][] = [
    ['01HZ0000000000000000000001', '../secret/secret.wav'],
    ['01HZ0000000000000000000002', join(secretDir, 'secret.wav')],
    ['01HZ0000000000000000000003', 'clips/link.wav'],
    ['01HZ0000000000000000000004', 'clips/../../secret/secret.wav'],
    ['01HZ0000000000000000000005', 'clips/x\0/../../../secret/secret.wav'],
    ['01HZ0000000000000000000006', 'clips'],
  ];
  for (const [id, path] of hostile) insert.run(id, path, canary.length, valid);
  for (const [id, path] of hostile) {
    for (const suffix of ['', '/spectrogram.png']) {
      const { status, body } = await rawGet(server.url, `/api/v1/clips/${id}${suffix}`);
      t.equal(status, 404, `row path ${JSON.stringify(path)}${suffix}: 404`);
      t.notOk(leaked(body), 'nothing of the secret');
    }
  }
  const exported = await fetch(`${server.url}/api/v1/export`);
  const archive = Buffer.from(await exported.arrayBuffer());
  const { gunzipSync } = await import('node:zlib');
  const tarBytes = gunzipSync(archive);
  t.notOk(leaked(tarBytes), 'the export holds nothing of the secret');
  t.ok(tarBytes.includes(node.clips[0].bytes.subarray(100, 200)), 'but does hold the real clips');
  t.match(tarBytes.toString('latin1'), /"skipped": \[\s*\{\s*"clip_id": "01HZ0000000000000000000001"/, 'the refused rows are listed as skipped');
});

t.test('request bodies above api.body_limit_bytes: 413', async (t) => {
  const node = buildNode([STANDARD_CLIPS[0]], { api: { body_limit_bytes: 1024 } });
  const server = await start(node);
  t.teardown(async () => {
    await server.app.close();
    node.db.close();
  });
  const labels = Array.from({ length: 60 }, (_, i) => ({ label: `label_${i}` }));
  const response = await fetch(`${server.url}/api/v1/clips/${node.clips[0].id}/labels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labels }),
  });
  t.equal(response.status, 413);
  t.equal((node.db.prepare('SELECT COUNT(*) AS n FROM labels').get() as { n: number }).n, 0, 'nothing stored');
  const small = await fetch(`${server.url}/api/v1/clips/${node.clips[0].id}/labels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labels: labels.slice(0, 3) }),
  });
  t.equal(small.status, 201, 'a body within the limit is accepted');
});
