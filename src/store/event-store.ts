/**
 * The `events` table: a row is inserted at an event's onset and completed at its offset, so an
 * event cut short by a crash is still on record (with a NULL offset).
 */
import type Database from 'better-sqlite3';
import type { DaemonConsumer } from '../consumer.js';
import { eventLogFields, type EventRecord } from '../events.js';
import type { Logger } from '../log.js';
import type { OutboxMessage } from './outbox.js';
import { storeFaults } from './store-faults.js';

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

/**
 * What the event store needs of MQTT alerts (src/transport/mqtt-alerts.ts `MqttAlerts`): the
 * messages of an onset or offset, queued in the outbox in the transaction that writes the event
 * row (docs/mqtt.md), and the way around the outbox when that transaction fails.
 */
export interface EventMessages {
  onsetMessages(record: EventRecord, live?: { readonly peakScore: number; readonly peakDbfs: number }): OutboxMessage[];
  offsetMessages(record: EventRecord): OutboxMessage[];
  readonly outbox: { add(messages: readonly OutboxMessage[]): unknown };
  /** After a transaction with outbox rows committed: publish them. */
  notify(): void;
  /** Publishes messages whose outbox rows could not be written, straight to the broker. */
  publishDirect(messages: readonly OutboxMessage[]): void;
}

/**
 * The daemon consumer that stores events (src/consumer.ts `onEvent`): the row at the onset, its
 * completion at the offset, each in one transaction with the event's MQTT outbox rows. A row that
 * cannot be written (a full disk, docs/storage.md) never stops the daemon and never throws: the
 * failure is counted (store-faults.ts), the event's messages go straight to MQTT, the last place
 * it can reach, and the log gets one error line naming the event. Put it after the clip recorder
 * in the daemon's list: an alert links to the clip id the recorder chose at the onset.
 * @param mqtt the run's MQTT alerts, or null without a broker
 */
export function eventStoreConsumer(db: Database.Database, log: Logger, mqtt: EventMessages | null): DaemonConsumer {
  const store = new EventStore(db);
  const faults = storeFaults(db);
  const write = (record: EventRecord, messages: OutboxMessage[], row: (record: EventRecord) => void) => {
    try {
      db.transaction(() => {
        row(record);
        mqtt?.outbox.add(messages);
      })();
      faults.succeeded();
      mqtt?.notify();
    } catch (error) {
      const full = faults.failed(error);
      if (mqtt) {
        mqtt.publishDirect(messages);
        faults.counts.directPublishes += messages.length;
      }
      log.error(
        { err: error as Error, disk_full: full, ...eventLogFields(record), published_direct: mqtt ? messages.length : 0 },
        `event not stored (${full ? 'disk full' : (error as Error).message})${mqtt ? ': published to MQTT without the outbox' : ''}`,
      );
    }
  };
  return {
    name: 'events',
    onEvent: ({ output, record }) => {
      if (output.kind === 'onset') write(record, mqtt?.onsetMessages(record, output.event) ?? [], (r) => store.recordOnset(r));
      else write(record, mqtt?.offsetMessages(record) ?? [], (r) => store.recordOffset(r));
    },
  };
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
