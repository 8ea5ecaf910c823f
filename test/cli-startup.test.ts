/**
 * A fast CLI start (issue 23): `earshot --help`, `--version` and a command's `--help` load
 * commander and earshot's command files only — no model runtime, database, HTTP, MQTT, schema or
 * logging package — and `--version` prints package.json's version. `earshot analyze` loads no
 * database, HTTP, MQTT or picture package, no resampler for a 16 kHz file, no pretty-printer for
 * logs into a pipe, and its main thread no model runtime: the model runs in the inference worker.
 * (Speed itself is measured by `npm run bench`, scripts/lib/startup-bench.mjs, not asserted here.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ALL_BACKEND_KINDS } from '../src/inference/backends/backend.js';
import { BACKEND_NAMES } from '../src/cli/common-options.js';
import { CLI, earshot, REPO, SHARED } from './helpers/cli.js';

const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** The npm packages in a list of module URLs or paths. */
function packagesIn(modules: string[]): string[] {
  return [...new Set(modules.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => Boolean(p)))].sort();
}

/**
 * The npm packages a CLI invocation loaded (ES modules and CommonJS files, test/helpers/load-trace.mjs):
 * all of them, and those of the main thread and of other threads (the inference worker) apart.
 */
function packagesLoaded(args: string[]): {
  packages: string[];
  mainThread: string[];
  otherThreads: string[];
  stdout: string;
  stderr: string;
  status: number | null;
} {
  const trace = join(mkdtempSync(join(tmpdir(), 'earshot-trace-')), 'modules.txt');
  const r = spawnSync(process.execPath, ['--import', join(REPO, 'test/helpers/load-trace.mjs'), CLI, ...args], {
    cwd: REPO,
    env: { ...process.env, EARSHOT_LOAD_TRACE: trace },
    encoding: 'utf8',
  });
  const lines = readFileSync(trace, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t') as [string, string]);
  return {
    packages: packagesIn(lines.map(([, module]) => module)),
    mainThread: packagesIn(lines.filter(([thread]) => thread === '0').map(([, module]) => module)),
    otherThreads: packagesIn(lines.filter(([thread]) => thread !== '0').map(([, module]) => module)),
    stdout: r.stdout,
    stderr: r.stderr,
    status: r.status,
  };
}

t.test('--version and -V print the version from package.json', async (t) => {
  for (const flag of ['--version', '-V']) {
    const r = await earshot([flag]);
    t.equal(r.code, 0, `${flag}: exit 0`);
    t.equal(r.stdout.trim(), version, `${flag}: prints ${version}`);
  }
});

t.test("--help, --version and a command's --help load commander only", async (t) => {
  for (const args of [
    ['--help'],
    ['--version'],
    ['analyze', '--help'],
    ['run', '--help'],
    ['model', 'bench', '--help'],
    ['serve', '--help'],
    ['doctor', '--help'],
  ]) {
    const { packages, stdout, status } = packagesLoaded(args);
    t.equal(status, 0, `${args.join(' ')}: exit 0`);
    t.same(packages, ['commander'], `${args.join(' ')}: loads no package but commander`);
    if (args[0] === '--help') {
      for (const command of ['analyze', 'run', 'eval', 'tune', 'devices', 'pull', 'labels', 'serve', 'service', 'doctor', 'model', 'simulate-serial'])
        t.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help lists ${command}`);
      t.match(stdout, /-V, --version/, '--help lists --version');
    }
  }
});

t.test('the backend choices in --help are the backends earshot has', async (t) => {
  t.same([...BACKEND_NAMES].sort(), [...ALL_BACKEND_KINDS].sort());
});

t.test('analyze loads no database, HTTP, MQTT, resampler, YAML parser or log pretty-printer, and its main thread no model runtime', async (t) => {
  // A 16 kHz clip, logs into a pipe (not a TTY), a TFLite model on the default backend (litert-wasm) in a worker.
  const clip = join(SHARED, 'audio/clips/scream_2.wav');
  const { packages, mainThread, otherThreads, stdout, stderr, status } = packagesLoaded([
    'analyze',
    '--model',
    join(SHARED, 'models/yamnet/yamnet_waveform.tflite'),
    clip,
  ]);
  t.equal(status, 0, `analyze: exit 0 (${stderr.trim()})`);
  t.match(stdout, /scream_2\.wav\s+\S+\s+\S+\s+scream/, 'analyze finds the scream');
  for (const pkg of [
    'better-sqlite3',
    'fastify',
    'mqtt',
    'prom-client',
    'serialport',
    '@napi-rs/canvas',
    'pino-pretty',
    '@alexanderolsen/libsamplerate-js',
    'onnx-proto',
    '@sinclair/typebox',
    'yaml',
  ]) {
    // @sinclair/typebox builds the config schema; the validators the build precompiled (src/schema-validator.ts) need neither it nor ajv's compiler.
    // yaml: no --config, and the worker reads the shipped manifests from the build's parsed copy (src/yaml.ts).
    t.notOk(packages.includes(pkg), `analyze does not load ${pkg}`);
  }
  for (const runtime of ['@litertjs/core', 'onnxruntime-node', 'tfjs-tflite-node'])
    t.notOk(mainThread.includes(runtime), `the main thread does not load ${runtime}`);
  t.ok(otherThreads.includes('@litertjs/core'), 'the inference worker loads @litertjs/core (the model ran there)');
});
