/**
 * What an alert links to (issue 23 items 2 and 4), one real run against a real Mosquitto:
 * - `clip_url` is `<api.public_url>/api/v1/clips/<clip id>` (the clip id, not the event id) and
 *   returns the event's clip (here served afterwards by `earshot serve` at that public address);
 * - Home Assistant's device carries `configuration_url` (the same base);
 * - `clock_synced` says the same in the alert, the health message and the database for the same
 *   state: from one checker (src/service/clock.ts), null when unknown.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { publicBaseUrl, publicClipUrl } from '../src/api/public-url.js';
import { parseConfig } from '../src/config/load.js';
import { ClockSync } from '../src/service/clock.js';
import { CLI, REPO } from './helpers/cli.js';
import { freePort } from './helpers/mosquitto.js';
import { alertsOf, brokerAndSubscriber, SCENE_08, schema, startDaemon, writeConfig } from './helpers/mqtt-daemon.js';

const api = (extra: Record<string, unknown>) => parseConfig({ api: extra }, 'test.yaml', '/tmp').api;

t.test('the public base URL', async (t) => {
  t.equal(
    publicBaseUrl(api({ public_url: 'https://sensors.example.org/garage/' }), 'http://127.0.0.1:8466'),
    'https://sensors.example.org/garage',
    'api.public_url wins, without its trailing slash',
  );
  t.equal(publicBaseUrl(api({}), 'http://127.0.0.1:40123'), 'http://127.0.0.1:40123', 'else the address the API listens on');
  t.equal(publicBaseUrl(api({ port: 9000 }), null), 'http://127.0.0.1:9000', 'before it listens: host and port from the config');
  t.equal(
    publicBaseUrl(api({ host: '0.0.0.0', token: 'a-token-of-16-chars-or-more' }), 'http://0.0.0.0:8466'),
    `http://${hostname()}:8466`,
    'a wildcard bind address becomes the host name',
  );
  t.equal(publicBaseUrl(api({ port: 0 }), null), null, 'port 0 before listening: unknown');
  t.equal(publicBaseUrl(api({ enabled: false, public_url: 'http://x:1' }), null), null, 'API off: no links');
  t.equal(publicClipUrl('http://pi:8466', '01JD3X9W2K5J8R1T6Y0V3B7N9C'), 'http://pi:8466/api/v1/clips/01JD3X9W2K5J8R1T6Y0V3B7N9C');
  t.throws(() => api({ public_url: 'pi:8466' }), /api\.public_url/, 'a public_url that is not an http(s) URL is refused');
});

t.test('an alert links to its clip at the public URL; HA gets configuration_url; one clock state everywhere', async (t) => {
  const { broker, sub } = await brokerAndSubscriber(t, 'links-subscriber', ['earshot/#', 'homeassistant/#']);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-links-'));
  const publicPort = await freePort();
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const config = writeConfig(dir, { scene: SCENE_08, pacing: 'fast', url: broker.url, mqtt: ['health_interval_seconds: 1'] });
  // The daemon listens on a port of its own; its links name the public address (as behind a proxy).
  appendFileSync(config, `api:\n  port: 0\n  public_url: ${publicUrl}/\n`);
  const run = await startDaemon(config).exited;
  t.equal(run.code, 0, run.stderr);
  await sub.waitFor((m) => alertsOf(m).length > 0, 10_000, 'alerts');

  const validate = schema('alert');
  const hostile = alertsOf(sub.messages).filter((a) => a.raw.topic.endsWith('/alert/hostile'));
  t.ok(hostile.length >= 2, `hostile alerts (${hostile.length})`);
  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());

  const expectedClock = new ClockSync().checkSync();
  const serve = spawn(process.execPath, [CLI, 'serve', '--config', config, '--port', String(publicPort)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => serve.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    serve.stdout.on('data', (d) => {
      out += d;
      if (out.includes('api listening')) resolve();
    });
    serve.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });

  for (const alert of hostile) {
    const payload = JSON.parse(alert.raw.payload) as { id: string; clip_url: string | null; clock_synced: boolean | null };
    t.ok(validate(payload), `alert matches alert.schema.json ${JSON.stringify(validate.errors)}`);
    const match = /^http:\/\/127\.0\.0\.1:(\d+)\/api\/v1\/clips\/([0-9A-HJKMNP-TV-Z]{26})$/.exec(payload.clip_url ?? '');
    t.ok(match && Number(match[1]) === publicPort, `${alert.label}: clip_url at the public address: ${payload.clip_url}`);
    const clipId = match?.[2] ?? '';
    t.not(clipId, payload.id, 'the clip id, not the event id');
    const row = db.prepare('SELECT event_id, sha256 FROM clips WHERE id = ?').get(clipId) as { event_id: string; sha256: string } | undefined;
    t.equal(row?.event_id, payload.id, "the clip the URL names is this event's clip");
    const response = await fetch(payload.clip_url!);
    t.equal(response.status, 200, 'the URL returns the clip');
    const audio = Buffer.from(await response.arrayBuffer());
    t.equal(createHash('sha256').update(audio).digest('hex'), row?.sha256, 'the stored clip, byte for byte');

    const stored = db.prepare('SELECT clock_synced FROM events WHERE id = ?').get(payload.id) as { clock_synced: number | null };
    t.equal(
      payload.clock_synced,
      stored.clock_synced === null ? null : stored.clock_synced === 1,
      `alert and database agree on clock_synced (${payload.clock_synced})`,
    );
    t.equal(payload.clock_synced, expectedClock, `and it is the clock checker's state (${expectedClock})`);
  }
  const health = sub.messages.filter((m) => m.topic === 'earshot/test-node/health').map((m) => JSON.parse(m.payload) as { clock_synced: boolean | null });
  t.ok(health.length > 0, 'health published');
  t.equal(health.at(-1)!.clock_synced, expectedClock, `health says the same (${expectedClock})`);

  const device = sub.messages
    .filter((m) => m.topic.startsWith('homeassistant/') && m.payload)
    .map((m) => (JSON.parse(m.payload) as { device: { configuration_url?: string } }).device);
  t.ok(device.length >= 3, 'discovery configs');
  t.ok(
    device.every((d) => d.configuration_url === publicUrl),
    `every entity's device has configuration_url ${publicUrl}`,
  );
});
