/**
 * earshot's process exit codes, stated once (as fastify's `lib/errors.js` states its error codes):
 * what a script or systemd unit can tell apart without reading the message.
 */
export const ExitCode = {
  /** Done, nothing wrong. */
  Ok: 0,
  /** Anything unexpected: a bug (the CLI prints its stack), or a shutdown that did not finish in time. */
  Unexpected: 1,
  /** Bad input: an audio file, model file, head file, config key or command-line option the user gave. */
  BadInput: 2,
  /** The environment: a broker, disk, device, network or runtime library that is not as needed. */
  Environment: 3,
  /** Interrupted by a signal (SIGINT, SIGTERM, SIGHUP) before a verdict: 130, as a shell's Ctrl-C. */
  Interrupted: 130,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An error meant for the user: its message names the file or key and the problem, and the CLI
 * prints it without a stack trace and exits with `exitCode` (see {@link ExitCode}).
 */
export class EarshotError extends Error {
  /** @param message what went wrong, naming the file or key; @param exitCode process exit code (default {@link ExitCode.BadInput}). */
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.BadInput,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EarshotError';
  }
}

/** True when `error` is an {@link EarshotError}. */
export function isEarshotError(error: unknown): error is EarshotError {
  return error instanceof EarshotError;
}
