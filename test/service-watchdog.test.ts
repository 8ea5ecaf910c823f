/**
 * The daemon under a service manager: with a NOTIFY_SOCKET the test owns (a real unix datagram
 * socket) and WATCHDOG_USEC set, it sends READY=1 once audio flows through the model, then
 * WATCHDOG=1 while healthy; when capture stalls (the test-only stall hook) it stops pinging, so
 * systemd would restart it. SIGTERM then still stops it cleanly with STOPPING=1.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCENE_07, writeDaemonConfig } from './helpers/fixtures.js';
import { listenNotify, startDaemon } from './helpers/service-daemon.js';

t.test('READY=1, WATCHDOG=1 while healthy, no WATCHDOG=1 once capture stalls', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-watchdog-'));
  const notify = await listenNotify(join(dir, 'notify.sock'));
  t.teardown(() => notify.close());
  const config = writeDaemonConfig(dir, { node_id: 'watchdog-node', source: { path: SCENE_07, pacing: 'realtime' } });
  // A 1 s watchdog: pings every 0.5 s. The source stalls after 3 s of audio.
  const daemon = startDaemon(config, { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '1000000', EARSHOT_TEST_STALL_AFTER_SECONDS: '3' });
  t.teardown(() => daemon.child.kill('SIGKILL'));

  const ready = await notify.messages.waitFor((m) => m.line === 'READY=1', 'READY=1');
  const readyLog = await daemon.log.waitFor((l) => l.msg.startsWith('ready'), 'the ready log line');
  t.pass(`READY=1 received; the log says: ${readyLog.msg}`);
  const status = notify.messages.items.find((m) => m.line.startsWith('STATUS='));
  t.match(status?.line, /^STATUS=listening: file:.*mixed_07\.wav/, `one-line STATUS with READY: ${status?.line}`);
  await notify.messages.waitFor((m) => m.line === 'WATCHDOG=1' && m.atMs > ready.atMs, 'a WATCHDOG=1 after READY=1');
  const firstWatchdog = notify.messages.items.findIndex((m) => m.line === 'WATCHDOG=1');
  t.ok(firstWatchdog > notify.messages.items.indexOf(ready), 'the first WATCHDOG=1 comes after READY=1');

  const unhealthy = await daemon.log.waitFor((l) => l.msg.startsWith('unhealthy'), 'the unhealthy log line', 30_000);
  t.match(unhealthy.problems, [/^no audio for \d+\.\d s$/], `the daemon says why: ${unhealthy.msg}`);
  const pingsWhileHealthy = notify.messages.items.filter((m) => m.line === 'WATCHDOG=1').length;
  t.ok(pingsWhileHealthy >= 3, `WATCHDOG=1 sent while audio flowed (${pingsWhileHealthy} pings)`);

  // Datagrams sent before the unhealthy verdict may still be in socat's pipe: count from 1 s later,
  // then watch 6 more watchdog periods.
  await new Promise((r) => setTimeout(r, 1000));
  const before = notify.messages.items.filter((m) => m.line === 'WATCHDOG=1').length;
  await new Promise((r) => setTimeout(r, 3000));
  const after = notify.messages.items.filter((m) => m.line === 'WATCHDOG=1').length;
  t.equal(after, before, `no WATCHDOG=1 while capture is stalled (${before} before, ${after} after 3 s)`);
  const unhealthyStatus = notify.messages.items.filter((m) => m.line.startsWith('STATUS=UNHEALTHY'));
  t.ok(unhealthyStatus.length > 0, `STATUS says so: ${unhealthyStatus[0]?.line}`);

  const sentAt = performance.now();
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `a stalled daemon still exits 0 on SIGTERM (${daemon.stderr()})`);
  t.ok(exit.atMs - sentAt < 5000, `within 5 s (${Math.round(exit.atMs - sentAt)} ms)`);
  await notify.messages.waitFor((m) => m.line === 'STOPPING=1', 'STOPPING=1', 5000);
  t.pass('STOPPING=1 received');
});
