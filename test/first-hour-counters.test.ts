/**
 * Figures a new user reads first (issue 23 item 5): the retained `health` message a subscriber
 * finds after the daemon exited carries the run's final figures (a last one is published on
 * shutdown), and `/metrics` shows its counters from the first scrape, at 0.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LiveStatus } from '../src/api/live-status.js';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { buildNode } from './helpers/api-node.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { SCENE_08, startDaemon, subscribe, writeConfig } from './helpers/mqtt-daemon.js';

t.test('the retained health message after exit says what the run did', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-last-health-'));
  // Health every 10 minutes: only the first (at connect, 0 events) and the last one are sent.
  const config = writeConfig(dir, { scene: SCENE_08, pacing: 'fast', url: broker.url, mqtt: ['health_interval_seconds: 600'] });
  const run = await startDaemon(config).exited;
  t.equal(run.code, 0, run.stderr);
  const events = run.stdout.split('\n').filter((l) => /"msg":"(hostile|non_hostile) event:/.test(l)).length;
  t.ok(events > 0, `the run logged ${events} events`);
  const late = await subscribe(broker.url, 'late-reader', ['earshot/test-node/health'], { clean: true });
  t.teardown(() => late.end());
  await late.waitFor((m) => m.length > 0, 5000, 'the retained health message');
  const health = JSON.parse(late.messages[0].payload) as { events: number; audio_s: number };
  t.ok(late.messages[0].retain, 'retained');
  t.equal(health.events, events, `after exit it says ${health.events} events, as the run did`);
  t.ok(health.audio_s > 44, `and the whole file's audio (${health.audio_s} s)`);
});

t.test('/metrics: every counter from the first scrape, at 0', async (t) => {
  const node = buildNode([]);
  const app = createApiServer({
    db: node.db,
    dataDir: node.dataDir,
    config: node.config,
    log: createLogger({ level: 'silent', pretty: false, fd: 2 }),
    live: new LiveStatus(),
    model: null,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    node.db.close();
  });
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const series of [
    'earshot_events_stored{group="hostile"} 0',
    'earshot_events_stored{group="non_hostile"} 0',
    'earshot_clips_stored{kind="event",status="ok"} 0',
    'earshot_clips_stored{kind="background",status="ok"} 0',
    'earshot_clip_bytes{kind="event"} 0',
    'earshot_patches{outcome="classified"} 0',
    'earshot_patches{outcome="skipped"} 0',
    'earshot_patches{outcome="failed"} 0',
    'earshot_labels_stored 0',
  ]) {
    t.ok(text.split('\n').includes(series), series);
  }
});
