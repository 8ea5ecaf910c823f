/**
 * kill -9 during a broker outage, then a restart on the same database: what the killed process
 * left unsent in the outbox is delivered first, in order, by the new process; nothing is lost,
 * and a subscriber that de-duplicates by id counts exactly the events table.
 * Also: the Last Will — kill -9 while connected, and the broker publishes `offline`.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startMosquitto } from './helpers/mosquitto.js';
import { alertsOf, brokerAndSubscriber, dedupe, SCENE_07, SCENE_08, sleep, startDaemon, subscribe, writeConfig } from './helpers/mqtt-daemon.js';

t.test('kill -9 during an outage, restart: nothing lost', async (t) => {
  const { broker, sub } = await brokerAndSubscriber(t, 'crash-subscriber', ['earshot/test-node/#'], { persistence: true });
  const dir = mkdtempSync(join(tmpdir(), 'earshot-crash-'));
  const dbPath = join(dir, 'data', 'earshot.db');

  const first = startDaemon(writeConfig(dir, { scene: SCENE_08, pacing: 'realtime', speed: 2, url: broker.url }));
  t.teardown(() => first.child.kill('SIGKILL'));
  await sub.waitFor((m) => m.some((x) => x.topic === 'earshot/test-node/alert/hostile'), 60_000, 'the first hostile alert');
  await broker.stop();
  // Let the scene go on (at 2×, audio ~14 s → ~34 s: the gunshots) with the broker away.
  const counts = () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      return {
        events: (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n,
        unsent: (db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL').get() as { n: number }).n,
        unsentAlerts: (db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL AND topic LIKE '%/alert/%'").get() as { n: number }).n,
      };
    } finally {
      db.close();
    }
  };
  const deadline = Date.now() + 30_000;
  while (counts().unsentAlerts < 2 && Date.now() < deadline) await sleep(200);
  first.child.kill('SIGKILL');
  await first.exited;
  const left = counts();
  t.ok(left.unsentAlerts >= 2, `the killed process left unsent alerts in the outbox (${left.unsentAlerts} alerts, ${left.unsent} rows, ${left.events} events)`);
  const aliveAlerts = dedupe(alertsOf(sub.messages).map((a) => a.id)).length;
  t.ok(aliveAlerts < left.events, `some alerts had not reached the subscriber (${aliveAlerts} of ${left.events})`);

  // The restart comes up while the broker is still away, then the broker returns ...
  const second = startDaemon(writeConfig(dir, { scene: SCENE_07, pacing: 'fast', url: broker.url, mqtt: ['drain_timeout_seconds: 60'], name: 'restart.yaml' }));
  t.teardown(() => second.child.kill('SIGKILL'));
  // ... and only once the new process has finished its scene and is draining on its way out.
  const until = Date.now() + 60_000;
  while (!/source ended/.test(second.output()) && Date.now() < until) await sleep(100);
  await sleep(500);
  await broker.restart();
  const result = await second.exited;
  t.equal(result.code, 0, `the restarted earshot drains and exits 0: ${result.stderr}`);
  t.match(result.stdout, /unsent messages from before are sent first/, 'the restart reports the leftover outbox');

  const db = new Database(dbPath, { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT id, label, onset_utc, stream_id FROM events ORDER BY onset_utc, id').all() as {
    id: string;
    label: string;
    onset_utc: string;
    stream_id: string;
  }[];
  t.equal(new Set(rows.map((r) => r.stream_id)).size, 2, 'events from both runs are stored');
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL').get() as { n: number }).n, 0, 'the outbox is drained');

  await sub.waitFor((m) => dedupe(alertsOf(m).map((a) => a.id)).length >= rows.length, 10_000, 'every alert').catch(() => {});
  const alerts = alertsOf(sub.messages);
  const ids = dedupe(alerts.map((a) => a.id));
  t.equal(ids.length, rows.length, 'the de-duplicated alert count equals the events table');
  t.same(
    ids,
    rows.map((r) => r.id),
    'in onset order across the crash, with the table ids',
  );
  t.comment(`${rows.length} events, ${alerts.length} alert messages (${alerts.length - ids.length} redelivered)`);
  const hostile = sub.messages.filter((m) => m.topic === 'earshot/test-node/hostile').map((m) => m.payload);
  t.equal(hostile.at(-1), 'OFF', 'the hostile state the killed run left ON is closed');
});

t.test('Last Will: kill -9 while connected and subscribers see offline', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const sub = await subscribe(broker.url, 'will-subscriber', ['earshot/will-node/status']);
  t.teardown(() => sub.end());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-will-'));
  const daemon = startDaemon(writeConfig(dir, { scene: SCENE_07, pacing: 'realtime', speed: 1, url: broker.url, nodeId: 'will-node' }));
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await sub.waitFor((m) => m.some((x) => x.payload === 'online'), 60_000, 'online');
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  await sub.waitFor((m) => m.at(-1)?.payload === 'offline', 10_000, 'the Last Will');
  t.same(
    sub.messages.map((m) => m.payload),
    ['online', 'offline'],
    'online, then offline from the Last Will',
  );
  // A late subscriber gets the retained state.
  const late = await subscribe(broker.url, 'late-subscriber', ['earshot/will-node/status'], { clean: true });
  t.teardown(() => late.end());
  await late.waitFor((m) => m.length > 0, 5000, 'the retained status');
  t.match(late.messages[0], { payload: 'offline', retain: true }, 'offline is retained');
});
