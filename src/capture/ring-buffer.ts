/**
 * The recent past of the 16 kHz mono stream, addressed by absolute sample index, so that a
 * detection at sample N can fetch the audio around N as evidence after the fact.
 */
import type { AudioChunk } from '../types.js';

/** A half-open range of absolute sample indices, `[start, end)`. */
export interface SampleRange {
  /** First sample index (inclusive). */
  readonly start: number;
  /** One past the last sample index (exclusive). */
  readonly end: number;
}

/**
 * Holds the last `capacitySamples` samples of a stream of {@link AudioChunk}s in one
 * preallocated Float32Array; a write copies into it, allocating no sample storage (only
 * typed-array views, and a small record when it opens a gap).
 *
 * Held range: `[startSample, endSample)`. It starts at the first chunk's `startSample` (a buffer
 * attached mid-stream does not pretend the earlier audio was lost) and slides forward as chunks
 * arrive, keeping at most `capacitySamples`.
 *
 * Gaps: a chunk that starts after `endSample` means capture lost audio. The skipped samples are
 * held as zeros, so a read across them still returns a contiguous clip, and are recorded so
 * that {@link gaps} can tell a caller (e.g. an evidence writer) which parts are not real audio.
 */
export class RingBuffer {
  private readonly storage: Float32Array;
  private firstHeld = 0;
  private nextIndex = 0;
  private hasOrigin = false;
  /** Sorted, disjoint, non-adjacent; pruned as they fall out of the held range. */
  private missing: SampleRange[] = [];

  /**
   * @param capacitySamples how many samples to keep (e.g. 30 s × 16000 = 480000), a positive integer.
   * @throws RangeError when `capacitySamples` is not a positive integer.
   */
  constructor(readonly capacitySamples: number) {
    if (!Number.isInteger(capacitySamples) || capacitySamples < 1) {
      throw new RangeError(`ring buffer capacity must be a positive integer of samples, got ${capacitySamples}`);
    }
    this.storage = new Float32Array(capacitySamples);
  }

  /** Absolute index of the oldest sample held (equals `endSample` while empty). */
  get startSample(): number {
    return this.firstHeld;
  }

  /** Absolute index one past the newest sample held. */
  get endSample(): number {
    return this.nextIndex;
  }

  /**
   * Appends a chunk. A chunk starting after `endSample` opens a gap (see the class notes).
   *
   * @throws RangeError when the chunk starts before `endSample` (indices only grow) or its
   *   `startSample` is not a non-negative integer.
   */
  write(chunk: AudioChunk): void {
    const { startSample, samples } = chunk;
    if (!Number.isSafeInteger(startSample) || startSample < 0) {
      throw new RangeError(`chunk startSample must be a non-negative integer, got ${startSample}`);
    }
    if (!this.hasOrigin) {
      this.hasOrigin = true;
      this.firstHeld = this.nextIndex = startSample;
    }
    if (startSample < this.nextIndex) {
      throw new RangeError(`chunk starts at sample ${startSample}, but the buffer already holds up to ${this.nextIndex}`);
    }
    if (startSample > this.nextIndex) {
      this.recordGap(this.nextIndex, startSample);
      this.fill(this.nextIndex, startSample);
    }
    this.copyIn(startSample, samples);
    this.nextIndex = startSample + samples.length;
    this.firstHeld = Math.max(this.firstHeld, this.nextIndex - this.capacitySamples);
    this.pruneGaps();
  }

  /**
   * Copies out `[start, end)`; samples inside a gap read as zeros.
   *
   * @param start first absolute sample index (inclusive).
   * @param end one past the last (exclusive); `end === start` gives an empty array.
   * @returns a new Float32Array of `end − start` samples.
   * @throws RangeError when the range is not integer, reversed, or not wholly held (already
   *   overwritten, or not yet written).
   */
  read(start: number, end: number): Float32Array {
    this.checkRange(start, end);
    const result = new Float32Array(end - start);
    const capacity = this.capacitySamples;
    const from = start % capacity;
    const firstPart = Math.min(end - start, capacity - from);
    result.set(this.storage.subarray(from, from + firstPart), 0);
    if (firstPart < result.length) result.set(this.storage.subarray(0, result.length - firstPart), firstPart);
    return result;
  }

  /**
   * The lost stretches of audio that overlap `[start, end)` (default: the whole held range),
   * clipped to it, oldest first. Empty when every sample there was captured.
   *
   * @throws RangeError as {@link read} for a range that is not wholly held.
   */
  gaps(start = this.firstHeld, end = this.nextIndex): SampleRange[] {
    this.checkRange(start, end);
    return this.missing.filter((gap) => gap.end > start && gap.start < end).map((gap) => ({ start: Math.max(gap.start, start), end: Math.min(gap.end, end) }));
  }

  private checkRange(start: number, end: number): void {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
      throw new RangeError(`invalid sample range [${start}, ${end})`);
    }
    if (start < this.firstHeld || end > this.nextIndex) {
      throw new RangeError(`sample range [${start}, ${end}) is not held: the buffer holds [${this.firstHeld}, ${this.nextIndex})`);
    }
  }

  private recordGap(start: number, end: number): void {
    const last = this.missing[this.missing.length - 1];
    if (last !== undefined && last.end === start) this.missing[this.missing.length - 1] = { start: last.start, end };
    else this.missing.push({ start, end });
  }

  private pruneGaps(): void {
    let expired = 0;
    while (expired < this.missing.length && this.missing[expired]!.end <= this.firstHeld) expired++;
    if (expired > 0) this.missing.splice(0, expired);
  }

  /** Zeroes the storage of absolute indices `[start, end)`; only the last `capacity` matter. */
  private fill(start: number, end: number): void {
    const from = Math.max(start, end - this.capacitySamples);
    const capacity = this.capacitySamples;
    const position = from % capacity;
    const length = end - from;
    const firstPart = Math.min(length, capacity - position);
    this.storage.fill(0, position, position + firstPart);
    if (firstPart < length) this.storage.fill(0, 0, length - firstPart);
  }

  /** Copies `samples` to absolute index `start`; only the last `capacity` samples survive anyway. */
  private copyIn(start: number, samples: Float32Array): void {
    const capacity = this.capacitySamples;
    const skip = Math.max(0, samples.length - capacity);
    const kept = skip === 0 ? samples : samples.subarray(skip);
    const position = (start + skip) % capacity;
    const firstPart = Math.min(kept.length, capacity - position);
    this.storage.set(firstPart === kept.length ? kept : kept.subarray(0, firstPart), position);
    if (firstPart < kept.length) this.storage.set(kept.subarray(firstPart), 0);
  }
}
