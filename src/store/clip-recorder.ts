/**
 * The daemon's evidence recorder: one clip per event, cut from the pipeline's ring buffer once
 * the post-roll has been heard, plus a few background clips (no event) as negatives for
 * training. Each clip is written atomically (clip-writer.ts), then its row and its event's
 * top-k scores (what the model heard in each patch) go into the database in one transaction.
 *
 * Timeline of one event: onset reported (the detector confirms it up to a patch after the
 * sound) → offset reported → the ring buffer reaches `offset + post_roll` → the recorder copies
 * `[onset − pre_roll, offset + post_roll)` out of the ring (synchronously, before the ring can
 * overwrite it) and queues the write. Writes run one at a time, in the order the clips became
 * ready, off the audio path (the chunk loop does not wait for fsync).
 *
 * A clip never exceeds `clips.max_seconds`, nor what the ring holds: an event that goes on longer
 * keeps its beginning (`onset − pre_roll` onward), the part that says what happened; its scores
 * still cover the whole event.
 */
import { join, relative, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { ulid } from 'ulid';
import type { RingBuffer } from '../capture/ring-buffer.js';
import type { EarshotConfig } from '../config/schema.js';
import type { DaemonConsumer } from '../consumer.js';
import type { DetectedEvent, DetectorOutput } from '../detect/detector.js';
import type { StreamContext } from '../events.js';
import { Patcher } from '../frontend/patcher.js';
import type { Logger } from '../log.js';
import type { PatchReport } from '../detect/patch-report.js';
import { fnv1a32, mulberry32 } from '../random.js';
import { MAX_ZERO_FILL_SECONDS, SAMPLE_RATE } from '../constants.js';
import { ClipStore, bytesWrittenToday, type ClipRow, type ScoreRow } from './clip-store.js';
import { flacEncoder, writeClipFile, type ClipFileMetadata } from './clip-writer.js';
import { storeFaults } from './store-faults.js';

/**
 * The recorder as a daemon consumer (src/consumer.ts): each patch's top-k scores, the detector's
 * onsets and offsets, the cuts after each chunk, and {@link ClipRecorder.close} when the daemon
 * stops (clips still waiting are cut with the post-roll heard so far and written before MQTT
 * drains and the database closes: both come earlier in the daemon's list, so they stop later).
 * Put it before the event store in the list: an alert links to the clip id chosen at the onset.
 */
export function clipRecorderConsumer(recorder: ClipRecorder): DaemonConsumer {
  return {
    name: 'clips',
    onPatch: (report) => recorder.observePatch(report),
    onEvent: ({ output }) => recorder.observe([output]),
    afterChunk: () => recorder.afterChunk(),
    stop: () => recorder.close(),
  };
}

/** Samples one patch spans (0.975 s): the shortest event the detector reports. */
const PATCH_SAMPLES = new Patcher().patchSamples;

/**
 * A background stretch counts as event-free once the detector has seen this much audio past its
 * end (plus the pre-roll): an event whose onset falls in the stretch is reported within a patch
 * plus a few voting hops of analysed audio (≈ 1–3 s with the shipped settings).
 */
const DETECTION_LATENCY_SECONDS = 5;

/** What a {@link ClipRecorder} needs. */
export interface ClipRecorderOptions {
  db: Database.Database;
  /** config.data_dir: clip paths are stored relative to it. */
  dataDir: string;
  clips: EarshotConfig['clips'];
  /** The pipeline's ring buffer (the audio clips are cut from). */
  ring: RingBuffer;
  /** The primary model's class names in output order (for the top-k scores); a function when a hot reload can swap the model. */
  classNames: readonly string[] | (() => readonly string[]);
  context: StreamContext;
  log: Logger;
  /** Seconds of audio per source chunk: how far the ring moves between two {@link ClipRecorder.afterChunk} calls. */
  chunkSeconds: number;
  /** Uniform numbers in [0, 1) placing background clips (default: a generator seeded from the stream id). */
  random?: () => number;
  /**
   * The pipeline's patch hop, samples. When given, the pre-roll is rounded up to whole hops (down
   * if the ring has no room), so a clip starts on the stream's patch grid: re-analysing the clip
   * (`earshot analyze`) scores the event's patches on exactly the samples the daemon scored.
   */
  hopSamples?: number;
}

/** What the recorder did in one run. */
export interface ClipRecorderCounts {
  eventClips: number;
  backgroundClips: number;
  /** Bytes of clip files written. */
  bytes: number;
  /** Clips whose file could not be written (disk full, permissions...): logged, scores still stored. */
  failed: number;
  /** Event clips that could not be cut because the ring no longer held any of their audio. */
  lost: number;
}

/** One classified patch, reduced to its top-k classes. */
interface PatchTop {
  index: number;
  startSample: number;
  endSample: number;
  top: { cls: string; score: number }[];
}

/** An event the recorder follows until its clip and scores are stored. */
interface Tracked {
  event: DetectedEvent;
  /** The id its clip will have, chosen at onset so the alert can link to it (the clip is written after the post-roll). */
  clipId: string;
  ended: boolean;
  clipCut: boolean;
  scoresStored: boolean;
}

/** A clip copied out of the ring, waiting for its turn to be written. */
interface CutClip {
  metadata: ClipFileMetadata;
  samples: Float32Array;
  label: string | null;
}

/** A background clip candidate: `[start, end)` inside the slot ending at `slotEnd`. */
interface BackgroundCandidate {
  start: number;
  end: number;
  slotEnd: number;
}

/**
 * Cuts, writes and records evidence clips for one stream. Feed it every patch report
 * ({@link observePatch}), every detector output ({@link observe}), call {@link afterChunk} after
 * each chunk went through the pipeline, and {@link close} at the end (before the database closes).
 */
export class ClipRecorder {
  readonly counts: ClipRecorderCounts = { eventClips: 0, backgroundClips: 0, bytes: 0, failed: 0, lost: 0 };
  /** Effective pre-roll, post-roll and longest clip, in samples (after clamping to the ring). */
  readonly preRollSamples: number;
  readonly postRollSamples: number;
  readonly maxClipSamples: number;
  /** Effective format: `flac` only when the encoder is on PATH. */
  readonly format: 'wav' | 'flac';
  private readonly store: ClipStore;
  private readonly clipsDir: string;
  private readonly topK: number;
  private readonly tracked = new Map<string, Tracked>();
  private patches: PatchTop[] = [];
  /** Clip spans `[onset − pre, offset + post)` of events already done, kept while background candidates may overlap them. */
  private recentSpans: { start: number; end: number }[] = [];
  /** One past the last sample heard from the source (the stream-end padding is not heard audio). */
  private heardEnd = -1;
  /** End of the latest patch the detector has seen (classified, gated or skipped): inference may lag behind capture. */
  private analysedEnd = -1;
  private streamOrigin = -1;
  private readonly backgroundSlotSamples: number;
  private readonly backgroundSamples: number;
  private readonly settleSamples: number;
  private background: BackgroundCandidate | null = null;
  private readonly random: () => number;
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;
  /** The options, with `log` the `clips` component's logger. */
  private readonly options: ClipRecorderOptions;

  /**
   * Clamps pre-roll, post-roll, the longest clip and the background length to what the ring
   * holds (one warning each when it must). The caller wires {@link observePatch} into
   * `Pipeline.onPatch` and {@link observe} into its handling of detector outputs.
   */
  constructor(options: ClipRecorderOptions) {
    this.options = { ...options, log: options.log.child({ component: 'clips' }) };
    const { clips, ring, log } = this.options;
    this.store = new ClipStore(options.db);
    this.clipsDir = resolve(options.dataDir, clips.dir);
    this.topK = clips.top_k;
    this.random = options.random ?? mulberry32(fnv1a32(options.context.streamId));
    // Between two checks the ring moves by one chunk plus a bridged gap: that much must stay spare.
    const margin = Math.ceil((options.chunkSeconds + MAX_ZERO_FILL_SECONDS) * SAMPLE_RATE);
    const capacity = ring.capacitySamples;
    let pre = Math.round(clips.pre_roll_seconds * SAMPLE_RATE);
    let post = Math.round(clips.post_roll_seconds * SAMPLE_RATE);
    const room = capacity - PATCH_SAMPLES - margin;
    if (pre + post > room) {
      const scale = Math.max(0, room) / (pre + post);
      pre = Math.floor(pre * scale);
      post = Math.floor(post * scale);
      log.warn(
        { ring_buffer_s: capacity / SAMPLE_RATE, pre_roll_s: pre / SAMPLE_RATE, post_roll_s: post / SAMPLE_RATE },
        `ring_buffer_seconds is too short for clips.pre_roll_seconds ${clips.pre_roll_seconds} + clips.post_roll_seconds ${clips.post_roll_seconds} around a ${(PATCH_SAMPLES / SAMPLE_RATE).toFixed(3)} s event: both shortened; raise ring_buffer_seconds`,
      );
    }
    const hop = options.hopSamples;
    if (hop && hop > 0) {
      const up = Math.ceil(pre / hop) * hop;
      pre = up + post <= room ? up : Math.floor(pre / hop) * hop;
    }
    this.preRollSamples = pre;
    this.postRollSamples = post;
    const wantedMax = Math.round(clips.max_seconds * SAMPLE_RATE);
    this.maxClipSamples = Math.max(1, Math.min(wantedMax, capacity - margin));
    if (this.maxClipSamples < wantedMax) {
      log.warn(
        { ring_buffer_s: capacity / SAMPLE_RATE, max_clip_s: this.maxClipSamples / SAMPLE_RATE },
        `clips.max_seconds ${clips.max_seconds} is more than the ring buffer holds: clips are cut at ${(this.maxClipSamples / SAMPLE_RATE).toFixed(2)} s; raise ring_buffer_seconds for longer ones`,
      );
    }
    this.settleSamples = pre + Math.round(DETECTION_LATENCY_SECONDS * SAMPLE_RATE);
    const wantedBackground = Math.round(clips.background_seconds * SAMPLE_RATE);
    this.backgroundSamples = Math.max(0, Math.min(wantedBackground, capacity - this.settleSamples - margin));
    if (clips.background_per_hour > 0 && this.backgroundSamples < wantedBackground) {
      log.warn(
        { background_s: this.backgroundSamples / SAMPLE_RATE },
        `clips.background_seconds ${clips.background_seconds} does not fit the ring buffer with the wait for late detections: shortened`,
      );
    }
    this.backgroundSlotSamples =
      clips.background_per_hour > 0 && this.backgroundSamples > 0
        ? Math.max(this.backgroundSamples, Math.round((3600 * SAMPLE_RATE) / clips.background_per_hour))
        : 0;
    if (clips.format === 'flac' && !flacEncoder()) {
      log.warn('clips.format is flac, but no flac encoder on PATH (Debian package flac): writing WAV');
      this.format = 'wav';
    } else {
      this.format = clips.format;
    }
  }

  /** Keeps the top-k classes of a classified patch (chain it into `Pipeline.onPatch`). */
  observePatch(report: PatchReport): void {
    if (this.closing) return;
    this.analysedEnd = Math.max(this.analysedEnd, report.patch.endSample);
    if (!report.classScores) return;
    const scores = report.classScores;
    const names = typeof this.options.classNames === 'function' ? this.options.classNames() : this.options.classNames;
    const top: { cls: string; score: number }[] = [];
    // k is small (≤ 50): insertion into a sorted list beats sorting hundreds of classes.
    for (let i = 0; i < scores.length; i++) {
      const score = scores[i];
      if (top.length === this.topK && score <= top[top.length - 1].score) continue;
      let at = top.length;
      while (at > 0 && top[at - 1].score < score) at--;
      top.splice(at, 0, { cls: names[i] ?? String(i), score });
      if (top.length > this.topK) top.pop();
    }
    const { index, startSample, endSample } = report.patch;
    this.patches.push({ index, startSample, endSample, top });
  }

  /** Follows the detector's onsets and offsets (call with every output batch, in order). */
  observe(outputs: readonly DetectorOutput[]): void {
    if (this.closing) return;
    for (const output of outputs) {
      const tracked = this.tracked.get(output.event.id);
      if (output.kind === 'onset') {
        if (!tracked) this.tracked.set(output.event.id, { event: output.event, clipId: ulid(), ended: false, clipCut: false, scoresStored: false });
      } else if (tracked) {
        tracked.ended = true;
      } else {
        this.tracked.set(output.event.id, { event: output.event, clipId: ulid(), ended: true, clipCut: false, scoresStored: false });
      }
    }
  }

  /**
   * The id the clip of event `eventId` gets when it is written (chosen at the onset, so an alert
   * can carry the clip's URL before the post-roll is heard); null for an event this recorder does
   * not follow (call after {@link observe} saw its onset). The clip may still be lost (the ring
   * no longer holding its audio, a full disk): then the id never gets a row.
   */
  clipIdFor(eventId: string): string | null {
    return this.tracked.get(eventId)?.clipId ?? null;
  }

  /**
   * After each chunk went through the pipeline (and its outputs through {@link observe}): cuts
   * every clip whose audio is now complete and queues its write.
   */
  afterChunk(): void {
    if (this.closing) return;
    const ring = this.options.ring;
    if (ring.endSample === ring.startSample) return;
    if (this.streamOrigin < 0) {
      this.streamOrigin = ring.startSample;
      if (this.backgroundSlotSamples > 0) this.background = this.candidateIn(this.streamOrigin, this.streamOrigin + this.backgroundSlotSamples);
    }
    this.heardEnd = ring.endSample;
    this.process(false);
    this.processBackground();
    this.prune();
  }

  /**
   * Ends the stream: cuts the clips still waiting with whatever post-roll was heard, stores the
   * remaining scores, waits for every write, logs a summary. Idempotent. Call before the
   * database closes.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.heardEnd >= 0) this.process(true);
      await this.queue;
      const c = this.counts;
      this.options.log.info(
        {
          event_clips: c.eventClips,
          background_clips: c.backgroundClips,
          bytes: c.bytes,
          failed: c.failed || undefined,
          lost: c.lost || undefined,
          bytes_today: bytesWrittenToday(this.options.db),
        },
        'recorder closed',
      );
    })();
    return this.closing;
  }

  /** Resolves when every queued write has finished (tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Where an event's clip ends: `offset + post_roll` once ended, capped at max length. */
  private clipEnd(t: Tracked): number {
    const start = t.event.onsetSample - this.preRollSamples;
    return Math.min(start + this.maxClipSamples, t.ended ? t.event.offsetSample + this.postRollSamples : Infinity);
  }

  private process(final: boolean): void {
    const order = [...this.tracked.values()].sort((a, b) => this.clipEnd(a) - this.clipEnd(b));
    for (const t of order) {
      const end = this.clipEnd(t);
      let cut: CutClip | null = null;
      if (!t.clipCut && (this.heardEnd >= end || final)) {
        cut = this.cutEvent(t, Math.min(end, this.heardEnd));
        t.clipCut = true;
      }
      const storeScores = !t.scoresStored && t.clipCut && (t.ended || final);
      if (cut || storeScores) this.enqueue(cut, storeScores ? this.scoresFor(t.event) : []);
      if (storeScores) t.scoresStored = true;
      if (t.clipCut && t.scoresStored) {
        this.tracked.delete(t.event.id);
        this.recentSpans.push({ start: t.event.onsetSample - this.preRollSamples, end: t.event.offsetSample + this.postRollSamples });
      }
    }
  }

  private cutEvent(t: Tracked, end: number): CutClip | null {
    const ring = this.options.ring;
    const wantedStart = t.event.onsetSample - this.preRollSamples;
    const start = Math.max(wantedStart, ring.startSample, this.streamOrigin);
    const stop = Math.min(end, ring.endSample);
    if (stop <= start) {
      this.counts.lost += 1;
      this.options.log.warn({ event_id: t.event.id, label: t.event.label }, 'clip lost: the ring buffer no longer holds the audio of this event');
      return null;
    }
    if (start > wantedStart && wantedStart >= this.streamOrigin) {
      this.options.log.warn(
        { event_id: t.event.id, lost_s: (start - wantedStart) / SAMPLE_RATE },
        'clip starts late: the ring buffer no longer held the pre-roll',
      );
    }
    return this.cut(start, stop, t.event, t.clipId);
  }

  /** Copies `[start, end)` out of the ring (now, before it is overwritten) with its description. */
  private cut(start: number, end: number, event: DetectedEvent | null, id: string = ulid()): CutClip {
    const { ring, context } = this.options;
    const samples = ring.read(start, end);
    let gapSamples = 0;
    for (const gap of ring.gaps(start, end)) gapSamples += gap.end - gap.start;
    const wall = (sample: number) => new Date(context.streamStartMs + (sample / SAMPLE_RATE) * 1000).toISOString();
    return {
      samples,
      label: event?.label ?? null,
      metadata: {
        id,
        event_id: event?.id ?? null,
        kind: event ? 'event' : 'background',
        grp: event?.group ?? null,
        stream_id: context.streamId,
        start_sample: start,
        end_sample: end,
        start_s: Number((start / SAMPLE_RATE).toFixed(6)),
        start_utc: wall(start),
        end_utc: wall(end),
        sample_rate: SAMPLE_RATE,
        gap_samples: gapSamples,
        created_utc: new Date().toISOString(),
      },
    };
  }

  /** The top-k rows of the event's classified patches (those wholly inside onset..offset). */
  private scoresFor(event: DetectedEvent): ScoreRow[] {
    const rows: ScoreRow[] = [];
    for (const patch of this.patches) {
      if (patch.startSample < event.onsetSample || patch.endSample > event.offsetSample) continue;
      patch.top.forEach((entry, rank) => {
        rows.push({
          event_id: event.id,
          patch_index: patch.index,
          start_s: Number((patch.startSample / SAMPLE_RATE).toFixed(6)),
          rank: rank + 1,
          model_id: this.options.context.modelId,
          class: entry.cls,
          score: Number(entry.score.toFixed(6)),
        });
      });
    }
    return rows;
  }

  /**
   * Background clips: one random stretch per slot, skipped or moved when an event's clip overlaps
   * it. A stretch is judged once the detector has seen the audio well past it (inference may lag
   * behind capture), and cut only if the ring still holds it.
   */
  private processBackground(): void {
    const ring = this.options.ring;
    while (this.background && Math.min(this.heardEnd, this.analysedEnd) >= this.background.end + this.settleSamples) {
      const candidate = this.background;
      const conflictEnd = this.overlappingEventEnd(candidate.start, candidate.end);
      if (conflictEnd === null) {
        if (candidate.start >= ring.startSample) {
          const cut = this.cut(candidate.start, candidate.end, null);
          // Mostly lost audio (zeros) teaches a model nothing.
          if (cut.metadata.gap_samples * 2 <= candidate.end - candidate.start) this.enqueue(cut, []);
        }
        this.background = this.nextSlot(candidate.slotEnd);
      } else {
        this.background = (Number.isFinite(conflictEnd) ? this.candidateIn(conflictEnd, candidate.slotEnd) : null) ?? this.nextSlot(candidate.slotEnd);
      }
    }
  }

  private nextSlot(slotStart: number): BackgroundCandidate | null {
    // Slots are counted from the stream's first sample; a long capture gap skips slots.
    let start = slotStart;
    const ringStart = this.options.ring.startSample;
    if (start + this.backgroundSlotSamples <= ringStart) {
      start += Math.floor((ringStart - start) / this.backgroundSlotSamples) * this.backgroundSlotSamples;
    }
    // A slot is never shorter than a background clip, so this always finds a candidate.
    return this.candidateIn(start, start + this.backgroundSlotSamples);
  }

  /** A random stretch of background length inside `[from, slotEnd)`, or null when it does not fit. */
  private candidateIn(from: number, slotEnd: number): BackgroundCandidate | null {
    const room = slotEnd - from - this.backgroundSamples;
    if (room < 0) return null;
    const start = from + Math.floor(this.random() * (room + 1));
    return { start, end: start + this.backgroundSamples, slotEnd };
  }

  /** The end of the latest event clip span overlapping `[start, end)` (Infinity for an event still open), or null. */
  private overlappingEventEnd(start: number, end: number): number | null {
    let latest: number | null = null;
    const consider = (spanStart: number, spanEnd: number) => {
      if (spanStart < end && spanEnd > start) latest = Math.max(latest ?? -Infinity, spanEnd);
    };
    for (const span of this.recentSpans) consider(span.start, span.end);
    for (const t of this.tracked.values())
      consider(t.event.onsetSample - this.preRollSamples, t.ended ? t.event.offsetSample + this.postRollSamples : Infinity);
    return latest;
  }

  /** Drops patches and spans nothing can need any more. */
  private prune(): void {
    // A patch is reported after the ring moved on (inference lags); an event's onset may be
    // reported later still: keep one ring length of patches beyond what the ring holds.
    const ring = this.options.ring;
    let keepFrom = ring.startSample - ring.capacitySamples;
    for (const t of this.tracked.values()) if (!t.scoresStored) keepFrom = Math.min(keepFrom, t.event.onsetSample);
    if (this.patches.length > 0 && this.patches[0].startSample < keepFrom) this.patches = this.patches.filter((p) => p.startSample >= keepFrom);
    const spanFloor = Math.min(ring.startSample, this.background?.start ?? Infinity);
    if (this.recentSpans.length > 0) this.recentSpans = this.recentSpans.filter((s) => s.end > spanFloor);
  }

  /** Queues a clip's write and then its row with the scores (or the scores alone) in one transaction. */
  private enqueue(cut: CutClip | null, scores: ScoreRow[]): void {
    this.queue = this.queue.then(() => this.write(cut, scores));
  }

  private async write(cut: CutClip | null, scores: ScoreRow[]): Promise<void> {
    const { log, dataDir } = this.options;
    let row: ClipRow | null = null;
    const faults = storeFaults(this.options.db);
    if (cut && faults.clipsPaused()) {
      // Clips are the first thing a full disk drops (docs/storage.md): the event row and its
      // alert matter more; the scores are still tried.
      faults.counts.clipsDropped += 1;
      this.counts.failed += 1;
      log.warn(
        { event_id: cut.metadata.event_id ?? undefined, clip_id: cut.metadata.id, free_bytes: faults.freeBytes(), disk_full: faults.diskFull },
        'clip dropped: the disk is full or below retention.min_free_bytes',
      );
      cut = null;
    }
    if (cut) {
      const { metadata } = cut;
      try {
        const written = await writeClipFile({
          dir: join(this.clipsDir, metadata.start_utc.slice(0, 10)),
          name: metadata.id,
          samples: cut.samples,
          sampleRate: metadata.sample_rate,
          format: this.format,
          metadata,
        });
        row = { ...metadata, path: relative(dataDir, written.path), format: written.format, bytes: written.bytes, sha256: written.sha256, status: 'ok' };
      } catch (error) {
        this.counts.failed += 1;
        if (faults.failed(error)) faults.counts.clipsDropped += 1;
        log.error({ err: error, event_id: metadata.event_id ?? undefined, clip_id: metadata.id }, 'clip not written');
      }
    }
    try {
      this.store.record(row, scores);
      faults.succeeded();
    } catch (error) {
      faults.failed(error);
      // The file stays: the next start's reconcile adopts it from its own description.
      log.error({ err: error, clip_id: row?.id, event_id: scores[0]?.event_id }, 'clip row not stored');
      return;
    }
    if (!row) return;
    if (row.kind === 'event') this.counts.eventClips += 1;
    else this.counts.backgroundClips += 1;
    this.counts.bytes += row.bytes;
    log.info(
      {
        clip_id: row.id,
        event_id: row.event_id ?? undefined,
        label: cut?.label ?? undefined,
        kind: row.kind,
        path: row.path,
        seconds: (row.end_sample - row.start_sample) / SAMPLE_RATE,
        bytes: row.bytes,
        gap_samples: row.gap_samples || undefined,
        scores: scores.length,
      },
      `clip written: ${row.kind === 'event' ? cut?.label : 'background'}`,
    );
  }
}
