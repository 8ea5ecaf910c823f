/**
 * What the running daemon tells the HTTP API about itself, for `/healthz` and `/metrics`: when the
 * last audio chunk arrived (wall clock), whether inference keeps up (the real-time factor of
 * src/monitor/health.ts), and how deep the MQTT outbox is. The daemon feeds it one call per chunk;
 * the API only reads it.
 */
import { performance } from 'node:perf_hooks';
import type { DaemonConsumer } from '../consumer.js';
import type { InferenceStatus } from '../inference/types.js';
import type { MicrophoneStatusSource } from '../monitor/microphone-status.js';
import { DEFAULT_HEALTH_OPTIONS, PipelineHealth } from '../monitor/health.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';

/** A reading of {@link LiveStatus}. */
export interface LiveSnapshot {
  /** Wall-clock time the last chunk was processed (ms since the Unix epoch), null before the first. */
  lastChunkUtcMs: number | null;
  /** Seconds since then (monotonic clock), null before the first chunk. */
  lastChunkAgeSeconds: number | null;
  /** Pipeline processing time / audio time over the last 10 s of wall time (0 before any chunk). */
  realTimeFactor: number;
  /** Seconds of audio through the pipeline (end of the last chunk). */
  audioSeconds: number;
  /** Unsent MQTT outbox rows, or null when the daemon publishes to no broker. */
  outboxDepth: number | null;
  /** Capture is stalled after this many seconds without a chunk; inference falls behind above this real-time factor. */
  stallSeconds: number;
  maxRealTimeFactor: number;
  /** The inference scheduler's figures (lag, degraded mode, skipped and failed patches), once it runs. */
  inference: InferenceStatus | null;
}

/** The daemon's live figures (one per run of the daemon). */
export class LiveStatus {
  private readonly health = new PipelineHealth(DEFAULT_HEALTH_OPTIONS);
  private lastChunkUtcMs: number | null = null;
  private lastChunkMonotonicMs: number | null = null;
  private audioSeconds = 0;
  /** Set by the daemon once its patch scheduler exists (the API starts before it). */
  inference: InferenceStatus | null = null;
  /** Set by the daemon when microphone_health is enabled (docs/microphone.md). */
  microphone: MicrophoneStatusSource | null = null;
  /**
   * Set by the daemon: is the clock NTP-synchronised (true, false, or null when unknown), from
   * its one clock checker (src/service/clock.ts), as alerts, events and the MQTT health say it.
   */
  clockSynced: (() => boolean | null) | null = null;

  /** @param outboxDepth reads the unsent outbox rows; omitted when there is no MQTT publisher */
  constructor(private readonly outboxDepth?: () => number) {}

  /**
   * Records one chunk the pipeline processed.
   * @param processingMs the pipeline's time for it (front end, model, detector), milliseconds
   */
  chunk(chunk: AudioChunk, processingMs: number): void {
    const now = performance.now();
    this.health.chunk(chunk, processingMs, now);
    this.lastChunkMonotonicMs = now;
    this.lastChunkUtcMs = Date.now();
    this.audioSeconds = (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
  }

  /** The current figures; reading the outbox depth is one indexed COUNT on the database. */
  snapshot(): LiveSnapshot {
    const now = performance.now();
    let outboxDepth: number | null = null;
    try {
      outboxDepth = this.outboxDepth ? this.outboxDepth() : null;
    } catch {
      // A closed database during shutdown: the depth is simply unknown.
    }
    return {
      lastChunkUtcMs: this.lastChunkUtcMs,
      lastChunkAgeSeconds: this.lastChunkMonotonicMs === null ? null : (now - this.lastChunkMonotonicMs) / 1000,
      realTimeFactor: this.health.realTimeFactor(now),
      audioSeconds: this.audioSeconds,
      outboxDepth,
      stallSeconds: this.health.options.stallSeconds,
      maxRealTimeFactor: this.health.options.maxRealTimeFactor,
      inference: this.inference,
    };
  }
}

/** The live figures as a daemon consumer (src/consumer.ts): one {@link LiveStatus.chunk} after each chunk. */
export function liveStatusConsumer(live: LiveStatus): DaemonConsumer {
  return { name: 'live status', afterChunk: (chunk, processingMs) => live.chunk(chunk, processingMs) };
}
