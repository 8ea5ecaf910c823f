/**
 * The `gaps` table (migration 3): stretches of the timeline where capture lost audio, so that a
 * reader of the events knows which times earshot did not hear.
 */
import type Database from 'better-sqlite3';

/** One gap as stored. Times in seconds from the stream start; `start_utc` ISO-8601 UTC. */
export interface GapRecord {
  node_id: string;
  stream_id: string;
  source: string;
  start_utc: string;
  start_s: number;
  duration_s: number;
  reason: string;
  handling: string | null;
  /** JSON text, or null. */
  detail: string | null;
}

/** Writes and reads gap rows. */
export class GapStore {
  private readonly insert: Database.Statement;

  constructor(readonly db: Database.Database) {
    this.insert = db.prepare(`INSERT INTO gaps (node_id, stream_id, source, start_utc, start_s, duration_s, reason, handling, detail)
      VALUES (@node_id, @stream_id, @source, @start_utc, @start_s, @duration_s, @reason, @handling, @detail)`);
  }

  /** Stores one gap. */
  record(gap: GapRecord): void {
    this.insert.run(gap);
  }

  /** All gaps of a stream, oldest first. */
  forStream(streamId: string): GapRecord[] {
    return this.db
      .prepare('SELECT node_id, stream_id, source, start_utc, start_s, duration_s, reason, handling, detail FROM gaps WHERE stream_id = ? ORDER BY start_s')
      .all(streamId) as GapRecord[];
  }
}
