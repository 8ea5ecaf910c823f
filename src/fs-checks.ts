/**
 * Checks of paths taken from the config or the command line, before they are opened: a path
 * that cannot be valid (a NUL byte, too long) and a "file" that is a directory, a FIFO or a
 * device such as /dev/zero (read whole, it would hang or exhaust memory) are refused in one line.
 * Also the folders in a folder as a user means them (symbolic links to folders included).
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EarshotError, ExitCode } from './errors.js';

/** Linux PATH_MAX (bytes, with the NUL): longer paths fail with ENAMETOOLONG. */
const PATH_MAX = 4096;

/** Why a path given in the config can never be used (exit 2), or null. */
export function pathSyntaxProblem(path: string): string | null {
  if (path.includes('\0')) return 'contains a NUL byte';
  if (Buffer.byteLength(path) >= PATH_MAX) return `is ${Buffer.byteLength(path)} bytes long, more than the ${PATH_MAX - 1} a path may have`;
  if (path.split('/').some((part) => Buffer.byteLength(part) > 255)) return 'has a component longer than 255 bytes';
  return null;
}

/** A path for an error message: control characters shown as `?`, at most 120 characters. */
export function shownPath(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this replaces
  const clean = path.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 60)}…${clean.slice(-59)}` : clean;
}

/**
 * Checks that `path` names a regular file that can be read (not a directory, a FIFO or a device
 * such as /dev/zero, which would hang or exhaust memory when read whole).
 * @param key the config key or option naming the file, for messages
 * @throws EarshotError exit 2 naming the key and the path
 */
export function requireRegularFile(path: string, key: string): void {
  const syntax = pathSyntaxProblem(path);
  if (syntax) throw new EarshotError(`${key}: ${shownPath(path)} ${syntax}`, ExitCode.BadInput);
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(
      `${key}: ${shownPath(path)}: ${code === 'ENOENT' ? 'no such file' : ((error as NodeJS.ErrnoException).code ?? String(error))}`,
      ExitCode.BadInput,
      { cause: error },
    );
  }
  if (stat.isDirectory()) throw new EarshotError(`${key}: ${shownPath(path)} is a directory, not a file`, ExitCode.BadInput);
  if (!stat.isFile()) throw new EarshotError(`${key}: ${shownPath(path)} is not a regular file (a device, FIFO or socket)`, ExitCode.BadInput);
}

/**
 * `mkdir -p` one level at a time. Node's `mkdirSync(..., { recursive: true })` loops forever on a
 * file system that answers ENOENT to a mkdir under an existing folder (/proc, /sys): the daemon
 * would hang at start with no message.
 */
export function makeDirectories(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * The names of the folders in `dir` (unsorted), following symbolic links: a folder put together
 * from links to other folders (a pool with one class left out, say) reads like a real one. A link
 * to nothing, or to a file, is not a folder.
 * @throws the error of `readdirSync` when `dir` cannot be read
 */
export function subfolderNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true))
    .map((e) => e.name);
}
