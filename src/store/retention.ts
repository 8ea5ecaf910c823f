/**
 * What earshot deletes, and when, so that neither the clip folder nor the database grows without
 * bound on a sensor that runs for years.
 *
 * One pass, in this order:
 * 1. Age: unlabelled clips of non-hostile events and background clips older than
 *    `retention.clip_max_age_days`; clips of hostile events and labelled clips (a human's work)
 *    older than `retention.kept_clip_max_age_days`.
 * 2. Quota: while the clip files left exceed `retention.max_clip_bytes`, the oldest go first,
 *    unlabelled non-hostile and background clips before any hostile or labelled clip.
 * 2b. Free-space floor: while the data directory's file system has less than
 *    `retention.min_free_bytes` free, more clips go in the quota's order (a full disk: the
 *    floor is also checked every 5 s, and at once when a write finds the disk full).
 * 3. Database: events older than `retention.event_max_age_days` are deleted with their scores,
 *    as are clip rows (and their labels) whose file is gone and that are older than that, and
 *    capture gaps older than that.
 *
 * A deleted clip keeps its row with status `deleted` until step 3 removes it, so the API can
 * answer "gone" (410) rather than "never existed". The row is marked first, then the file is
 * unlinked: a crash in between leaves a file that reconcile (reconcile.ts) finishes deleting.
 * "Oldest" is by `created_utc`, when the file was written.
 */
