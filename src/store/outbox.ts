/**
 * The MQTT outbox: messages that must not be lost (alerts, event and hostile ON/OFF states) are
 * rows of the `outbox` table, inserted in the same SQLite transaction as the event row they
 * describe, and marked sent only when the broker acknowledged them (PUBACK). A publisher
 * (src/transport/mqtt-publisher.ts) drains unsent rows in `seq` order; after a broker outage or a
 * daemon restart (even `kill -9`) the next drain starts from the oldest unsent row.
 *
 * This is the transactional-outbox pattern (Richardson, "Microservices Patterns", ch. 3): the
 * state change and the message that announces it commit or roll back together.
 */
import type Database from 'better-sqlite3';
import type { LabelGroup } from '../types.js';
import { storeFaults } from './store-faults.js';

/** One message to publish. */
export interface OutboxMessage {
  topic: string;
  /** UTF-8 text (JSON, `ON`/`OFF`...). */
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The event the message describes, if any. */
  eventId: string | null;
  /** The event's group: when the outbox is full, `non_hostile` (and group-less) rows go first. */
  group: LabelGroup | null;
}

/** An outbox row as read back for publishing. */
export interface OutboxRow extends OutboxMessage {
  seq: number;
  createdUtc: string;
}

/** A row removed by the bound before it was sent. */
export interface DroppedRow {
  seq: number;
  topic: string;
  eventId: string | null;
  group: LabelGroup | null;
}

interface RawRow {
  seq: number;
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: number;
  event_id: string | null;
  grp: LabelGroup | null;
  created_utc: string;
}

/** How long sent rows are kept (for inspection: "was alert X delivered, and when?"). */
export const KEEP_SENT_MS = 24 * 3600 * 1000;

/**
 * Reads and writes the `outbox` table of an open database (see `openDatabase`).
 * Not safe for two processes draining the same database at once (one daemon per database).
 */
export class Outbox {
  /**
   * Rows handed to the MQTT connection and awaiting PUBACK: the bound never drops them (they may
   * already be delivered). The publisher maintains this set.
   */
  readonly inFlight = new Set<number>();
  /**
   * Rows the broker acknowledged whose `sent_utc` could not be written (a full disk): delivered,
   * so not counted in {@link depth}; still unsent in the table, so sent again at the next start.
   */
  readonly deliveredUnmarked = new Set<number>();
  /** Rows dropped by the bound since this object was made. */
  dropped = 0;
  /** Highest unsent depth (after the bound) seen since this object was made. */
  peakDepth = 0;
  private readonly insertStatement: Database.Statement;
  private readonly markSentStatement: Database.Statement;
  private readonly depthStatement: Database.Statement;

