/**
 * The `earshot run` daemon as a child process whose JSON log lines a test can wait for, and a
 * NOTIFY_SOCKET the test owns (a real unix datagram socket, received by socat), for the service
 * tests (test/service-*.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI, REPO } from './cli.js';

/** One pino log line (JSON), with the time the test read it. */
export interface LogLine {
  level: number;
  msg: string;
  readAtMs: number;
  [key: string]: unknown;
}

/** Something that produces lines a test waits on. */
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
      this.waiters.push({ test, resolve: (item) => { clearTimeout(timer); resolve(item); } });
    });
  }
}

export interface DaemonProcess {
  child: ChildProcess;
  log: LineWatcher<LogLine>;
  stderr: () => string;
  /** Resolves at exit with the code, signal and the time of exit (performance.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/** Starts `earshot run --config FILE` with JSON logs on stdout. */
export function startDaemon(config: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new LineWatcher<LogLine>();
  let pending = '';
  child.stdout!.on('data', (data) => {
    pending += data;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        log.push({ ...JSON.parse(line), readAtMs: performance.now() });
      } catch {
        log.push({ level: 0, msg: line, readAtMs: performance.now() });
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, atMs: performance.now() })),
  );
  return { child, log, stderr: () => stderr, exited };
}

/** A datagram socket the test owns: socat receives on `path` and prints each datagram (newline-terminated assignments). */
export interface NotifyListener {
  path: string;
  /** Each `KEY=value` assignment received, with the time it was read. */
  messages: LineWatcher<{ line: string; atMs: number }>;
  close(): void;
}

/** Creates the NOTIFY_SOCKET at `path` (socat UNIX-RECV) and waits for it to exist. */
export async function listenNotify(path: string): Promise<NotifyListener> {
  const socat: ChildProcess = spawn('socat', ['-u', `UNIX-RECV:${path}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages = new LineWatcher<{ line: string; atMs: number }>();
  let pending = '';
  socat.stdout!.on('data', (data) => {
    pending += data;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line) messages.push({ line, atMs: performance.now() });
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline || socat.exitCode !== null) throw new Error(`socat did not create ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { path, messages, close: () => socat.kill('SIGTERM') };
}
