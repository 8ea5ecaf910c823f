/**
 * One writer per data dir. `earshot run` holds `data_dir/earshot.lock` while it runs: a second
 * daemon on the same data dir would connect to the broker with the same client id (each knocking
 * the other off), send every alert twice and store every event twice. The second one stops at
 * start instead: `data dir … is in use by earshot (pid N)`, exit 3.
 *
 * The lock file holds one line of JSON: `{"pid":N,"start":T,"host":"...","since":"ISO time"}`.
 * `start` is the process start time from /proc/<pid>/stat (clock ticks since boot, Linux), so a
 * lock whose process died and whose pid was reused by another program is still recognised as
 * stale. A lock is stale when its process is gone (or its pid now belongs to a process that
 * started at another time); a stale lock (a daemon killed with SIGKILL, a power cut) is taken over
 * with a warning. `earshot serve` takes no lock: it serves a data dir beside a running daemon.
 *
 * Creation is atomic (`open(..., 'wx')`, O_CREAT|O_EXCL), so two daemons starting together
 * cannot both get it. Taking over a stale lock replaces it with an atomic rename and reads it
 * back; two processes taking over the same stale lock in the same few microseconds could both
 * proceed (a narrow race accepted here: a stale lock and two simultaneous starts).
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EarshotError, ExitCode } from '../errors.js';

/** The lock file's name inside data_dir. */
export const LOCK_FILE = 'earshot.lock';

/** What the lock file holds. */
export interface LockOwner {
  pid: number;
  /** Process start time (clock ticks since boot, /proc/<pid>/stat field 22); null where /proc is absent. */
  start: number | null;
  host: string;
  /** When the lock was taken (ISO 8601 UTC). */
  since: string;
}

/** A held lock. */
export interface DataDirLock {
  readonly path: string;
  /** The previous owner, when a stale lock was taken over (for a warning); else null. */
  readonly tookOverFrom: LockOwner | null;
  /** Removes the lock file if it is still this process's. Idempotent. */
  release(): void;
}

/** Start time of process `pid` in clock ticks since boot, or null (no /proc, no such process). */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

/** True when `owner` still runs (same pid, and the same start time where both are known). */
export function ownerAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start === null) return true;
  const start = processStartTime(owner.pid);
  return start === null || start === owner.start;
}

function readOwner(path: string): LockOwner | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (!Number.isInteger(parsed.pid) || (parsed.pid as number) <= 0) return null;
    return {
      pid: parsed.pid as number,
      start: typeof parsed.start === 'number' ? parsed.start : null,
      host: String(parsed.host ?? ''),
      since: String(parsed.since ?? ''),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    // Unreadable or half-written (a crash between create and write): it names no live process.
    return null;
  }
}

/** Set when this process created the lock file but could not write it (a full disk). */
let emptyLockIsOurs = false;

function writeExclusive(path: string, text: string): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, text);
  } catch (error) {
    // A full disk (H6, issue 24): the file exists, so the lock is held, though it names no owner
    // (another start treats it as half-written); the daemon must still start and listen.
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    emptyLockIsOurs = true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes `dataDir/earshot.lock` for this process.
 * @param dataDir an existing, writable directory (checkDataDir has run)
 * @throws EarshotError (exit 3) `data dir DIR is in use by earshot (pid N, since T)` when a live
 *   process holds it, or when the lock file cannot be written
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, start: processStartTime(process.pid), host: hostname(), since: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  let tookOverFrom: LockOwner | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      writeExclusive(path, text);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new EarshotError(`data dir ${dataDir}: cannot write ${LOCK_FILE}: ${(error as Error).message}`, ExitCode.Environment, { cause: error });
    }
    let owner: LockOwner | null;
    try {
      owner = readOwner(path);
    } catch {
      continue; // removed between our open and our read: try again
    }
    if (owner && owner.pid !== process.pid && ownerAlive(owner)) {
      throw new EarshotError(
        `data dir ${dataDir} is in use by earshot (pid ${owner.pid})${owner.since ? ` since ${owner.since}` : ''}: stop it first, or give this one another data_dir`,
        ExitCode.Environment,
      );
    }
    if (!owner && attempt === 0) {
      // Empty or half-written: another process may be between its create and its write. Look again shortly.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    if (attempt >= 3) throw new EarshotError(`data dir ${dataDir}: cannot take ${LOCK_FILE} (it keeps changing)`, ExitCode.Environment);
    // Stale: replace it atomically with ours, then check that ours is what stayed.
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      writeExclusiveOrReplace(temporary, text);
      renameSync(temporary, path);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new EarshotError(`data dir ${dataDir}: cannot replace the stale ${LOCK_FILE}: ${(error as Error).message}`, ExitCode.Environment, { cause: error });
    }
    let now: LockOwner | null = null;
    try {
      now = readOwner(path);
    } catch {
      now = null;
    }
    // On a full disk our replacement is empty (writeExclusive held it without its text): it is ours.
    if ((now?.pid === process.pid && now.since === me.since) || (now === null && emptyLockIsOurs)) {
      tookOverFrom = owner ?? { pid: 0, start: null, host: '', since: '' };
      break;
    }
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      const owner = readOwner(path);
      // An empty lock is ours too when our write of it failed for lack of space (writeExclusive).
      if ((owner?.pid === process.pid && owner.since === me.since) || (!owner && statSync(path).size === 0 && emptyLockIsOurs)) rmSync(path, { force: true });
    } catch {
      // Already gone, or the data dir went away: nothing to release.
    }
  };
  // Whatever way the process ends (an error at start, the shutdown deadline's process.exit), the
  // lock goes with it; only a SIGKILL or a power cut leaves a stale one (taken over at next start).
  process.once('exit', release);
  return { path, tookOverFrom, release };
}

function writeExclusiveOrReplace(path: string, text: string): void {
  rmSync(path, { force: true });
  writeExclusive(path, text);
}
