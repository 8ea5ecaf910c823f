/**
 * `earshot pull` and `earshot labels import`, the built CLI as a child process against real API
 * servers (real HTTP on free ports, real SQLite files, real WAV clips): pull twice (the second
 * gets nothing new), kill -9 mid-pull and resume (no duplicates, every file's sha256 right, no
 * partial file left), several nodes in one run, tokens, and the labels round trip.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline, Transform } from 'node:stream';
import t, { type Test } from 'tap';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { CLI, earshot, hasStackTrace } from './helpers/cli.js';
import { buildNode, json, STANDARD_CLIPS, type ClipSpec, type TestNode } from './helpers/api-node.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const TOKEN = 'pull-test-token-0123456789';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const outDir = () => mkdtempSync(join(tmpdir(), 'earshot-pull-'));

interface Served {
  node: TestNode;
  url: string;
  /** Requests for clip audio that carried a Range header. */
  rangedRequests: number;
}

/** Serves a node; `throttle` sends clip audio in 4 kB pieces 15 ms apart, so a pull can be killed mid-file. */
async function serve(node: TestNode, options: { throttle?: boolean } = {}): Promise<Served> {
  const app = createApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log });
  const served: Served = { node, url: '', rangedRequests: 0 };
  app.addHook('onRequest', async (request) => {
    if (request.headers.range) served.rangedRequests += 1;
  });
  if (options.throttle) {
    app.addHook('onSend', async (request, _reply, payload) => {
      if (!/^\/api\/v1\/clips\/[0-9A-Z]{26}$/.test(request.url) || !payload || typeof (payload as NodeJS.ReadableStream).pipe !== 'function') return payload;
      const slow = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          const pieces: Buffer[] = [];
          for (let i = 0; i < chunk.length; i += 4096) pieces.push(chunk.subarray(i, i + 4096));
          const next = () => {
            const piece = pieces.shift();
            if (!piece) return done();
            this.push(piece);
            setTimeout(next, 15);
          };
          next();
        },
      });
      // pipeline, not pipe: when fastify destroys `slow` (the pull was killed), the clip's file stream is destroyed and its FileHandle closed too.
      return pipeline(payload as NodeJS.ReadableStream, slow, () => undefined);
    });
  }
  served.url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    node.db.close();
  });
  return served;
}

/** Checks a node folder: every listed clip present once with its sha256 and track, nothing partial. */
function checkFolder(t: Test, dir: string, node: TestNode, expectedIds: string[]) {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const ids = manifest.clips.map((c: { clip_id: string }) => c.clip_id);
  t.equal(new Set(ids).size, ids.length, 'no clip twice in the manifest');
  t.same([...ids].sort(), [...expectedIds].sort(), 'the manifest lists the expected clips');
  const files = readdirSync(dir);
  t.same(
    files.filter((f) => f.endsWith('.part') || f.endsWith('.tmp')),
    [],
    'no partial or temporary file left',
  );
  t.same(files.filter((f) => f.endsWith('.wav')).sort(), expectedIds.map((id) => `${id}.wav`).sort(), 'one .wav per clip, nothing else');
  for (const id of expectedIds) {
    const stored = node.clips.find((c) => c.id === id)!;
    t.equal(sha256(readFileSync(join(dir, `${id}.wav`))), stored.sha256, `${id}.wav: sha256 right`);
    const track = readFileSync(join(dir, `${id}.txt`), 'utf8');
    // The span is clamped to the clip (a short clip ends before the event's offset).
    const e = stored.spec.event;
    if (e) t.equal(track, `${e.onsetInClip.toFixed(6)}\t${Math.min(e.offsetInClip, stored.durationS).toFixed(6)}\t${e.label}\n`, `${id}.txt: the event span`);
    else t.equal(track, '', `${id}.txt: empty for a background clip`);
  }
  return manifest;
}

