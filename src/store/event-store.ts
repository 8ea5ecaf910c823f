/**
 * The `events` table: a row is inserted at an event's onset and completed at its offset, so an
 * event cut short by a crash is still on record (with a NULL offset).
 */
import type Database from 'better-sqlite3';
import type { EventRecord } from '../events.js';

/** Reads and writes event rows in an open database (see {@link openDatabase}). */
export class EventStore {
  private readonly insert: Database.Statement;
  private readonly complete: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(`
      INSERT INTO events (id, node_id, label, grp, onset_utc, offset_utc, onset_s, offset_s, peak_score,
        mean_score, peak_dbfs, patch_count, end_reason, model_id, model_sha256, source, stream_id,
        clock_synced, threshold, onset_sample, offset_sample)
      VALUES (@id, @node_id, @label, @group, @onset_utc, @offset_utc, @onset_s, @offset_s, @peak_score,
        @mean_score, @peak_dbfs, @patch_count, @end_reason, @model_id, @model_sha256, @source, @stream_id,
        @clock_synced, @threshold, @onset_sample, @offset_sample)`);
    this.complete = db.prepare(`
      UPDATE events SET offset_utc = @offset_utc, offset_s = @offset_s, peak_score = @peak_score,
        mean_score = @mean_score, peak_dbfs = @peak_dbfs, patch_count = @patch_count, end_reason = @end_reason,
        offset_sample = @offset_sample
      WHERE id = @id`);
  }

  /** Records an event at its onset. */
  recordOnset(record: EventRecord): void {
    this.insert.run(toRow(record));
  }

  /** Records an event's offset and final scores. */
  recordOffset(record: EventRecord): void {
    this.complete.run(toRow(record));
  }

  /** All events in onset order (optionally of one group). */
  list(group?: EventRecord['group']): EventRecord[] {
    const rows = group
      ? this.db.prepare('SELECT *, grp AS "group" FROM events WHERE grp = ? ORDER BY onset_utc, id').all(group)
      : this.db.prepare('SELECT *, grp AS "group" FROM events ORDER BY onset_utc, id').all();
    return (rows as (Omit<EventRecord, 'clock_synced'> & { grp?: string; clock_synced: number | null })[]).map(({ grp: _grp, clock_synced, ...record }) => ({
      ...record,
      clock_synced: clock_synced === null ? null : clock_synced === 1,
    }));
  }
}

/** The record as SQLite binds it: the optional columns present (NULL when unknown), the clock state as 1/0/NULL. */
function toRow(record: EventRecord) {
  const synced = record.clock_synced;
  return {
    ...record,
    clock_synced: synced === undefined || synced === null ? null : synced ? 1 : 0,
    threshold: record.threshold ?? null,
    onset_sample: record.onset_sample ?? null,
    offset_sample: record.offset_sample ?? null,
  };
}
