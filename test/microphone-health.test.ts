/**
 * Microphone health on real audio made to fail (docs/microphone.md): the dev scenes low-passed at
 * 1 kHz (a covered microphone), clipped (+30 dB), zeroed, and with white noise 20 dB above their
 * median noise floor, made with sox. First through the daemon's own meter and judge with the
 * default settings and 60 s minutes (scripts/microphone-check.mjs: a real process, no model),
 * after a baseline of the 36 normal scenes, which raise nothing; then a real `earshot run` with a
 * file source at `pacing: fast`, a broker and short test minutes: the problem reaches the log, the
 * SQLite table and MQTT, and the baseline survives a restart; then `/healthz` and `/metrics`.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createApiServer } from '../src/api/server.js';
import { LiveStatus } from '../src/api/live-status.js';
import { defaultConfig } from '../src/config/load.js';
import type { ModelManifest } from '../src/inference/manifest.js';
import { createLogger } from '../src/log.js';
import { openDatabase } from '../src/store/database.js';
import { MicrophoneHealth } from '../src/service/microphone-health.js';
import { REPO, SHARED } from './helpers/cli.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { schema, startDaemon, subscribe } from './helpers/mqtt-daemon.js';
import { writeDaemonConfig, YAMNET_SPECTRA } from './helpers/fixtures.js';

const DEV = join(SHARED, 'audio', 'scenes', 'dev');
const scenes = readdirSync(DEV)
  .filter((f) => f.endsWith('.wav'))
  .sort()
  .map((f) => join(DEV, f));
const dir = mkdtempSync(join(tmpdir(), 'earshot-microphone-'));
const sox = (...args: string[]) => execFileSync('sox', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const file = (name: string) => join(dir, name);
/** White noise at −31.6 dBFS RMS: 20 dB above the dev scenes' median noise floor (−51.6 dBFS); sox's whitenoise at vol 1 is −9.8 dBFS RMS. */
const NOISE_VOL = '0.081';
/** The log-mel YAMNet (int8 body): the cheapest model (docs/benchmarks.md), and its frames are the ones measured. */
const MODEL = YAMNET_SPECTRA;

interface Segment {
  name: string;
  seconds: number;
  raises: { measure: string; after_s: number; detail: string }[];
  clears: { measure: string; after_s: number }[];
}

t.test('dev scenes made to fail: raised per kind, nothing on the normal scenes (60 s minutes, default bounds)', async (t) => {
  sox(...scenes.slice(0, 12), file('first12.wav'));
  sox(...scenes.slice(12, 20), file('recover.wav'));
  sox(file('first12.wav'), file('lowpass.wav'), 'lowpass', '1000');
  sox(file('first12.wav'), file('clipped.wav'), 'gain', '30');
  sox('-D', file('first12.wav'), file('zeroed.wav'), 'vol', '0');
  const seconds = execFileSync('soxi', ['-D', file('first12.wav')])
    .toString()
    .trim();
  sox('-n', '-r', '16000', '-c', '1', '-b', '16', file('noise.wav'), 'synth', seconds, 'whitenoise', 'vol', NOISE_VOL);
  sox('-m', '-v', '1', file('first12.wav'), '-v', '1', file('noise.wav'), file('noisy.wav'));
  const args = ['scripts/microphone-check.mjs', '--quiet', '--config', 'baseline_min_minutes=20', ...scenes];
  for (const [kind, path] of [
    ['lowpass', 'lowpass.wav'],
    ['recover', 'recover.wav'],
    ['clipped', 'clipped.wav'],
    ['recover', 'recover.wav'],
    ['zeroed', 'zeroed.wav'],
    ['recover', 'recover.wav'],
    ['noise', 'noisy.wav'],
  ])
    args.push(`@${kind}`, file(path));
  const out = execFileSync(process.execPath, args, { cwd: REPO, maxBuffer: 1 << 24 })
    .toString()
    .trim()
    .split('\n');
  const summary = JSON.parse(out.at(-1)!) as { segments: Segment[] };
  const [normal, lowpass, r1, clipped, r2, zeroed, r3, noise] = summary.segments;
  t.equal(normal.seconds, 36 * 45, 'the 36 dev scenes');
  t.same(normal.raises, [], 'the normal dev scenes raise nothing');
  const measures = (s: Segment) => s.raises.map((r) => r.measure).sort();
  t.ok(
    measures(lowpass).includes('tilt'),
    `low-passed at 1 kHz: spectral tilt raised (${lowpass.raises.map((r) => `${r.measure} after ${r.after_s} s`).join(', ')})`,
  );
  t.ok(measures(clipped).includes('clipping'), `clipped: clipping raised (${clipped.raises.map((r) => `${r.measure} after ${r.after_s} s`).join(', ')})`);
  t.same(measures(zeroed), ['digital_silence'], `zeroed: digital silence raised (after ${zeroed.raises[0]?.after_s} s)`);
  t.same(measures(noise), ['noise_floor'], `+20 dB of noise: noise floor raised (after ${noise.raises[0]?.after_s} s)`);
  for (const [failing, recover] of [
    [lowpass, r1],
    [clipped, r2],
    [zeroed, r3],
  ]) {
    t.same(recover.clears.map((c) => c.measure).sort(), measures(failing), `${failing.name}: cleared once normal audio is back`);
    t.same(recover.raises, [], `${failing.name}: nothing raised while recovering`);
  }
  for (const s of [lowpass, clipped, zeroed, noise])
    for (const r of s.raises) t.ok(r.after_s <= 600, `${s.name}: ${r.measure} raised within 10 min (${r.after_s} s)`);
});

