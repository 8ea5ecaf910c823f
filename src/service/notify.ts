/**
 * The systemd service notification protocol (`sd_notify(3)`): newline-separated `KEY=value`
 * assignments sent as one datagram to the AF_UNIX SOCK_DGRAM socket named by `$NOTIFY_SOCKET`.
 * earshot sends `READY=1`, `STATUS=...`, `STOPPING=1` and `WATCHDOG=1`.
 *
 * Node has no unix datagram socket in core; `unix-dgram` (a small native addon, ~10 M downloads a
 * month as a dependency of hot-shots) provides one from the daemon's own PID, so the unit can keep
 * the default `NotifyAccess=main`. Spawning `systemd-notify` instead would send from a child PID
 * (needing `NotifyAccess=all`) and fork a process on every watchdog ping; see docs/service.md.
 */
import { createRequire } from 'node:module';

/** The part of unix-dgram's socket we use. */
interface UnixDatagramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (error?: Error) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  close(): void;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDatagramSocket;
}

/** Where and how often to notify, from the service manager's environment. */
export interface NotifyEnvironment {
  /** Path of the notification socket (`$NOTIFY_SOCKET`). */
  socketPath: string;
  /** Watchdog timeout in microseconds (`$WATCHDOG_USEC`), when the unit sets `WatchdogSec=` for this process. */
  watchdogUsec?: number;
}

/**
 * Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
 * @returns null when not started by a service manager with `Type=notify`
 * @throws Error for an abstract-namespace socket (`@name`), which unix-dgram cannot address
 */
export function notifyEnvironment(env: NodeJS.ProcessEnv = process.env, pid = process.pid): NotifyEnvironment | null {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return null;
  if (socketPath.startsWith('@')) throw new Error(`NOTIFY_SOCKET=${socketPath}: abstract sockets are not supported; service notifications are off`);
  const usec = Number(env.WATCHDOG_USEC);
  // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited it must not ping.
  const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === pid;
  return { socketPath, watchdogUsec: forUs && Number.isFinite(usec) && usec > 0 ? usec : undefined };
}

/** Sends notifications to the service manager. Every send is best effort: a failure is reported once to `onError`. */
export class SystemdNotifier {
  private socket: UnixDatagramSocket | null;
  private failed = false;

  /**
   * @param environment from {@link notifyEnvironment}
   * @param onError told (once) when a datagram cannot be sent, e.g. the socket went away
   * @throws Error when the unix-dgram native addon cannot be loaded (not built on this machine)
   */
  constructor(
    readonly environment: NotifyEnvironment,
    private readonly onError: (error: Error) => void,
  ) {
    const require = createRequire(import.meta.url);
    const dgram = require('unix-dgram') as UnixDgramModule;
    this.socket = dgram.createSocket('unix_dgram');
    this.socket.on('error', (error) => this.report(error));
  }

  /** Watchdog ping interval in ms: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises; undefined without a watchdog. */
  get watchdogIntervalMs(): number | undefined {
    const usec = this.environment.watchdogUsec;
    return usec === undefined ? undefined : Math.max(1, Math.floor(usec / 2000));
  }

  /**
   * Sends assignments as one datagram.
   * @param fields e.g. `{ READY: '1', STATUS: 'listening' }`; values must not contain newlines (they are replaced by spaces)
   */
  send(fields: Record<string, string>): void {
    const socket = this.socket;
    if (!socket) return;
    // A trailing newline after every assignment: systemd ignores empty lines, and a reader that
    // sees concatenated datagrams (socat) can still split them.
    const text = Object.entries(fields)
      .map(([key, value]) => `${key}=${value.replace(/[\r\n]+/g, ' ')}\n`)
      .join('');
    const buffer = Buffer.from(text, 'utf8');
    socket.send(buffer, 0, buffer.length, this.environment.socketPath, (error) => {
      if (error) this.report(error);
    });
  }

  ready(status: string): void {
    this.send({ READY: '1', STATUS: status });
  }

  status(status: string): void {
    this.send({ STATUS: status });
  }

  stopping(status: string): void {
    this.send({ STOPPING: '1', STATUS: status });
  }

  watchdog(): void {
    this.send({ WATCHDOG: '1' });
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }

  private report(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.onError(error);
  }
}
