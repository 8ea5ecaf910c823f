/**
 * Deploying a head to a real node: `earshot run` (the built CLI, the official YAMNet in its
 * inference worker, real gunshot clips replayed in real time) with the HTTP API (token) and a real
 * Mosquitto. The node starts on the head its config names; bad uploads (wrong base model, wrong
 * shapes, non-finite weights, truncated JSON, no token, too big) are refused with one line and it
 * keeps its head; `earshot head push` swaps a new head in (`/api/v1/node`, `/healthz`, the MQTT
 * alerts and health name it); `earshot head rollback` goes back; a head file changed on disk is
 * taken on SIGHUP.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { readWav } from '../src/capture/wav.js';
import { encodeWav16 } from '../src/store/clip-writer.js';
import { earshot, SHARED } from './helpers/cli.js';
import { copyGunshotHeadText, fileSha256, YAMNET_OFFICIAL, YAMNET_WAVEFORM } from './helpers/heads.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { schema, subscribe, type Received } from './helpers/mqtt-daemon.js';
import { startDaemon } from './helpers/service-daemon.js';
import { writeDaemonConfig } from './helpers/fixtures.js';

const TOKEN = 'head-deploy-test-token-0123456789';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Gunshot clips every 4 s of audio, for `seconds`: a gunshot alert every few wall-clock seconds. */
function gunshotTrain(seconds: number): Buffer {
  const clips = ['gunshot_1', 'gunshot_2', 'gunshot_3'].map((c) => readWav(`${SHARED}audio/clips/${c}.wav`).mono);
  const out = new Float32Array(seconds * 16000);
  for (let at = 0, k = 0; at + 2 * 16000 < out.length; at += 4 * 16000, k++) out.set(clips[k % 3]!, at);
  // A faint floor, so the gaps are quiet audio, not digital silence.
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + 1e-4 * Math.sin(i * 0.7);
  return encodeWav16(out, 16000);
}

/**
 * Announces a PUT of `bytes` (Content-Length only, no body sent) and returns the status the node
 * answers: an oversized upload must be refused from its headers alone, before any of it is read.
 * (Sending the body raced the node's answer: a reset socket could lose the response.)
 */
function statusOfPut(target: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      target,
      { method: 'PUT', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Content-Length': bytes } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      },
    );
    request.on('error', reject); // after resolve(), the destroy's error changes nothing
    request.setTimeout(30_000, () => request.destroy(new Error('no answer to the oversized upload within 30 s')));
    request.flushHeaders();
  });
}