t.test('pull twice: the second gets nothing new; --strategy all follows its cursor', async (t) => {
  const served = await serve(buildNode(STANDARD_CLIPS));
  const { node } = served;
  const out = outDir();
  const first = await earshot(['pull', '--node', served.url, '--out', out]);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^test-node \(http:\/\/127\.0\.0\.1:\d+\): 4 new clips \(0\.\d MB\), 0 already here → .*test-node\n$/);
  t.equal(first.stderr.split('\n').filter((l) => /^test-node: \d\/4 \S+\.wav \(\d+ kB\)$/.test(l)).length, 4, 'a progress line per clip');
  const events = node.clips.filter((c) => c.spec.event);
  const manifest = checkFolder(
    t,
    join(out, 'test-node'),
    node,
    events.map((c) => c.id),
  );
  t.same(
    manifest.clips.map((c: { label: string }) => c.label),
    ['glass_break', 'speech', 'scream', 'gunshot'],
    'in queue order (most uncertain first)',
  );
  t.ok(existsSync(join(out, '.earshot-pull', `127.0.0.1_${new URL(served.url).port}.json`)), 'a cursor file per node');
  const wavTimes = () =>
    readdirSync(join(out, 'test-node'))
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .map((f) => `${f}:${statSync(join(out, 'test-node', f)).mtimeMs}`);
  const timesBefore = wavTimes();

  const second = await earshot(['pull', '--node', served.url, '--out', out]);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /: 0 new clips \(0\.0 MB\), 4 already here/, 'second pull: nothing new; the 4 clips the queue offers again are already here');
  t.same(wavTimes(), timesBefore, 'the clips are untouched');
  // --strategy all into the same folder: the queue's 4 clips are here, the background clip is new (issue 23).
  const allAfterQueue = await earshot(['pull', '--node', served.url, '--out', out, '--strategy', 'all']);
  t.match(allAfterQueue.stdout, /: 1 new clips \([\d.]+ MB\), 4 already here/, `--strategy all after a queue pull: ${allAfterQueue.stdout.trim()}`);

  const all = outDir();
  const limited = await earshot(['pull', '--node', served.url, '--out', all, '--strategy', 'all', '--limit', '2']);
  t.equal(limited.code, 0, limited.stderr);
  t.match(limited.stdout, /: 2 new clips/);
  const rest = await earshot(['pull', '--node', served.url, '--out', all, '--strategy', 'all']);
  t.match(rest.stdout, /: 3 new clips/, 'all: continues from the cursor');
  checkFolder(
    t,
    join(all, 'test-node'),
    node,
    node.clips.map((c) => c.id),
  );
  const again = await earshot(['pull', '--node', served.url, '--out', all, '--strategy', 'all']);
  t.match(again.stdout, /: 0 new clips/);
  // From a fresh cursor (e.g. the cursor file lost), every clip in the folder is said to be here (issue 23).
  rmSync(join(all, '.earshot-pull'), { recursive: true });
  const fromStart = await earshot(['pull', '--node', served.url, '--out', all, '--strategy', 'all']);
  t.match(
    fromStart.stdout,
    new RegExp(`: 0 new clips \\(0\\.0 MB\\), ${node.clips.length} already here`),
    `--strategy all counts the clips already in the folder: ${fromStart.stdout.trim()}`,
  );
  const state = JSON.parse(readFileSync(join(all, '.earshot-pull', `127.0.0.1_${new URL(served.url).port}.json`), 'utf8'));
  t.equal(state.node_id, 'test-node');
  t.ok(state.after >= node.clips.length, 'the cursor is past the last clip');
});