t.test('a real daemon run: raised in the log, SQLite and MQTT; the baseline survives a restart', async (t) => {
  // 135 s of normal audio (mixed_00..02), then mixed_00..01 low-passed at 1 kHz (90 s).
  const mixed = (n: number) => join(DEV, `mixed_0${n}.wav`);
  sox(mixed(0), mixed(1), mixed(2), file('seed.wav'));
  sox(mixed(0), mixed(1), file('covered.wav'), 'lowpass', '1000');
  sox(file('seed.wav'), file('covered.wav'), file('seed-then-covered.wav'));
  sox(mixed(0), file('covered-again.wav'), 'lowpass', '1000');
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const subscriber = await subscribe(broker.url, 'mic-subscriber', ['earshot/mic-node/microphone', 'earshot/mic-node/health']);
  t.teardown(() => subscriber.end());
  const node = mkdtempSync(join(tmpdir(), 'earshot-microphone-node-'));
  const config = (source: string) =>
    writeDaemonConfig(node, {
      node_id: 'mic-node',
      log_level: 'info',
      source: { path: source, pacing: 'fast' },
      model: { path: MODEL },
      api: { enabled: false },
      clips: { enabled: false },
      mqtt: { url: broker.url, health_interval_seconds: 1 },
      // Test minutes of 15 s (microphone_health.minute_seconds is for tests only).
      microphone_health: { minute_seconds: 15, baseline_min_minutes: 6, raise_after_minutes: 3, clear_after_minutes: 3 },
    });
  const lines = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const first = await startDaemon(config(file('seed-then-covered.wav'))).exited;
  t.equal(first.code, 0, 'the first run ends with its file');
  const log = lines(first.stdout);
  const raised = log.filter((l) => String(l.msg).startsWith('microphone problem: '));
  t.ok(raised.length >= 1, `raised: ${raised.map((l) => l.msg).join(' | ')}`);
  for (const line of raised) {
    t.ok(['tilt', 'noise_floor'].includes(String(line.measure)), `a covered microphone raises tilt or noise floor (${line.measure})`);
    t.ok(Number(line.audio_s) > 135, `only once the covered audio plays (at ${line.audio_s} s of 225)`);
  }
  t.equal(log.filter((l) => l.component === 'microphone' && l.msg === 'baseline loaded').length, 1);
  const db = new Database(join(node, 'data', 'earshot.db'), { readonly: true });
  const rows = db.prepare('SELECT in_baseline, out FROM microphone_minutes ORDER BY id').all() as { in_baseline: number; out: string | null }[];
  db.close();
  t.equal(rows.length, 15, '225 s: 15 minutes of 15 s stored');
  t.same(
    rows.slice(0, 9).map((r) => r.in_baseline),
    [1, 1, 1, 1, 1, 1, 1, 1, 1],
    'the normal minutes make the baseline',
  );
  await subscriber.waitFor((m) => m.some((x) => x.topic === 'earshot/mic-node/microphone'), 10_000, 'the microphone message');
  const message = subscriber.messages.filter((m) => m.topic === 'earshot/mic-node/microphone').at(-1)!;
  const payload = JSON.parse(message.payload);
  t.ok(schema('microphone')(payload), 'the microphone message follows docs/schemas/microphone.schema.json');
  t.equal(payload.status, 'problem');
  t.match(payload.problems, [/^microphone: /]);
  const healthMessages = subscriber.messages.filter((m) => m.topic === 'earshot/mic-node/health').map((m) => JSON.parse(m.payload));
  t.ok(healthMessages.length > 0 && healthMessages.every((h) => schema('health')(h)), 'health messages follow docs/schemas/health.schema.json');
  t.ok(
    healthMessages.some((h) => h.microphone?.baseline?.minutes > 0),
    'health messages carry the microphone object',
  );

  // Restart on the covered microphone alone: the baseline comes back from SQLite.
  const second = await startDaemon(config(file('covered-again.wav'))).exited;
  t.equal(second.code, 0);
  const log2 = lines(second.stdout);
  const loaded = log2.find((l) => l.component === 'microphone' && l.msg === 'baseline loaded');
  t.ok(Number(loaded?.baseline_minutes) >= 9, `baseline loaded: ${loaded?.baseline_minutes} minutes`);
  t.ok(
    log2.some((l) => String(l.msg).startsWith('microphone problem: ')),
    'raised again from the persisted baseline within 45 s of audio',
  );
});

