/**
 * A fast CLI start (issue 23): `earshot --help`, `--version` and a command's `--help` load
 * commander and earshot's command files only — no model runtime, database, HTTP, MQTT, schema or
 * logging package — and `--version` prints package.json's version. (Speed itself is measured by
 * `npm run bench`, scripts/lib/startup-bench.mjs, not asserted here.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ALL_BACKEND_KINDS } from '../src/inference/backends/backend.js';
import { BACKEND_NAMES } from '../src/cli/common-options.js';
import { CLI, earshot, REPO } from './helpers/cli.js';

const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** The npm packages a CLI invocation loaded (from the ES module resolutions it made). */
function packagesLoaded(args: string[]): { packages: string[]; stdout: string; status: number | null } {
  const trace = join(mkdtempSync(join(tmpdir(), 'earshot-trace-')), 'modules.txt');
  const r = spawnSync(process.execPath, ['--import', join(REPO, 'test/helpers/load-trace.mjs'), CLI, ...args], { cwd: REPO, env: { ...process.env, EARSHOT_LOAD_TRACE: trace }, encoding: 'utf8' });
  const urls = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
  const packages = [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => Boolean(p)))].sort();
  return { packages, stdout: r.stdout, status: r.status };
}

t.test('--version and -V print the version from package.json', async (t) => {
  for (const flag of ['--version', '-V']) {
    const r = await earshot([flag]);
    t.equal(r.code, 0, `${flag}: exit 0`);
    t.equal(r.stdout.trim(), version, `${flag}: prints ${version}`);
  }
});

t.test('--help, --version and a command\'s --help load commander only', async (t) => {
  for (const args of [['--help'], ['--version'], ['analyze', '--help'], ['run', '--help'], ['model', 'bench', '--help'], ['serve', '--help'], ['doctor', '--help']]) {
    const { packages, stdout, status } = packagesLoaded(args);
    t.equal(status, 0, `${args.join(' ')}: exit 0`);
    t.same(packages, ['commander'], `${args.join(' ')}: loads no package but commander`);
    if (args[0] === '--help') {
      for (const command of ['analyze', 'run', 'eval', 'tune', 'devices', 'pull', 'labels', 'serve', 'service', 'doctor', 'model', 'simulate-serial']) t.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help lists ${command}`);
      t.match(stdout, /-V, --version/, '--help lists --version');
    }
  }
});

t.test('the backend choices in --help are the backends earshot has', async (t) => {
  t.same([...BACKEND_NAMES].sort(), [...ALL_BACKEND_KINDS].sort());
});
