/**
 * The `clips`, `scores` and `labels` tables (migration 4): evidence clip files and what the model
 * heard in each event. A clip row is inserted only after its file is complete on disk
 * (clip-writer.ts), together with its event's scores, in one transaction.
 */
import type Database from 'better-sqlite3';
import type { ClipFileMetadata } from './clip-writer.js';

/** One clip as stored. Sample indices are absolute 16 kHz stream indices, `[start_sample, end_sample)`. */
export interface ClipRow extends ClipFileMetadata {
  /** File path relative to data_dir. */
  path: string;
  format: 'wav' | 'flac';
  /** File size, bytes. */
  bytes: number;
  /** sha256 of the file, hex. */
  sha256: string;
  /** `ok`; `missing` (the file vanished: reconcile); `deleted` (retention removed the file, the row stays so the API can answer 410). */
  status: 'ok' | 'missing' | 'deleted';
}

/** One row of `scores`: the `rank`-th best class of one classified patch of an event. */
export interface ScoreRow {
  event_id: string;
  patch_index: number;
  /** Patch start, seconds from the stream start. */
  start_s: number;
  /** 1 = highest. */
  rank: number;
  model_id: string;
  class: string;
  /** Model score, 0..1. */
  score: number;
}

/** One row of `labels`: a human's (or an imported) label on a clip. */
export interface LabelRow {
  clip_id: string;
  label: string;
  /** Seconds from the clip start; null = the whole clip. */
  onset_s?: number | null;
  offset_s?: number | null;
  source: 'human' | 'import';
  annotator?: string | null;
  /** ISO-8601 UTC (default now). */
  created_utc?: string;
}

/** Start of the UTC day of `now`, ISO-8601 (the unit of {@link ClipStore.bytesWrittenPerDay}). */
function utcDayStart(now: Date): string {
  return `${now.toISOString().slice(0, 10)}T00:00:00.000Z`;
}

/** Reads and writes clip, score and label rows in an open database (see openDatabase). */
export class ClipStore {
  private readonly insertClipStatement: Database.Statement;
  private readonly insertScoreStatement: Database.Statement;

  constructor(readonly db: Database.Database) {
    this.insertClipStatement = db.prepare(`
      INSERT INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc,
        end_utc, sample_rate, bytes, sha256, gap_samples, status, created_utc)
      VALUES (@id, @event_id, @kind, @grp, @path, @format, @stream_id, @start_sample, @end_sample, @start_s, @start_utc,
        @end_utc, @sample_rate, @bytes, @sha256, @gap_samples, @status, @created_utc)`);
    // A score row repeats only if an event's scores were stored twice (never, but harmless): keep the first.
    this.insertScoreStatement = db.prepare(`
      INSERT OR IGNORE INTO scores (event_id, patch_index, start_s, rank, model_id, class, score)
      VALUES (@event_id, @patch_index, @start_s, @rank, @model_id, @class, @score)`);
  }

  /**
   * Stores a clip row and/or an event's scores in one transaction.
   * @throws SqliteError (e.g. a clip path already stored: paths are UNIQUE)
   */
  record(clip: ClipRow | null, scores: readonly ScoreRow[]): void {
    this.db.transaction(() => {
      if (clip) this.insertClipStatement.run(clip);
      for (const score of scores) this.insertScoreStatement.run(score);
    })();
  }

  /** The clip with this id, or undefined. */
  byId(id: string): ClipRow | undefined {
    return this.db.prepare('SELECT * FROM clips WHERE id = ?').get(id) as ClipRow | undefined;
  }

  /** The clip with this path (relative to data_dir), or undefined. */
  byPath(path: string): ClipRow | undefined {
    return this.db.prepare('SELECT * FROM clips WHERE path = ?').get(path) as ClipRow | undefined;
  }

  /** An event's clips (normally one), oldest first. */
  forEvent(eventId: string): ClipRow[] {
    return this.db.prepare('SELECT * FROM clips WHERE event_id = ? ORDER BY created_utc, id').all(eventId) as ClipRow[];
  }

  /** All clips, oldest first, optionally of one status. */
  list(status?: ClipRow['status']): ClipRow[] {
    return (
      status
        ? this.db.prepare('SELECT * FROM clips WHERE status = ? ORDER BY created_utc, id').all(status)
        : this.db.prepare('SELECT * FROM clips ORDER BY created_utc, id').all()
    ) as ClipRow[];
  }

  /** An event's scores by patch, then rank. */
  scores(eventId: string): ScoreRow[] {
    return this.db
      .prepare('SELECT event_id, patch_index, start_s, rank, model_id, class, score FROM scores WHERE event_id = ? ORDER BY patch_index, model_id, rank')
      .all(eventId) as ScoreRow[];
  }

  /**
   * Adds a label to a clip (a clip may have several).
   * @returns the label's row id
   * @throws SqliteError (FOREIGN KEY) when the clip does not exist
   */
  addLabel(label: LabelRow): number {
    const result = this.db
      .prepare('INSERT INTO labels (clip_id, label, onset_s, offset_s, source, annotator, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(
        label.clip_id,
        label.label,
        label.onset_s ?? null,
        label.offset_s ?? null,
        label.source,
        label.annotator ?? null,
        label.created_utc ?? new Date().toISOString(),
      );
    return Number(result.lastInsertRowid);
  }

  /** Sets a clip's status. @returns whether a row changed */
  setStatus(id: string, status: ClipRow['status']): boolean {
    return this.db.prepare('UPDATE clips SET status = ? WHERE id = ? AND status <> ?').run(status, id, status).changes > 0;
  }

  /** Bytes of the clip files on disk (rows with status `ok`). */
  storedBytes(): number {
    return (this.db.prepare("SELECT COALESCE(SUM(bytes), 0) AS n FROM clips WHERE status = 'ok'").get() as { n: number }).n;
  }

  /**
   * Clip bytes written per UTC day over the last `days` days (today included), oldest first;
   * days without clips are left out. Counts every clip written, including those deleted since.
   */
  bytesWrittenPerDay(days = 7, now = new Date()): { day: string; bytes: number; clips: number }[] {
    const since = utcDayStart(new Date(now.getTime() - (days - 1) * 86_400_000));
    return this.db
      .prepare('SELECT substr(created_utc, 1, 10) AS day, SUM(bytes) AS bytes, COUNT(*) AS clips FROM clips WHERE created_utc >= ? GROUP BY day ORDER BY day')
      .all(since) as { day: string; bytes: number; clips: number }[];
  }
}

/**
 * Clip bytes written since 00:00 UTC today (every clip file written, including ones retention
 * deleted since): the figure for the health output. Read from the database, so it survives
 * restarts and any process holding the database can show it (e.g. the HTTP API's /healthz).
 * @returns bytes
 */
export function bytesWrittenToday(db: Database.Database, now = new Date()): number {
  return (db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM clips WHERE created_utc >= ?').get(utcDayStart(now)) as { n: number }).n;
}