  /**
   * @param db an open earshot database (schema version ≥ 2)
   * @param maxUnsent bound on unsent rows; beyond it the oldest unsent rows are dropped,
   *   `non_hostile` and group-less first, then `hostile`
   * @param onDrop called for each dropped row (to log it)
   */
  constructor(
    private readonly db: Database.Database,
    private readonly maxUnsent: number,
    private readonly onDrop: (row: DroppedRow) => void = () => {},
  ) {
    this.insertStatement = db.prepare('INSERT INTO outbox (topic, payload, qos, retain, event_id, grp, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.markSentStatement = db.prepare('UPDATE outbox SET sent_utc = ? WHERE seq = ? AND sent_utc IS NULL');
    this.depthStatement = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL');
    this.peakDepth = this.depth();
  }

  /**
   * Appends messages (in this order) and applies the bound. Call it inside the transaction that
   * writes the event row, so both commit or neither does.
   * @returns the seq of each inserted row
   */
  add(messages: readonly OutboxMessage[], now = new Date()): number[] {
    const created = now.toISOString();
    const seqs = messages.map((m) =>
      Number(this.insertStatement.run(m.topic, m.payload, m.qos, m.retain ? 1 : 0, m.eventId, m.group, created).lastInsertRowid),
    );
    this.enforceBound();
    return seqs;
  }

  /** Unsent rows (never sent, whatever is in flight), less those delivered but not marked (a full disk). */
  depth(): number {
    return Math.max(0, (this.depthStatement.get() as { n: number }).n - this.deliveredUnmarked.size);
  }

  /**
   * The oldest unsent rows after `afterSeq`, in seq order, skipping rows in flight.
   * @param limit at most this many rows
   */
  nextUnsent(afterSeq: number, limit: number): OutboxRow[] {
    const rows = this.db
      .prepare('SELECT seq, topic, payload, qos, retain, event_id, grp, created_utc FROM outbox WHERE sent_utc IS NULL AND seq > ? ORDER BY seq LIMIT ?')
      .all(afterSeq, limit + this.inFlight.size) as RawRow[];
    return rows
      .filter((r) => !this.inFlight.has(r.seq))
      .slice(0, limit)
      .map((r) => ({
        seq: r.seq,
        topic: r.topic,
        payload: r.payload,
        qos: r.qos,
        retain: r.retain === 1,
        eventId: r.event_id,
        group: r.grp,
        createdUtc: r.created_utc,
      }));
  }

  /**
   * Marks a row sent (on PUBACK).
   * @returns false when the row was no longer unsent (dropped by the bound, or already marked)
   */
  markSent(seq: number, now = new Date()): boolean {
    try {
      const marked = this.markSentStatement.run(now.toISOString(), seq).changes === 1;
      storeFaults(this.db).succeeded();
      return marked;
    } catch (error) {
      // A full disk: the message was delivered but stays unsent in the table, so it is sent
      // again at the next start (at-least-once, as after a crash); the daemon listens on.
      storeFaults(this.db).failed(error);
      this.deliveredUnmarked.add(seq);
      return false;
    }
  }

  /**
   * Deletes rows sent more than `keepMs` ago (default one day), except the latest retained row of
   * each topic ({@link retainedStates} needs it). @returns rows deleted
   */
  pruneSent(keepMs = KEEP_SENT_MS, now = Date.now()): number {
    try {
      return this.db
        .prepare('DELETE FROM outbox WHERE sent_utc IS NOT NULL AND sent_utc < ? AND seq NOT IN (SELECT MAX(seq) FROM outbox WHERE retain = 1 GROUP BY topic)')
        .run(new Date(now - keepMs).toISOString()).changes;
    } catch (error) {
      // Even a delete needs room in the WAL: on a full disk the next pass tries again.
      storeFaults(this.db).failed(error);
      return 0;
    }
  }

  /**
   * The latest retained message of each topic (sent or not): the state subscribers have or will
   * have. After a crash it tells which `ON` states were never followed by `OFF`.
   */
  retainedStates(): Map<string, { payload: string; group: LabelGroup | null; eventId: string | null }> {
    const rows = this.db
      .prepare('SELECT topic, payload, grp, event_id FROM outbox WHERE seq IN (SELECT MAX(seq) FROM outbox WHERE retain = 1 GROUP BY topic) ORDER BY seq')
      .all() as { topic: string; payload: string; grp: LabelGroup | null; event_id: string | null }[];
    return new Map(rows.map((r) => [r.topic, { payload: r.payload, group: r.grp, eventId: r.event_id }]));
  }

  private enforceBound(): void {
    let depth = this.depth();
    if (depth <= this.maxUnsent) {
      if (depth > this.peakDepth) this.peakDepth = depth;
      return;
    }
    // Non-hostile (and group-less) first, oldest first; hostile only when nothing else is left.
    const candidates = this.db
      .prepare(`SELECT seq, topic, event_id, grp FROM outbox WHERE sent_utc IS NULL
                ORDER BY CASE WHEN grp = 'hostile' THEN 1 ELSE 0 END, seq LIMIT ?`)
      .all(depth - this.maxUnsent + this.inFlight.size) as Pick<RawRow, 'seq' | 'topic' | 'event_id' | 'grp'>[];
    const remove = this.db.prepare('DELETE FROM outbox WHERE seq = ?');
    for (const row of candidates) {
      if (depth <= this.maxUnsent) break;
      if (this.inFlight.has(row.seq)) continue;
      remove.run(row.seq);
      depth -= 1;
      this.dropped += 1;
      this.onDrop({ seq: row.seq, topic: row.topic, eventId: row.event_id, group: row.grp });
    }
    if (depth > this.peakDepth) this.peakDepth = depth;
  }
}
