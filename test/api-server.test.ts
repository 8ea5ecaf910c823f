/**
 * The HTTP API over real HTTP (fetch) against a real server on a free port, reading a real SQLite
 * file and real WAV clips: events with filters and cursor pagination, clip download (ETag, 304,
 * ranges), the spectrogram, the active-learning queue, labels, the export archive, health and
 * metrics.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import t from 'tap';
import tar from 'tar-stream';
import { LiveStatus } from '../src/api/live-status.js';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { buildNode, json, STANDARD_CLIPS, type TestNode } from './helpers/api-node.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });

async function start(node: TestNode, live?: LiveStatus) {
  const app = createApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log, live, model: { id: 'yamnet', sha256: 'b'.repeat(64) } });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

const node = buildNode(STANDARD_CLIPS);
const live = new LiveStatus(() => 7);
const server = await start(node, live);
t.teardown(async () => {
  await server.app.close();
  node.db.close();
});
const api = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
const [gunshot, glass, scream, speech, background] = node.clips;

t.test('events: every event, filters, and cursor pagination that visits each event once', async (t) => {
  const all = await json(api('/api/v1/events'));
  t.same(
    all.events.map((e: { label: string }) => e.label),
    ['gunshot', 'glass_break', 'scream', 'speech'],
    'oldest onset first',
  );
  t.equal(all.next_cursor, null, 'one page: no cursor');
  t.equal(all.events[0].clips[0].id, gunshot.id, 'each event lists its clips');
  t.equal(all.events[0].clips[0].sha256, gunshot.sha256);
  t.equal(all.events[0].threshold, 0.2);
  t.equal(all.events[0].clock_synced, true);

  const hostile = await json(api('/api/v1/events?group=hostile'));
  t.same(
    hostile.events.map((e: { label: string }) => e.label),
    ['gunshot', 'glass_break', 'scream'],
  );
  const byLabel = await json(api('/api/v1/events?label=speech'));
  t.same(
    byLabel.events.map((e: { label: string }) => e.label),
    ['speech'],
  );
  const confident = await json(api('/api/v1/events?min_score=0.65'));
  t.same(
    confident.events.map((e: { label: string }) => e.label),
    ['gunshot', 'speech'],
  );
  const window = await json(api(`/api/v1/events?since=${encodeURIComponent('2024-05-01T12:01:00Z')}&until=${encodeURIComponent('2024-05-01T12:03:00Z')}`));
  t.same(
    window.events.map((e: { label: string }) => e.label),
    ['glass_break', 'scream'],
    'since inclusive, until exclusive',
  );

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const body: { events: { id: string }[]; next_cursor: string | null } = await json(api(`/api/v1/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`));
    seen.push(...body.events.map((e) => e.id));
    cursor = body.next_cursor;
    pages += 1;
  } while (cursor && pages < 10);
  t.same(
    seen,
    all.events.map((e: { id: string }) => e.id),
    'pages of 3 visit every event once, in order',
  );
  t.equal(pages, 2);

  for (const bad of ['group=friendly', 'limit=0', 'limit=5000', 'min_score=2', 'since=yesterday', 'cursor=not-a-cursor', 'colour=red']) {
    const response = await api(`/api/v1/events?${bad}`);
    t.equal(response.status, 400, `${bad}: 400`);
    t.match((await json(response)).message, /\S/, 'with a message');
  }
});

t.test('clip download: the exact bytes, Content-Length, ETag = sha256, 304, ranges', async (t) => {
  const response = await api(`/api/v1/clips/${gunshot.id}`);
  t.equal(response.status, 200);
  t.equal(response.headers.get('content-type'), 'audio/wav');
  t.equal(response.headers.get('content-length'), String(gunshot.bytes.length));
  t.equal(response.headers.get('etag'), `"${gunshot.sha256}"`);
  t.equal(response.headers.get('accept-ranges'), 'bytes');
  const body = Buffer.from(await response.arrayBuffer());
  t.ok(body.equals(gunshot.bytes), 'the stored file, byte for byte');
  t.equal(createHash('sha256').update(body).digest('hex'), gunshot.sha256);

  const cached = await api(`/api/v1/clips/${gunshot.id}`, { headers: { 'If-None-Match': `"${gunshot.sha256}"` } });
  t.equal(cached.status, 304, 'If-None-Match with the sha256: 304');
  t.equal((await cached.arrayBuffer()).byteLength, 0);

  const size = gunshot.bytes.length;
  const cases: [string, number, number][] = [
    ['bytes=0-99', 0, 99],
    ['bytes=1000-', 1000, size - 1],
    ['bytes=-44', size - 44, size - 1],
    [`bytes=${size - 10}-${size + 500}`, size - 10, size - 1],
  ];
  for (const [range, from, to] of cases) {
    const partial = await api(`/api/v1/clips/${gunshot.id}`, { headers: { Range: range } });
    t.equal(partial.status, 206, `${range}: 206`);
    t.equal(partial.headers.get('content-range'), `bytes ${from}-${to}/${size}`);
    t.equal(partial.headers.get('content-length'), String(to - from + 1));
    t.ok(Buffer.from(await partial.arrayBuffer()).equals(gunshot.bytes.subarray(from, to + 1)), `${range}: exactly those bytes`);
  }
  const unsatisfiable = await api(`/api/v1/clips/${gunshot.id}`, { headers: { Range: `bytes=${size}-` } });
  t.equal(unsatisfiable.status, 416, 'a range past the end: 416');
  t.equal(unsatisfiable.headers.get('content-range'), `bytes */${size}`);
  const stale = await api(`/api/v1/clips/${gunshot.id}`, { headers: { Range: 'bytes=0-9', 'If-Range': '"another-version"' } });
  t.equal(stale.status, 200, 'If-Range with another validator: the whole file');
  t.equal((await stale.arrayBuffer()).byteLength, size);
  const several = await api(`/api/v1/clips/${gunshot.id}`, { headers: { Range: 'bytes=0-9,100-109' } });
  t.equal(several.status, 200, 'several ranges: the whole file');
  t.equal((await several.arrayBuffer()).byteLength, size);

  const head = await api(`/api/v1/clips/${gunshot.id}`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-length'), String(size), 'HEAD: the length without the body');

  t.equal((await api('/api/v1/clips/01HZZZZZZZZZZZZZZZZZZZZZZZ')).status, 404, 'unknown id: 404');
});

t.test('clips that are gone answer 410', async (t) => {
  const node2 = buildNode([STANDARD_CLIPS[0], STANDARD_CLIPS[1]]);
  node2.db.prepare("UPDATE clips SET status = 'deleted' WHERE id = ?").run(node2.clips[0].id);
  node2.db.prepare("UPDATE clips SET status = 'missing' WHERE id = ?").run(node2.clips[1].id);
  const other = await start(node2);
  t.teardown(async () => {
    await other.app.close();
    node2.db.close();
  });
  for (const clip of node2.clips) {
    const response = await fetch(`${other.url}/api/v1/clips/${clip.id}`);
    t.equal(response.status, 410);
    t.match((await json(response)).message, /deleted|missing/);
    t.equal((await fetch(`${other.url}/api/v1/clips/${clip.id}/spectrogram.png`)).status, 410);
  }
});

t.test('a clip file that is not a WAV: its bytes are served, its picture is 422', async (t) => {
  const node3 = buildNode([STANDARD_CLIPS[0]]);
  const clip = node3.clips[0];
  writeFileSync(join(node3.dataDir, clip.path), Buffer.alloc(clip.bytes.length, 0x41));
  const other = await start(node3);
  t.teardown(async () => {
    await other.app.close();
    node3.db.close();
  });
  t.equal((await fetch(`${other.url}/api/v1/clips/${clip.id}`)).status, 200, 'the audio route does not parse the file');
  const picture = await fetch(`${other.url}/api/v1/clips/${clip.id}/spectrogram.png`);
  t.equal(picture.status, 422);
  t.match((await json(picture)).message, /not a WAV file/);
});

t.test('the clip list pages by seq', async (t) => {
  const first = await json(api('/api/v1/clips?limit=3'));
  t.same(
    first.clips.map((c: { id: string }) => c.id),
    [gunshot.id, glass.id, scream.id],
  );
  const rest = await json(api(`/api/v1/clips?after=${first.next_after}`));
  t.same(
    rest.clips.map((c: { id: string }) => c.id),
    [speech.id, background.id],
  );
  t.equal(rest.clips[1].kind, 'background');
  t.equal(rest.clips[1].event, null);
  t.equal(first.clips[0].event.onset_in_clip_s, 0.25, 'the event span within the clip (seconds)');
  t.equal(first.clips[0].event.offset_in_clip_s, 1.2);
  t.notOk('path' in first.clips[0], 'file paths are not published');
});

t.test('spectrogram: a PNG of the clip with the event marked', async (t) => {
  const response = await api(`/api/v1/clips/${glass.id}/spectrogram.png`);
  t.equal(response.status, 200);
  t.equal(response.headers.get('content-type'), 'image/png');
  const png = Buffer.from(await response.arrayBuffer());
  t.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  t.equal(png.readUInt32BE(16), 1000, 'width 1000 px (IHDR)');
  t.ok(png.readUInt32BE(20) > 300, `height ${png.readUInt32BE(20)} px`);
  t.ok(png.length > 20_000, `a real picture (${png.length} bytes)`);
  const again = await api(`/api/v1/clips/${glass.id}/spectrogram.png`, { headers: { 'If-None-Match': response.headers.get('etag')! } });
  t.equal(again.status, 304);
  const backgroundPng = await api(`/api/v1/clips/${background.id}/spectrogram.png`);
  t.equal(backgroundPng.status, 200, 'a background clip has a picture too');
});

t.test('active-learning queue: uncertainty, margin, top, random', async (t) => {
  const uncertain = await json(api('/api/v1/active-learning/queue?strategy=uncertainty&limit=10'));
  t.same(
    uncertain.clips.map((c: { id: string }) => c.id),
    [glass.id, speech.id, scream.id, gunshot.id],
    'peak closest to the threshold first (not the gap between two classes)',
  );
  t.equal(uncertain.clips[0].threshold_margin.toFixed(3), '0.020');
  t.equal(uncertain.clips[0].uncertainty.toFixed(3), '0.020');
  t.equal(uncertain.clips[2].top2_margin.toFixed(3), '0.010', 'the top-two gap is reported, not ranked on');
  t.equal(uncertain.clips[0].head_entropy, null, 'no head scores: no entropy');
  t.notOk(
    uncertain.clips.some((c: { kind: string }) => c.kind === 'background'),
    'only event clips',
  );
  const defaultQueue = await json(api('/api/v1/active-learning/queue'));
  t.equal(defaultQueue.strategy, 'uncertainty', 'uncertainty is the default');
  const margin = await json(api('/api/v1/active-learning/queue?strategy=margin&limit=10'));
  t.same(
    margin.clips.map((c: { id: string }) => c.id),
    [glass.id, speech.id, scream.id, gunshot.id],
    'margin: the same order without a head (test/learn-queue.test.ts: with one)',
  );
  t.equal(margin.strategy, 'margin');

  const top = await json(api('/api/v1/active-learning/queue?strategy=top'));
  t.same(
    top.clips.map((c: { id: string }) => c.id),
    [gunshot.id, speech.id, scream.id, glass.id],
    'highest peak first',
  );

  const page1 = await json(api('/api/v1/active-learning/queue?strategy=random&limit=3&seed=42'));
  const page2 = await json(api(`/api/v1/active-learning/queue?strategy=random&limit=3&cursor=${page1.next_cursor}`));
  const randomIds = [...page1.clips, ...page2.clips].map((c: { id: string }) => c.id);
  t.same([...randomIds].sort(), node.clips.map((c) => c.id).sort(), 'random: every clip once over the pages, background included');
  t.equal(page2.next_cursor, null);
  const repeat = await json(api('/api/v1/active-learning/queue?strategy=random&limit=3&seed=42'));
  t.same(
    repeat.clips.map((c: { id: string }) => c.id),
    randomIds.slice(0, 3),
    'the same seed, the same order',
  );

  t.equal((await api('/api/v1/active-learning/queue?strategy=loudest')).status, 400);
  t.equal((await api(`/api/v1/active-learning/queue?strategy=top&cursor=${page1.next_cursor}`)).status, 400, 'a random cursor for the top queue: 400');
});

t.test('labels: validated, stored, listed; labelled clips leave the queue', async (t) => {
  const post = (id: string, body: unknown) =>
    api(`/api/v1/clips/${id}/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const created = await post(scream.id, { labels: [{ label: 'scream', onset_s: 0.2, offset_s: 0.9 }, { label: 'speech' }], annotator: 'ana' });
  t.equal(created.status, 201);
  const body = await json(created);
  t.equal(body.labels.length, 2);
  t.match(body.labels[0], { label: 'scream', onset_s: 0.2, offset_s: 0.9, source: 'human', annotator: 'ana' });
  t.match(body.labels[1], { label: 'speech', onset_s: null, offset_s: null }, 'no times: the whole clip');
  const listed = await json(api(`/api/v1/clips/${scream.id}/labels`));
  t.equal(listed.labels.length, 2);

  const queue = await json(api('/api/v1/active-learning/queue?strategy=uncertainty'));
  t.notOk(
    queue.clips.some((c: { id: string }) => c.id === scream.id),
    'a labelled clip is no longer queued',
  );

  // A re-import replaces the clip's earlier imported labels instead of adding to them.
  await post(glass.id, { labels: [{ label: 'glass_break', onset_s: 0.5, offset_s: 1.4 }], source: 'import', replace: true });
  await post(glass.id, { labels: [{ label: 'glass_break', onset_s: 0.4, offset_s: 1.4 }], source: 'import', replace: true });
  const glassLabels = await json(api(`/api/v1/clips/${glass.id}/labels`));
  t.equal(glassLabels.labels.length, 1, 'replace: true keeps one import');
  t.equal(glassLabels.labels[0].onset_s, 0.4);

  const bad: [string, unknown][] = [
    ['no labels', {}],
    ['empty list', { labels: [] }],
    ['empty label', { labels: [{ label: '' }] }],
    ['blank label', { labels: [{ label: '   ' }] }],
    ['a tab in the label', { labels: [{ label: 'a\tb' }] }],
    ['onset without offset', { labels: [{ label: 'x', onset_s: 1 }] }],
    ['offset before onset', { labels: [{ label: 'x', onset_s: 1, offset_s: 0.5 }] }],
    ['negative time', { labels: [{ label: 'x', onset_s: -1, offset_s: 0.5 }] }],
    ['past the clip end', { labels: [{ label: 'x', onset_s: 0, offset_s: 60 }] }],
    ['unknown key', { labels: [{ label: 'x' }], colour: 'red' }],
    ['unknown source', { labels: [{ label: 'x' }], source: 'robot' }],
  ];
  for (const [what, payload] of bad) {
    const response = await post(gunshot.id, payload);
    t.equal(response.status, 400, `${what}: 400`);
  }
  const notJson = await api(`/api/v1/clips/${gunshot.id}/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"labels": [' });
  t.equal(notJson.status, 400, 'broken JSON: 400');
  t.equal((await post('01HZZZZZZZZZZZZZZZZZZZZZZZ', { labels: [{ label: 'x' }] })).status, 404, 'unknown clip: 404');
  const gunshotLabels = await json(api(`/api/v1/clips/${gunshot.id}/labels`));
  t.equal(gunshotLabels.labels.length, 0, 'no refused request stored anything');
});

t.test('export: a tar.gz with the clips, labels.tsv (DCASE) and manifest.json', async (t) => {
  const response = await api('/api/v1/export');
  t.equal(response.status, 200);
  t.equal(response.headers.get('content-type'), 'application/gzip');
  t.match(response.headers.get('content-disposition'), /attachment; filename="earshot-test-node-\d{8}T\d{6}Z\.tar\.gz"/);
  const files = await untar(Buffer.from(await response.arrayBuffer()));
  const names = [...files.keys()];
  t.same(names.slice(-2), ['labels.tsv', 'manifest.json'], 'the text files come last');
  for (const clip of node.clips) {
    const file = files.get(`clips/${clip.id}.wav`);
    t.ok(file?.equals(clip.bytes), `clips/${clip.id}.wav: the stored bytes`);
  }
  const tsv = files.get('labels.tsv')!.toString('utf8').trim().split('\n');
  t.equal(tsv[0], 'filename\tonset\toffset\tevent_label');
  t.same(
    tsv.slice(1).sort(),
    [
      `${glass.id}.wav\t0.400\t1.400\tglass_break`,
      `${scream.id}.wav\t0.000\t${scream.durationS.toFixed(3)}\tspeech`,
      `${scream.id}.wav\t0.200\t0.900\tscream`,
    ].sort(),
    'every label; a whole-clip label spans the clip',
  );
  const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
  t.match(manifest, { format: 'earshot-export/1', node_id: 'test-node', model: { id: 'yamnet', sha256: 'b'.repeat(64) } });
  t.match(manifest.config_hash, /^[0-9a-f]{64}$/);
  t.equal(manifest.clips.length, node.clips.length);
  const gunshotEntry = manifest.clips.find((c: { clip_id?: string; id: string }) => c.id === gunshot.id);
  t.equal(gunshotEntry.sha256, gunshot.sha256);
  t.equal(gunshotEntry.file, `clips/${gunshot.id}.wav`);
  t.same(
    gunshotEntry.top_k.map((s: { class: string }) => s.class),
    ['gunshot_class', 'Other', 'Silence'],
    'top-k classes, highest first',
  );
  t.equal(gunshotEntry.top_k[0].score, 0.95);
  t.same(manifest.skipped, []);

  const labelled = await untar(Buffer.from(await (await api('/api/v1/export?labelled=true')).arrayBuffer()));
  t.same(
    [...labelled.keys()].filter((n) => n.startsWith('clips/')).sort(),
    [`clips/${glass.id}.wav`, `clips/${scream.id}.wav`].sort(),
    'labelled=true: labelled clips only',
  );
  const since = await untar(Buffer.from(await (await api(`/api/v1/export?since=${encodeURIComponent(speech.startUtc)}`)).arrayBuffer()));
  t.same(
    [...since.keys()].filter((n) => n.startsWith('clips/')),
    [`clips/${speech.id}.wav`, `clips/${background.id}.wav`],
    'since: clips starting at or after it',
  );
  t.equal((await api('/api/v1/export?since=last-week')).status, 400);
});

t.test('healthz, node and metrics', async (t) => {
  let response = await api('/healthz');
  t.equal(response.status, 503, 'before any audio: 503');
  t.match(await json(response), { status: 'unhealthy', problems: ['waiting for audio'], capture: { alive: false }, outbox_depth: 7 });
  live.chunk({ startSample: 0, samples: new Float32Array(1600) }, 2);
  response = await api('/healthz');
  t.equal(response.status, 200, 'audio flowing: 200');
  const health = await json(response);
  t.match(health, { status: 'ok', node_id: 'test-node', capture: { alive: true }, inference: { keeping_up: true }, outbox_depth: 7, problems: [] });
  t.ok(Math.abs(Date.parse(health.capture.last_frame_utc) - Date.now()) < 60_000, 'last frame time is now');
  t.ok(health.disk_free_bytes > 0, 'disk free');

  const info = await json(api('/api/v1/node'));
  t.match(info, { node_id: 'test-node', api: 1, model: { id: 'yamnet' } });

  const metrics = await api('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /^text\/plain/);
  const text = await metrics.text();
  t.match(text, /^earshot_events_stored\{group="hostile"\} 3$/m);
  t.match(text, /^earshot_clips_stored\{kind="background",status="ok"\} 1$/m);
  t.match(text, /^earshot_outbox_depth 7$/m);
  t.match(text, /^earshot_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+$/m);
  t.match(text, /^process_cpu_seconds_total /m, 'process metrics');
});

async function untar(gzipped: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        files.set(header.name, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from(gzipped).pipe(createGunzip()).pipe(extract);
  await done;
  return files;
}
