/**
 * One daemon per data dir (issue 23 item 1): `earshot run` holds data_dir/earshot.lock; a second
 * `earshot run` on the same data dir stops at once (`data dir … is in use by earshot (pid N)`,
 * exit 3) instead of sending every alert twice; `earshot serve` beside the running daemon keeps
 * working; a stale lock (its process gone, or its pid reused by another program) is taken over.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LOCK_FILE, lockDataDir, processStartTime } from '../src/store/data-dir-lock.js';
import { json } from './helpers/api-node.js';
import { earshot } from './helpers/cli.js';
import { clipPath, SCENE_07, startEarshot, writeDaemonConfig } from './helpers/fixtures.js';
import { startDaemon } from './helpers/service-daemon.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** A process that runs until killed, and its pid. */
async function livingProcess(t: { teardown: (fn: () => void) => void }) {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  return child.pid!;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

t.test('the lock file: a live owner refuses, a dead or reused pid is taken over, release removes only our own', async (t) => {
  const dir = tmp('earshot-lock-');
  const lockPath = join(dir, LOCK_FILE);

  const alive = await livingProcess(t);
  writeFileSync(lockPath, JSON.stringify({ pid: alive, start: processStartTime(alive), host: 'h', since: '2026-01-01T00:00:00.000Z' }));
  t.throws(
    () => lockDataDir(dir),
    { message: new RegExp(`^data dir ${dir} is in use by earshot \\(pid ${alive}\\)`), exitCode: 3 },
    'a live owner: refused, exit 3',
  );
  t.match(JSON.parse(readFileSync(lockPath, 'utf8')), { pid: alive }, "the owner's lock is untouched");

  // The same pid, but a process that started at another time: the pid was reused.
  writeFileSync(lockPath, JSON.stringify({ pid: alive, start: (processStartTime(alive) ?? 0) + 1, host: 'h', since: 'x' }));
  const reused = lockDataDir(dir);
  t.equal(reused.tookOverFrom?.pid, alive, 'a reused pid: the stale lock is taken over');
  t.match(
    JSON.parse(readFileSync(lockPath, 'utf8')),
    { pid: process.pid, start: processStartTime(process.pid) },
    'the lock now names this process and its start time',
  );
  reused.release();
  t.notOk(existsSync(lockPath), 'release removes the lock');

  const dead = await deadPid();
  writeFileSync(lockPath, JSON.stringify({ pid: dead, start: 1, host: 'h', since: 'x' }));
  const taken = lockDataDir(dir);
  t.equal(taken.tookOverFrom?.pid, dead, `a dead pid (${dead}): taken over`);
  // Someone else's lock (e.g. after an operator removed ours and another daemon started): not ours to remove.
  writeFileSync(lockPath, JSON.stringify({ pid: alive, start: processStartTime(alive), host: 'h', since: 'y' }));
  taken.release();
  t.ok(existsSync(lockPath), 'release leaves a lock that is not ours');

  writeFileSync(lockPath, '');
  const fromEmpty = lockDataDir(dir);
  t.ok(fromEmpty.tookOverFrom, 'an empty (half-written, crashed) lock file is taken over after a second look');
  fromEmpty.release();

  const fresh = lockDataDir(dir);
  t.equal(fresh.tookOverFrom, null, 'no lock file: taken without a takeover');
  fresh.release();
});

t.test('a second earshot run on the same data dir stops at once; earshot serve beside it keeps working', async (t) => {
  const dir = tmp('earshot-lock-run-');
  const config = writeDaemonConfig(dir, { node_id: 'lock-test', source: { path: SCENE_07, pacing: 'realtime' }, api: { port: 0 } });
  const first = startDaemon(config);
  t.teardown(() => first.child.kill('SIGKILL'));
  await first.log.waitFor((l) => /^ready/.test(l.msg), 'the first daemon ready', 120_000);
  const lockPath = join(dir, 'data', LOCK_FILE);
  t.match(JSON.parse(readFileSync(lockPath, 'utf8')), { pid: first.child.pid }, 'the running daemon holds data/earshot.lock');

  const second = await earshot(['run', '--config', config], { timeoutMs: 120_000 });
  t.equal(second.code, 3, 'the second daemon exits 3');
  t.match(second.stderr, new RegExp(`data dir \\S+ is in use by earshot \\(pid ${first.child.pid}\\)`), `it names the running one: ${second.stderr.trim()}`);
  t.notMatch(second.stdout, /model loaded|api listening/, 'before loading a model or listening');
  t.equal(first.child.exitCode, null, 'the first daemon runs on');

  // serve beside the daemon: reads the same database.
  const serve = startEarshot(['serve', '--config', config, '--port', '0']);
  t.teardown(() => serve.child.kill('SIGKILL'));
  const listening = await serve.log.waitFor((l) => /^api listening on /.test(l.msg), 'serve listening', 60_000);
  const answer = await json(fetch(`${listening.url as string}/api/v1/events`));
  t.ok(Array.isArray(answer.events), 'serve answers /api/v1/events beside the running daemon');
  serve.child.kill('SIGTERM');
  await serve.exited;
  t.equal(first.child.exitCode, null, 'the daemon still runs after serve stopped');
  t.ok(existsSync(lockPath), 'and still holds its lock');

  first.child.kill('SIGTERM');
  t.equal((await first.exited).code, 0, 'the daemon stops cleanly');
  t.notOk(existsSync(lockPath), 'a clean stop removes the lock');
});

t.test('earshot run takes over the stale lock of a daemon that died', async (t) => {
  const dir = tmp('earshot-lock-stale-');
  mkdirSync(join(dir, 'data'));
  const dead = await deadPid();
  writeFileSync(join(dir, 'data', LOCK_FILE), `${JSON.stringify({ pid: dead, start: 1, host: 'h', since: '2026-01-01T00:00:00.000Z' })}\n`);
  const config = writeDaemonConfig(dir, { node_id: 'lock-test', source: { path: clipPath('gunshot_1'), pacing: 'fast' }, api: { enabled: false } });
  const run = await earshot(['run', '--config', config], { timeoutMs: 120_000 });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, new RegExp(`"previous_pid":${dead}.*stale lock was taken over`), 'a warning names the dead pid');
  t.notOk(existsSync(join(dir, 'data', LOCK_FILE)), 'removed at exit');
});

t.test('a stale lock on a full disk is taken over (a daemon SIGKILLed when its disk filled restarts)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root', () => {});
  const dir = tmp('earshot-lock-full-');
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  t.teardown(() => execFileSync('umount', [dir]));
  const stale = await deadPid();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: stale, start: null, host: 'h', since: '2026-01-01T00:00:00.000Z' }));
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'fill')}`, 'bs=4k'], { stdio: 'ignore' });
  } catch {
    // dd stops with ENOSPC: the disk is full, as wanted.
  }
  const lock = lockDataDir(dir);
  t.equal(lock.tookOverFrom?.pid, stale, 'the dead owner is named');
  lock.release();
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'release removes the (empty) lock this process took');
});
