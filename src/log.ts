/**
 * Logging: pino JSON lines (for journald and log shippers), or human-readable lines with
 * `pretty` (a TTY, or `--pretty`). One line per event, gap and reconnect; never one per patch at
 * the default level.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Where and how to log. */
export interface LoggerOptions {
  level: string;
  /** Human-readable lines instead of JSON. */
  pretty: boolean;
  /** File descriptor: 1 (stdout, the daemon) or 2 (stderr, commands whose stdout is data). */
  fd: 1 | 2;
}

/** Creates the process logger. Synchronous writes, so nothing is lost when the process exits. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.pretty) {
    return pino(base, pretty({ destination: options.fd, sync: true, colorize: false, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(base, pino.destination({ fd: options.fd, sync: true }));
}
