/**
 * Username and password against a Mosquitto that requires them: the password from
 * EARSHOT_MQTT_PASSWORD works; a wrong one is refused with one clear log line, retried, and never
 * printed; the alerts wait in the outbox.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startMosquitto } from './helpers/mosquitto.js';
import { alertsOf, dedupe, SCENE_07, startDaemon, subscribe, writeConfig } from './helpers/mqtt-daemon.js';

t.test('password from the environment; a wrong one is refused and never logged', async (t) => {
  const broker = await startMosquitto(undefined, { users: { earshot: 'right-horse-5831', watcher: 'watch-pw' } });
  t.teardown(() => broker.stop());
  const sub = await subscribe(broker.url, 'auth-subscriber', ['earshot/#'], { username: 'watcher', password: 'watch-pw' });
  t.teardown(() => sub.end());

  const good = mkdtempSync(join(tmpdir(), 'earshot-auth-'));
  const ok = await startDaemon(writeConfig(good, { scene: SCENE_07, pacing: 'fast', url: broker.url, nodeId: 'auth-node', mqtt: ['username: earshot'] }), {
    EARSHOT_MQTT_PASSWORD: 'right-horse-5831',
  }).exited;
  t.equal(ok.code, 0, `the right password: exits 0 ${ok.stderr}`);
  const db = new Database(join(good, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const ids = (db.prepare('SELECT id FROM events ORDER BY onset_utc, id').all() as { id: string }[]).map((r) => r.id);
  await sub.waitFor((m) => dedupe(alertsOf(m, 'auth-node').map((a) => a.id)).length >= ids.length, 10_000, 'the alerts').catch(() => {});
  t.same(dedupe(alertsOf(sub.messages, 'auth-node').map((a) => a.id)), ids, 'alerts delivered');

  const bad = mkdtempSync(join(tmpdir(), 'earshot-auth-'));
  const refused = await startDaemon(
    writeConfig(bad, { scene: SCENE_07, pacing: 'fast', url: broker.url, nodeId: 'auth-bad', mqtt: ['username: earshot', 'drain_timeout_seconds: 3'] }),
    { EARSHOT_MQTT_PASSWORD: 'wrong-pony-0000' },
  ).exited;
  t.equal(refused.code, 3, 'a wrong password: exit code 3, alerts kept');
  const lines = refused.stdout.split('\n').filter((l) => /mqtt connection failed/.test(l));
  t.equal(lines.length, 1, 'one log line for the refusal, not one per retry');
  t.match(lines[0], /Not authori[sz]ed/, 'it says why');
  t.notMatch(refused.stdout + refused.stderr, /wrong-pony-0000|right-horse-5831/, 'the password is never printed');
});
