/**
 * The HTTP API's reads (and its one write, labels) on the daemon's SQLite handle. better-sqlite3
 * is synchronous and shares the event loop with capture, so every statement is prepared once,
 * bounded by a LIMIT and driven by an index (events_onset, clips' primary key and rowid,
 * scores' primary key, labels_clip), and nothing holds an iterator across an `await` (an open
 * iterator would make the daemon's own writes fail with "connection is busy").
 */
import type Database from 'better-sqlite3';
import type { ClipRow, ScoreRow } from '../store/clip-store.js';
import { SAMPLE_RATE } from '../constants.js';
import type { LabelGroup } from '../types.js';

/** The views the API returns are stated once, as response schemas (schemas.ts); these are their types. */
import type { ClassScore, ClipEventView, ClipView, EventView, LabelView, QueueItem, QueueStrategy } from './schemas.js';
export type { ClassScore, ClipEventView, ClipView, EventView, LabelView, QueueItem, QueueStrategy };

/** A clip row with what the API needs beyond {@link ClipView}: its path (relative to data_dir). */
export interface ClipRecord extends ClipView, Pick<ClipRow, 'path' | 'stream_id' | 'start_sample' | 'end_sample' | 'start_s'> {}

/** A label to store (see {@link ApiQueries.addLabels}). */
export interface NewLabel {
  label: string;
  onset_s?: number;
  offset_s?: number;
}

/** Filters of {@link ApiQueries.events}. ISO-8601 UTC strings compare as stored (toISOString form). */
export interface EventFilter {
  since?: string;
  until?: string;
  group?: LabelGroup;
  label?: string;
  minScore?: number;
  /** Only this node's events (a database built from several nodes' pulled clips holds several). */
  node?: string;
  /** Only events none of whose clips has a label. */
  unlabelled?: boolean;
  /** `asc` (default): oldest onset first; `desc`: newest first. */
  order?: 'asc' | 'desc';
  limit: number;
  /** Keyset cursor: events strictly after (onset_utc, id) in the page order (before it for `desc`). */
  after?: { onsetUtc: string; id: string };
}

/** One stored score row of an event, for the spectrogram's score curves. */
export type PatchScore = Omit<ScoreRow, 'event_id'>;

/** Counts for `/metrics`. */
export interface StoreCounts {
  events: { group: string; count: number }[];
  clips: { kind: string; status: string; count: number; bytes: number }[];
  labels: number;
}

const CLIP_COLUMNS = `
  c.rowid AS seq, c.id, c.event_id, c.kind, c.grp, c.path, c.format, c.stream_id, c.start_sample, c.end_sample,
  c.start_s, c.start_utc, c.end_utc, c.sample_rate, c.bytes, c.sha256, c.gap_samples, c.status, c.created_utc,
  (SELECT COUNT(*) FROM labels l WHERE l.clip_id = c.id) AS label_count,
  e.label AS e_label, e.grp AS e_grp, e.onset_utc AS e_onset_utc, e.onset_s AS e_onset_s, e.offset_s AS e_offset_s,
  e.onset_sample AS e_onset_sample, e.offset_sample AS e_offset_sample, e.peak_score AS e_peak_score,
  e.threshold AS e_threshold, e.model_id AS e_model_id, e.model_sha256 AS e_model_sha256`;

const CLIP_FROM = 'FROM clips c LEFT JOIN events e ON e.id = c.event_id';

/** Not labelled yet: what the active-learning queue offers. */
const UNLABELLED = "c.status = 'ok' AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.clip_id = c.id)";

/** The smallest top-1 − top-2 gap over the event's patches (same model), via the scores primary key. */
const TOP2_MARGIN = `(SELECT MIN(s1.score - s2.score) FROM scores s1
  JOIN scores s2 ON s2.event_id = s1.event_id AND s2.patch_index = s1.patch_index AND s2.model_id = s1.model_id AND s2.rank = 2
  WHERE s1.event_id = c.event_id AND s1.rank = 1)`;

/**
 * With a head: over the event's patches, the largest normalised entropy of the head's stored label
 * probabilities (`head:<label>` classes among the top-k rows; the mass not stored counts as one
 * more outcome): H / ln(outcomes), 0 = certain, 1 = uniform. NULL when no patch has two outcomes.
 */