t.test('kill -9 mid-pull, then resume: no duplicates, every sha256 right, nothing partial left', async (t) => {
  const sources = ['gunshot_1', 'glass_break_1', 'scream_1', 'speech_1', 'dog_bark_1', 'siren_1', 'door_knock_1', 'car_horn_1'];
  const specs: ClipSpec[] = Array.from({ length: 32 }, (_, i) => ({
    source: sources[i % sources.length],
    event: { label: 'gunshot', group: 'hostile', peak: 0.3 + i / 100, threshold: 0.2, top2Gap: 0.5, onsetInClip: 0.1, offsetInClip: 0.9 },
  }));
  const served = await serve(buildNode(specs, { api: { token: TOKEN } }), { throttle: true });
  const out = outDir();
  const env = { ...process.env, EARSHOT_API_TOKEN: TOKEN };
  const child = spawn(process.execPath, [CLI, 'pull', '--node', served.url, '--out', out, '--limit', '100'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let progress = 0;
  let stderr = '';
  const killed = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  child.stderr.on('data', (data: Buffer) => {
    stderr += data;
    progress = stderr.split('\n').filter((l) => /^test-node: \d+\/32 /.test(l)).length;
    if (progress >= 20) child.kill('SIGKILL');
  });
  // Kill it in the middle of a file: once a few clips are done and a .part has bytes in it.
  const dir = join(out, 'test-node');
  const poll = setInterval(() => {
    if (progress < 3 || !existsSync(dir)) return;
    if (readdirSync(dir).some((f) => f.endsWith('.part') && statSync(join(dir, f), { throwIfNoEntry: false })?.size)) child.kill('SIGKILL');
  }, 10);
  const signal = await killed;
  clearInterval(poll);
  t.equal(signal, 'SIGKILL', `killed after ${progress} clips`);
  const before = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).clips.map((c: { clip_id: string }) => c.clip_id) as string[];
  t.ok(before.length >= 3 && before.length < 32, `cut short: ${before.length} of 32 in the manifest`);
  const partial = readdirSync(dir).filter((f) => f.endsWith('.part'));
  // Whatever the kill left: any .wav is whole (renamed only after its sha256 was checked).
  for (const wav of readdirSync(dir).filter((f) => f.endsWith('.wav'))) {
    const stored = served.node.clips.find((c) => `${c.id}.wav` === wav)!;
    t.equal(sha256(readFileSync(join(dir, wav))), stored.sha256, `${wav} after the kill: whole`);
  }

  const resumed = await earshot(['pull', '--node', served.url, '--out', out, '--limit', '100'], { env });
  t.equal(resumed.code, 0, resumed.stderr);
  const [, fresh, adopted] = /: (\d+) new clips \([\d.]+ MB\), (\d+) already here/.exec(resumed.stdout) ?? [];
  // "already here" counts the clips of the manifest and those found whole on disk (killed before the manifest).
  t.equal(Number(fresh) + Number(adopted), 32, `resume: ${fresh} new + ${adopted} already here (${before.length} in the manifest) = all 32, none twice`);
  t.ok(Number(fresh) <= 32 - before.length, 'nothing in the manifest fetched again');
  checkFolder(
    t,
    dir,
    served.node,
    served.node.clips.map((c) => c.id),
  );
  if (partial.length) t.ok(served.rangedRequests >= 1, `the partial ${partial[0]} was continued with a Range request`);
  else t.pass('the kill fell between files (no .part to continue)');
  const last = await earshot(['pull', '--node', served.url, '--out', out, '--limit', '100'], { env });
  t.match(last.stdout, /: 0 new clips/, 'and then nothing new');
});

t.test('several nodes in one run, each into its own folder', async (t) => {
  const alpha = await serve(buildNode(STANDARD_CLIPS.slice(0, 2), { nodeId: 'alpha' }));
  const beta = await serve(buildNode(STANDARD_CLIPS.slice(2), { nodeId: 'beta' }));
  const out = outDir();
  const result = await earshot(['pull', '--node', alpha.url, '--node', beta.url.replace('http://', ''), '--out', out, '--strategy', 'random']);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /^alpha \(.*\): 2 new clips.*\nbeta \(.*\): 3 new clips/);
  checkFolder(
    t,
    join(out, 'alpha'),
    alpha.node,
    alpha.node.clips.map((c) => c.id),
  );
  checkFolder(
    t,
    join(out, 'beta'),
    beta.node,
    beta.node.clips.map((c) => c.id),
  );
  t.equal(readdirSync(join(out, '.earshot-pull')).length, 2, 'a cursor file per node');
});

t.test('tokens and unreachable nodes: one clear line, the other nodes still pulled', async (t) => {
  const locked = await serve(buildNode(STANDARD_CLIPS.slice(0, 1), { nodeId: 'locked', api: { token: TOKEN } }));
  const open = await serve(buildNode(STANDARD_CLIPS.slice(0, 1), { nodeId: 'open' }));
  const out = outDir();
  const noToken = await earshot(['pull', '--node', locked.url, '--out', out], { env: { EARSHOT_API_TOKEN: '' } });
  t.equal(noToken.code, 2);
  t.match(noToken.stderr, /the node refused the request \(401\): it needs a token/);
  t.notOk(hasStackTrace(noToken.stderr));
  const wrong = await earshot(['pull', '--node', locked.url, '--out', out, '--token', `${TOKEN}x`]);
  t.equal(wrong.code, 2);
  t.match(wrong.stderr, /401\): wrong token/);
  const tokenFile = join(out, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const right = await earshot(['pull', '--node', locked.url, '--out', out, '--token-file', tokenFile]);
  t.equal(right.code, 0, right.stderr);

  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const mixed = await earshot(['pull', '--node', `http://127.0.0.1:${closedPort}`, '--node', open.url, '--out', out]);
  t.equal(mixed.code, 3, 'an unreachable node: exit 3');
  t.match(mixed.stderr, new RegExp(`http://127\\.0\\.0\\.1:${closedPort}: cannot reach the node \\(ECONNREFUSED\\)`));
  t.match(mixed.stdout, /^open \(.*\): 1 new clips/m, 'the reachable node was still pulled');
  t.notOk(hasStackTrace(mixed.stderr));
  const bad = await earshot(['pull', '--node', 'ftp://x', '--out', out]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--node ftp:\/\/x: only http:\/\/ and https:\/\/ are supported/);
  const noNode = await earshot(['pull', '--out', out]);
  t.equal(noNode.code, 2);
  t.match(noNode.stderr, /--node URL is required/);
});

