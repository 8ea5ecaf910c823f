/**
 * Store faults against real processes (issue 24, items 1–4): a full disk (a real 6 MB tmpfs), a
 * read-only database, a corrupted and a 0-byte database, and fatal start-up errors, each with a
 * real `earshot run` over a dev scene. Every case must end at once with its code and one line, or
 * keep listening and lose no event (an event that cannot be stored still reaches MQTT).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { alertsOf, SCENE_07, startDaemon, subscribe, YAMNET } from './helpers/mqtt-daemon.js';

const root = mkdtempSync(join(tmpdir(), 'earshot-hostile-store-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

function config(dir: string, lines: string[] = []): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'earshot.yaml');
  writeFileSync(
    path,
    [
      `node_id: test-node`,
      `data_dir: ${join(dir, 'data')}`,
      `source: { type: file, path: ${SCENE_07}, pacing: fast }`,
      `model: { path: ${YAMNET} }`,
      'api: { port: 0 }',
      ...lines,
      '',
    ].join('\n'),
  );
  return path;
}

const onsets = (log: string) => [...log.matchAll(/"id":"([0-9A-Z]{26})"[^\n]*"msg":"(?:hostile|non_hostile) event: /g)].map((m) => m[1]);

t.test('a full disk: the daemon listens on, alerts reach MQTT, nothing stored is lost, restarts do not crash', async (t) => {
  const mount = join(root, 'tmpfs');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mount]);
  t.teardown(() => execFileSync('umount', ['-l', mount]));
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = join(mount, 'node');
  const path = config(dir, [`mqtt: { url: '${broker.url}', reconnect_min_seconds: 0.2 }`, 'retention: { min_free_bytes: 0 }']);

  // First run with room: events and their clips are stored.
  const first = await earshot(['run', '--config', path], { timeoutMs: 120_000 });
  t.equal(first.code, 0, 'the first run ends normally');
  const stored = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  const before = stored.prepare('SELECT id FROM events ORDER BY id').all() as { id: string }[];
  const clipsBefore = (stored.prepare("SELECT COUNT(*) AS n FROM clips WHERE status = 'ok'").get() as { n: number }).n;
  stored.close();
  t.ok(before.length >= 2 && clipsBefore >= 1, `first run stored ${before.length} events and ${clipsBefore} clips`);

  // Fill the disk to the last byte, then run again: every write fails for lack of space.
  const filler = openSync(join(mount, 'filler'), 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(filler, block);
  } catch {
    // ENOSPC: full.
  }
  try {
    for (;;) writeSync(filler, block.subarray(0, 512));
  } catch {
    // the last blocks
  }
  closeSync(filler);
  const subscriber = await subscribe(broker.url, 'full-disk-watcher', ['earshot/test-node/alert/#']);
  t.teardown(() => subscriber.end());
  const daemon = startDaemon(path);
  // While it runs, /healthz and /metrics say disk_full.
  let healthSaid = '';
  let metricsSaid = '';
  const poll = (async () => {
    for (let i = 0; i < 400 && daemon.child.exitCode === null; i++) {
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(daemon.output())?.[1];
      if (url) {
        try {
          const health = await (await fetch(`${url}/healthz`)).text();
          if (health.includes('disk_full')) healthSaid = health;
          const metrics = await (await fetch(`${url}/metrics`)).text();
          if (/^earshot_disk_full 1$/m.test(metrics)) metricsSaid = metrics;
          if (healthSaid && metricsSaid) return;
        } catch {
          // not listening yet, or already closed
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const second = await daemon.exited;
  await poll;
  const log = second.stdout + second.stderr;
  t.equal(second.code, 0, 'the run on a full disk ends normally (exit 0)');
  t.notOk(hasStackTrace(second.stderr) || /unexpected error/.test(log), 'no crash');
  const heard = onsets(log);
  t.ok(heard.length >= 2, `it still detected events (${heard.length})`);
  t.match(log, /event not stored \(disk full\): published to MQTT without the outbox/, 'the log says what happened');
  await subscriber.waitFor((m) => heard.every((id) => alertsOf(m).some((a) => a.id === id)), 15_000, 'every alert of the full-disk run').catch(() => undefined);
  const delivered = new Set(alertsOf(subscriber.messages).map((a) => a.id));
  const afterDb = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  const after = new Set((afterDb.prepare('SELECT id FROM events').all() as { id: string }[]).map((r) => r.id));
  t.equal(afterDb.pragma('integrity_check', { simple: true }) as string, 'ok', 'the database is intact');
  afterDb.close();
  t.ok(
    before.every((e) => after.has(e.id)),
    'every event stored before the disk filled is still there',
  );
  t.same(
    heard.filter((id) => !after.has(id) && !delivered.has(id)),
    [],
    'every event heard on the full disk is stored or was delivered over MQTT',
  );
  t.ok(
    heard.some((id) => !after.has(id) && delivered.has(id)),
    'some reached only MQTT (their rows could not be written)',
  );
  t.match(healthSaid, /disk_full/, '/healthz named the disk_full problem');
  t.match(metricsSaid, /earshot_store_faults\{kind="disk_full_writes"\} [1-9]/, '/metrics counted the failed writes');

  // The free-space floor: with min_free_bytes above what is free, retention deletes the oldest clips.
  const floor = config(dir, [`mqtt: { url: '${broker.url}' }`, 'retention: { min_free_bytes: 262144 }']);
  const third = await earshot(['run', '--config', floor], { timeoutMs: 120_000 });
  t.equal(third.code, 0, `a restart on the full disk ends normally${third.code ? `: ${third.stderr.slice(0, 300)}` : ''}`);
  t.match(third.stdout, /"deleted_by_free_space":[1-9]/, 'retention freed space by the floor, clips first');
  const finalDb = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  const final = new Set((finalDb.prepare('SELECT id FROM events').all() as { id: string }[]).map((r) => r.id));
  finalDb.close();
  t.ok(
    before.every((e) => final.has(e.id)),
    'and no event row was deleted to make room',
  );
});

t.test('a read-only database is refused at start: one line, exit 3', async (t) => {
  const dir = join(root, 'readonly');
  const path = config(dir);
  mkdirSync(join(dir, 'data'), { recursive: true });
  new Database(join(dir, 'data', 'earshot.db')).close();
  const ro = join(root, 'ro-mount');
  mkdirSync(ro);
  // A read-only bind mount: root itself cannot write it (file modes do not stop root).
  execFileSync('mount', ['--bind', join(dir, 'data'), ro]);
  execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
  t.teardown(() => execFileSync('umount', ['-l', ro]));
  writeFileSync(path, readFileText(path).replace(`data_dir: ${join(dir, 'data')}`, `data_dir: ${ro}`));
  const result = await earshot(['run', '--config', path], { timeoutMs: 20_000 });
  t.equal(result.code, 3, 'exit 3');
  t.match(result.stderr.trim(), /^earshot: data_dir: .*ro-mount: cannot write there: read-only file system$/, 'one line naming the folder');
  // And as an unprivileged user, a file mode of 0444:
  const modeDir = join(root, 'mode');
  const modePath = config(modeDir);
  mkdirSync(join(modeDir, 'data'), { recursive: true });
  const made = new Database(join(modeDir, 'data', 'earshot.db'));
  made.exec('CREATE TABLE t (x)');
  made.close();
  chmodSync(root, 0o755);
  chmodSync(modeDir, 0o755);
  execFileSync('chown', ['-R', '65534:65534', join(modeDir, 'data')]);
  chmodSync(join(modeDir, 'data', 'earshot.db'), 0o444);
  const asNobody = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFileAsync([
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      join(process.cwd(), 'dist/cli/main.js'),
      'run',
      '--config',
      modePath,
    ]);
    child.then(resolve);
  });
  t.equal(asNobody.code, 3, 'a 0444 database as the service user: exit 3');
  t.match(asNobody.stderr.trim(), /^earshot: .*earshot\.db: the database is not writable: permission denied/, 'one line naming the database');
});

t.test('a damaged database is noticed, kept, and replaced only when configured', async (t) => {
  const dir = join(root, 'corrupt');
  const path = config(dir, ['clips: { enabled: false }']);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const db = new Database(join(dir, 'data', 'earshot.db'));
  db.exec('CREATE TABLE filler (x TEXT)');
  const insert = db.prepare('INSERT INTO filler VALUES (?)');
  for (let i = 0; i < 200; i++) insert.run('x'.repeat(500));
  db.close();
  // Random bytes over the second page (a table's root page).
  const fd = openSync(join(dir, 'data', 'earshot.db'), 'r+');
  writeSync(fd, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)), 0, 4096, 4096);
  closeSync(fd);
  const sizeBefore = statSync(join(dir, 'data', 'earshot.db')).size;
  const refused = await earshot(['run', '--config', path], { timeoutMs: 20_000 });
  t.equal(refused.code, 3, 'exit 3 at once');
  t.match(
    refused.stderr.trim(),
    /^earshot: .*earshot\.db: the database is damaged \(.+\); it was left untouched\. .*store\.on_corrupt: fresh/,
    'one line: damaged, untouched, how to go on',
  );
  t.equal(statSync(join(dir, 'data', 'earshot.db')).size, sizeBefore, 'the file is untouched');

  // A short clip: the run only has to get past the start.
  writeFileSync(path, `${readFileText(path).replace(SCENE_07, join(SHARED, 'audio/clips/gunshot_1.wav'))}store: { on_corrupt: fresh }\n`);
  const fresh = await earshot(['run', '--config', path], { timeoutMs: 120_000 });
  t.equal(fresh.code, 0, 'with on_corrupt: fresh the daemon runs');
  const aside = readdirSync(join(dir, 'data')).filter((f) => /^earshot\.db\.corrupt-/.test(f) && !/-(wal|shm)$/.test(f));
  t.equal(aside.length, 1, 'the damaged file was renamed aside');
  t.equal(statSync(join(dir, 'data', aside[0])).size, sizeBefore, 'whole');
  t.match(fresh.stdout, /the database was damaged .*moved aside to/, 'and the log says so');

  // A 0-byte database file is noticed, not silently re-made.
  const emptyDir = join(root, 'empty');
  const emptyPath = config(emptyDir);
  mkdirSync(join(emptyDir, 'data'), { recursive: true });
  writeFileSync(join(emptyDir, 'data', 'earshot.db'), '');
  const empty = await earshot(['run', '--config', emptyPath], { timeoutMs: 20_000 });
  t.equal(empty.code, 3, 'a 0-byte database: exit 3');
  t.match(empty.stderr.trim(), /^earshot: .*earshot\.db: the database is damaged \(the file is empty \(0 bytes\)/, 'named as damaged');
  t.equal(statSync(join(emptyDir, 'data', 'earshot.db')).size, 0, 'and left as it was');
});

t.test('fatal start-up errors end at once with their code and one line', async (t) => {
  const fifo = join(root, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const cases: [string, string[], number, RegExp][] = [
    ['data_dir on a file', ['data_dir: /etc/passwd'], 3, /^earshot: data_dir: \/etc\/passwd is not a directory$/],
    ['NUL in data_dir', ['data_dir: "/tmp/a\\0b"'], 2, /^earshot: data_dir: \/tmp\/a\?b contains a NUL byte$/],
    ['data_dir under /proc', ['data_dir: /proc/earshot'], 3, /^earshot: data_dir: \/proc\/earshot: cannot create the directory/],
    ['model.path /dev/zero', [`model: { path: /dev/zero }`], 2, /^earshot: model\.path: \/dev\/zero is not a regular file/],
    ['model.path a directory', [`model: { path: ${root} }`], 2, /^earshot: model\.path: .* is a directory, not a file$/],
    ['source.path a FIFO', [`source: { type: file, path: ${fifo} }`], 2, /: cannot read file: not a regular file/],
  ];
  // Three at a time: the machine is shared.
  const run = async ([what, lines, code, expected]: (typeof cases)[number], i: number) => {
    const dir = join(root, `fatal-${i}`);
    mkdirSync(dir, { recursive: true });
    const base = [
      `node_id: test-node`,
      `data_dir: ${join(dir, 'data')}`,
      `source: { type: file, path: ${SCENE_07}, pacing: fast }`,
      `model: { path: ${YAMNET} }`,
      'api: { port: 0 }',
    ];
    const keys = lines.map((l) => l.split(':')[0]);
    const text = [...base.filter((l) => !keys.includes(l.split(':')[0])), ...lines, ''].join('\n');
    const path = join(dir, 'earshot.yaml');
    writeFileSync(path, text);
    const result = await earshot(['run', '--config', path], { timeoutMs: 20_000 });
    t.equal(result.code, code, `${what}: exit ${code} (not killed)${result.code === code ? '' : `: ${result.stderr.slice(0, 200)}`}`);
    t.match(result.stderr.trim(), expected, `${what}: one line`);
    t.notOk(hasStackTrace(result.stderr), `${what}: no stack`);
  };
  for (let i = 0; i < cases.length; i += 3) await Promise.all(cases.slice(i, i + 3).map((c, j) => run(c, i + j)));
  t.notOk(existsSync('/proc/earshot'), 'nothing made under /proc');
});

function readFileText(path: string): string {
  return execFileSync('cat', [path], { encoding: 'utf8' });
}

function execFileAsync(argv: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    import('node:child_process').then(({ spawn }) => {
      // Without tap's NODE_OPTIONS: its hooks would write where the service user cannot.
      const env = { ...process.env };
      delete env.NODE_OPTIONS;
      const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], cwd: process.cwd(), env });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  });
}
