/**
 * The daemon consumer that stores capture gaps (src/consumer.ts): after each chunk, the gaps the
 * source and the capture pump recorded go into the `gaps` table (gap-store.ts) with one warning
 * line each, saying what the pipeline did about them (bridged with zeros, or a front-end restart).
 */
import type { CaptureGap } from '../capture/timeline.js';
import { SAMPLE_RATE } from '../constants.js';
import type { DaemonConsumer } from '../consumer.js';
import type { StreamContext } from '../events.js';
import type { Logger } from '../log.js';
import type { GapStore } from './gap-store.js';
import { storeFaults } from './store-faults.js';

/** Where the gaps come from: the capture pump (the source's gaps plus its own backlog gaps). */
export interface GapSource {
  takeGaps?(): CaptureGap[];
}

/** What the recorder asks the pipeline (src/pipeline/pipeline.ts): how far it has read, and how it handled a gap. */
export interface GapHandlingView {
  readonly ring: { readonly endSample: number };
  /** `zero_fill` or `restart` for a gap the pipeline saw covering `[start, end)` samples, else null. */
  gapHandling(start: number, end: number): string | null;
}

/** The run's gap figures, updated in place as gaps are stored (the daemon's summary). */
export interface GapTally {
  gaps?: number;
  /** Seconds of audio lost, rounded to the microsecond. */
  lostSeconds?: number;
}

/** Stores the capture gaps of one stream. */
export class GapRecorder implements DaemonConsumer {
  readonly name = 'gaps';
  private readonly gapStore: GapStore;
  private readonly pending: CaptureGap[] = [];

  constructor(
    store: GapStore,
    private readonly source: GapSource,
    private readonly pipeline: GapHandlingView,
    private readonly context: StreamContext,
    private readonly log: Logger,
    private readonly tally: GapTally,
  ) {
    this.gapStore = store;
  }

  /** Stores the gaps the pipeline has read past. */
  afterChunk(): void {
    this.store(false);
  }

  /** Stores the gaps still waiting. */
  finish(): void {
    this.store(true);
  }

  private store(atEnd: boolean): void {
    const pending = this.pending;
    pending.push(...(this.source.takeGaps?.() ?? []));
    // The capture pump adds its own (backlog) gaps to the source's: keep them in stream order.
    pending.sort((a, b) => a.startSample - b.startSample);
    // A source records a gap before it delivers the chunk after it: wait until the pipeline has
    // seen that chunk, so the row can say what the pipeline did.
    const ready = atEnd ? pending.length : pending.findIndex((gap) => this.pipeline.ring.endSample <= gap.endSample);
    const gaps = pending.splice(0, ready < 0 ? pending.length : ready);
    for (const gap of gaps) this.record(gap);
  }

  private record(gap: CaptureGap): void {
    const { context, tally } = this;
    const startSeconds = gap.startSample / SAMPLE_RATE;
    const durationSeconds = (gap.endSample - gap.startSample) / SAMPLE_RATE;
    const handling = this.pipeline.gapHandling(gap.startSample, gap.endSample);
    try {
      this.gapStore.record({
        node_id: context.nodeId,
        stream_id: context.streamId,
        source: context.source,
        start_utc: new Date(context.streamStartMs + startSeconds * 1000).toISOString(),
        start_s: startSeconds,
        duration_s: durationSeconds,
        reason: gap.reason,
        handling,
        detail: Object.keys(gap.detail).length ? JSON.stringify(gap.detail) : null,
      });
    } catch (error) {
      // A write that fails (a full disk) is counted; the gap stays in the log line.
      storeFaults(this.gapStore.db).failed(error);
    }
    tally.gaps = (tally.gaps ?? 0) + 1;
    tally.lostSeconds = Number(((tally.lostSeconds ?? 0) + durationSeconds).toFixed(6));
    this.log.warn(
      {
        start_s: Number(startSeconds.toFixed(3)),
        lost_s: Number(durationSeconds.toFixed(3)),
        reason: gap.reason,
        handling: handling ?? undefined,
        ...gap.detail,
      },
      'capture gap',
    );
  }
}
