/**
 * Every command in README.md runs as written (issue 23 item 7), from the repository with the
 * shared assets in ../shared, with the built CLI (`npx earshot` → `node dist/cli/main.js`):
 * - the demo (`npm run demo`): its commands from package.json, without its `npm run build` (the
 *   suite has built already); its last line says where the events are and how to look at them;
 * - `model pull yamnet`: as written, with EARSHOT_MODEL_BASE_URL pointing at a local server
 *   holding the official file from ../shared (no internet here) and EARSHOT_MODEL_DIR a temp dir;
 * - `run --config config/example.yaml` replays a 45 s scene in real time: it is run until it is
 *   ready and has heard a first event, then stopped with SIGTERM (Ctrl-C), which must exit 0;
 * - `pull` and `labels import` name nodes (garage-pi, shed-pi) that do not exist here: they are
 *   checked at `--help` level only (the commands themselves are tested in test/cli-pull.test.ts);
 * - `npm ci` and `npm test` are this very suite's setup and run: not run again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CLI, REPO } from './helpers/cli.js';
import { YAMNET_OFFICIAL } from './helpers/fixtures.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
/** The command lines of the README's `sh` blocks (comments and blank lines dropped). */
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].split('\n'))
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Runs one shell line from the repository with `npx earshot` → the built CLI. */
function sh(line: string, env: NodeJS.ProcessEnv = {}) {
  const command = line.replaceAll('npx earshot', `"${process.execPath}" "${CLI}"`);
  return spawnSync('bash', ['-c', command], { cwd: REPO, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
}

/** As {@link sh}, without blocking this process (a server in it must answer). */
function shAsync(line: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const command = line.replaceAll('npx earshot', `"${process.execPath}" "${CLI}"`);
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd: REPO, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

t.test('the README has the commands this test knows how to run', async (t) => {
  t.ok(commands.length >= 10, `${commands.length} command lines`);
  for (const line of commands) t.ok(/^(npm ci && npm run demo|npm test|npx earshot )/.test(line), line);
});

t.test('npm run demo (without its build step)', async (t) => {
  const script = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { demo: string } }).scripts.demo.replace(/^npm run build && /, '');
  const r = sh(script);
  t.equal(r.status, 0, r.stderr.slice(-2000));
  t.match(r.stdout, /mixed_07\.wav +24\.\d+ +\S+ +gunshot/, 'analyze finds the gunshot at 24 s');
  t.match(
    r.stdout,
    /are stored in .*earshot-data\/earshot\.db; look at them with `npx earshot serve --config config\/demo\.yaml`/,
    'the demo ends by saying where the events are and how to look at them',
  );
});

t.test('the analyze, eval and tune lines, as written', async (t) => {
  // The README's eval and tune write their reports into the checkout (git-ignored): removed after.
  t.teardown(() => {
    for (const d of ['eval-report', 'tune-report']) rmSync(join(REPO, d), { recursive: true, force: true });
  });
  for (const line of commands.filter((l) => /^npx earshot (analyze|eval|tune) /.test(l))) {
    const r = sh(line);
    t.equal(r.status, 0, `${line}\n${r.stderr.slice(-1500)}`);
    t.ok(r.stdout.length > 0, 'prints its result');
  }
});

t.test('model pull yamnet, as written (from a local mirror)', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/lite-model_yamnet_classification_tflite_1.tflite') createReadStream(YAMNET_OFFICIAL).pipe(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const line = commands.find((l) => l.startsWith('npx earshot model pull'))!;
  const r = await shAsync(line, {
    EARSHOT_MODEL_BASE_URL: `http://127.0.0.1:${port}/`,
    EARSHOT_MODEL_DIR: mkdtempSync(join(tmpdir(), 'earshot-readme-models-')),
  });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^downloaded: .*yamnet\.tflite \(sha256 10c95ea3eb9a…, verified\)/);
});

t.test('run --config config/example.yaml: ready, a first event, then Ctrl-C (SIGTERM) exits 0', async (t) => {
  const line = commands.find((l) => l.startsWith('npx earshot run '))!;
  const args = line.replace(/^npx earshot /, '').split(/\s+/);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 120_000;
  while (!/event: /.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.match(out, /ready: audio is flowing/, 'ready');
  t.match(out, /event: /, 'a first event');
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('close', r));
  t.equal(code, 0, out.slice(-1500));
});

t.test('pull and labels import: --help level (their nodes do not exist here)', async (t) => {
  for (const line of commands.filter((l) => /^npx earshot (pull|labels import) /.test(l))) {
    const r = sh(`${line.replace(/ --node .*$/, '')} --help`);
    t.equal(r.status, 0, line);
    t.match(r.stdout, /Example/, `${line.split(' --')[0]} --help shows an example`);
  }
});
