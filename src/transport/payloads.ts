/**
 * The payloads earshot publishes, built from event records and counters. Each has a JSON Schema in
 * docs/schemas/ (tests validate real payloads against them) and a section in docs/mqtt.md.
 */
import type { EventRecord } from '../events.js';
import type { OutboxMessage } from '../store/outbox.js';
import type { Topics } from './topics.js';
import type { MicrophoneHealthJson } from '../monitor/microphone-status.js';

/** The JSON published on `<prefix>/<node>/alert/<group>` at an event's onset (docs/schemas/alert.schema.json). */
export interface AlertPayload {
  /** The event id (ULID), the same as `events.id`: subscribers de-duplicate on it. */
  id: string;
  node_id: string;
  label: string;
  group: EventRecord['group'];
  /** Peak score (0..1) when the event was confirmed. */
  score: number;
  /** Wall-clock time of the onset, ISO-8601 UTC (the time of the sound, not of publishing). */
  onset_utc: string;
  /** Seconds from the start of the stream. */
  onset_s: number;
  /** Sample peak of the opening patches, dBFS (null for digital silence). */
  peak_dbfs: number | null;
  model_id: string;
  stream_id: string;
  /** Whether the system clock was synchronised (NTP) when the event was heard (null: unknown, e.g. no systemd): if not, `onset_utc` may be off. */
  clock_synced: boolean | null;
  /**
   * URL of the event's evidence clip (`<api.public_url>/api/v1/clips/<clip id>`) when the HTTP API
   * and clips are on, else null. The clip is written after the event's post-roll: until then the
   * URL answers 404.
   */
  clip_url: string | null;
  /** The head that scored the event (src/inference/head/), or null when the model's class scores alone did. */
  head: HeadSummary | null;
}

/** A head as alerts and the health message name it. */
export interface HeadSummary {
  /** sha256 of the head file. */
  sha256: string;
  /** When it was trained, ISO-8601 UTC. */
  trained_at: string;
  /** Clips it was trained on. */
  clip_count: number;
}

/** Extra facts an alert carries that the event record does not. */
export interface AlertContext {
  /** true, false, or null when unknown. */
  clockSynced: boolean | null;
  /** The full URL of the event's clip (its clip id, not the event id), or null. */
  clipUrl?: string | null;
  /** The head in use when the event was heard, or null. */
  head?: HeadSummary | null;
}

/** The alert payload for an event record at onset. */
export function alertPayload(record: EventRecord, context: AlertContext = { clockSynced: null }): AlertPayload {
  return {
    id: record.id,
    node_id: record.node_id,
    label: record.label,
    group: record.group,
    score: record.peak_score,
    onset_utc: record.onset_utc,
    onset_s: record.onset_s,
    peak_dbfs: record.peak_dbfs,
    model_id: record.model_id,
    stream_id: record.stream_id,
    clock_synced: context.clockSynced,
    clip_url: context.clipUrl ?? null,
    head: context.head ?? null,
  };
}

/**
 * The outbox messages of an event's onset, in publish order: the alert, the label's `ON`, and the
 * hostile state `ON` when this hostile event is the first one open (`hostileWasOff`).
 * @param qos QoS of all three (alerts are QoS 1 by default)
 */
export function onsetMessages(record: EventRecord, topics: Topics, qos: 0 | 1 | 2, context: AlertContext, hostileWasOff: boolean): OutboxMessage[] {
  const base = { qos, eventId: record.id, group: record.group };
  const messages: OutboxMessage[] = [
    { ...base, topic: topics.alert(record.group), payload: JSON.stringify(alertPayload(record, context)), retain: false },
    { ...base, topic: topics.event(record.label), payload: 'ON', retain: true },
  ];
  if (record.group === 'hostile' && hostileWasOff) messages.push({ ...base, topic: topics.hostile, payload: 'ON', retain: true });
  return messages;
}

