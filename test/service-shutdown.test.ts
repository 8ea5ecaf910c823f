/**
 * SIGTERM during an open hostile event, as `systemctl stop` sends it: a real dev scene in real-time
 * pacing, a real Mosquitto, a real SQLite file. The daemon exits 0 within 5 s, the event is closed
 * in the database with reason `shutdown`, and its alert and its end (`OFF`) are published.
 * A second SIGTERM exits at once.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { DEV_SCENES, writeDaemonConfig } from './helpers/fixtures.js';
import { freePort, startMosquitto } from './helpers/mosquitto.js';
import { listenNotify, startDaemon, type LogLine } from './helpers/service-daemon.js';

function writeConfig(dir: string, scene: string, speed: number, brokerUrl?: string): string {
  return writeDaemonConfig(dir, {
    node_id: 'shutdown-node',
    source: { path: `${DEV_SCENES}${scene}`, pacing: 'realtime', speed },
    mqtt: brokerUrl ? { url: brokerUrl } : undefined,
  });
}

const isOnset = (label: string) => (l: LogLine) => l.label === label && l.group === 'hostile' && /event/.test(l.msg) && !/ended/.test(l.msg);

t.test('SIGTERM during an open gunshot: exit 0 within 5 s, event closed (shutdown), alert and OFF published', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const received: { topic: string; payload: string }[] = [];
  const subscriber = await mqtt.connectAsync(broker.url, { clientId: 'shutdown-subscriber' });
  t.teardown(() => subscriber.endAsync());
  subscriber.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  await subscriber.subscribeAsync('earshot/#', { qos: 1 });

  const dir = mkdtempSync(join(tmpdir(), 'earshot-shutdown-'));
  const notify = await listenNotify(join(dir, 'notify.sock'));
  t.teardown(() => notify.close());
  // mixed_08: a gunshot from 17.7 s to 23.6 s that YAMNet hears from 18.2 s to 23.5 s; at speed 2
  // it stays open for about 2.6 s of wall time after its onset.
  const daemon = startDaemon(writeConfig(dir, 'mixed_08.wav', 2, broker.url), { NOTIFY_SOCKET: notify.path });
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const onset = await daemon.log.waitFor(isOnset('gunshot'), 'the gunshot onset', 60_000);
  t.pass(`onset logged: ${onset.msg} at ${onset.onset_s} s`);

  const sentAt = performance.now();
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  const tookMs = Math.round(exit.atMs - sentAt);
  t.equal(exit.code, 0, `exit code 0 (${daemon.stderr()})`);
  t.ok(tookMs < 5000, `exited ${tookMs} ms after SIGTERM (< 5000)`);
  const ended = daemon.log.items.find((l) => l.label === 'gunshot' && /ended/.test(l.msg));
  t.equal(ended?.end_reason, 'shutdown', `the log says the event ended by shutdown: ${ended?.msg}`);
  t.ok(
    notify.messages.items.some((m) => m.line === 'STOPPING=1'),
    'STOPPING=1 sent to the service manager',
  );

  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const row = db.prepare("SELECT id, label, onset_s, offset_s, offset_utc, end_reason FROM events WHERE label = 'gunshot'").get() as {
    id: string;
    onset_s: number;
    offset_s: number | null;
    offset_utc: string | null;
    end_reason: string | null;
  };
  t.ok(row, 'the gunshot is in the database');
  t.equal(row.end_reason, 'shutdown', 'closed with reason shutdown');
  t.ok(row.offset_s !== null && row.offset_s > row.onset_s && row.offset_utc !== null, `with an offset (${row.onset_s} s → ${row.offset_s} s)`);

  await new Promise((r) => setTimeout(r, 300));
  const alert = received.find((m) => m.topic === 'earshot/shutdown-node/alert/hostile' && JSON.parse(m.payload).id === row.id);
  t.ok(alert, 'the alert was published with the stored event id');
  const states = received.filter((m) => m.topic === 'earshot/shutdown-node/event/gunshot').map((m) => m.payload);
  t.same(states.slice(-2), ['ON', 'OFF'], 'ON at onset, then OFF at shutdown');
  t.equal(received.filter((m) => m.topic === 'earshot/shutdown-node/status').at(-1)?.payload, 'offline', 'status offline at the clean exit');
  t.comment('clips: earshot does not record clips yet, so "the clip complete and valid" is not tested here');
});

t.test('a second SIGTERM exits at once, while the first waits for an unreachable broker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-shutdown2-'));
  // Nothing listens on this port: alerts stay in the outbox, and the first SIGTERM waits to drain them.
  const daemon = startDaemon(writeConfig(dir, 'mixed_08.wav', 4, `mqtt://127.0.0.1:${await freePort()}`));
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await daemon.log.waitFor((l) => typeof l.label === 'string' && /event/.test(l.msg) && !/ended/.test(l.msg), 'an event onset', 60_000);
  daemon.child.kill('SIGTERM');
  await daemon.log.waitFor((l) => l.msg === 'stopping', 'the stopping line');
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 143, 'exit code 128 + SIGTERM');
  t.ok(
    daemon.log.items.some((l) => l.msg === 'second signal: exiting at once'),
    'the log says why',
  );
});
