/**
 * Checks a head file against a model in a CHILD process before a running daemon takes it (an
 * uploaded head, or a head file changed on disk): the child (head-check-child.ts) parses the head,
 * checks it was trained on this model file and reads features the model gives, opens the model
 * as the daemon does, runs one invoke on silence through backbone and head, and checks the head's
 * output (finite probabilities that sum to 1). Whatever the file holds (a huge or hostile JSON, a
 * head whose numbers overflow), the daemon's own memory and threads are not at stake, and a
 * refusal comes back as one line.
 *
 * The child module is forked with this file's extension (.js from dist, .ts under tap), as
 * probe.ts does.
 */
import { fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EarshotError, ExitCode } from '../../errors.js';
import type { BackendKind } from '../backends/backend.js';

/** What the child checks: the head file against this model. */
export interface HeadCheckRequest {
  readonly headPath: string;
  /** What messages call the head (default: its path). */
  readonly source?: string;
  readonly modelPath: string;
  /** The model's manifest (path or shipped id). */
  readonly manifest?: string;
  readonly backend: BackendKind;
  readonly threads?: number;
}

/** A head that passed. */
export interface HeadCheckResult {
  readonly ok: true;
  readonly sha256: string;
  readonly trainedAt: string;
  readonly clipCount: number;
  readonly labels: string[];
  /** Time of the invoke + head on silence, in the child (ms). */
  readonly invokeMs: number;
}

/** The child's IPC message. */
export type HeadCheckMessage = HeadCheckResult | { readonly ok: false; readonly error: string; readonly exitCode: ExitCode };

export const HEAD_CHECK_TIMEOUT_MS = 60_000;

function childPath(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./head-check-child${extname(self)}`, import.meta.url));
}

/**
 * Checks `request.headPath` against the model in a child process.
 * @returns what the head is, when it passes
 * @throws EarshotError (exit 2) with the child's one-line reason (naming the head file) when it
 *   does not; exit 3 when the child cannot be started, dies or times out
 */
export function checkHeadInChild(request: HeadCheckRequest, timeoutMs = HEAD_CHECK_TIMEOUT_MS): Promise<HeadCheckResult> {
  return new Promise((resolve, reject) => {
    const child = fork(childPath(), [JSON.stringify(request)], {
      execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let message: HeadCheckMessage | undefined;
    let stderr = '';
    let timedOut = false;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    child.on('message', (m) => {
      message = m as HeadCheckMessage;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new EarshotError(`${request.headPath}: cannot start the head check process (${error.message})`, ExitCode.Environment, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (message && !message.ok) reject(new EarshotError(message.error, message.exitCode));
      else if (message?.ok) resolve(message);
      else if (timedOut)
        reject(new EarshotError(`${request.headPath}: head check did not finish within ${timeoutMs / 1000} s; refusing it`, ExitCode.Environment));
      else {
        const last = stderr.trim().split('\n').pop()?.slice(0, 300);
        reject(
          new EarshotError(
            `${request.headPath}: head check process ended without an answer (${signal ? `signal ${signal}` : `exit code ${code}`}${last ? `: ${last}` : ''}); refusing it`,
            ExitCode.Environment,
          ),
        );
      }
    });
  });
}