import { readdirSync, rmdirSync, rmSync, statfsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { EarshotConfig } from '../config/schema.js';
import type { DaemonConsumer } from '../consumer.js';
import type { Logger } from '../log.js';
import { ClipStore, bytesWrittenToday } from './clip-store.js';
import { reconcileClips } from './reconcile.js';
import { isDiskFull, storeFaults } from './store-faults.js';

/** What one pass did. */
export interface RetentionReport {
  /** Clips whose files were deleted, by rule. */
  deletedByAge: number;
  deletedByQuota: number;
  /** Clips deleted to bring free space back above `retention.min_free_bytes`. */
  deletedByFloor: number;
  /** Bytes of clip files deleted. */
  bytesFreed: number;
  /** Bytes of clip files left (rows with status `ok`). */
  storedBytes: number;
  /** Rows pruned from the database. */
  eventsPruned: number;
  scoresPruned: number;
  clipRowsPruned: number;
  gapsPruned: number;
}

interface Candidate {
  id: string;
  path: string;
  bytes: number;
}

const DAY_MS = 86_400_000;

/** How often the free-space floor is checked (ms). */
const FLOOR_CHECK_MS = 5000;

/** Free bytes for unprivileged users on `dir`'s file system (+Infinity when it cannot be read). */
function freeBytes(dir: string): number {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * One retention pass (see the module notes for the order).
 * @param dataDir config.data_dir (clip paths are relative to it)
 * @param now the current time (tests pass a later one to age the store)
 * @returns what was deleted and pruned; logged as one line when anything was
 * @throws SqliteError when the database cannot be written (nothing is unlinked then)
 */
export function runRetention(db: Database.Database, dataDir: string, retention: EarshotConfig['retention'], log: Logger, now = new Date()): RetentionReport {
  const iso = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
  // "Kept" clips: a hostile event's evidence, or anything a human labelled.
  const kept = `(COALESCE(c.grp, '') = 'hostile' OR EXISTS (SELECT 1 FROM labels l WHERE l.clip_id = c.id))`;
  const byAge = db
    .prepare(
      `SELECT c.id, c.path, c.bytes FROM clips c WHERE c.status = 'ok' AND c.created_utc < CASE WHEN ${kept} THEN @kept ELSE @plain END ORDER BY c.created_utc, c.id`,
    )
    .all({ kept: iso(retention.kept_clip_max_age_days), plain: iso(retention.clip_max_age_days) }) as Candidate[];
  const store = new ClipStore(db);
  let stored = store.storedBytes() - byAge.reduce((sum, c) => sum + c.bytes, 0);
  const byQuota: Candidate[] = [];
  if (stored > retention.max_clip_bytes) {
    const aged = new Set(byAge.map((c) => c.id));
    const oldestFirst = db
      .prepare(`SELECT c.id, c.path, c.bytes FROM clips c WHERE c.status = 'ok' ORDER BY ${kept}, c.created_utc, c.id`)
      .iterate() as IterableIterator<Candidate>;
    for (const candidate of oldestFirst) {
      if (stored <= retention.max_clip_bytes) break;
      if (aged.has(candidate.id)) continue;
      byQuota.push(candidate);
      stored -= candidate.bytes;
    }
  }
  // Free-space floor: while the file system has less than retention.min_free_bytes free, the
  // oldest clips go in the quota's order (a full disk: docs/storage.md).
  const byFloor: Candidate[] = [];
  const deficit = (retention.min_free_bytes ?? 0) - freeBytes(dataDir);
  if (deficit > 0) {
    const taken = new Set([...byAge, ...byQuota].map((c) => c.id));
    let freed = [...byAge, ...byQuota].reduce((sum, c) => sum + c.bytes, 0);
    const oldestFirst = db
      .prepare(`SELECT c.id, c.path, c.bytes FROM clips c WHERE c.status = 'ok' ORDER BY ${kept}, c.created_utc, c.id`)
      .iterate() as IterableIterator<Candidate>;
    for (const candidate of oldestFirst) {
      if (freed >= deficit) break;
      if (taken.has(candidate.id)) continue;
      byFloor.push(candidate);
      freed += candidate.bytes;
    }
  }
  const doomed = [...byAge, ...byQuota, ...byFloor];
  const markDeleted = db.prepare("UPDATE clips SET status = 'deleted' WHERE id = ? AND status = 'ok'");
  const eventCutoff = iso(retention.event_max_age_days);
  const prune = db.transaction(() => {
    for (const clip of doomed) markDeleted.run(clip.id);
    const scores = db.prepare('DELETE FROM scores WHERE event_id IN (SELECT id FROM events WHERE onset_utc < ?)').run(eventCutoff).changes;
    const events = db.prepare('DELETE FROM events WHERE onset_utc < ?').run(eventCutoff).changes;
    const clipRows = db.prepare("DELETE FROM clips WHERE status <> 'ok' AND created_utc < ?").run(eventCutoff).changes;
    const gaps = db.prepare('DELETE FROM gaps WHERE start_utc < ?').run(eventCutoff).changes;
    return { scores, events, clipRows, gaps };
  });
  let bytesFreed = 0;
  const folders = new Set<string>();
  const unlinkDoomed = () => {
    for (const clip of doomed.splice(0)) {
      const path = join(dataDir, clip.path);
      rmSync(path, { force: true });
      bytesFreed += clip.bytes;
      folders.add(dirname(path));
    }
  };
  let pruned: ReturnType<typeof prune>;
  const doomedCount = doomed.length;
  try {
    pruned = prune();
  } catch (error) {
    if (!isDiskFull(error) || doomed.length === 0) throw error;
    // The disk is too full even for the rows' update (the WAL cannot grow): free the files
    // first, then mark the rows (a crash in between leaves rows that reconcile marks missing).
    const ids = doomed.map((c) => c.id);
    unlinkDoomed();
    pruned = db.transaction(() => {
      for (const id of ids) markDeleted.run(id);
      return { scores: 0, events: 0, clipRows: 0, gaps: 0 };
    })();
  }
  // Rows first, files second: a crash in between leaves files that reconcile deletes.
  unlinkDoomed();
  removeEmptyDayFolders(folders, now);
  const report: RetentionReport = {
    deletedByAge: byAge.length,
    deletedByQuota: byQuota.length,
    deletedByFloor: byFloor.length,
    bytesFreed,
    storedBytes: store.storedBytes(),
    eventsPruned: pruned.events,
    scoresPruned: pruned.scores,
    clipRowsPruned: pruned.clipRows,
    gapsPruned: pruned.gaps,
  };
  if (doomedCount > 0 || pruned.events + pruned.clipRows + pruned.gaps > 0) {
    log.info(
      {
        deleted_by_age: report.deletedByAge,
        deleted_by_quota: report.deletedByQuota,
        deleted_by_free_space: report.deletedByFloor || undefined,
        min_free_bytes: report.deletedByFloor ? retention.min_free_bytes : undefined,
        bytes_freed: bytesFreed,
        stored_bytes: report.storedBytes,
        max_clip_bytes: retention.max_clip_bytes,
        events_pruned: report.eventsPruned,
        scores_pruned: report.scoresPruned,
        clip_rows_pruned: report.clipRowsPruned,
        gaps_pruned: report.gapsPruned,
        bytes_written_today: bytesWrittenToday(db, now),
      },
      `retention: ${doomedCount} clips deleted (${(bytesFreed / 1048576).toFixed(1)} MiB), ${report.eventsPruned} events pruned`,
    );
  }
  return report;
}

/**
 * Removes day folders (`YYYY-MM-DD`) left empty, except today's and yesterday's (UTC), which the
 * recorder may be about to write into.
 */
function removeEmptyDayFolders(folders: Iterable<string>, now: Date): void {
  const recent = new Set([now.toISOString().slice(0, 10), new Date(now.getTime() - DAY_MS).toISOString().slice(0, 10)]);
  for (const folder of folders) {
    const day = folder.slice(-10);
    if (!/^\d{4}-\d\d-\d\d$/.test(day) || recent.has(day)) continue;
    try {
      if (readdirSync(folder).length === 0) rmdirSync(folder);
    } catch {
      // Gone already, or not empty after all: nothing to do.
    }
  }
}

/** The start-up and periodic store upkeep of a daemon run. */
export interface StoreMaintenance {
  /** Runs a retention pass now (also what the timer does). */
  runNow(): RetentionReport | null;
  /** Stops the timer. */
  stop(): void;
}

/**
 * Reconciles the clip folder with the database, runs a first retention pass, and schedules one
 * every `retention.interval_seconds` (the timer does not keep the process alive). A pass that
 * fails is logged, and the next one tries again.
 * @throws EarshotError when the clip folder cannot be listed
 */
export function startStoreMaintenance(config: EarshotConfig, db: Database.Database, log: Logger): StoreMaintenance {
  try {
    reconcileClips(db, config.data_dir, config.clips.dir, log);
  } catch (error) {
    // A full disk at start: the daemon starts anyway (the next start reconciles).
    if (!isDiskFull(error)) throw error;
    storeFaults(db).failed(error);
    log.error({ err: error as Error }, 'clip reconcile not finished: the disk is full');
  }
  const dataDir = resolve(config.data_dir);
  const runNow = () => {
    try {
      return runRetention(db, dataDir, config.retention, log);
    } catch (error) {
      log.error({ err: error }, 'retention pass failed');
      return null;
    }
  };
  runNow();
  const timer = setInterval(runNow, config.retention.interval_seconds * 1000);
  timer.unref();
  // The free-space floor is watched more often than the retention interval, and a write that
  // finds the disk full starts a pass at once (at most one per FLOOR_CHECK_MS).
  const faults = storeFaults(db);
  let lastFloorPass = 0;
  const floorPass = () => {
    const now = Date.now();
    if (now - lastFloorPass < FLOOR_CHECK_MS) return;
    if (!faults.diskFull && freeBytes(dataDir) >= config.retention.min_free_bytes) return;
    lastFloorPass = now;
    runNow();
  };
  faults.onDiskFull = () => setImmediate(floorPass);
  const floorTimer = setInterval(floorPass, FLOOR_CHECK_MS);
  floorTimer.unref();
  return {
    runNow,
    stop: () => {
      clearInterval(timer);
      clearInterval(floorTimer);
      faults.onDiskFull = null;
    },
  };
}

/**
 * Store upkeep as a daemon consumer (src/consumer.ts): at start, the free-space floor is watched
 * (store-faults.ts) and {@link startStoreMaintenance} runs (reconcile, a first retention pass, the
 * timers); at stop, the timers end. First in the daemon's list after the database, so a data dir
 * that cannot be used stops the run before anything connects.
 * @throws EarshotError (from start) when the clip folder cannot be listed
 */
export function storeMaintenanceConsumer(config: EarshotConfig, db: Database.Database, log: Logger): DaemonConsumer {
  let maintenance: StoreMaintenance | null = null;
  return {
    name: 'store upkeep',
    start: () => {
      storeFaults(db).watchFreeSpace(config.data_dir, config.retention.min_free_bytes);
      maintenance = startStoreMaintenance(config, db, log);
    },
    stop: () => maintenance?.stop(),
  };
}