t.test('/healthz and /metrics show the measures and the problem', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'earshot-microphone-api-'));
  const config = {
    ...defaultConfig(data),
    data_dir: data,
    microphone_health: { ...defaultConfig().microphone_health, minute_seconds: 1, raise_after_minutes: 2 },
  };
  const db = openDatabase(join(data, 'earshot.db'));
  t.teardown(() => db.close());
  const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
  const live = new LiveStatus();
  const microphone = new MicrophoneHealth({
    config,
    db,
    log,
    streamId: 's',
    streamStartMs: Date.now(),
    modelInputs: [{ kind: 'waveform' } as unknown as ModelManifest['input']],
  });
  microphone.start();
  live.microphone = microphone;
  // Three 1 s minutes of digital silence (zeros), with no frames: the minutes close at the end.
  for (let s = 0; s < 3; s++) {
    const chunk = { startSample: s * 16000, samples: new Float32Array(16000) };
    live.chunk(chunk, 1);
    microphone.chunk(chunk);
  }
  microphone.stop();
  const app = createApiServer({ db, dataDir: data, config, log, live });
  t.teardown(() => app.close());
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 503, 'a microphone problem makes /healthz unhealthy');
  const body = health.json();
  t.ok(body.problems.includes('microphone: digital silence: zeros on 100% of samples (median of the last 2 min)'), 'the problem is listed');
  t.match(body.microphone, { status: 'problem', last_minute: { noise_floor_dbfs: -120, zero_ratio: 1 }, raised: [{ measure: 'digital_silence' }] });
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /earshot_microphone_problem\{measure="digital_silence"\} 1/);
  t.match(metrics, /earshot_microphone_problem\{measure="tilt"\} 0/);
  t.match(metrics, /earshot_microphone_measure\{measure="noise_floor_dbfs"\} -120/);
  t.match(metrics, /earshot_microphone_measure\{measure="zero_ratio"\} 1/);
});