t.test('push, refuse, rollback and reload a head on a running node', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-head-deploy-'));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const scene = join(dir, 'gunshots.wav');
  // 15 min of audio (5 min at speed 3): the node must outlive every step below on a loaded machine
  // (the file source ends the daemon when the file ends; 4 min of audio ran out under load once).
  writeFileSync(scene, gunshotTrain(900));
  const siteHead = join(dir, 'site-head.json');
  const headA = copyGunshotHeadText({ threshold: 0.3, release: 0.15, clipCount: 10 });
  writeFileSync(siteHead, headA);
  const config = writeDaemonConfig(dir, {
    node_id: 'head-node',
    source: { path: scene, pacing: 'realtime', speed: 3 },
    model: { path: YAMNET_OFFICIAL, backend: 'tflite-node', head: siteHead },
    api: { port: 0, token: TOKEN },
    mqtt: { url: broker.url, health_interval_seconds: 1 },
  });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const sub = await subscribe(broker.url, 'head-deploy-test', ['earshot/head-node/alert/#', 'earshot/head-node/health']);
  t.teardown(() => sub.end());
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const listening = await daemon.log.waitFor((l) => /^api listening on /.test(l.msg), 'the api listening line', 90_000);
  const url = listening.url as string;
  await daemon.log.waitFor((l) => /^ready/.test(l.msg), 'ready', 90_000);
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const node = async () =>
    ((await (await fetch(`${url}/api/v1/node`, { headers: auth })).json()) as { head: { sha256: string; clip_count: number; origin: string } | null }).head;

  t.match(await node(), { sha256: sha256(headA), clip_count: 10, origin: 'config', labels: ['gunshot'] }, '/api/v1/node names the head model.head gives');
  const alertAfter = async (since: number, what: string) => {
    let found: Received | undefined;
    await sub.waitFor(
      (messages) => {
        found = messages.slice(since).find((m) => m.topic === 'earshot/head-node/alert/hostile');
        return found !== undefined;
      },
      60_000,
      what,
    );
    return JSON.parse(found!.payload) as { label: string; head: { sha256: string; clip_count: number } | null };
  };
  const first = await alertAfter(0, 'a gunshot alert with head A');
  t.same(first.head, { sha256: sha256(headA), trained_at: '2026-12-01T00:00:00Z', clip_count: 10 }, 'the alert names head A');
  t.ok(schema('alert')(first), 'the alert matches docs/schemas/alert.schema.json');

  // Refused uploads: one line each, and the node keeps head A.
  const put = (body: string, headers: Record<string, string> = auth) =>
    fetch(`${url}/api/v1/head`, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body });
  const noToken = await put(copyGunshotHeadText(), {});
  t.equal(noToken.status, 401, 'no token: 401');
  const good = copyGunshotHeadText({ clipCount: 20 });
  const bad: [string, string, RegExp][] = [
    [
      'wrong base model',
      copyGunshotHeadText({ baseSha256: fileSha256(YAMNET_WAVEFORM) }),
      /trained on model sha256 [0-9a-f]{64} \(yamnet\), but the running model is sha256 10c95ea3/,
    ],
    ['wrong shapes', good.replace(/"std": \[1,/, '"std": [1,1,'), /normalisation\.std: 1546 values/],
    ['non-finite weights', good.replace(/"bias": \[0,0\]/, '"bias": [1e999,0]'), /layers\.0\.bias\.0/],
    ['truncated JSON', good.slice(0, 3000), /not valid JSON/],
  ];
  for (const [what, body, message] of bad) {
    const response = await put(body);
    const answer = (await response.json()) as { message: string };
    t.equal(response.status, 422, `${what}: 422`);
    t.match(answer.message, message, `${what}: ${answer.message.slice(0, 120)}`);
    t.ok(answer.message.startsWith('uploaded head: head file: ') && !answer.message.includes('\n'), `${what}: one line`);
  }
  t.equal(await statusOfPut(`${url}/api/v1/head`, 9 * 1024 * 1024), 413, 'over 8 MiB: 413 (refused by its Content-Length, unread)');
  t.equal((await node())?.sha256, sha256(headA), 'after the refusals the node still runs head A');
  const refusedByCli = await earshot(['head', 'push', join(dir, 'wrong.json'), '--node', url, '--token-file', tokenFile]);
  t.equal(refusedByCli.code, 2, 'earshot head push of a missing file: exit 2');
  writeFileSync(join(dir, 'wrong.json'), bad[0]![1]);
  const wrongByCli = await earshot(['head', 'push', join(dir, 'wrong.json'), '--node', url, '--token-file', tokenFile]);
  t.equal(wrongByCli.code, 2, 'earshot head push of a head for another model: exit 2');
  t.match(
    wrongByCli.stderr,
    /^earshot: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/head: HTTP 422: uploaded head: head file: trained on model sha256 [^\n]*\n$/,
    'one line naming the node and the reason',
  );

  // Push head B with the CLI: the node uses it.
  const headB = copyGunshotHeadText({ threshold: 0.3, release: 0.15, clipCount: 20 });
  writeFileSync(join(dir, 'head-b.json'), headB);
  const pushed = await earshot(['head', 'push', join(dir, 'head-b.json'), '--node', url, '--token-file', tokenFile]);
  t.equal(pushed.code, 0, pushed.stderr);
  t.match(
    pushed.stdout,
    new RegExp(`now runs head ${sha256(headB).slice(0, 12)} \\(trained 2026-12-01T00:00:00Z, 20 clips; labels gunshot; from push\\)`),
    `push: ${pushed.stdout.trim()}`,
  );
  t.match(await node(), { sha256: sha256(headB), clip_count: 20, origin: 'push' }, '/api/v1/node names head B');
  const health = (await (await fetch(`${url}/healthz`, { headers: auth })).json()) as { head: { sha256: string } | null };
  t.equal(health.head?.sha256, sha256(headB), '/healthz names head B');
  const mark = sub.messages.length;
  const second = await alertAfter(mark, 'a gunshot alert with head B');
  t.equal(second.head?.sha256, sha256(headB), 'the next alert names head B');
  await sub.waitFor(
    (m) => m.slice(mark).some((x) => x.topic === 'earshot/head-node/health' && JSON.parse(x.payload).head?.sha256 === sha256(headB)),
    10_000,
    'health naming head B',
  );
  const healthMessage = sub.messages.slice(mark).find((x) => x.topic === 'earshot/head-node/health')!;
  t.ok(schema('health')(JSON.parse(healthMessage.payload)), 'the health message matches docs/schemas/health.schema.json');

  // Rollback: back to head A; the log says so.
  const rolled = await earshot(['head', 'rollback', '--node', url, '--token-file', tokenFile]);
  t.equal(rolled.code, 0, rolled.stderr);
  t.match(rolled.stdout, new RegExp(`rolled back: now runs head ${sha256(headA).slice(0, 12)}`));
  t.equal((await node())?.sha256, sha256(headA), 'after the rollback the node runs head A again');
  const status = await earshot(['head', 'status', '--node', url, '--token-file', tokenFile]);
  t.match(status.stdout, new RegExp(`rollback: head ${sha256(headB).slice(0, 12)}`), 'status: a second rollback would restore head B');

  // The site head file changes on disk; SIGHUP takes it (checked in the child first).
  const headA2 = copyGunshotHeadText({ threshold: 0.3, release: 0.15, clipCount: 11 });
  writeFileSync(siteHead, headA2);
  daemon.child.kill('SIGHUP');
  await daemon.log.waitFor((l) => l.msg === 'head reloaded' && l.sha256 === sha256(headA2), 'head reloaded after SIGHUP', 60_000);
  t.match(await node(), { sha256: sha256(headA2), clip_count: 11, origin: 'config' }, 'SIGHUP: the changed head file is in use');
  // A broken head file on disk: the reload is refused and the node keeps its head.
  writeFileSync(siteHead, headA2.slice(0, 100));
  daemon.child.kill('SIGHUP');
  const failed = await daemon.log.waitFor((l) => l.msg === 'head reload failed: keeping the running head', 'a refused head reload', 60_000);
  t.match(failed.err?.message, /site-head\.json: head file: not valid JSON/, 'the log line names the file and the problem');
  t.equal((await node())?.sha256, sha256(headA2), 'the node keeps the head it had');

  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 0, daemon.stderr());
});