const HEAD_ENTROPY = `(SELECT MAX(h) FROM (
  SELECT (-SUM(s.score * ln(MAX(s.score, 1e-12))) - MAX(0, 1 - SUM(s.score)) * ln(MAX(1 - SUM(s.score), 1e-12)))
         / ln(COUNT(*) + (CASE WHEN 1 - SUM(s.score) > 1e-6 THEN 1 ELSE 0 END)) AS h
  FROM scores s WHERE s.event_id = c.event_id AND s.class LIKE 'head:%' GROUP BY s.patch_index
  HAVING COUNT(*) + (CASE WHEN 1 - SUM(s.score) > 1e-6 THEN 1 ELSE 0 END) >= 2))`;

type Row = Record<string, unknown>;

/**
 * FNV-1a (32-bit) of `text` mixed with `seed`: a stable pseudo-random sort key, so the random
 * strategy's order is fixed for one seed and its pages do not overlap. Not for security.
 */
export function shuffleKey(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // A final avalanche (murmur3's fmix32), so ids that differ only in their last character spread out.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** Prepared statements of the API on one open earshot database (schema 4 or later). */
export class ApiQueries {
  private readonly eventsStatements: Record<'asc' | 'desc', Database.Statement>;
  private readonly eventsAfterRowidStatement: Database.Statement;
  private readonly clipsOfEventStatement: Database.Statement;
  private readonly clipStatement: Database.Statement;
  private readonly clipsAfterStatement: Database.Statement;
  private readonly queueStatements: Record<QueueStrategy, Database.Statement>;
  private readonly labelsStatement: Database.Statement;
  private readonly insertLabelStatement: Database.Statement;
  private readonly deleteLabelsStatement: Database.Statement;
  private readonly exportStatement: Database.Statement;
  private readonly topClassesStatement: Database.Statement;
  private readonly patchScoresStatement: Database.Statement;
  private readonly countStatements: { events: Database.Statement; clips: Database.Statement; labels: Database.Statement };

  /** @param db the daemon's open database (see openDatabase); only read, except the labels table */
  constructor(readonly db: Database.Database) {
    // Registered on this connection only; deterministic, so SQLite may evaluate it once per row.
    db.function('earshot_shuffle_key', { deterministic: true }, (id: unknown, seed: unknown) => shuffleKey(String(id), Number(seed)));
    const eventColumns = `id, node_id, label, grp, onset_utc, offset_utc, onset_s, offset_s, peak_score, mean_score, peak_dbfs, patch_count,
             end_reason, model_id, model_sha256, source, stream_id, clock_synced, threshold`;
    const eventsSql = (order: 'asc' | 'desc') => `
      SELECT ${eventColumns}
      FROM events
      WHERE onset_utc >= @since AND onset_utc < @until
        AND (@grp IS NULL OR grp = @grp) AND (@label IS NULL OR label = @label) AND peak_score >= @minScore
        AND (@node IS NULL OR node_id = @node)
        AND (@unlabelled = 0 OR NOT EXISTS (SELECT 1 FROM clips c JOIN labels l ON l.clip_id = c.id WHERE c.event_id = events.id))
        AND ${order === 'asc' ? '(onset_utc, id) > (@afterOnset, @afterId)' : '(onset_utc, id) < (@afterOnset, @afterId)'}
      ORDER BY onset_utc ${order}, id ${order}
      LIMIT @limit`;
    this.eventsStatements = { asc: db.prepare(eventsSql('asc')), desc: db.prepare(eventsSql('desc')) };
    this.eventsAfterRowidStatement = db.prepare(`SELECT rowid AS seq, ${eventColumns} FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?`);
    this.clipsOfEventStatement = db.prepare('SELECT id, kind, status, bytes, sha256 FROM clips WHERE event_id = ? ORDER BY rowid');
    this.clipStatement = db.prepare(`SELECT ${CLIP_COLUMNS} ${CLIP_FROM} WHERE c.id = ?`);
    this.clipsAfterStatement = db.prepare(`SELECT ${CLIP_COLUMNS} ${CLIP_FROM}
      WHERE c.rowid > @after AND (@kind IS NULL OR c.kind = @kind) ORDER BY c.rowid LIMIT @limit`);
    // Every queue strategy returns the same columns: the clip's, and the figures it may be ranked by.
    const queueColumns = `${CLIP_COLUMNS}, ABS(e.peak_score - e.threshold) AS threshold_margin, ${TOP2_MARGIN} AS top2_margin, ${HEAD_ENTROPY} AS head_entropy`;
    const eventClips = `${CLIP_FROM} WHERE c.kind = 'event' AND e.id IS NOT NULL AND ${UNLABELLED}`;
    /** Unlabelled event clips ordered by one of the computed columns (`orderBy`), then id. */
    const rankedEventClips = (orderBy: string) => `SELECT * FROM (SELECT ${queueColumns} ${eventClips})
        ORDER BY ${orderBy}, id
        LIMIT @limit OFFSET @offset`;
    this.queueStatements = {
      uncertainty: db.prepare(rankedEventClips('COALESCE(1 - head_entropy, threshold_margin, 2)')),
      margin: db.prepare(rankedEventClips('COALESCE(threshold_margin, 2)')),
      top: db.prepare(`SELECT ${queueColumns} ${eventClips} ORDER BY e.peak_score DESC, c.id LIMIT @limit OFFSET @offset`),
      random: db.prepare(`SELECT ${queueColumns} ${CLIP_FROM} WHERE ${UNLABELLED}
        ORDER BY earshot_shuffle_key(c.id, @seed), c.id LIMIT @limit OFFSET @offset`),
    };
    this.labelsStatement = db.prepare('SELECT id, clip_id, label, onset_s, offset_s, source, annotator, created_utc FROM labels WHERE clip_id = ? ORDER BY id');
    this.insertLabelStatement = db.prepare(
      'INSERT INTO labels (clip_id, label, onset_s, offset_s, source, annotator, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.deleteLabelsStatement = db.prepare('DELETE FROM labels WHERE clip_id = ? AND source = ?');
    this.exportStatement = db.prepare(`SELECT ${CLIP_COLUMNS} ${CLIP_FROM}
      WHERE c.rowid > @after AND c.status = 'ok' AND c.start_utc >= @since AND c.start_utc < @until
        AND (@labelled = 0 OR EXISTS (SELECT 1 FROM labels l WHERE l.clip_id = c.id))
      ORDER BY c.rowid LIMIT @limit`);
    this.topClassesStatement = db.prepare(`SELECT model_id, class, MAX(score) AS score FROM scores WHERE event_id = ?
      GROUP BY model_id, class ORDER BY score DESC, class LIMIT ?`);
    this.patchScoresStatement = db.prepare(
      'SELECT patch_index, start_s, rank, model_id, class, score FROM scores WHERE event_id = ? ORDER BY patch_index, rank LIMIT 20000',
    );
    this.countStatements = {
      events: db.prepare('SELECT grp AS "group", COUNT(*) AS count FROM events GROUP BY grp'),
      clips: db.prepare('SELECT kind, status, COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes FROM clips GROUP BY kind, status'),
      labels: db.prepare('SELECT COUNT(*) AS n FROM labels'),
    };
  }

  /** One page of events matching `filter`, oldest onset first (newest with `order: 'desc'`); each with its clips. */
  events(filter: EventFilter): EventView[] {
    const order = filter.order ?? 'asc';
    const rows = this.eventsStatements[order].all({
      since: filter.since ?? '',
      // '~' sorts after every digit, so it is later than any ISO-8601 time.
      until: filter.until ?? '~',
      grp: filter.group ?? null,
      label: filter.label ?? null,
      minScore: filter.minScore ?? -1,
      node: filter.node ?? null,
      unlabelled: filter.unlabelled ? 1 : 0,
      afterOnset: filter.after?.onsetUtc ?? (order === 'asc' ? '' : '~'),
      afterId: filter.after?.id ?? '',
      limit: filter.limit,
    }) as Row[];
    return rows.map((row) => this.toEventView(row));
  }

  /**
   * Events stored after the row `afterSeq` (SQLite rowid, in insertion order), for the live
   * stream: `seq` is the next `afterSeq`.
   */
  eventsAfterRowid(afterSeq: number, limit: number): { seq: number; event: EventView }[] {
    return (this.eventsAfterRowidStatement.all(afterSeq, limit) as Row[]).map((row) => ({ seq: row.seq as number, event: this.toEventView(row) }));
  }

  private toEventView(row: Row): EventView {
    return {
      id: row.id as string,
      node_id: row.node_id as string,
      label: row.label as string,
      group: row.grp as LabelGroup,
      onset_utc: row.onset_utc as string,
      offset_utc: row.offset_utc as string | null,
      onset_s: row.onset_s as number,
      offset_s: row.offset_s as number | null,
      peak_score: row.peak_score as number,
      mean_score: row.mean_score as number,
      peak_dbfs: row.peak_dbfs as number | null,
      patch_count: row.patch_count as number,
      end_reason: row.end_reason as string | null,
      model_id: row.model_id as string,
      model_sha256: row.model_sha256 as string,
      source: row.source as string,
      stream_id: row.stream_id as string,
      clock_synced: row.clock_synced === null || row.clock_synced === undefined ? null : row.clock_synced === 1,
      threshold: (row.threshold as number | null) ?? null,
      clips: (this.clipsOfEventStatement.all(row.id) as Row[]).map((c) => ({
        id: c.id as string,
        kind: c.kind as string,
        status: c.status as string,
        bytes: c.bytes as number,
        sha256: c.sha256 as string,
        url: clipUrl(c.id as string),
      })),
    };
  }

  /** The clip with this id, or undefined. */
  clip(id: string): ClipRecord | undefined {
    const row = this.clipStatement.get(id) as Row | undefined;
    return row ? toClipRecord(row) : undefined;
  }

  /** Clips stored after `after` (a {@link ClipView.seq}), in storage order, any status. */
  clipsAfter(after: number, limit: number, kind?: 'event' | 'background'): ClipRecord[] {
    return (this.clipsAfterStatement.all({ after, limit, kind: kind ?? null }) as Row[]).map(toClipRecord);
  }

  /**
   * One page of the active-learning queue: unlabelled clips with a file (status ok).
   * - `uncertainty`: event clips by how close the label's peak score sat to its threshold
   *   (|peak − threshold|), ascending; with a head, by the entropy of its label probabilities
   *   (1 − normalised entropy, ascending);
   * - `margin`: event clips by |peak − threshold|, ascending, with a head too (its probability and
   *   threshold are the event's);
   * - `top`: event clips by peak score, descending;
   * - `random`: every clip, background included, in the pseudo-random order of `seed`.
   */
  queue(strategy: QueueStrategy, limit: number, offset: number, seed: number): QueueItem[] {
    const rows = this.queueStatements[strategy].all({ limit, offset, seed }) as Row[];
    return rows.map((row) => {
      const threshold = (row.threshold_margin as number | null) ?? null;
      const top2 = (row.top2_margin as number | null) ?? null;
      const entropy = typeof row.head_entropy === 'number' ? Number(row.head_entropy.toFixed(6)) : null;
      return {
        ...toClipView(toClipRecord(row)),
        threshold_margin: threshold,
        top2_margin: top2,
        head_entropy: entropy,
        uncertainty: entropy !== null ? Number((1 - entropy).toFixed(6)) : threshold,
      };
    });
  }

  /** The labels of a clip, oldest first. */
  labels(clipId: string): LabelView[] {
    return (this.labelsStatement.all(clipId) as Row[]).map(toLabelView);
  }

  /**
   * Stores labels for one clip in one transaction.
   * @param replace first delete the clip's labels of the same `source` (a re-import replaces, never duplicates)
   * @returns the labels written, with their ids
   */
  addLabels(clipId: string, labels: readonly NewLabel[], source: 'human' | 'import', annotator: string | null, replace: boolean): LabelView[] {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      if (replace) this.deleteLabelsStatement.run(clipId, source);
      const ids = labels.map((l) =>
        Number(this.insertLabelStatement.run(clipId, l.label, l.onset_s ?? null, l.offset_s ?? null, source, annotator, now).lastInsertRowid),
      );
      const written = new Set(ids);
      return this.labels(clipId).filter((l) => written.has(l.id));
    })();
  }

  /** One batch of clips for an export: status ok, start in [since, until), after `after` (seq), in storage order. */
  exportBatch(after: number, since: string, until: string, labelledOnly: boolean, limit: number): ClipRecord[] {
    return (this.exportStatement.all({ after, since, until, labelled: labelledOnly ? 1 : 0, limit }) as Row[]).map(toClipRecord);
  }

  /** The `k` classes with the highest score over the event's patches (from the scores table). */
  topClasses(eventId: string, k: number): ClassScore[] {
    return this.topClassesStatement.all(eventId, k) as ClassScore[];
  }

  /** Every stored score row of an event, by patch then rank. */
  patchScores(eventId: string): PatchScore[] {
    return this.patchScoresStatement.all(eventId) as PatchScore[];
  }

  /** Stored events per group, clips per kind and status (with bytes), labels. */
  counts(): StoreCounts {
    return {
      events: this.countStatements.events.all() as StoreCounts['events'],
      clips: this.countStatements.clips.all() as StoreCounts['clips'],
      labels: (this.countStatements.labels.get() as { n: number }).n,
    };
  }
}

