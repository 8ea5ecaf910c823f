/**
 * The front ends of a multi-model pipeline: one streaming {@link LogMelFrontEnd} (and its
 * {@link Patcher}) per distinct front-end parameter set (log offset, mel range) among the
 * models, so models that share a parameter set get the same frames, computed once. Waveform
 * models take the ring buffer's samples and need no front end; when every model is a waveform
 * model, one YAMNet front end still runs, because the patch grid (and the eval pictures' spectrogram)
 * comes from frames.
 */
import { LogMelFrontEnd, YAMNET_LOG_OFFSET, type LogMelOptions } from './logmel.js';
import { Patcher, type Patch } from './patcher.js';
import type { ModelInput } from './types.js';

/** One grid position: the patch of the first front end, and the frames of every front end there. */
export interface PatchGroup {
  /** Index, samples and frames of front end 0 (the primary model's, when it takes log-mel). */
  readonly patch: Patch;
  /** Per front end, its `patchFrames × melBands` frames for this patch (frames × mels). */
  readonly frames: readonly Float32Array[];
}

function frontEndOptions(input: ModelInput): LogMelOptions {
  return input.kind === 'logmel_patch' ? { logOffset: input.log_offset, fMinHz: input.f_min_hz, fMaxHz: input.f_max_hz } : { logOffset: YAMNET_LOG_OFFSET };
}

/** Streams samples through every distinct front end at once; restart by building a new one. */
export class FrontEndGroup {
  /** Per model (constructor order): the index of its front end, or −1 for a waveform model. */
  readonly frontEndOf: readonly number[];
  private readonly frontEnds: LogMelFrontEnd[] = [];
  private readonly patchers: Patcher[] = [];
  /** Frames computed so far, summed over the front ends. */
  framesComputed = 0;

  /**
   * @param inputs each model's input (from its manifest), primary first
   * @param hopFrames frames between patch starts
   * @throws RangeError for a hop that is not a positive integer or front-end parameters out of range
   */
  constructor(inputs: readonly ModelInput[], hopFrames: number) {
    const keys: string[] = [];
    const add = (options: LogMelOptions): number => {
      const key = `${options.logOffset}|${options.fMinHz ?? 125}|${options.fMaxHz ?? 7500}`;
      let index = keys.indexOf(key);
      if (index < 0) {
        index = keys.push(key) - 1;
        this.frontEnds.push(new LogMelFrontEnd(options));
        this.patchers.push(new Patcher({ hopFrames }));
      }
      return index;
    };
    this.frontEndOf = inputs.map((input) => (input.kind === 'logmel_patch' ? add(frontEndOptions(input)) : -1));
    if (this.frontEnds.length === 0) add(frontEndOptions(inputs[0] ?? { kind: 'waveform' }));
  }

  /** Number of front ends running (distinct parameter sets; at least 1). */
  get count(): number {
    return this.frontEnds.length;
  }

  /** The patch geometry (the same for every front end). */
  get patcher(): Patcher {
    return this.patchers[0];
  }

  /**
   * Feeds samples (16 kHz mono, −1..1) to every front end.
   * @returns the patches the samples complete, one group per grid position, in order
   */
  push(samples: Float32Array): PatchGroup[] {
    const perFrontEnd = this.frontEnds.map((frontEnd, i) => {
      const batch = frontEnd.push(samples);
      this.framesComputed += batch.count;
      return this.patchers[i].push(batch);
    });
    // Same samples, same frame and patch geometry: every front end completes the same patches.
    return perFrontEnd[0].map((patch, p) => ({ patch, frames: perFrontEnd.map((patches) => patches[p].frames) }));
  }
}
