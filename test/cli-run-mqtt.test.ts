/**
 * `earshot run` end to end: a real dev scene in real-time pacing (sped up), a real Mosquitto on a
 * free port, a real SQLite file. Every stored hostile event is published once as an alert with
 * QoS 1, with the same id as its row.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { earshot } from './helpers/cli.js';
import { SCENE_07, writeDaemonConfig } from './helpers/fixtures.js';
import { startMosquitto } from './helpers/mosquitto.js';

t.test('run publishes one alert per stored hostile event', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const received: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
  const subscriber = await mqtt.connectAsync(broker.url, { clientId: 'test-subscriber', clean: false });
  t.teardown(() => subscriber.endAsync());
  subscriber.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  await subscriber.subscribeAsync('earshot/#', { qos: 1 });

  const dir = mkdtempSync(join(tmpdir(), 'earshot-run-'));
  const config = writeDaemonConfig(dir, { source: { path: SCENE_07, pacing: 'realtime', speed: 4 }, mqtt: { url: broker.url } });
  const started = Date.now();
  const result = await earshot(['run', '--config', config]);
  t.equal(result.code, 0, `run exits 0: ${result.stderr}`);
  t.ok(Date.now() - started > 8000, 'real-time pacing at 4x takes about 11 s for 45 s of audio');
  await new Promise((r) => setTimeout(r, 500));

  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT id, label, grp, onset_s, offset_s, node_id FROM events ORDER BY onset_s').all() as {
    id: string;
    label: string;
    grp: string;
    onset_s: number;
    offset_s: number | null;
    node_id: string;
  }[];
  const hostileRows = rows.filter((r) => r.grp === 'hostile');
  t.ok(hostileRows.length > 0, `the scene has hostile events (stored: ${rows.map((r) => `${r.label}@${r.onset_s}`).join(', ')})`);
  t.ok(
    rows.every((r) => r.offset_s !== null && r.node_id === 'test-node'),
    'every event closed, with the node id',
  );

  const alerts = received.filter((m) => m.topic === 'earshot/test-node/alert/hostile');
  const alertIds = alerts.map((m) => JSON.parse(m.payload).id);
  t.same(alertIds.sort(), hostileRows.map((r) => r.id).sort(), 'one hostile alert per stored hostile event, same ids');
  t.ok(
    alerts.every((m) => m.qos === 1 && !m.retain),
    'alerts are QoS 1, not retained',
  );
  const first = JSON.parse(alerts[0].payload);
  t.match(first, { node_id: 'test-node', group: 'hostile', model_id: 'yamnet_waveform' });
  t.type(first.score, 'number');
  t.match(first.onset_utc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const nonHostile = received.filter((m) => m.topic === 'earshot/test-node/alert/non_hostile');
  t.equal(nonHostile.length, rows.length - hostileRows.length, 'non-hostile alerts too, one per event');
  for (const row of rows) {
    const states = received.filter((m) => m.topic === `earshot/test-node/event/${row.label}`).map((m) => m.payload);
    t.ok(states.includes('ON') && states.at(-1) === 'OFF', `${row.label}: ON at onset, OFF at offset`);
  }
  const status = received.filter((m) => m.topic === 'earshot/test-node/status').map((m) => m.payload);
  t.same(status, ['online', 'offline'], 'status online, then offline at a clean exit');
});