/** The API path of a clip's audio. */
export function clipUrl(id: string): string {
  return `/api/v1/clips/${id}`;
}

/** The public fields of a clip record (drops the file path and stream sample indices). */
export function toClipView(record: ClipRecord): ClipView {
  const { path: _path, stream_id: _stream, start_sample: _start, end_sample: _end, start_s: _startS, ...view } = record;
  return view;
}

function toClipRecord(row: Row): ClipRecord {
  const startSample = row.start_sample as number;
  const endSample = row.end_sample as number;
  const duration = Math.max(0, (endSample - startSample) / SAMPLE_RATE);
  const id = row.id as string;
  let event: ClipEventView | null = null;
  if (row.event_id && row.e_label !== null && row.e_label !== undefined) {
    // Sample indices are exact; seconds from stream start are the fallback for rows without them.
    const inClip = (sample: unknown, seconds: unknown, fallback: number) => {
      const t = typeof sample === 'number' ? (sample - startSample) / SAMPLE_RATE : typeof seconds === 'number' ? seconds - (row.start_s as number) : fallback;
      return Number(Math.min(duration, Math.max(0, t)).toFixed(6));
    };
    event = {
      id: row.event_id as string,
      label: row.e_label as string,
      group: row.e_grp as LabelGroup,
      onset_utc: row.e_onset_utc as string,
      peak_score: row.e_peak_score as number,
      threshold: (row.e_threshold as number | null) ?? null,
      model_id: row.e_model_id as string,
      model_sha256: row.e_model_sha256 as string,
      onset_in_clip_s: inClip(row.e_onset_sample, row.e_onset_s, 0),
      offset_in_clip_s: inClip(row.e_offset_sample, row.e_offset_s, duration),
    };
  }
  return {
    id,
    seq: row.seq as number,
    event_id: (row.event_id as string | null) ?? null,
    kind: row.kind as ClipView['kind'],
    group: (row.grp as LabelGroup | null) ?? null,
    format: row.format as ClipView['format'],
    start_utc: row.start_utc as string,
    end_utc: row.end_utc as string,
    duration_s: Number(duration.toFixed(6)),
    sample_rate: row.sample_rate as number,
    bytes: row.bytes as number,
    sha256: row.sha256 as string,
    gap_samples: row.gap_samples as number,
    status: row.status as ClipView['status'],
    created_utc: row.created_utc as string,
    labels: row.label_count as number,
    event,
    url: clipUrl(id),
    spectrogram_url: `${clipUrl(id)}/spectrogram.png`,
    path: row.path as string,
    stream_id: row.stream_id as string,
    start_sample: startSample,
    end_sample: endSample,
    start_s: row.start_s as number,
  };
}

function toLabelView(row: Row): LabelView {
  return {
    id: row.id as number,
    clip_id: row.clip_id as string,
    label: row.label as string,
    onset_s: row.onset_s as number | null,
    offset_s: row.offset_s as number | null,
    source: row.source as LabelView['source'],
    annotator: row.annotator as string | null,
    created_utc: row.created_utc as string,
  };
}
