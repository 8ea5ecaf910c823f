/**
 * Test-loads a model in a CHILD process before the daemon trusts it: some invalid models crash
 * the native TFLite runtime (SIGSEGV), which would take the whole daemon down, and so does a
 * TFLite delegate library that is not one. The child (probe-child.ts) reads and parses the file,
 * opens it with the chosen backend (and delegate / ONNX execution providers) and runs one invoke
 * on silence (zeros), then reports back over IPC and exits. ONNX models go through it too (a
 * multi-input one such as Silero VAD is only opened, not run).
 *
 * The child module is forked with the same extension as this file (.js when running from dist,
 * .ts under ts-node / tap, whose loader flags the child inherits through process.execArgv).
 */
import { fork } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EarshotError, ExitCode } from '../errors.js';
import type { BackendKind, BackendOptions } from './backends/backend.js';
import { loadModelFile } from './model-format.js';
import { probeCacheEntry, readProbeCache, writeProbeCache } from './probe-cache.js';
import type { ProbeOptions, ProbeResult } from './probe-types.js';

/** The child's IPC message. */
export type ProbeMessage = ProbeResult | { readonly ok: false; readonly error: string; readonly exitCode: ExitCode };

/** The request the child takes as its single argument (JSON). */
export interface ProbeRequest extends BackendOptions {
  readonly path: string;
  readonly backend: BackendKind;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;
const STDERR_KEEP = 16 * 1024;

/** The child module beside this one, with this module's own extension (.ts or .js). */
export function probeChildPath(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./probe-child${extname(self)}`, import.meta.url));
}

/**
 * Test-loads `path` with `backend` in a child process.
 * @returns what the child learnt, when the model loads and runs
 * @throws EarshotError naming the file: `model file not found`; the parse / load error; or
 *   `model crashed the TFLite runtime during a test load (signal SIGSEGV); refusing it` when the
 *   child dies by a signal, exits non-zero without a report, or times out.
 */
export async function probeModel(path: string, backend: BackendKind, options: ProbeOptions = {}): Promise<ProbeResult> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new EarshotError(`${path}: model path is not a regular file`);
  } catch (error) {
    if (error instanceof EarshotError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EarshotError(`${path}: model file not found`);
    throw new EarshotError(`${path}: cannot read model file (${(error as Error).message})`);
  }
  // A model already probed with the same content, runtime and options (./probe-cache.ts).
  const cacheEntry = options.cache ? await probeCacheEntry(path, backend, options) : null;
  const cached = cacheEntry ? readProbeCache(cacheEntry, path) : null;
  if (cached) return cached;
  // Parsing is plain JS and safe here: a file that is not a (complete) TFLite / ONNX model is
  // refused without starting a child. The child parses it again before loading it.
  const { format } = await loadModelFile(path);
  const runtime = format === 'onnx' ? 'ONNX Runtime' : 'the TFLite runtime';
  const request: ProbeRequest = {
    path,
    backend,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.delegatePath ? { delegatePath: options.delegatePath } : {}),
    ...(options.delegateOptions ? { delegateOptions: options.delegateOptions } : {}),
    ...(options.executionProviders ? { executionProviders: options.executionProviders } : {}),
    ...(options.requireAccelerator !== undefined ? { requireAccelerator: options.requireAccelerator } : {}),
    ...(options.inputLength !== undefined ? { inputLength: options.inputLength } : {}),
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;

  return new Promise<ProbeResult>((resolve, reject) => {
    const child = fork(probeChildPath(), [JSON.stringify(request)], {
      // Inherit the loader flags (ts-node under tap) but not a debugger port; --expose-gc lets
      // the child destroy the interpreter before it reports (see probe-child.ts).
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--inspect')), '--expose-gc'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let message: ProbeMessage | undefined;
    let stderr = '';
    let timedOut = false;
    let spawnError: Error | undefined;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('message', (m) => {
      message = m as ProbeMessage;
    });
    child.on('error', (error) => {
      spawnError = error;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const runtimeSaid = lastErrorLine(stderr);
      const said = runtimeSaid ? `; the runtime said: ${runtimeSaid}` : '';
      if (timedOut) {
        reject(new EarshotError(`${path}: model test load did not finish within ${timeoutMs / 1000} s (${backend}); refusing it`));
      } else if (message && !message.ok) {
        // The child's own error is the more precise one, even if it then died on exit.
        reject(new EarshotError(message.error, message.exitCode));
      } else if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') {
        // Ctrl-C (the whole process group) or systemd's stop (the whole cgroup) reached the test
        // load too: an interrupt, not a verdict on the model (exit 130 as a shell's Ctrl-C).
        reject(new EarshotError(`${path}: model test load interrupted (${signal}); the model was not judged`, ExitCode.Interrupted));
      } else if (signal) {
        reject(
          new EarshotError(
            `${path}: model crashed ${runtime} during a test load (signal ${signal}, ${backend}${request.delegatePath ? ` with delegate ${request.delegatePath}` : ''}${said}); refusing it`,
          ),
        );
      } else if (message?.ok && code === 0) {
        if (cacheEntry) writeProbeCache(cacheEntry, path, message);
        resolve(message);
      } else if (spawnError) {
        reject(new EarshotError(`${path}: cannot start the model test-load process (${spawnError.message})`, ExitCode.Environment, { cause: spawnError }));
      } else {
        reject(
          new EarshotError(
            `${path}: model crashed ${runtime} during a test load (exit code ${code}, ${backend}${request.delegatePath ? ` with delegate ${request.delegatePath}` : ''}${said}); refusing it`,
          ),
        );
      }
    });
  });
}

/** The last line of the child's stderr that looks like a runtime error, shortened. */
function lastErrorLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /error|fatal|abort|check failed|corrupt|malloc\(\)|free\(\)/i.test(l));
  const last = lines[lines.length - 1];
  return last && last.length > 300 ? `${last.slice(0, 300)}…` : last;
}
