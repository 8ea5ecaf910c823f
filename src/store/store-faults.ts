/**
 * What the store could not write, per open database: a full disk (`SQLITE_FULL`, `ENOSPC`,
 * `EDQUOT`) or another write failure. Writers report here instead of throwing into the event
 * loop, so the daemon keeps listening; the daemon, health (`disk_full` problem), `/metrics` and
 * the clip recorder read it.
 *
 * The order things give way on a full disk (docs/storage.md, "A full disk"): clips are not
 * written (and retention deletes the oldest by the free-space floor), event rows that cannot be
 * stored are published straight to MQTT (the last place an event can reach) and logged; rows
 * already stored are never deleted to make room.
 */
import { statfsSync } from 'node:fs';
import type Database from 'better-sqlite3';

/** Free bytes that end a disk-full episode when `retention.min_free_bytes` is lower. */
const RECOVERED_FREE_BYTES = 1048576;

/** True when `error` (or its cause) says the disk or a quota is full. */
export function isDiskFull(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e && depth < 4; depth++, e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (/database or disk is full|no space left on device/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

/** Counters since start (for /metrics and the log). */
export interface StoreFaultCounts {
  /** Writes that failed (any cause). */
  failedWrites: number;
  /** Of those, failed because the disk was full. */
  diskFullWrites: number;
  /** Event messages published straight to MQTT because their outbox row could not be written. */
  directPublishes: number;
  /** Evidence clips not written: the disk was full or below `retention.min_free_bytes`. */
  clipsDropped: number;
}

/** Write faults of one open database. */
export class StoreFaults {
  readonly counts: StoreFaultCounts = { failedWrites: 0, diskFullWrites: 0, directPublishes: 0, clipsDropped: 0 };
  /** Since when (ms since the epoch) writes fail for lack of space; null while they succeed. */
  diskFullSinceMs: number | null = null;
  /** The latest write failure's message. */
  lastError: string | null = null;
  /** Called once each time the disk becomes full (retention runs at once). */
  onDiskFull: (() => void) | null = null;
  private dataDir: string | null = null;
  private minFreeBytes = 0;
  private freeChecked = { atMs: 0, free: Number.POSITIVE_INFINITY };

  /** Where clips go and the floor below which they are not written (retention.min_free_bytes). */
  watchFreeSpace(dataDir: string, minFreeBytes: number): void {
    this.dataDir = dataDir;
    this.minFreeBytes = minFreeBytes;
  }

  /**
   * Records a failed write.
   * @returns true when it failed for lack of space
   */
  failed(error: unknown): boolean {
    this.counts.failedWrites += 1;
    this.lastError = (error as Error)?.message ?? String(error);
    if (!isDiskFull(error)) return false;
    this.counts.diskFullWrites += 1;
    if (this.diskFullSinceMs === null) {
      this.diskFullSinceMs = Date.now();
      this.onDiskFull?.();
    }
    return true;
  }

  /**
   * Records a write that succeeded. The disk counts as full until free space is back above the
   * floor (at least 1 MiB): SQLite can go on writing inside its WAL on a disk with 0 bytes free.
   */
  succeeded(): void {
    if (this.diskFullSinceMs !== null && this.freeBytes() >= Math.max(this.minFreeBytes, RECOVERED_FREE_BYTES)) this.diskFullSinceMs = null;
  }

  /** True while writes fail for lack of space. */
  get diskFull(): boolean {
    return this.diskFullSinceMs !== null;
  }

  /** Free bytes on the data directory's file system (re-read at most once a second); +Infinity when unknown. */
  freeBytes(nowMs = Date.now()): number {
    if (!this.dataDir) return Number.POSITIVE_INFINITY;
    if (nowMs - this.freeChecked.atMs >= 1000) {
      let free = Number.POSITIVE_INFINITY;
      try {
        const fs = statfsSync(this.dataDir);
        free = fs.bavail * fs.bsize;
      } catch {
        // Unknown: do not stop clips for it.
      }
      this.freeChecked = { atMs: nowMs, free };
    }
    return this.freeChecked.free;
  }

  /** True when a clip should not be written now: the disk is full, or free space is below the floor. */
  clipsPaused(): boolean {
    return this.diskFull || this.freeBytes() < this.minFreeBytes;
  }

  /** The `disk_full` problem for health, or null. */
  problem(): string | null {
    if (this.diskFull)
      return `disk_full: writes fail for lack of space since ${new Date(this.diskFullSinceMs!).toISOString()} (clips dropped, alerts published without the outbox)`;
    const free = this.freeBytes();
    if (free < this.minFreeBytes) return `disk_full: ${(free / 1048576).toFixed(1)} MiB free, below retention.min_free_bytes (clips not written)`;
    return null;
  }
}

const byDatabase = new WeakMap<Database.Database, StoreFaults>();

/** The fault record of an open database (one per handle, made on first use). */
export function storeFaults(db: Database.Database): StoreFaults {
  let faults = byDatabase.get(db);
  if (!faults) {
    faults = new StoreFaults();
    byDatabase.set(db, faults);
  }
  return faults;
}
