/**
 * The event record: what earshot stores, prints and publishes about one detected event. Built from
 * the detector's {@link DetectedEvent} plus the stream's context (node, model, wall clock).
 */
import type { DetectedEvent, EndReason } from './detect/detector.js';
import { SAMPLE_RATE } from './constants.js';
import type { LabelGroup } from './types.js';

/** Where an event was heard: fixed for one run of the pipeline. */
export interface StreamContext {
  readonly nodeId: string;
  /** Manifest id of the model, e.g. `yamnet`. */
  readonly modelId: string;
  /** sha256 (hex) of the model file. */
  readonly modelSha256: string;
  /** What was listened to, e.g. `file:/data/scene.wav`. */
  readonly source: string;
  /** One id per run (ULID): events of one stream share it. */
  readonly streamId: string;
  /** Wall-clock time of sample 0 of the stream, in ms since the Unix epoch. */
  readonly streamStartMs: number;
  /** Whether the system clock is NTP-synchronised now: true, false, or null when unknown (src/service/clock.ts). */
  readonly clockSynced?: () => boolean | null;
  /** The label's current threshold (0..1), or undefined when unknown. */
  readonly thresholdOf?: (label: string) => number | undefined;
}

/** A detected event as stored and published. Times: ISO-8601 UTC and seconds from stream start. */
export interface EventRecord {
  id: string;
  node_id: string;
  label: string;
  group: LabelGroup;
  onset_utc: string;
  /** null while the event is open. */
  offset_utc: string | null;
  onset_s: number;
  offset_s: number | null;
  peak_score: number;
  mean_score: number;
  /** null for digital silence. */
  peak_dbfs: number | null;
  patch_count: number;
  end_reason: EndReason | null;
  model_id: string;
  model_sha256: string;
  source: string;
  stream_id: string;
  /** Clock state when the event was heard: true NTP-synchronised, false not, null unknown (then `onset_utc` may be off; `onset_s` is not). */
  clock_synced?: boolean | null;
  /** The label's threshold when the event opened (0..1). */
  threshold?: number | null;
  /** Absolute 16 kHz stream sample indices of onset and offset (offset null while open). */
  onset_sample?: number;
  offset_sample?: number | null;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/**
 * Builds the record of `event`; `ended` says whether its offset is final.
 * Seconds are rounded to the millisecond, scores to 4 decimals, dBFS to 0.1 dB.
 */
export function toEventRecord(event: DetectedEvent, context: StreamContext, end: EndReason | null): EventRecord {
  const onsetS = event.onsetSample / SAMPLE_RATE;
  const offsetS = event.offsetSample / SAMPLE_RATE;
  const wall = (s: number) => new Date(context.streamStartMs + s * 1000).toISOString();
  return {
    id: event.id,
    node_id: context.nodeId,
    label: event.label,
    group: event.group,
    onset_utc: wall(onsetS),
    offset_utc: end ? wall(offsetS) : null,
    onset_s: round(onsetS, 3),
    offset_s: end ? round(offsetS, 3) : null,
    peak_score: round(event.peakScore, 4),
    mean_score: round(event.meanScore, 4),
    peak_dbfs: Number.isFinite(event.peakDbfs) ? round(event.peakDbfs, 1) : null,
    patch_count: event.patchCount,
    end_reason: end,
    model_id: context.modelId,
    model_sha256: context.modelSha256,
    source: context.source,
    stream_id: context.streamId,
    ...(context.clockSynced ? { clock_synced: context.clockSynced() } : {}),
    ...(context.thresholdOf ? { threshold: context.thresholdOf(event.label) ?? null } : {}),
    onset_sample: event.onsetSample,
    offset_sample: end ? event.offsetSample : null,
  };
}

/** The fields of an event's log lines (`hostile event: gunshot`, `event ended: ...`, `event not stored ...`). */
export function eventLogFields(record: EventRecord) {
  return {
    id: record.id,
    label: record.label,
    group: record.group,
    onset_s: record.onset_s,
    offset_s: record.offset_s,
    score: record.peak_score,
    peak_dbfs: record.peak_dbfs,
    end_reason: record.end_reason ?? undefined,
  };
}
