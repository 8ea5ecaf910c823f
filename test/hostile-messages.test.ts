/**
 * Messages (issue 24, item 8) with real processes: Ctrl-C while the model is being test-loaded in
 * its child process is an interrupt (exit 130, or a clean stop), never "the model crashed"; a
 * model path that is a directory is one line and exit 2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CLI, earshot, hasStackTrace, REPO, SHARED } from './helpers/cli.js';
import { SCENE_07 as SCENE, YAMNET_WAVEFORM as YAMNET } from './helpers/fixtures.js';

/** Pids of processes whose command line mentions `text` and whose parent is `parent`. */
function childrenWith(parent: number, text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

t.test('Ctrl-C during the model test load is an interrupt, not a crash of the model', async (t) => {
  // Its own process group, as a shell runs a command: Ctrl-C reaches the CLI and the test-load child.
  // `run` (it handles SIGINT itself: the test load's verdict decides what it prints).
  const dir = mkdtempSync(join(tmpdir(), 'earshot-ctrl-c-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'earshot.yaml');
  writeFileSync(
    config,
    `data_dir: ${join(dir, 'data')}\nsource: { type: file, path: ${SCENE}, pacing: fast }\nmodel: { path: ${YAMNET}, backend: tflite-node }\napi: { enabled: false }\n`,
  );
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  let probing = false;
  for (let i = 0; i < 400 && child.exitCode === null; i++) {
    if (childrenWith(child.pid!, 'probe-child').length) {
      probing = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!probing) {
    child.kill('SIGKILL');
    await exited;
    t.pass('the test load was over before it could be interrupted (nothing to check this time)');
    return;
  }
  process.kill(-child.pid!, 'SIGINT');
  const { code, signal } = await exited;
  t.ok(code === 130 || code === 0, `exit 130 or a clean stop (code ${code}, signal ${signal}): ${stderr.trim().split('\n').at(-1)}`);
  t.notMatch(stderr, /crashed/, 'not reported as a model crash');
  t.notOk(hasStackTrace(stderr), 'no stack');
});

t.test('model.path a directory: exit 2, one line', async (t) => {
  const result = await earshot(['analyze', '--model', SHARED, SCENE], { timeoutMs: 30_000 });
  t.equal(result.code, 2);
  t.match(result.stderr.trim(), /^earshot: model\.path: .* is a directory, not a file$/);
});
