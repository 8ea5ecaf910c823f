/**
 * A NOTIFY_SOCKET the test owns (a real unix datagram socket, received by socat), for the service
 * tests (test/service-*.test.ts); the daemon with its JSON log lines is startDaemon in fixtures.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LineWatcher } from './fixtures.js';

export { type DaemonProcess, LineWatcher, type LogLine, startDaemon } from './fixtures.js';

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
