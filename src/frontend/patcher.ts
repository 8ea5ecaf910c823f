/**
 * Cuts the front end's frame stream into model input patches: YAMNet's `features.py`
 * (`spectrogram_to_patches`: tf.signal.frame over frames with `patch_window_seconds` 0.96 s =
 * 96 frames and `patch_hop_seconds` 0.48 s = 48 frames, no padding).
 */
import { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES, MEL_BANDS, PATCH_FRAMES } from '../constants.js';
import type { FrameBatch } from './logmel.js';

/** Options of {@link Patcher}; defaults are YAMNet's. */
export interface PatcherOptions {
  /** Frames per patch. Default 96 (0.96 s of hops, 0.975 s of audio). */
  patchFrames?: number;
  /** Frames between consecutive patch starts; may exceed patchFrames (frames skipped). Default 48. */
  hopFrames?: number;
  /** Values per frame (mel bands). Default 64. */
  melBands?: number;
}

/** One model input: `patchFrames` consecutive frames. */
export interface Patch {
  /** Patch number since the start (or reset): 0, 1, 2, … */
  readonly index: number;
  /** Absolute index of the first frame: `index · hopFrames`. */
  readonly firstFrame: number;
  /** First stream sample covered (16 kHz): `160 · firstFrame`. */
  readonly startSample: number;
  /**
   * One past the last stream sample covered: `startSample + 400 + 160 · (patchFrames − 1)`
   * (15600 samples for 96 frames, YAMNet's waveform input length).
   */
  readonly endSample: number;
  /** `patchFrames × melBands` float32, row-major frames × mels (YAMNet's `[96, 64]`), caller-owned. */
  readonly frames: Float32Array;
}

/** Memory layout of a patch: YAMNet takes frames × mels, the ST YAMNet-256 models mels × frames. */
export type PatchLayout = 'frames_mels' | 'mels_frames';

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Patcher: ${name} must be a positive integer, got ${value}`);
  }
}

/**
 * Collects frame batches (in order, from {@link LogMelFrontEnd.push}) and emits patch p, frames
 * `[p · hopFrames, p · hopFrames + patchFrames)`, as soon as its last frame arrives. Keeps a
 * ring of the last `patchFrames` frames; allocates one Float32Array per emitted patch only.
 */
export class Patcher {
  readonly patchFrames: number;
  readonly hopFrames: number;
  readonly melBands: number;

  // Frame f lives in slot f % patchFrames.
  private readonly ring: Float32Array;
  private nextFrame = 0;
  private nextPatch = 0;

  /**
   * @throws RangeError when patchFrames, hopFrames or melBands is not a positive integer
   *   (0, negative, fractional, NaN).
   */
  constructor(options: PatcherOptions = {}) {
    const { patchFrames = PATCH_FRAMES, hopFrames = 48, melBands = MEL_BANDS } = options;
    checkCount('patchFrames', patchFrames);
    checkCount('hopFrames', hopFrames);
    checkCount('melBands', melBands);
    this.patchFrames = patchFrames;
    this.hopFrames = hopFrames;
    this.melBands = melBands;
    this.ring = new Float32Array(patchFrames * melBands);
  }

  /** Number of stream samples a patch spans: `400 + 160 · (patchFrames − 1)`. */
  get patchSamples(): number {
    return FRAME_LENGTH_SAMPLES + FRAME_HOP_SAMPLES * (this.patchFrames - 1);
  }

  /**
   * Takes the next batch of frames and returns the patches it completes (often none).
   *
   * @throws RangeError when `batch.firstFrame` is not the frame expected next (a batch was lost,
   *   repeated or reordered) or `batch.data` does not hold `count × melBands` values.
   */
  push(batch: FrameBatch): Patch[] {
    const { firstFrame, count, data } = batch;
    const bands = this.melBands;
    if (firstFrame !== this.nextFrame) {
      throw new RangeError(`Patcher.push: expected frame ${this.nextFrame} next, got a batch starting at ${firstFrame}`);
    }
    if (!Number.isInteger(count) || count < 0 || data.length !== count * bands) {
      throw new RangeError(`Patcher.push: batch of ${count} frames must hold ${count} × ${bands} values, has ${data.length}`);
    }
    const patches: Patch[] = [];
    const ring = this.ring;
    const patchFrames = this.patchFrames;
    for (let i = 0; i < count; i++) {
      const frame = firstFrame + i;
      const slot = (frame % patchFrames) * bands;
      const src = i * bands;
      for (let m = 0; m < bands; m++) ring[slot + m] = data[src + m];
      if (frame === this.nextPatch * this.hopFrames + patchFrames - 1) {
        patches.push(this.emit());
      }
    }
    this.nextFrame = firstFrame + count;
    return patches;
  }

  /** Forgets all frames and restarts frame and patch numbering at 0. */
  reset(): void {
    this.nextFrame = 0;
    this.nextPatch = 0;
  }

  private emit(): Patch {
    const index = this.nextPatch++;
    const firstFrame = index * this.hopFrames;
    const bands = this.melBands;
    // Unroll the ring so the oldest frame comes first.
    const split = (firstFrame % this.patchFrames) * bands;
    const frames = new Float32Array(this.ring.length);
    frames.set(this.ring.subarray(split), 0);
    frames.set(this.ring.subarray(0, split), this.ring.length - split);
    const startSample = firstFrame * FRAME_HOP_SAMPLES;
    return { index, firstFrame, startSample, endSample: startSample + this.patchSamples, frames };
  }
}

/**
 * Lays a frames × mels patch out for a model: `'frames_mels'` copies it as is (`[frames][mels]`,
 * YAMNet), `'mels_frames'` transposes it to `[mels][frames]` (the ST models' `[1, 64, 96, 1]`).
 * Pure: `patch` is never modified.
 *
 * @param patch `frames × mels` float32, row-major frames × mels.
 * @param out destination of `frames × mels` values (a new array when omitted); must not be `patch`.
 * @returns `out`.
 * @throws RangeError when frames or mels is not a positive integer, patch or out has the wrong
 *   length, or out is patch.
 */
export function toLayout(patch: Float32Array, frames: number, mels: number, layout: PatchLayout, out?: Float32Array): Float32Array {
  if (!Number.isInteger(frames) || frames < 1 || !Number.isInteger(mels) || mels < 1) {
    throw new RangeError(`toLayout: frames and mels must be positive integers, got ${frames} and ${mels}`);
  }
  const size = frames * mels;
  if (patch.length !== size) {
    throw new RangeError(`toLayout: patch has ${patch.length} values, expected ${frames} × ${mels}`);
  }
  const target = out ?? new Float32Array(size);
  if (target.length !== size) {
    throw new RangeError(`toLayout: out has ${target.length} values, expected ${frames} × ${mels}`);
  }
  if (target === patch) {
    throw new RangeError('toLayout: out must not be the patch itself');
  }
  if (layout === 'frames_mels') {
    target.set(patch);
  } else if (layout === 'mels_frames') {
    for (let f = 0; f < frames; f++) {
      const row = f * mels;
      for (let m = 0; m < mels; m++) target[m * frames + f] = patch[row + m];
    }
  } else {
    throw new RangeError(`toLayout: unknown layout '${String(layout)}' (frames_mels or mels_frames)`);
  }
  return target;
}
