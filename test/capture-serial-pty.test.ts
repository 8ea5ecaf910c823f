import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SerialSource } from '../src/capture/serial/serial-source.js';
import { createLogger } from '../src/log.js';
import type { AudioChunk } from '../src/types.js';
import { earshot } from './helpers/cli.js';
import { clipPath, concatSamples, SCENE_07, startDaemon, YAMNET_WAVEFORM } from './helpers/fixtures.js';
import { ptyPair } from './helpers/socat.js';
import { readWav16 } from './helpers/wav16.js';

const MODEL = YAMNET_WAVEFORM;
const SCENE = SCENE_07;
const dir = mkdtempSync(join(tmpdir(), 'earshot-serial-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('simulate-serial over a socat pty: the decoded audio equals the WAV exactly', async (t) => {
  const clip = clipPath('scream_2');
  const expected = readWav16(clip);
  const pair = await ptyPair(join(dir, 'a-dev'), join(dir, 'a-sim'));
  t.teardown(() => pair.close());
  const source = new SerialSource({ path: pair.dev, baudRate: 921600, chunkSamples: 1600 });
  await source.open();
  const received: Float32Array[] = [];
  const reading = (async () => {
    for await (const chunk of source.chunks()) received.push(chunk.samples);
  })();
  await sleep(300);
  const sim = await earshot(['simulate-serial', '--wav', clip, '--port', pair.sim, '--speed', '8'], { timeoutMs: 60_000 });
  t.equal(sim.code, 0, sim.stderr);
  const report = JSON.parse(sim.stdout);
  t.equal(report.frames, expected.length);
  await reading; // ends at the simulator's end-of-stream packet
  const all = concatSamples(received);
  t.equal(all.length, expected.length, 'sample count');
  t.ok(
    all.every((v, i) => v === expected[i]),
    'every sample identical',
  );
  t.match(source.counters(), { audioPackets: report.packets, crcErrors: 0, lostPackets: 0, malformed: 0, lost_samples: 0 });
});

/** Streams `clip` through the simulator into a SerialSource on a fresh pty pair; returns what arrived. */
async function lossyStream(name: string, clip: string, simArgs: string[], resendWaitMs?: number) {
  const pair = await ptyPair(join(dir, `${name}-dev`), join(dir, `${name}-sim`));
  const lines: string[] = [];
  const log = createLogger({ level: 'info', pretty: false, fd: 2 });
  const capturing = Object.assign(Object.create(log), { warn: (o: object, msg: string) => lines.push(`${msg} ${JSON.stringify(o)}`), info: () => undefined });
  const source = new SerialSource({ path: pair.dev, baudRate: 921600, chunkSamples: 1600, resendWaitMs, log: capturing });
  await source.open();
  const chunks: AudioChunk[] = [];
  const reading = (async () => {
    for await (const chunk of source.chunks()) chunks.push(chunk);
  })();
  await sleep(300);
  const sim = await earshot(['simulate-serial', '--wav', clip, '--port', pair.sim, '--speed', '8', ...simArgs], { timeoutMs: 120_000 });
  await reading;
  await pair.close();
  return { sim, report: sim.code === 0 ? JSON.parse(sim.stdout) : null, chunks, counters: source.counters(), gaps: source.takeGaps(), lines };
}

