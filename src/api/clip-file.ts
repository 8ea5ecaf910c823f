/**
 * Opening a clip file named by a database row, without ever reading outside the data directory.
 *
 * Clip ids are checked by the routes' schemas (a ULID, so no `/`, `..` or NUL reaches here), but
 * the row's `path` is checked again here (defence in depth: a damaged or hand-edited database must
 * not turn the API into a file server for the whole disk): the path must be relative, free of NUL,
 * resolve inside the data directory, and still be inside it once symbolic links are resolved; the
 * file is then opened with O_NOFOLLOW and must be a regular file.
 */
import { constants, realpathSync, mkdirSync } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';

/** An open clip file: the caller closes `handle` (or hands it to a stream that does). */
export interface OpenClipFile {
  handle: FileHandle;
  /** Bytes, from fstat of the open file. */
  size: number;
  /** The file's resolved path (for logs). */
  path: string;
}

/** Why a clip file could not be opened. */
export type ClipFileProblem = { problem: 'outside'; reason: string } | { problem: 'missing'; reason: string };

/**
 * The data directory with symbolic links resolved (created when absent), the root every clip path
 * must stay inside.
 */
export function resolvedDataDir(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  return realpathSync(dataDir);
}

const inside = (root: string, path: string) => path.startsWith(root.endsWith(sep) ? root : root + sep);

/**
 * Opens `relativePath` (a clips.path value) under `root` (see {@link resolvedDataDir}) for reading.
 * @returns the open file, or why not: `outside` (the path escapes the data directory, or is not a
 *   regular file), `missing` (no such file)
 */
export async function openClipFile(root: string, relativePath: string): Promise<OpenClipFile | ClipFileProblem> {
  if (relativePath.includes('\0')) return { problem: 'outside', reason: 'path contains a NUL byte' };
  if (isAbsolute(relativePath)) return { problem: 'outside', reason: 'path is absolute' };
  const full = resolve(root, relativePath);
  if (!inside(root, full)) return { problem: 'outside', reason: 'path leaves the data directory' };
  let real: string;
  try {
    real = await realpath(full);
  } catch (error) {
    return { problem: 'missing', reason: `no file (${(error as NodeJS.ErrnoException).code ?? error})` };
  }
  if (!inside(root, real)) return { problem: 'outside', reason: 'a symbolic link leads out of the data directory' };
  // A FIFO or device in place of a clip must not be opened at all: opening a FIFO for reading
  // blocks a thread-pool thread until a writer comes (four such requests would hang every file
  // read of the process). Checked before the open, and O_NONBLOCK covers a swap in between.
  try {
    if (!(await stat(real)).isFile()) return { problem: 'outside', reason: 'not a regular file' };
  } catch (error) {
    return { problem: 'missing', reason: `no file (${(error as NodeJS.ErrnoException).code ?? error})` };
  }
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { problem: 'missing', reason: 'no file (ENOENT)' } : { problem: 'outside', reason: `cannot open (${code ?? error})` };
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    return { problem: 'outside', reason: 'not a regular file' };
  }
  return { handle, size: stats.size, path: real };
}

/** True when {@link openClipFile} failed. */
export function isClipFileProblem(value: OpenClipFile | ClipFileProblem): value is ClipFileProblem {
  return 'problem' in value;
}
