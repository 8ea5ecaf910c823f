/**
 * The daemon's health, as the systemd watchdog needs it: healthy means audio is arriving,
 * inference keeps up with it, and the database can be written. The watchdog ping (`WATCHDOG=1`)
 * is sent only while all three hold, so a pipeline that stalls silently (a microphone that stops
 * delivering, a hung inference call, a full disk) is restarted by systemd instead of running deaf.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';

/** Thresholds of {@link PipelineHealth}. */
export interface HealthOptions {
  /** Audio is stalled when no chunk has arrived for this long (seconds). */
  stallSeconds: number;
  /** Inference falls behind when processing time / audio time over the window exceeds this. */
  maxRealTimeFactor: number;
  /** Sliding window for the real-time factor (seconds of wall time). */
  windowSeconds: number;
  /** The database's file system needs at least this much free space (bytes). */
  minFreeBytes: number;
}

export const DEFAULT_HEALTH_OPTIONS: HealthOptions = {
  stallSeconds: 5,
  maxRealTimeFactor: 1,
  windowSeconds: 10,
  minFreeBytes: 64 * 1024 * 1024,
};

/** One health verdict. */
export interface HealthReport {
  healthy: boolean;
  /** One short phrase per problem, e.g. `no audio for 12.0 s`; empty when healthy. */
  problems: string[];
}

interface ChunkTiming {
  atMs: number;
  processingMs: number;
  audioMs: number;
}

/**
 * Tracks chunks as the daemon processes them and judges health. Times are wall-clock
 * milliseconds from a monotonic clock (`performance.now()`), passed in so tests can drive it.
 */
export class PipelineHealth {
  private lastChunkAtMs: number | undefined;
  private expectedStart: number | undefined;
  private readonly window: ChunkTiming[] = [];
  /** Chunks and samples seen, and samples lost in gaps (a chunk that starts after the previous one ended). */
  readonly counts = { chunks: 0, samples: 0, gaps: 0, lostSamples: 0 };

  constructor(readonly options: HealthOptions = DEFAULT_HEALTH_OPTIONS) {}

  /**
   * Records one processed chunk.
   * @param processingMs time the pipeline took for it (front end, inference, detection)
   * @returns the samples lost before this chunk (0 when contiguous)
   */
  chunk(chunk: AudioChunk, processingMs: number, nowMs: number): number {
    const lost = this.expectedStart === undefined ? 0 : Math.max(0, chunk.startSample - this.expectedStart);
    if (lost > 0) {
      this.counts.gaps += 1;
      this.counts.lostSamples += lost;
    }
    this.expectedStart = chunk.startSample + chunk.samples.length;
    this.counts.chunks += 1;
    this.counts.samples += chunk.samples.length;
    this.lastChunkAtMs = nowMs;
    this.window.push({ atMs: nowMs, processingMs, audioMs: (chunk.samples.length / SAMPLE_RATE) * 1000 });
    this.trim(nowMs);
    return lost;
  }

  /** True once a chunk has been processed. */
  get started(): boolean {
    return this.lastChunkAtMs !== undefined;
  }

  /** Processing time / audio time over the window (0 before any chunk). */
  realTimeFactor(nowMs: number): number {
    this.trim(nowMs);
    let processing = 0;
    let audio = 0;
    for (const t of this.window) {
      processing += t.processingMs;
      audio += t.audioMs;
    }
    return audio > 0 ? processing / audio : 0;
  }

  /**
   * Judges audio and inference (the database is checked separately: {@link databaseProblem}).
   * Before the first chunk the pipeline is not healthy (`waiting for audio`).
   */
  check(nowMs: number): HealthReport {
    const problems: string[] = [];
    if (this.lastChunkAtMs === undefined) {
      problems.push('waiting for audio');
    } else {
      const silentMs = nowMs - this.lastChunkAtMs;
      if (silentMs > this.options.stallSeconds * 1000) problems.push(`no audio for ${(silentMs / 1000).toFixed(1)} s`);
      const rtf = this.realTimeFactor(nowMs);
      if (rtf > this.options.maxRealTimeFactor) problems.push(`inference falling behind (real-time factor ${rtf.toFixed(2)})`);
    }
    return { healthy: problems.length === 0, problems };
  }

  private trim(nowMs: number): void {
    const since = nowMs - this.options.windowSeconds * 1000;
    while (this.window.length > 1 && this.window[0].atMs < since) this.window.shift();
  }
}

/**
 * Whether the database can take a write now: takes and releases the write lock
 * (`BEGIN IMMEDIATE; ROLLBACK`, which fails on a read-only or locked database) and checks the
 * free space of its file system.
 * @param path the database file (for the free-space check)
 * @returns a short problem phrase, or null when writable
 */
export function databaseProblem(db: Database.Database, path: string, minFreeBytes = DEFAULT_HEALTH_OPTIONS.minFreeBytes): string | null {
  try {
    if (db.inTransaction) return null;
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
  } catch (error) {
    return `database not writable (${(error as Error).message})`;
  }
  try {
    const fs = statfsSync(dirname(path));
    const free = fs.bavail * fs.bsize;
    if (free < minFreeBytes) return `disk nearly full (${(free / 1048576).toFixed(1)} MiB free for ${path})`;
  } catch (error) {
    return `cannot check free space for ${path} (${(error as NodeJS.ErrnoException).code ?? error})`;
  }
  return null;
}
