/**
 * Logging: pino JSON lines (for journald and log shippers), or human-readable lines with
 * `pretty` (a TTY, or `--pretty`). One line per event, gap and reconnect; never one per patch at
 * the default level.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Where and how to log. */
export interface LoggerOptions {
  level: string;
  /** Human-readable lines instead of JSON. */
  pretty: boolean;
  /** File descriptor: 1 (stdout, the daemon) or 2 (stderr, commands whose stdout is data). */
  fd: 1 | 2;
}

/**
 * Creates the process logger. Synchronous writes, so nothing is lost when the process exits.
 *
 * Components log through a child (`log.child({ component: 'mqtt' })`), and failures as the Error
 * itself (`log.error({ err }, 'what failed')`): pino's `err` serializer keeps its type, message
 * (with the causes' messages) and stack in the JSON line. Pretty lines stay single lines: the
 * error's message follows the text in parentheses, without the stack.
 */
export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.pretty) {
    // Required here, not imported at the top: JSON logs (journald, `analyze` into a pipe) never
    // need it, and every command's start-up would pay for it (issue 23).
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(
      base,
      pretty({
        destination: options.fd,
        sync: true,
        colorize: false,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,err',
        messageFormat: withErrorMessage,
      }),
    );
  }
  return pino(base, pino.destination({ fd: options.fd, sync: true }));
}

/** A pretty line's text: the message, then the logged error's message in parentheses when there is one. */
function withErrorMessage(log: Record<string, unknown>, messageKey: string): string {
  const message = String(log[messageKey] ?? '');
  const err = log.err as { message?: unknown } | string | null | undefined;
  if (err === undefined || err === null) return message;
  return `${message} (${typeof err === 'object' ? String(err.message) : String(err)})`;
}
