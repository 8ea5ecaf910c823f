/**
 * The `microphone_minutes` table (migration in src/store/database.ts): one row per measured
 * minute of audio (src/monitor/microphone-meter.ts), so the baseline of the node's recent days
 * survives restarts. Rows that joined the baseline have `in_baseline = 1`; the table keeps the
 * newest baseline window of those and as many others, and prunes the rest.
 */
import type Database from 'better-sqlite3';
import type { MinuteMeasures } from '../monitor/microphone-meter.js';
import { SAMPLE_RATE } from '../constants.js';

/** One stored minute, as the judge needs it back. */
export interface StoredMinute {
  noiseFloorDbfs: number | null;
  tiltDb: number | null;
}

/** Where a minute came from and what the judge said of it. */
export interface MinuteContext {
  /** ISO-8601 UTC of the minute's first sample (stream start + audio time). */
  minuteUtc: string;
  streamId: string;
  /** Seconds from stream start to the minute's first sample. */
  startSeconds: number;
  inBaseline: boolean;
  /** Measures out of bounds in this minute (empty: none). */
  out: readonly string[];
}

/** Reads and writes microphone minutes. */
export class MicrophoneStore {
  private readonly insert: Database.Statement;
  private inserted = 0;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO microphone_minutes (minute_utc, stream_id, start_s, heard_s, noise_floor_dbfs, tilt_db, clipping_ratio, dc_offset, constant_ratio, zero_ratio, in_baseline, out)
       VALUES (@minute_utc, @stream_id, @start_s, @heard_s, @noise_floor_dbfs, @tilt_db, @clipping_ratio, @dc_offset, @constant_ratio, @zero_ratio, @in_baseline, @out)`,
    );
  }

  /** The newest `limit` baseline minutes, oldest first. */
  baseline(limit: number): StoredMinute[] {
    const rows = this.db.prepare('SELECT noise_floor_dbfs, tilt_db FROM microphone_minutes WHERE in_baseline = 1 ORDER BY id DESC LIMIT ?').all(limit) as {
      noise_floor_dbfs: number | null;
      tilt_db: number | null;
    }[];
    return rows.reverse().map((r) => ({ noiseFloorDbfs: r.noise_floor_dbfs, tiltDb: r.tilt_db }));
  }

  /**
   * Stores one minute; every 60 rows, prunes beyond `keep` baseline rows and `keep` other rows.
   * @throws SqliteError (disk full, read-only database): the caller logs it and goes on
   */
  add(m: MinuteMeasures, context: MinuteContext, keep: number): void {
    this.insert.run({
      minute_utc: context.minuteUtc,
      stream_id: context.streamId,
      start_s: context.startSeconds,
      heard_s: m.heardSamples / SAMPLE_RATE,
      noise_floor_dbfs: m.noiseFloorDbfs,
      tilt_db: m.tiltDb,
      clipping_ratio: m.clippingRatio,
      dc_offset: m.dcOffset,
      constant_ratio: m.constantRatio,
      zero_ratio: m.zeroRatio,
      in_baseline: context.inBaseline ? 1 : 0,
      out: context.out.length ? context.out.join(',') : null,
    });
    this.inserted += 1;
    if (this.inserted % 60 === 0) this.prune(keep);
  }

  /** Deletes all but the newest `keep` rows of each kind (baseline, not baseline). */
  prune(keep: number): void {
    for (const flag of [0, 1]) {
      this.db
        .prepare(
          'DELETE FROM microphone_minutes WHERE in_baseline = ? AND id < (SELECT MIN(id) FROM (SELECT id FROM microphone_minutes WHERE in_baseline = ? ORDER BY id DESC LIMIT ?))',
        )
        .run(flag, flag, keep);
    }
  }
}
