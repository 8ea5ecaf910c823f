/**
 * The `<prefix>/<node>/events` topic: each event's lifecycle as JSON, as Frigate users automate
 * on (docs/mqtt.md, docs/schemas/events.schema.json): `start` at the onset, `update` whenever the
 * open event's peak score rises (at most once per patch), `end` at the offset with the duration,
 * the end reason and the clip URL. The alert topic (one message per event) stays as it is.
 */
import type { EventRecord } from '../events.js';
import type { OutboxMessage } from '../store/outbox.js';

/** The JSON on `<prefix>/<node>/events`. */
export interface EventLifecyclePayload {
  type: 'start' | 'update' | 'end';
  /** The event id (ULID), as in the alert and the database. */
  id: string;
  node_id: string;
  label: string;
  group: EventRecord['group'];
  onset_utc: string;
  onset_s: number;
  /** Peak label score so far (start: at confirmation; update: the new peak; end: the final peak). */
  score: number;
  /** Sample peak so far, dBFS (null: digital silence). */
  peak_dbfs: number | null;
  model_id: string;
  stream_id: string;
  /** true, false, or null when unknown. */
  clock_synced: boolean | null;
  /** The event's clip (its clip id), or null without API or clips; it answers once written (after the post-roll). */
  clip_url: string | null;
  /** end only: the offset, wall clock (ISO-8601 UTC) and seconds from the stream start. */
  offset_utc?: string;
  offset_s?: number;
  /** end only: offset − onset, seconds. */
  duration_s?: number;
  /** end only: mean label score over the event's patches. */
  mean_score?: number;
  /** end only: why it ended (e.g. `score_dropped`, `max_duration`, `stream_end`, `shutdown`). */
  end_reason?: string | null;
}

/** What an open event shows while it grows (the detector's event object, updated in place). */
export interface LiveEvent {
  readonly peakScore: number;
  readonly peakDbfs: number;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * Builds the lifecycle messages of a run's events; the caller queues them (outbox) in order with
 * the event's other messages.
 */
export class EventLifecycle {
  private readonly open = new Map<string, { record: EventRecord; clipUrl: string | null; live: LiveEvent | null; sentPeak: number; sentDbfs: number | null }>();

  /**
   * @param topic `<prefix>/<node>/events`
   * @param qos the alerts' QoS
   */
  constructor(
    private readonly topic: string,
    private readonly qos: 0 | 1 | 2,
  ) {}

  /** The `start` message of an onset; `live` (the detector's event) feeds later updates. */
  start(record: EventRecord, clockSynced: boolean | null, clipUrl: string | null, live?: LiveEvent): OutboxMessage {
    this.open.set(record.id, { record, clipUrl, live: live ?? null, sentPeak: record.peak_score, sentDbfs: record.peak_dbfs });
    return this.message(record, { type: 'start', ...this.common(record, clockSynced, clipUrl), score: record.peak_score, peak_dbfs: record.peak_dbfs });
  }

  /** `update` messages of the open events whose peak score rose since their last message. */
  updates(clockSynced: boolean | null): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    for (const entry of this.open.values()) {
      if (!entry.live) continue;
      const peak = round(entry.live.peakScore, 4);
      if (peak <= entry.sentPeak) continue;
      const dbfs = Number.isFinite(entry.live.peakDbfs) ? round(entry.live.peakDbfs, 1) : null;
      entry.sentPeak = peak;
      entry.sentDbfs = dbfs;
      out.push(this.message(entry.record, { type: 'update', ...this.common(entry.record, clockSynced, entry.clipUrl), score: peak, peak_dbfs: dbfs }));
    }
    return out;
  }

  /** The `end` message of an offset (`record` is the final one). */
  end(record: EventRecord, clockSynced: boolean | null, clipUrl: string | null): OutboxMessage {
    const entry = this.open.get(record.id);
    this.open.delete(record.id);
    const offsetS = record.offset_s ?? record.onset_s;
    return this.message(record, {
      type: 'end',
      ...this.common(record, clockSynced, clipUrl ?? entry?.clipUrl ?? null),
      score: record.peak_score,
      peak_dbfs: record.peak_dbfs,
      offset_utc: record.offset_utc ?? record.onset_utc,
      offset_s: offsetS,
      duration_s: round(offsetS - record.onset_s, 3),
      mean_score: record.mean_score,
      end_reason: record.end_reason,
    });
  }

  private common(record: EventRecord, clockSynced: boolean | null, clipUrl: string | null) {
    return {
      id: record.id,
      node_id: record.node_id,
      label: record.label,
      group: record.group,
      onset_utc: record.onset_utc,
      onset_s: record.onset_s,
      model_id: record.model_id,
      stream_id: record.stream_id,
      clock_synced: record.clock_synced !== undefined ? record.clock_synced : clockSynced,
      clip_url: clipUrl,
    };
  }

  private message(record: EventRecord, payload: EventLifecyclePayload): OutboxMessage {
    return { topic: this.topic, payload: JSON.stringify(payload), qos: this.qos, retain: false, eventId: record.id, group: record.group };
  }
}
