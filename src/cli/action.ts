/**
 * The CLI's error handling, shared by every command: an {@link EarshotError} prints one line per
 * message line (`earshot: ...`) and sets its exit code (2 bad input, 3 environment); anything else
 * is a bug: its stack is printed and the exit code is 1.
 *
 * Kept free of heavy imports: main.ts loads it for `--help` and `--version`.
 */
import { ExitCode, isEarshotError } from '../errors.js';

/** Wraps a command's action (see {@link action}); every `register*` function takes one. */
export type ActionWrapper = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;

/**
 * What the CLI makes of an error thrown by a command: its exit code and the text written to
 * stderr. The one place errors become exit codes, so tests (the fuzz suites of issue 24) can
 * check thousands of inputs in-process exactly as the command line would answer them.
 */
export function errorOutcome(error: unknown): { exitCode: number; stderr: string } {
  if (isEarshotError(error)) return { exitCode: error.exitCode, stderr: `earshot: ${error.message.split('\n').join('\nearshot: ')}\n` };
  return { exitCode: ExitCode.Unexpected, stderr: `earshot: unexpected error (a bug; please report it): ${(error as Error)?.stack ?? String(error)}\n` };
}

/** Wraps an action: user errors print one line, bugs print their stack. */
export const action: ActionWrapper = (fn) => {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      const outcome = errorOutcome(error);
      process.stderr.write(outcome.stderr);
      process.exitCode = outcome.exitCode;
    }
  };
};
