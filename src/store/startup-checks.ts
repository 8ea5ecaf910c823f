/**
 * Start-up checks of the data directory and the database, run before anything slow (the source,
 * the models) is opened, so a node that cannot store an event says so at once, in one line, and
 * exits: 2 for a path that cannot be valid (a NUL byte, too long), 3 for the machine's state (not
 * a directory, no permission, read-only, a damaged database). Nothing stored is ever overwritten:
 * a damaged database is left as it is, or renamed aside (`store.on_corrupt: fresh`).
 *
 * A 0-byte database file (with no WAL beside it) counts as damaged: earshot writes its schema in
 * the transaction that creates the file, so an empty file is one something truncated (a full
 * disk, a `>` redirection), and re-making it silently would hide that the events are gone.
 */
import { accessSync, constants, existsSync, lstatSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import DatabaseConstructor from 'better-sqlite3';
import type Database from 'better-sqlite3';
import { EarshotError, ExitCode } from '../errors.js';
import { makeDirectories, pathSyntaxProblem, shownPath } from '../fs-checks.js';
import { openDatabase } from './database.js';

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied (uid ${process.getuid?.() ?? '?'})`;
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'EEXIST':
      return 'exists and is not a directory';
    case 'ENOENT':
      return 'cannot be created there (a parent does not allow it)';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'ENAMETOOLONG':
      return 'name too long';
    default:
      return code ?? (error as Error)?.message ?? String(error);
  }
}

/**
 * Makes sure `data_dir` is a writable directory (creating it if needed) by writing and removing a
 * probe file in it.
 * @param key the config key, for messages (`data_dir`)
 * @throws EarshotError exit 2 for a path that cannot be valid; exit 3 when the directory cannot be
 *   created or written (not a directory, permission, read-only, a pseudo file system like /proc)
 */
export function checkDataDir(dataDir: string, key = 'data_dir'): void {
  const syntax = pathSyntaxProblem(dataDir);
  if (syntax) throw new EarshotError(`${key}: ${shownPath(dataDir)} ${syntax}`, ExitCode.BadInput);
  try {
    makeDirectories(dataDir);
  } catch (error) {
    throw new EarshotError(`${key}: ${shownPath(dataDir)}: cannot create the directory: ${errnoText(error)}`, ExitCode.Environment, { cause: error });
  }
  let stat;
  try {
    stat = statSync(dataDir);
  } catch (error) {
    throw new EarshotError(`${key}: ${shownPath(dataDir)}: ${errnoText(error)}`, ExitCode.Environment, { cause: error });
  }
  if (!stat.isDirectory()) throw new EarshotError(`${key}: ${shownPath(dataDir)} is not a directory`, ExitCode.Environment);
  const probe = join(dataDir, `.earshot-write-probe-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (error) {
    // A full disk still lets earshot start (retention frees clip space; alerts go out over MQTT).
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
    throw new EarshotError(`${key}: ${shownPath(dataDir)}: cannot write there: ${errnoText(error)}`, ExitCode.Environment, { cause: error });
  }
}

/** What to do with a damaged database (config `store.on_corrupt`). */
export type OnCorrupt = 'refuse' | 'fresh';

/** How the database was opened. */
export interface OpenedStore {
  db: Database.Database;
  /** Where a damaged database was moved (with `on_corrupt: fresh`), else null. */
  movedAside: string | null;
}

