/**
 * What the tests share: where the repository, the built CLI and the shared assets are (models,
 * audio; `../shared` beside the repository, see ../shared/README.md), a daemon config writer, the
 * `earshot run` child process with its JSON log lines, and a free port. Not a test file: tap runs
 * only `test/**\/*.test.ts` (.taprc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { InferenceBackend } from '../../src/inference/backends/backend.js';

export { freePort } from './mosquitto.js';

/** The repository root (absolute, ends with '/'). */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The built CLI, dist/cli/main.js (`npm run build` first). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** The shared assets folder, `../shared` from the repository (absolute, ends with '/'). */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));

/** Absolute path of `rel` inside the shared assets folder. */
export function sharedPath(rel: string): string {
  return join(SHARED, rel);
}

/** The shared models folder (ends with '/'). */
export const MODELS = `${SHARED}models/`;
/** YAMNet with the waveform input (15600 samples, 16 kHz) and 521 scores: the model most tests run. */
export const YAMNET_WAVEFORM = `${MODELS}yamnet/yamnet_waveform.tflite`;
/** The official YAMNet (manifest `yamnet`, labels in its metadata). */
export const YAMNET_OFFICIAL = `${MODELS}yamnet/yamnet_audio_classifier_with_metadata.tflite`;
/** YAMNet taking a log-mel patch (96 × 64) instead of the waveform. */
export const YAMNET_SPECTRA = `${MODELS}yamnet/yamnet_spectra_in.tflite`;

/** The development scenes (ends with '/'): mixed_NN.wav, distractors_only_NN.wav, annotations.tsv. */
export const DEV_SCENES = `${SHARED}audio/scenes/dev/`;
/** A 45 s scene with gunshots YAMNet scores 0.75 (24.0 s) and 0.97 (31.2 s). */
export const SCENE_07 = `${DEV_SCENES}mixed_07.wav`;
/** A scene with hostile events (glass_break at 12 s, gunshots and explosions 18–36 s). */
export const SCENE_08 = `${DEV_SCENES}mixed_08.wav`;
/** The short labelled clips (ends with '/'). */
export const CLIPS = `${SHARED}audio/clips/`;

/** Path of the shared clip `name` (e.g. 'gunshot_1'). */
export function clipPath(name: string): string {
  return `${CLIPS}${name}.wav`;
}

/** A config tree as YAML holds it: nested objects of settings. */
export type ConfigTree = { [key: string]: unknown };

/** What every daemon config starts from (a key set to `null` in the overrides removes it). */
const DAEMON_DEFAULTS: ConfigTree = { node_id: 'test-node', data_dir: 'data', model: { path: YAMNET_WAVEFORM } };

function isTree(value: unknown): value is ConfigTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function merge(base: ConfigTree, overrides: ConfigTree): ConfigTree {
  const out: ConfigTree = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else if (isTree(value) && isTree(out[key])) out[key] = merge(out[key], value);
    else out[key] = value;
  }
  return out;
}

/**
 * The YAML text of an `earshot run` config: node_id `test-node`, data_dir `data` (relative to the
 * config file) and model YAMNET_WAVEFORM, with `overrides` merged in key by key (objects merge,
 * other values replace, `null` removes a key, `undefined` is ignored).
 */
export function daemonConfig(overrides: ConfigTree = {}): string {
  return YAML.stringify(merge(DAEMON_DEFAULTS, overrides));
}

/** Writes {@link daemonConfig}(overrides) to `dir/name` and returns its path. */
export function writeDaemonConfig(dir: string, overrides: ConfigTree = {}, name = 'earshot.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, daemonConfig(overrides));
  return path;
}

/** Something that produces items (log lines, datagrams) a test waits on. */
export class LineWatcher<T> {
  readonly items: T[] = [];
  private readonly waiters: { test: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter.test(item)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(item);
      }
    }
  }

  /** The first item (seen or to come) that passes `test`; rejects after `timeoutMs`. */
  waitFor(test: (item: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
    const seen = this.items.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (item) => {
          clearTimeout(timer);
          resolve(item);
        },
      });
    });
  }
}

/** One pino log line (JSON) of the daemon, with the time the test read it (performance.now()). */
export interface LogLine {
  level: number;
  msg: string;
  readAtMs: number;
  /** The component's child logger (`mqtt`, `api`, `head`, …), when the line comes from one. */
  component?: string;
  /** An Error logged as `err`, through pino's serializer (its `message` includes the causes'). */
  err?: { type: string; message: string; stack: string };
  [key: string]: unknown;
}

/** How a child process ended, with everything it wrote. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** How the daemon ended: its output, and when it exited (performance.now() at 'exit'). */
export interface DaemonExit extends CliResult {
  atMs: number;
}

/** A running `earshot run` (or another long-running command: `earshot serve`). */
export interface DaemonProcess {
  child: ChildProcess;
  /** Its stdout as log lines (a line that is not JSON comes as `{ level: 0, msg: line }`). */
  log: LineWatcher<LogLine>;
  /** stdout + stderr so far. */
  output(): string;
  /** stderr so far. */
  stderr(): string;
  /** Resolves once the process has exited and its output is closed. */
  exited: Promise<DaemonExit>;
}

/** Options of {@link startDaemon} and {@link startEarshot}. */
export interface StartDaemonOptions {
  /** SIGKILL the daemon after this long (a stuck test then fails instead of hanging); default never. */
  killAfterMs?: number;
}

/** Starts `earshot run --config <config>` from the repository (JSON logs on stdout), with `env` added to the environment. */
export function startDaemon(config: string, env: NodeJS.ProcessEnv = {}, options: StartDaemonOptions = {}): DaemonProcess {
  return startEarshot(['run', '--config', config], env, options);
}

/** Starts `earshot ...args` from the repository as a child process whose JSON log lines (stdout) a test can wait for. */
export function startEarshot(args: string[], env: NodeJS.ProcessEnv = {}, options: StartDaemonOptions = {}): DaemonProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new LineWatcher<LogLine>();
  let stdout = '';
  let stderr = '';
  let output = '';
  let pending = '';
  child.stdout?.on('data', (data: Buffer) => {
    const text = data.toString();
    stdout += text;
    output += text;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        log.push({ ...JSON.parse(line), readAtMs: performance.now() });
      } catch {
        log.push({ level: 0, msg: line, readAtMs: performance.now() });
      }
    }
  });
  child.stderr?.on('data', (data: Buffer) => {
    stderr += data;
    output += data;
  });
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  let exitAtMs = 0;
  child.once('exit', () => {
    exitAtMs = performance.now();
  });
  const exited = new Promise<DaemonExit>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, atMs: exitAtMs || performance.now() });
    }),
  );
  return { child, log, output: () => output, stderr: () => stderr, exited };
}

/**
 * run() of a TFLite backend (tflite-node, litert-wasm), which is synchronous: only the onnx
 * backend returns a Promise.
 * @throws Error when run() returned a Promise.
 */
export function runSync(backend: InferenceBackend, input: Float32Array): Float32Array {
  const output = backend.run(input);
  if (output instanceof Promise) throw new Error(`${backend.kind}: run() returned a Promise; a TFLite backend runs synchronously`);
  return output;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `parts` one after the other in one new array (the samples of consecutive chunks or files). */
export function concatSamples(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