t.test('labels import: pulled tracks back to the node, idempotent, bad files refused whole', async (t) => {
  const served = await serve(buildNode(STANDARD_CLIPS));
  const { node } = served;
  const out = outDir();
  t.equal((await earshot(['pull', '--node', served.url, '--out', out])).code, 0);
  const dir = join(out, 'test-node');
  // A person corrected the tracks of two clips; DCASE TSV with the pulled file names.
  const [scream, glass] = [node.clips[2], node.clips[1]];
  const tsv = join(out, 'labels.tsv');
  writeFileSync(
    tsv,
    [
      'filename\tonset\toffset\tevent_label',
      `${scream.id}.wav\t0.150\t0.950\tscream`,
      `test-node/${glass.id}.wav\t0.400\t1.300\tglass_break`,
      `${glass.id}\t1.300\t1.500\tspeech`,
      `${node.clips[0].id}.wav`,
      '',
    ].join('\n'),
  );
  t.ok(existsSync(join(dir, `${scream.id}.wav`)));
  const imported = await earshot(['labels', 'import', tsv, '--node', served.url, '--annotator', 'ana']);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stdout, /3 labels stored for 2 clips; 1 clips in the file have no label rows/);
  const labelsOf = async (id: string) => (await json(fetch(`${served.url}/api/v1/clips/${id}/labels`))).labels;
  t.match(await labelsOf(scream.id), [{ label: 'scream', onset_s: 0.15, offset_s: 0.95, source: 'import', annotator: 'ana' }]);
  t.equal((await labelsOf(glass.id)).length, 2);
  const again = await earshot(['labels', 'import', tsv, '--node', served.url]);
  t.equal(again.code, 0);
  t.equal((await labelsOf(glass.id)).length, 2, 'a re-import replaces, never duplicates');
  const queue = await json(fetch(`${served.url}/api/v1/active-learning/queue`));
  t.notOk(
    queue.clips.some((c: { id: string }) => c.id === scream.id || c.id === glass.id),
    'labelled clips left the queue',
  );

  const unknown = join(out, 'unknown.tsv');
  writeFileSync(unknown, `01HZZZZZZZZZZZZZZZZZZZZZZZ.wav\t0\t1\tgunshot\n${node.clips[3].id}.wav\t0.1\t0.9\tspeech\n`);
  const partly = await earshot(['labels', 'import', unknown, '--node', served.url]);
  t.equal(partly.code, 2, 'a clip the node does not have: exit 2');
  t.match(partly.stderr, /01HZZZZZZZZZZZZZZZZZZZZZZZ.*HTTP 404: clip 01HZZZZZZZZZZZZZZZZZZZZZZZ: not found/);
  t.equal((await labelsOf(node.clips[3].id)).length, 1, 'the other clip was still labelled');

  const before = (node.db.prepare('SELECT COUNT(*) AS n FROM labels').get() as { n: number }).n;
  const malformed = join(out, 'bad.tsv');
  writeFileSync(malformed, `${node.clips[0].id}.wav\t0.5\t0.2\tgunshot\n`);
  const refused = await earshot(['labels', 'import', malformed, '--node', served.url]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /bad\.tsv:1: onset and offset must be seconds with offset >= onset/);
  const notClip = join(out, 'names.tsv');
  writeFileSync(notClip, `${node.clips[0].id}.wav\t0.1\t0.2\tgunshot\nrecording_07.wav\t0.1\t0.2\tgunshot\n`);
  const named = await earshot(['labels', 'import', notClip, '--node', served.url]);
  t.equal(named.code, 2);
  t.match(named.stderr, /names\.tsv: "recording_07\.wav": not a pulled clip/);
  t.equal((node.db.prepare('SELECT COUNT(*) AS n FROM labels').get() as { n: number }).n, before, 'a refused file sends nothing');
  t.notOk(hasStackTrace(refused.stderr + named.stderr));
});
