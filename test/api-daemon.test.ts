/**
 * The API inside `earshot run` (the built CLI, a real dev scene in real-time pacing, the real
 * model): it listens once the database is open and logs where (port 0 → a free port), /healthz
 * reflects the live pipeline, events (and their clips) are served while the daemon records them,
 * and SIGTERM closes it. A port already in use costs one error line, never the daemon.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { json } from './helpers/api-node.js';
import { type ConfigTree, SCENE_07, writeDaemonConfig } from './helpers/fixtures.js';
import { startDaemon, type LogLine } from './helpers/service-daemon.js';

function writeConfig(dir: string, overrides: ConfigTree): string {
  return writeDaemonConfig(dir, { node_id: 'api-daemon', ...overrides });
}

t.test('earshot run serves the API while it listens, and closes it on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-api-daemon-'));
  // mixed_07: three gunshots (the first near 7 s) among an impact and typing.
  const config = writeConfig(dir, { source: { path: SCENE_07, pacing: 'realtime', speed: 2 }, api: { port: 0 } });
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const listening = await daemon.log.waitFor((l) => /^api listening on /.test(l.msg), 'the api listening line', 60_000);
  const url = listening.url as string;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, `logged the address with its real port: ${url}`);
  t.not(Number(new URL(url).port), 0);

  await daemon.log.waitFor((l) => /^ready/.test(l.msg), 'ready', 60_000);
  const health = await fetch(`${url}/healthz`);
  const body = await json(health);
  t.equal(health.status, 200, `healthz: ${JSON.stringify(body.problems)}`);
  t.match(body, { status: 'ok', node_id: 'api-daemon', capture: { alive: true }, inference: { keeping_up: true }, outbox_depth: null });
  t.ok(body.capture.audio_s > 0, `audio so far: ${body.capture.audio_s} s`);
  t.ok(body.inference.real_time_factor > 0 && body.inference.real_time_factor < 1, `real-time factor ${body.inference.real_time_factor}`);
  t.ok(typeof body.inference.lag_s === 'number' && body.inference.lag_s >= 0, `the inference lag is reported: ${body.inference.lag_s} s`);
  t.equal(body.inference.degraded, false, 'not degraded');
  t.equal(typeof body.clip_bytes_today, 'number', 'clip bytes written today are reported');

  const onset = await daemon.log.waitFor((l: LogLine) => l.group === 'hostile' && /event:/.test(l.msg), 'a hostile event', 60_000);
  const events = await json(fetch(`${url}/api/v1/events?group=hostile`));
  t.ok(
    events.events.some((e: { id: string }) => e.id === onset.id),
    `the event ${onset.label} is served while the daemon runs`,
  );
  const served = events.events.find((e: { id: string }) => e.id === onset.id) as { clock_synced: boolean | null } | undefined;
  t.equal(body.clock_synced, served?.clock_synced, `/healthz and the event say the same of the clock (${body.clock_synced}: one clock checker)`);

  // The clip recorder cuts the event's clip after its post-roll: the API serves it, verified.
  let clip: { id: string; sha256: string; bytes: number } | undefined;
  for (let i = 0; i < 150 && !clip; i++) {
    const listed = await json(fetch(`${url}/api/v1/events?group=hostile`));
    clip = listed.events.find((e: { id: string }) => e.id === onset.id)?.clips[0];
    if (!clip) await new Promise((r) => setTimeout(r, 200));
  }
  if (clip) {
    const audio = Buffer.from(await (await fetch(`${url}${`/api/v1/clips/${clip.id}`}`)).arrayBuffer());
    t.equal(audio.length, clip.bytes);
    t.equal(createHash('sha256').update(audio).digest('hex'), clip.sha256, 'the recorded clip, sha256 verified');
    t.equal(audio.toString('latin1', 0, 4), 'RIFF');
  } else {
    t.fail('no clip was recorded for the event within 30 s');
  }

  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 0, daemon.stderr());
  await t.rejects(fetch(`${url}/healthz`), 'the API is closed with the daemon');
});

t.test('a port in use: one error line naming host:port, and the daemon still listens', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'earshot-api-daemon-'));
  const config = writeConfig(dir, { source: { path: SCENE_07, pacing: 'fast' }, api: { port } });
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the daemon ran to the end of its file: ${daemon.stderr()}`);
  const errors = daemon.log.items.filter((l) => l.level >= 50);
  t.equal(errors.length, 1, 'one error line');
  t.equal(errors[0]?.component, 'api', 'from the api component');
  t.match(errors[0]?.msg, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\); the daemon runs on without the HTTP API$`));
  const ended = daemon.log.items.find((l) => l.msg === 'source ended');
  t.ok(ended && (ended.hostile as number) >= 1, `events were still detected (${ended?.hostile} hostile)`);
});
