/**
 * Turns live device audio (any rate, any channel count, delivered in pieces, with holes) into
 * 16 kHz mono {@link AudioChunk}s on an honest timeline: every sample keeps its absolute index,
 * and a hole (lost packets, an unplugged device, an overrun) advances the index by the lost
 * duration and is recorded as a {@link CaptureGap}. Shared by the ALSA and serial sources.
 */
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import { createResampler, type Resampler } from './resample.js';

/** Why audio was lost (`backlog`: inference fell so far behind that queued audio outgrew the ring buffer; capture/pump.ts). */
export type GapReason = 'packet_loss' | 'device_lost' | 'overrun' | 'mcu_overflow' | 'restart' | 'backlog';

/** A stretch of the timeline with no real audio, in 16 kHz samples `[startSample, endSample)`. */
export interface CaptureGap {
  readonly startSample: number;
  readonly endSample: number;
  readonly reason: GapReason;
  /** Device-level detail for the log and the gaps table (e.g. `{ packets: 3 }`). */
  readonly detail: Record<string, number | string>;
}

/**
 * Assembles device audio into chunks of `chunkSamples` at 16 kHz. Not reentrant: await each
 * call before the next.
 */
export class TimelineAssembler {
  private next = 0;
  private readonly pending: Float32Array;
  private filled = 0;
  private pendingStart = 0;
  private resampler: Resampler | null = null;
  private resamplerKey = '';
  private gaps: CaptureGap[] = [];
  /** Total 16 kHz samples recorded as lost. */
  lostSamples = 0;

  /** @param chunkSamples samples per delivered chunk (a positive integer) */
  constructor(readonly chunkSamples: number) {
    this.pending = new Float32Array(chunkSamples);
  }

  /** The absolute index the next sample will get. */
  get position(): number {
    return this.next + 0;
  }

  /**
   * Adds interleaved device audio.
   * @param interleaved float32 −1..1, `frames × channels`
   * @param rate device sample rate in Hz
   * @param channels channel count (mixed down by averaging)
   * @returns complete chunks
   */
  async audio(interleaved: Float32Array, rate: number, channels: number): Promise<AudioChunk[]> {
    const frames = Math.floor(interleaved.length / channels);
    let mono: Float32Array;
    if (channels === 1) mono = interleaved;
    else {
      mono = new Float32Array(frames);
      for (let f = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += interleaved[f * channels + c];
        mono[f] = sum / channels;
      }
    }
    if (rate !== SAMPLE_RATE) {
      const key = String(rate);
      if (!this.resampler || this.resamplerKey !== key) {
        this.resampler?.destroy();
        this.resampler = await createResampler(rate, 1, { quality: 'medium' });
        this.resamplerKey = key;
      }
      mono = this.resampler.process(mono);
    }
    return this.append(mono);
  }

  /**
   * Records lost audio: the partial chunk is delivered first, then the index jumps.
   * @param samples16k lost duration in 16 kHz samples (≤ 0 records nothing)
   * @returns the partial chunk delivered before the jump (zero or one chunk)
   */
  gap(samples16k: number, reason: GapReason, detail: Record<string, number | string> = {}): AudioChunk[] {
    const lost = Math.round(samples16k);
    const out = this.flush();
    if (lost <= 0) return out;
    // A resampler's filter state spans the hole; starting clean avoids smearing across it.
    this.resampler?.destroy();
    this.resampler = null;
    const start = this.next;
    this.next += lost;
    this.pendingStart = this.next;
    this.lostSamples += lost;
    this.gaps.push({ startSample: start, endSample: this.next, reason, detail });
    return out;
  }

  /** Delivers the partial chunk, if any. */
  flush(): AudioChunk[] {
    if (this.filled === 0) return [];
    const chunk = { startSample: this.pendingStart, samples: this.pending.slice(0, this.filled) };
    this.filled = 0;
    this.pendingStart = this.next;
    return [chunk];
  }

  /** Gaps recorded since the last call, oldest first. */
  takeGaps(): CaptureGap[] {
    const gaps = this.gaps;
    this.gaps = [];
    return gaps;
  }

  /** Releases the resampler. */
  destroy(): void {
    this.resampler?.destroy();
    this.resampler = null;
  }

  private append(mono: Float32Array): AudioChunk[] {
    const out: AudioChunk[] = [];
    let offset = 0;
    while (offset < mono.length) {
      if (this.filled === 0) this.pendingStart = this.next;
      const taken = Math.min(this.chunkSamples - this.filled, mono.length - offset);
      this.pending.set(mono.subarray(offset, offset + taken), this.filled);
      this.filled += taken;
      this.next += taken;
      offset += taken;
      if (this.filled === this.chunkSamples) {
        out.push({ startSample: this.pendingStart, samples: this.pending.slice() });
        this.filled = 0;
        this.pendingStart = this.next;
      }
    }
    return out;
  }
}
