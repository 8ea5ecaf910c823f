/**
 * SIGHUP (`systemctl reload earshot`): a changed threshold is applied while the daemon keeps
 * listening, without losing audio; an invalid config is refused with the reason in the log, and
 * the daemon keeps running on the configuration it had.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { daemonConfig, SCENE_07 } from './helpers/fixtures.js';
import { startDaemon } from './helpers/service-daemon.js';

const configText = (gunshot: { threshold: number; release?: number }, extra: { speed?: number; logLevel?: string } = {}) =>
  daemonConfig({
    node_id: 'reload-node',
    log_level: extra.logLevel,
    source: { path: SCENE_07, pacing: 'realtime', speed: extra.speed ?? 4 },
    detection: { labels: { gunshot } },
  });

t.test('SIGHUP applies a new threshold live; an invalid config keeps the old one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-reload-'));
  const config = join(dir, 'earshot.yaml');
  // mixed_07 has gunshots that YAMNet scores 0.75 (24.0 s) and 0.97 (31.2 s): at threshold 1 none opens.
  writeFileSync(config, configText({ threshold: 1.0, release: 0.5 }));
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await daemon.log.waitFor((l) => l.msg.startsWith('ready'), 'ready');

  writeFileSync(config, configText({ threshold: 2, release: 0.1 }));
  daemon.child.kill('SIGHUP');
  const refused = await daemon.log.waitFor((l) => l.msg.startsWith('config reload failed'), 'the refused reload');
  t.match(
    refused.problems,
    [/detection\.labels\.gunshot\.threshold: must be <= 1/],
    `an invalid config is refused, naming the key: ${JSON.stringify(refused.problems)}`,
  );
  t.equal(daemon.child.exitCode, null, 'the daemon keeps running');

  writeFileSync(config, configText({ threshold: 0.2, release: 0.1 }));
  daemon.child.kill('SIGHUP');
  const reloaded = await daemon.log.waitFor((l) => l.msg === 'config reloaded', 'the reload');
  t.same(reloaded.applied, ['detection.labels.gunshot.release', 'detection.labels.gunshot.threshold'], 'the new threshold and release are applied live');
  t.same(reloaded.need_restart, [], 'nothing waits for a restart');
  const reloadedAt = reloaded.audio_s as number;
  t.ok(reloadedAt < 20, `applied at ${reloadedAt} s of audio, before the first gunshot`);

  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the run ends normally (${daemon.stderr()})`);
  const end = daemon.log.items.find((l) => l.msg === 'source ended');
  t.equal(end?.audio_s, 45, 'all 45 s of the scene went through the pipeline: no audio dropped across two reloads');
  t.notOk(
    daemon.log.items.some((l) => /gap/.test(l.msg)),
    'no capture gap logged',
  );

  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const gunshots = db.prepare("SELECT onset_s, peak_score FROM events WHERE label = 'gunshot' ORDER BY onset_s").all() as {
    onset_s: number;
    peak_score: number;
  }[];
  t.ok(gunshots.length >= 1, `gunshots detected after the reload at the new threshold: ${gunshots.map((g) => `${g.onset_s} s (${g.peak_score})`).join(', ')}`);
  t.ok(
    gunshots.every((g) => g.onset_s > reloadedAt && g.peak_score < 1),
    'all of them after the reload, scoring below the old threshold',
  );
});

t.test('SIGHUP with a key that needs a restart says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-reload2-'));
  const config = join(dir, 'earshot.yaml');
  writeFileSync(config, configText({ threshold: 0.2 }));
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await daemon.log.waitFor((l) => l.msg.startsWith('ready'), 'ready');
  writeFileSync(config, configText({ threshold: 0.2 }, { speed: 8, logLevel: 'debug' }));
  daemon.child.kill('SIGHUP');
  const reloaded = await daemon.log.waitFor((l) => l.msg.startsWith('config reloaded'), 'the reload');
  t.same(reloaded.applied, ['log_level'], 'log_level is applied live');
  t.same(reloaded.need_restart, ['source.speed'], 'source.speed needs a restart');
  const warning = await daemon.log.waitFor((l) => /after a restart/.test(l.msg), 'the restart warning');
  t.same(warning.keys, ['source.speed'], `and the log says so: ${warning.msg}`);
  daemon.child.kill('SIGTERM');
  t.equal((await daemon.exited).code, 0);
});