t.test('a lossy line with a device that resends: every lost packet comes back, the audio is exact and has no gap', async (t) => {
  // Seed 6 loses 10 of the 188 packets: two back to back, and the last one (the end-of-stream
  // status packet names it). The first packet is never lost here: nothing could tell.
  const clip = clipPath('scream_2');
  const expected = readWav16(clip);
  const { sim, report, chunks, counters, gaps } = await lossyStream('r', clip, ['--drop', '0.03', '--bit-errors', '0.02', '--seed', '6']);
  t.equal(sim.code, 0, sim.stderr);
  const injected = report.dropped + report.corrupted;
  t.ok(injected >= 5, `faults injected on first sends: ${report.dropped} dropped, ${report.corrupted} corrupted`);
  t.equal(counters.lostPackets, injected, 'lost packets counted = injected');
  t.equal(counters.crcErrors + counters.malformed, report.corrupted + report.resends.corrupted, 'every damaged frame counted, resends included');
  t.equal(
    counters.resentPackets,
    injected,
    `all ${injected} came back (${report.resends.requests} requests; ${report.resends.dropped + report.resends.corrupted} resends hit by faults and asked for again)`,
  );
  t.equal(counters.unrecoveredPackets, 0);
  t.same(gaps, [], 'no gap');
  const all = concatSamples(chunks.map((c) => c.samples));
  t.equal(all.length, expected.length, 'sample count');
  t.ok(
    all.every((v, i) => v === expected[i]),
    'every sample identical, in order',
  );
  t.ok(
    chunks.every((c, i) => i === 0 || c.startSample === chunks[i - 1].startSample + chunks[i - 1].samples.length),
    'contiguous sample indices',
  );
});

t.test('a device that never resends: lost packets become gaps, counted exactly as injected; one log line says so', async (t) => {
  const clip = clipPath('scream_2');
  const expected = readWav16(clip);
  const { sim, report, chunks, counters, gaps, lines } = await lossyStream(
    'n',
    clip,
    ['--drop', '0.03', '--bit-errors', '0.02', '--seed', '8', '--resend-depth', '0'],
    100,
  );
  t.equal(sim.code, 0, sim.stderr);
  const injected = report.dropped + report.corrupted;
  t.equal(report.resends.requests, 0, 'the device ignored the requests');
  t.equal(counters.lostPackets, injected, 'lost packets counted = injected');
  t.equal(counters.unrecoveredPackets, injected, 'every one a gap');
  t.equal(
    gaps.reduce((n, g) => n + g.endSample - g.startSample, 0),
    injected * 256,
    'gap samples = lost packets x 256',
  );
  t.equal(chunks.reduce((n, c) => n + c.samples.length, 0) + injected * 256, expected.length, 'audio + gaps = the file');
  const said = lines.filter((l) => l.startsWith('the device does not resend'));
  t.equal(said.length, 1, 'one log line');
  t.match(said[0], /"holes":8/, 'after 8 holes waited for in vain');
  t.equal(counters.resendRequestsSent, Number(/"requests":(\d+)/.exec(said[0])?.[1]), `then stopped asking (${counters.resendRequestsSent} requests in all)`);
});

function config(name: string, port: string, extra = ''): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `node_id: serial-test\ndata_dir: ${join(dir, name)}\nsource: { type: serial, path: ${port} }\nmodel: { path: ${MODEL} }\n${extra}`);
  return path;
}

async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

t.test('`earshot run` on the serial stream finds the same events as `earshot analyze` on the WAV', async (t) => {
  const pair = await ptyPair(join(dir, 'b-dev'), join(dir, 'b-sim'));
  t.teardown(() => pair.close());
  const analyzed = await earshot(['analyze', '--json', '--model', MODEL, SCENE]);
  t.equal(analyzed.code, 0, analyzed.stderr);
  const reference = JSON.parse(analyzed.stdout).files[0].events.map((e: { label: string; onset_s: number; offset_s: number }) => [
    e.label,
    e.onset_s,
    e.offset_s,
  ]);
  t.ok(reference.length >= 2, `analyze found ${reference.length} events`);

  // The stream comes at 15x real time: on a loaded machine the daemon would fall behind and skip
  // every other patch (the degrade policy, tested in inference-degrade). Here every patch must be
  // scored, as analyze scores them, so the policy waits far longer than the 3 s stream lasts.
  const daemon = startDaemon(config('b', pair.dev, 'inference: { degrade_lag_seconds: 3600 }\n'), {}, { killAfterMs: 180_000 });
  // socat ends the pair when the simulator closes its end, so the daemon must be listening first.
  t.ok(await waitFor(() => daemon.output().includes('serial port open'), 60_000), 'daemon listening');
  const sim = await earshot(['simulate-serial', '--wav', SCENE, '--port', pair.sim, '--speed', '15'], { timeoutMs: 120_000 });
  t.equal(sim.code, 0, sim.stderr);
  t.equal((await daemon.exited).code, 0, 'the daemon ends with the stream (end-of-stream packet)');
  const db = new Database(join(dir, 'b', 'earshot.db'), { readonly: true });
  const live = db.prepare('SELECT label, onset_s, offset_s FROM events ORDER BY onset_s, label').all() as {
    label: string;
    onset_s: number;
    offset_s: number;
  }[];
  db.close();
  t.same(
    live.map((e) => [e.label, e.onset_s, e.offset_s]),
    reference,
    'same labels, onsets and offsets',
  );
});

