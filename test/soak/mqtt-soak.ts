/**
 * MQTT soak (not part of `npm test`): 30 simulated minutes of dev scenes (the 36 scenes of
 * ../shared/audio/scenes/dev and the first four again, 40 × 45 s) replayed in real-time pacing
 * at `--speed` (default 6×), with Mosquitto killed (SIGKILL) every 2 simulated minutes and
 * restarted after `--outage` wall seconds. A persistent-session subscriber records every alert.
 * Prints alerts sent (rows the daemon put in the outbox = events), delivered (distinct ids
 * received), redelivered (receptions beyond the first), lost, order violations and the outbox's
 * peak depth (polled from the database every 100 ms).
 *
 *   npm run build && TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import \
 *     test/soak/mqtt-soak.ts [--speed 6] [--outage 8] [--minutes 30] [--kill-on-alert]
 * (the TypeScript loader tap uses for the tests).
 */
import { mkdtempSync, openSync, readdirSync, readFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SHARED } from '../helpers/cli.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { alertsOf, sleep, startDaemon, subscribe, writeConfig } from '../helpers/mqtt-daemon.js';

const { values } = parseArgs({
  options: {
    speed: { type: 'string', default: '6' },
    outage: { type: 'string', default: '8' },
    minutes: { type: 'string', default: '30' },
    'kill-on-alert': { type: 'boolean', default: false },
  },
});
/** Kill at the first alert after each 2-minute mark, so the messages right behind it are in flight. */
const killOnAlert = values['kill-on-alert'];
const speed = Number(values.speed);
const outageS = Number(values.outage);
const minutes = Number(values.minutes);

/** The PCM data of a 16 kHz mono s16 WAV. */
function pcm(path: string): Buffer {
  const buf = readFileSync(path);
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const size = buf.readUInt32LE(pos + 4);
    if (buf.toString('latin1', pos, pos + 4) === 'data') return buf.subarray(pos + 8, pos + 8 + size);
    pos += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Writes `minutes` of concatenated dev scenes to a WAV file. */
function buildScene(path: string): number {
  const dir = `${SHARED}audio/scenes/dev`;
  const scenes = readdirSync(dir)
    .filter((f) => f.endsWith('.wav'))
    .sort();
  const targetBytes = minutes * 60 * 16000 * 2;
  const fd = openSync(path, 'w');
  const header = Buffer.alloc(44);
  writeSync(fd, header);
  let written = 0;
  for (let i = 0; written < targetBytes; i++) {
    const data = pcm(join(dir, scenes[i % scenes.length]));
    const take = data.subarray(0, Math.min(data.length, targetBytes - written));
    writeSync(fd, take);
    written += take.length;
  }
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + written, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(written, 40);
  writeSync(fd, header, 0, 44, 0);
  closeSync(fd);
  return written / 32000;
}

const dir = mkdtempSync(join(tmpdir(), 'earshot-soak-'));
const scene = join(dir, 'soak.wav');
const seconds = buildScene(scene);
const broker = await startMosquitto(undefined, { persistence: true });
const sub = await subscribe(broker.url, 'soak-subscriber', ['earshot/soak-node/#']);
const config = writeConfig(dir, {
  scene,
  pacing: 'realtime',
  speed,
  url: broker.url,
  nodeId: 'soak-node',
  mqtt: ['drain_timeout_seconds: 120', 'health_interval_seconds: 10'],
});
console.log(
  `soak: ${seconds} s of audio at ${speed}× (${(seconds / speed / 60).toFixed(1)} min wall), broker killed every ${120 / speed} s wall (2 simulated min${killOnAlert ? ', at the next alert' : ''}) for ${outageS} s; dir ${dir}`,
);

const started = Date.now();
const daemon = startDaemon(config);
let done = false;
void daemon.exited.then(() => (done = true));

// Outbox depth, polled.
const dbPath = join(dir, 'data', 'earshot.db');
let peakDepth = 0;
const poller = (async () => {
  let db: Database.Database | null = null;
  while (!done) {
    try {
      db ??= new Database(dbPath, { readonly: true, fileMustExist: true });
      const { n } = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL').get() as { n: number };
      peakDepth = Math.max(peakDepth, n);
    } catch {
      // not created yet
    }
    await sleep(100);
  }
  db?.close();
})();

let kills = 0;
const period = (120 / speed) * 1000;
while (!done) {
  const next = started + (kills + 1) * period;
  while (!done && Date.now() < next) await sleep(100);
  if (done) break;
  if (killOnAlert) {
    // SIGKILL from inside the subscriber's message handler, the moment an alert arrives.
    await new Promise<void>((resolve) => {
      const onMessage = (topic: string) => {
        if (!topic.includes('/alert/')) return;
        broker.process.kill('SIGKILL');
        sub.client.off('message', onMessage);
        resolve();
      };
      sub.client.on('message', onMessage);
      void daemon.exited.then(() => {
        sub.client.off('message', onMessage);
        resolve();
      });
    });
    if (done) break;
  }
  await broker.kill();
  kills += 1;
  console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: broker killed (${kills})`);
  await sleep(outageS * 1000);
  await broker.restart();
}
const result = await daemon.exited;
await poller;
console.log(`daemon exited ${result.code} after ${((Date.now() - started) / 1000).toFixed(0)} s`);

const db = new Database(dbPath, { readonly: true });
const events = db.prepare('SELECT id FROM events ORDER BY onset_utc, id').all() as { id: string }[];
const alertRows = (db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE topic LIKE '%/alert/%'").get() as { n: number }).n;
const unsent = (db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL').get() as { n: number }).n;
db.close();
const deadline = Date.now() + 30_000;
while (new Set(alertsOf(sub.messages, 'soak-node').map((a) => a.id)).size < events.length && Date.now() < deadline) await sleep(200);
const alerts = alertsOf(sub.messages, 'soak-node');
const firstSeen = [...new Set(alerts.map((a) => a.id))];
const eventIds = events.map((e) => e.id);
const received = new Set(firstSeen);
const lost = eventIds.filter((id) => !received.has(id));
let orderViolations = 0;
for (let i = 1; i < firstSeen.length; i++) if (eventIds.indexOf(firstSeen[i]) < eventIds.indexOf(firstSeen[i - 1])) orderViolations += 1;
const hostile = alerts.filter((a) => a.raw.topic.endsWith('/hostile')).length;
const summary = {
  simulated_minutes: Number((seconds / 60).toFixed(1)),
  speed,
  kill_on_alert: killOnAlert,
  wall_seconds: Math.round((Date.now() - started) / 1000),
  broker_kills: kills,
  outage_seconds_each: outageS,
  events: events.length,
  alerts_sent: alertRows,
  alerts_delivered: firstSeen.length,
  alert_messages_received: alerts.length,
  alerts_redelivered: alerts.length - firstSeen.length,
  hostile_alert_messages: hostile,
  alerts_lost: lost.length,
  order_violations: orderViolations,
  outbox_peak_depth: peakDepth,
  outbox_unsent_at_exit: unsent,
  daemon_exit_code: result.code,
  reconnects_logged: (result.stdout.match(/mqtt reconnected/g) ?? []).length,
};
console.log(JSON.stringify(summary, null, 2));
await sub.end();
await broker.stop();
process.exit(lost.length === 0 && result.code === 0 ? 0 : 1);
