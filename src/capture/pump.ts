/**
 * Keeps capture independent of inference: reads an {@link AudioSource} continuously into a queue
 * that the pipeline takes chunks from at its own pace, so a slow model never stalls the device
 * (with `arecord`, a reader that stops reading is an ALSA overrun: lost audio).
 *
 * Two modes:
 * - real time (a microphone, a serial MCU, a file replayed in real time): the source is read as
 *   fast as it delivers. The queue (the backlog) may hold up to `maxBacklogSamples` (the ring
 *   buffer's length); beyond that the oldest queued chunks are dropped and recorded as a capture
 *   gap with reason `backlog`, which the daemon stores and logs like any other gap: a real loss,
 *   never a silent one.
 * - paced by the consumer (a file read as fast as possible): the pump reads at most
 *   `readAheadChunks` ahead, so nothing is ever dropped and memory stays bounded.
 */
import type { AudioSource } from './source.js';
import type { CaptureGap } from './timeline.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';

/** Options of {@link CapturePump}. */
export interface PumpOptions {
  /** true: read as the source delivers, drop the oldest beyond `maxBacklogSamples`; false: read ahead at most `readAheadChunks`. */
  realtime: boolean;
  /** Real time: the most samples the backlog may hold before its oldest chunks are dropped. */
  maxBacklogSamples: number;
  /** Paced by the consumer: chunks read ahead (default 8). */
  readAheadChunks?: number;
}

/** Figures of a {@link CapturePump}. */
export interface PumpCounters {
  /** Chunks read from the source. */
  chunks: number;
  /** Chunks dropped because the backlog exceeded its bound, and their samples. */
  droppedChunks: number;
  droppedSamples: number;
  /** The largest backlog seen, in samples. */
  maxBacklogSamples: number;
}

/** Reads a source into a queue; iterate {@link chunks} once. */
export class CapturePump {
  private readonly queue: AudioChunk[] = [];
  private queuedSamples = 0;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wakeConsumer: (() => void) | null = null;
  private wakeReader: (() => void) | null = null;
  private readonly gaps: CaptureGap[] = [];
  private newest = -1;
  private started = false;
  private abandoned = false;
  readonly counters: PumpCounters = { chunks: 0, droppedChunks: 0, droppedSamples: 0, maxBacklogSamples: 0 };

  constructor(
    private readonly source: AudioSource,
    private readonly options: PumpOptions,
  ) {}

  /** Absolute index one past the newest sample captured (read from the source); −1 before the first chunk. */
  get newestSample(): number {
    return this.newest;
  }

  /** Samples captured but not yet taken by the consumer. */
  get backlogSamples(): number {
    return this.queuedSamples;
  }

  /** Seconds of audio captured but not yet taken by the consumer. */
  get backlogSeconds(): number {
    return this.queuedSamples / SAMPLE_RATE;
  }

  /**
   * The queued chunks, in order, as the source delivered them (minus any dropped from an
   * overfull backlog); ends after the source ends and the queue is drained.
   * @throws what the source threw, once the chunks read before the failure have been delivered
   */
  async *chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    if (this.started) throw new Error('CapturePump.chunks() can only be iterated once');
    this.started = true;
    void this.read();
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk) {
          this.queuedSamples -= chunk.samples.length;
          this.wakeReader?.();
          yield chunk;
          continue;
        }
        if (this.failure) throw this.failure.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
        this.wakeConsumer = null;
      }
    } finally {
      // A consumer that leaves early (an error downstream) must not leave the device running.
      if (!this.ended) {
        this.abandoned = true;
        this.source.stop();
        this.wakeReader?.();
      }
    }
  }

  /** The gaps the source recorded and the pump's own `backlog` gaps since the last call, oldest first. */
  takeGaps(): CaptureGap[] {
    const gaps = [...(this.source.takeGaps?.() ?? []), ...this.gaps.splice(0)];
    return gaps.sort((a, b) => a.startSample - b.startSample);
  }

  /** Stops the source; chunks already queued are still delivered. */
  stop(): void {
    this.source.stop();
  }

  private async read(): Promise<void> {
    try {
      for await (const chunk of this.source.chunks()) {
        this.counters.chunks += 1;
        this.newest = Math.max(this.newest, chunk.startSample + chunk.samples.length);
        this.queue.push(chunk);
        this.queuedSamples += chunk.samples.length;
        if (this.options.realtime) this.bound();
        this.counters.maxBacklogSamples = Math.max(this.counters.maxBacklogSamples, this.queuedSamples);
        this.wakeConsumer?.();
        if (!this.options.realtime) {
          while (this.queue.length >= (this.options.readAheadChunks ?? 8) && !this.abandoned) await new Promise<void>((resolve) => (this.wakeReader = resolve));
          this.wakeReader = null;
        }
        if (this.abandoned) break;
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.ended = true;
      this.wakeConsumer?.();
    }
  }

  /** Drops the oldest queued chunks while the backlog exceeds its bound (the newest chunk stays). */
  private bound(): void {
    while (this.queuedSamples > this.options.maxBacklogSamples && this.queue.length > 1) {
      const dropped = this.queue.shift()!;
      const length = dropped.samples.length;
      this.queuedSamples -= length;
      this.counters.droppedChunks += 1;
      this.counters.droppedSamples += length;
      const last = this.gaps[this.gaps.length - 1];
      const end = dropped.startSample + length;
      if (last && last.endSample === dropped.startSample) {
        this.gaps[this.gaps.length - 1] = { ...last, endSample: end, detail: { chunks: Number(last.detail.chunks) + 1 } };
      } else {
        this.gaps.push({ startSample: dropped.startSample, endSample: end, reason: 'backlog', detail: { chunks: 1 } });
      }
    }
  }
}
