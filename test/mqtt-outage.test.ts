/**
 * A broker outage in the middle of a real scene: earshot runs mixed_08 (a glass break, then
 * gunshots and explosions) in real-time pacing; after the first hostile alert Mosquitto is stopped
 * for 20 s and restarted on the same port. The alerts of that stretch wait in the SQLite outbox;
 * a subscriber with a persistent session then receives every alert, once per id after
 * de-duplication, in onset order, and their number equals the events table's.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { alertsOf, brokerAndSubscriber, dedupe, SCENE_08, sleep, startDaemon, writeConfig } from './helpers/mqtt-daemon.js';

t.test('a 20 s broker outage mid-scene loses no alert', async (t) => {
  const { broker, sub } = await brokerAndSubscriber(t, 'outage-subscriber', ['earshot/test-node/#'], { persistence: true });

  const dir = mkdtempSync(join(tmpdir(), 'earshot-outage-'));
  // 1.25× real time: the scene takes 36 s; the outage covers audio ~13–38 s, four hostile onsets.
  const config = writeConfig(dir, { scene: SCENE_08, pacing: 'realtime', speed: 1.25, url: broker.url, mqtt: ['drain_timeout_seconds: 60'] });
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));

  await sub.waitFor((m) => m.some((x) => x.topic === 'earshot/test-node/alert/hostile'), 60_000, 'the first hostile alert');
  const beforeOutage = alertsOf(sub.messages).length;
  await broker.stop();
  await sleep(20_000);
  await broker.restart();
  const result = await daemon.exited;
  t.equal(result.code, 0, `earshot exits 0 once the outbox is drained: ${result.stderr}`);
  t.match(result.stdout, /mqtt connection lost; alerts wait in the outbox/, 'the outage is logged');
  t.match(result.stdout, /mqtt reconnected/, 'the reconnect is logged');

  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT id, label, grp, onset_utc, onset_s FROM events ORDER BY onset_utc, id').all() as {
    id: string;
    label: string;
    grp: string;
    onset_utc: string;
    onset_s: number;
  }[];
  t.ok(rows.filter((r) => r.grp === 'hostile').length >= 3, `the scene has hostile events (${rows.map((r) => `${r.label}@${r.onset_s}`).join(', ')})`);
  const unsent = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL').get() as { n: number };
  t.equal(unsent.n, 0, 'the outbox is empty: every row was acknowledged');

  await sub.waitFor((m) => dedupe(alertsOf(m).map((a) => a.id)).length >= rows.length, 10_000, 'all alerts at the subscriber').catch(() => {});
  const alerts = alertsOf(sub.messages);
  t.ok(alerts.length > beforeOutage, `alerts arrived after the outage (${beforeOutage} before, ${alerts.length} in all)`);
  const ids = dedupe(alerts.map((a) => a.id));
  t.equal(ids.length, rows.length, 'one alert per event: the de-duplicated count equals the events table');
  t.same(
    ids,
    rows.map((r) => r.id),
    'in onset order, with the ids of the table',
  );
  const onsets = new Map(alerts.map((a) => [a.id, a.onset_utc]));
  t.same(
    rows.map((r) => onsets.get(r.id)),
    rows.map((r) => r.onset_utc),
    'with the original onset times',
  );
  t.comment(`alerts: ${rows.length} events, ${alerts.length} messages received (${alerts.length - ids.length} QoS 1 redeliveries)`);

  const hostileStates = sub.messages.filter((m) => m.topic === 'earshot/test-node/hostile').map((m) => m.payload);
  t.equal(hostileStates.at(-1), 'OFF', 'the hostile state ends OFF');
});