t.test('device loss: the pty vanishes and comes back; the daemon keeps running, stores the gap and resumes', async (t) => {
  const devPath = join(dir, 'c-dev');
  const simPath = join(dir, 'c-sim');
  let pair = await ptyPair(devPath, simPath);
  const daemon = startDaemon(config('c', devPath), {}, { killAfterMs: 180_000 });
  t.teardown(async () => {
    daemon.child.kill('SIGKILL');
    await pair.close();
  });
  t.ok(await waitFor(() => daemon.output().includes('serial port open'), 60_000), 'daemon listening');
  // First microphone session: streams until the device is pulled.
  const first = earshot(['simulate-serial', '--wav', SCENE, '--port', simPath, '--speed', '4', '--no-eos'], { timeoutMs: 120_000 });
  await sleep(2500);
  await pair.close();
  // Seen at once (the read fails); the generous bound only absorbs a loaded CI machine's backlog.
  if (!t.ok(await waitFor(() => daemon.output().includes('serial port lost'), 60_000), 'loss detected')) t.comment(daemon.output());
  const firstResult = await first;
  t.equal(firstResult.code, 3, 'the simulator reports its port was lost');
  t.match(firstResult.stderr, /lost while writing|cannot open/);
  await sleep(1500);
  t.equal(daemon.child.exitCode, null, 'daemon still running while the device is away');
  pair = await ptyPair(devPath, simPath);
  t.ok(await waitFor(() => (daemon.output().match(/serial port open/g)?.length ?? 0) >= 2, 60_000), 'reconnected to the new pty');
  const second = await earshot(['simulate-serial', '--wav', clipPath('gunshot_1'), '--port', simPath, '--speed', '4'], { timeoutMs: 60_000 });
  t.equal(second.code, 0, second.stderr);
  t.equal((await daemon.exited).code, 0, 'the daemon ends cleanly at the second session’s end of stream');
  const log = daemon.output();
  t.ok((log.match(/serial port open/g)?.length ?? 0) >= 2, 'reconnected');
  t.match(log, /"reason":"device_lost"[^\n]*"msg":"capture gap"/, 'one log line for the gap');
  const db = new Database(join(dir, 'c', 'earshot.db'), { readonly: true });
  const gaps = db.prepare('SELECT reason, start_s, duration_s, handling FROM gaps').all() as {
    reason: string;
    start_s: number;
    duration_s: number;
    handling: string;
  }[];
  const gunshots = db.prepare("SELECT onset_s FROM events WHERE label = 'gunshot' ORDER BY onset_s").all() as { onset_s: number }[];
  db.close();
  t.equal(gaps.length, 1, 'one gap stored');
  t.equal(gaps[0].reason, 'device_lost');
  t.ok(gaps[0].duration_s > 1, `gap of ${gaps[0].duration_s} s (the time the device was away)`);
  t.equal(gaps[0].handling, 'restart', 'long gap: the front end restarted');
  t.notMatch(log, /behind real time/, 'the time the device was away is lost audio, not inference lag: nothing degraded');
  // onset_s is rounded to the millisecond.
  const after = gunshots.filter((e) => e.onset_s >= gaps[0].start_s + gaps[0].duration_s - 0.001);
  if (!t.ok(after.length >= 1, `resumed: the second session's gunshot was heard after the gap (${JSON.stringify(gunshots)})`)) t.comment(log);
});
