/**
 * An error meant for the user: its message names the file or key and the problem, and the CLI
 * prints it without a stack trace and exits with `exitCode`.
 *
 * Exit codes: 2 = bad input (audio file, model file, config), 3 = environment (broker, disk),
 * 1 = anything unexpected (a bug: printed with its stack).
 */
export class EarshotError extends Error {
  /** @param message what went wrong, naming the file or key; @param exitCode process exit code (default 2). */
  constructor(message: string, readonly exitCode = 2, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EarshotError';
  }
}

/** True when `error` is an {@link EarshotError}. */
export function isEarshotError(error: unknown): error is EarshotError {
  return error instanceof EarshotError;
}
