/**
 * The end of a file source is not a fault (issue 23 item 6): while the outbox drains after the
 * last chunk (here: no broker, so the drain waits its full `mqtt.drain_timeout_seconds`), the
 * daemon logs no `unhealthy: no audio` error and keeps pinging the watchdog; it says the source
 * ended instead.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clipPath, writeDaemonConfig } from './helpers/fixtures.js';
import { freePort } from './helpers/mosquitto.js';
import { listenNotify, startDaemon } from './helpers/service-daemon.js';

t.test('a file that ends, then a long MQTT drain: no unhealthy error, watchdog pings go on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-file-end-'));
  const notify = await listenNotify(join(dir, 'notify.sock'));
  t.teardown(() => notify.close());
  const closedPort = await freePort();
  const config = writeDaemonConfig(dir, {
    node_id: 'file-end',
    source: { path: clipPath('gunshot_1'), pacing: 'fast' },
    api: { enabled: false },
    mqtt: { url: `mqtt://127.0.0.1:${closedPort}`, drain_timeout_seconds: 8 },
  });
  // A 1 s watchdog: a health check every 0.5 s; the stall limit is 5 s of no audio.
  const daemon = startDaemon(config, { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '1000000' });
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const ended = await daemon.log.waitFor((l) => l.msg.startsWith('source ended: finishing'), 'the source-ended line', 120_000);
  const exit = await daemon.exited;
  t.equal(exit.code, 3, 'exit 3: messages stayed unsent (no broker), as before');
  const drainS = (exit.atMs - ended.readAtMs) / 1000;
  t.ok(drainS > 6, `the drain after the end lasted ${drainS.toFixed(1)} s (more than the 5 s stall limit)`);
  const errors = daemon.log.items.filter((l) => l.level >= 50);
  t.same(
    errors.map((l) => l.msg).filter((m) => /unhealthy|no audio/.test(m)),
    [],
    'no "unhealthy: no audio" error',
  );
  const pingsAfterEnd = notify.messages.items.filter((m) => m.line === 'WATCHDOG=1' && m.atMs > ended.readAtMs + 5500).length;
  t.ok(pingsAfterEnd >= 2, `WATCHDOG=1 still sent after 5 s of drain (${pingsAfterEnd})`);
  t.ok(
    notify.messages.items.some((m) => m.line.startsWith('STATUS=finishing (source ended)')),
    'STATUS says it is finishing',
  );
});