const SQLITE_DAMAGED = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** True for an error that says the database file is damaged (not a permission or space problem). */
function isDamage(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e && depth < 4; depth++, e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && SQLITE_DAMAGED.has(code)) return true;
    if (/file is not a database|malformed/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

/**
 * Opens the database for a daemon or `serve`: checks the file, opens and migrates it
 * ({@link openDatabase}), runs `PRAGMA quick_check`, and makes sure it can be written (takes and
 * releases the write lock).
 *
 * `quick_check` reads every page (O(size): about a second per 100 MB on a Raspberry Pi 4) but
 * skips the index-content check of `integrity_check`.
 *
 * @param onCorrupt `refuse`: a damaged file is left untouched and this throws; `fresh`: it is
 *   renamed aside (with its -wal and -shm) as `<path>.corrupt-<UTC time>` and a new database made
 * @param writable false for read-only users (`serve` only writes labels, and refuses them itself)
 * @throws EarshotError exit 3 naming the file: not a regular file, read-only, damaged (refuse);
 *   exit 2 for a path that cannot be valid
 */
export function openCheckedDatabase(path: string, onCorrupt: OnCorrupt, log?: { error: (obj: object, msg: string) => void }, writable = true): OpenedStore {
  const syntax = pathSyntaxProblem(path);
  if (syntax) throw new EarshotError(`store.database: ${shownPath(path)} ${syntax}`, ExitCode.BadInput);
  const where = shownPath(path);
  const damaged = (problem: string): OpenedStore => {
    if (onCorrupt !== 'fresh') {
      throw new EarshotError(
        `${where}: the database is damaged (${problem}); it was left untouched. Keep a copy, then set store.on_corrupt: fresh to move it aside and start a new one (or recover it: sqlite3 ${where} .recover)`,
        ExitCode.Environment,
      );
    }
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
      renameSync(path, aside);
    } catch (error) {
      throw new EarshotError(`${where}: the database is damaged (${problem}) and cannot be moved aside: ${errnoText(error)}`, ExitCode.Environment, {
        cause: error,
      });
    }
    log?.error(
      { database: path, moved_to: aside, problem },
      `the database was damaged (${problem}): moved aside to ${aside}; a new database is started (store.on_corrupt: fresh)`,
    );
    return { db: openPlain(path, writable), movedAside: aside };
  };

  let exists = false;
  try {
    const stat = lstatSync(path);
    exists = true;
    const real = stat.isSymbolicLink() ? statSync(path) : stat;
    if (real.isDirectory()) throw new EarshotError(`${where}: the database path is a directory`, ExitCode.Environment);
    if (!real.isFile()) throw new EarshotError(`${where}: the database path is not a regular file (a device, FIFO or socket)`, ExitCode.Environment);
    if (real.size === 0) {
      const wal = `${path}-wal`;
      const walSize = existsSync(wal) ? statSync(wal).size : 0;
      if (walSize === 0) return damaged('the file is empty (0 bytes): something truncated it');
    }
  } catch (error) {
    if (error instanceof EarshotError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new EarshotError(`${where}: ${errnoText(error)}`, ExitCode.Environment, { cause: error });
  }
  if (writable) {
    try {
      accessSync(dirname(path), constants.W_OK);
      if (exists) accessSync(path, constants.W_OK);
    } catch (error) {
      throw new EarshotError(`${where}: the database is not writable: ${errnoText(error)} (earshot needs to write it and its folder)`, ExitCode.Environment, {
        cause: error,
      });
    }
  }
  if (exists) {
    // Checked read-only first: opening for writing would already change the file (WAL mode).
    const verdict = quickCheck(path);
    if (verdict !== 'ok') return damaged(verdict);
  }
  let db: Database.Database;
  try {
    db = openDatabase(path);
  } catch (error) {
    if (isDamage(error)) return damaged(firstLine((error as Error).message).replace(/^.*cannot (open|prepare) the database: /, ''));
    throw asEnvironment(error, where);
  }
  if (writable) {
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
    } catch (error) {
      db.close();
      throw new EarshotError(`${where}: the database is not writable: ${firstLine((error as Error).message)}`, ExitCode.Environment, { cause: error });
    }
  }
  return { db, movedAside: null };
}

/**
 * `PRAGMA quick_check` on a read-only connection.
 * @returns `ok`, or the first problems on one line (at most 200 characters)
 */
function quickCheck(path: string): string {
  let db: Database.Database | undefined;
  try {
    db = new DatabaseConstructor(path, { readonly: true, fileMustExist: true, timeout: 5000 });
    const rows = db.pragma('quick_check(3)') as { quick_check: string }[];
    const verdict = rows
      .map((r) => r.quick_check)
      .join('; ')
      .replace(/\s*\n\s*/g, '; ');
    return verdict === 'ok' ? 'ok' : `quick_check: ${verdict.slice(0, 200)}`;
  } catch (error) {
    const message = firstLine((error as Error).message);
    // Read-only, locked or missing -shm: not damage; the writable open below says what it is.
    return isDamage(error) ? message : 'ok';
  } finally {
    db?.close();
  }
}

function openPlain(path: string, _writable: boolean): Database.Database {
  try {
    return openDatabase(path);
  } catch (error) {
    throw asEnvironment(error, shownPath(path));
  }
}

/** An open/migrate failure as an environment error (exit 3) naming the file. */
function asEnvironment(error: unknown, where: string): EarshotError {
  const message = firstLine((error as Error).message);
  if (/readonly|read-only/i.test(message))
    return new EarshotError(`${where}: the database is not writable: ${message}`, ExitCode.Environment, { cause: error });
  if (error instanceof EarshotError)
    return new EarshotError(error.message, error.exitCode === ExitCode.BadInput ? ExitCode.Environment : error.exitCode, { cause: error });
  return new EarshotError(`${where}: cannot open the database: ${message}`, ExitCode.Environment, { cause: error });
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