/**
 * The outbox messages of an event's offset: the label's `OFF`, and the hostile state `OFF` when
 * this was the last open hostile event (`hostileNowOff`).
 */
export function offsetMessages(record: EventRecord, topics: Topics, qos: 0 | 1 | 2, hostileNowOff: boolean): OutboxMessage[] {
  const base = { qos, eventId: record.id, group: record.group };
  const messages: OutboxMessage[] = [{ ...base, topic: topics.event(record.label), payload: 'OFF', retain: true }];
  if (record.group === 'hostile' && hostileNowOff) messages.push({ ...base, topic: topics.hostile, payload: 'OFF', retain: true });
  return messages;
}

/** The JSON on `<prefix>/<node>/level` (docs/schemas/level.schema.json). */
export interface LevelPayload {
  node_id: string;
  /** End of the measured stretch, ISO-8601 UTC. */
  utc: string;
  /** Energy mean of the patch RMS levels over the interval, dBFS (null: digital silence). */
  rms_dbfs: number | null;
  /** Loudest patch RMS in the interval, dBFS (null: digital silence). */
  max_rms_dbfs: number | null;
  /** Seconds of audio the figures cover. */
  interval_s: number;
}

/** The retained JSON on `<prefix>/<node>/health` (docs/schemas/health.schema.json). */
export interface HealthPayload {
  node_id: string;
  utc: string;
  /** Seconds since the daemon started. */
  uptime_s: number;
  /** Seconds of audio processed in this run. */
  audio_s: number;
  /** Events in this run, and the hostile ones among them. */
  events: number;
  hostile_events: number;
  /** Outbox rows not yet acknowledged by the broker. */
  outbox_depth: number;
  /** Outbox rows dropped by the bound in this run. */
  outbox_dropped: number;
  mqtt_connected: boolean;
  /** true, false, or null when unknown (src/service/clock.ts). */
  clock_synced: boolean | null;
  /** The head in use (null without one). */
  head?: HeadSummary | null;
  /** Microphone health (docs/microphone.md), when microphone_health is enabled. */
  microphone?: MicrophoneHealthJson;
}

/** dBFS rounded to 0.1 dB; null for −∞ (digital silence). */
export function dbfsOrNull(dbfs: number): number | null {
  return Number.isFinite(dbfs) ? Number(dbfs.toFixed(1)) : null;
}

/**
 * Aggregates patch levels (from `Pipeline.onPatch`) into one {@link LevelPayload} every
 * `intervalSeconds` of audio.
 */
export class LevelMeter {
  private sumPower = 0;
  private maxDbfs = -Infinity;
  private count = 0;
  private windowStartS = -1;

  constructor(
    private readonly nodeId: string,
    private readonly intervalSeconds: number,
  ) {}

  /**
   * Adds one patch.
   * @param endS end of the patch, seconds of audio from stream start
   * @param rmsDbfs the patch RMS, dBFS
   * @returns a payload when this patch closed an interval, else null
   */
  observe(endS: number, rmsDbfs: number): LevelPayload | null {
    if (this.windowStartS < 0) this.windowStartS = Math.max(0, endS - 0.96);
    this.sumPower += Number.isFinite(rmsDbfs) ? 10 ** (rmsDbfs / 10) : 0;
    this.maxDbfs = Math.max(this.maxDbfs, rmsDbfs);
    this.count += 1;
    if (endS - this.windowStartS < this.intervalSeconds) return null;
    const payload: LevelPayload = {
      node_id: this.nodeId,
      utc: new Date().toISOString(),
      rms_dbfs: dbfsOrNull(10 * Math.log10(this.sumPower / this.count)),
      max_rms_dbfs: dbfsOrNull(this.maxDbfs),
      interval_s: Number((endS - this.windowStartS).toFixed(3)),
    };
    this.sumPower = 0;
    this.maxDbfs = -Infinity;
    this.count = 0;
    this.windowStartS = endS;
    return payload;
  }
}
