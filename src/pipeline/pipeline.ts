/**
 * The detection pipeline for one audio stream: ring buffer → log-mel front end → patches →
 * classifier → label scores → event detector. The same code serves `earshot analyze`,
 * `earshot run` and `earshot eval`; what happens to the events (print, store, publish) is the
 * caller's.
 */
import { RingBuffer } from '../capture/ring-buffer.js';
import { EventDetector, type DetectorOutput, type EndReason } from '../detect/detector.js';
import { LabelCombiner, type CombineMember, type CombineSettings } from '../detect/combine.js';
import type { LabelSpec } from '../detect/label-map.js';
import { EarshotError } from '../errors.js';
import { FrontEndGroup, type PatchGroup } from '../frontend/front-end-group.js';
import type { ModelInput } from '../frontend/types.js';
import type { PatchClassifier } from '../inference/types.js';
import type { PatchReport } from '../detect/patch-report.js';
import { toLayout, type Patch } from '../frontend/patcher.js';
import { FRAME_HOP_SAMPLES, MAX_ZERO_FILL_SECONDS, SAMPLE_RATE } from '../constants.js';
import type { AudioChunk, LabelGroup } from '../types.js';

/**
 * One model of a multi-model pipeline (src/pipeline/model-set.ts builds them from the config):
 * its classifier, the labels it serves (with its own class names) and its weight in the
 * combination (src/detect/combine.ts).
 */
export interface PipelineModel extends Omit<CombineMember, 'classNames'> {
  classifier: PatchClassifier;
}

/** Pipeline settings (from the config's `frontend` and `detection` sections). */
export interface PipelineSettings {
  /** Frames between patch starts (48 = 0.48 s). */
  hopFrames: number;
  /** Patches whose RMS is below this (dBFS) are not classified. */
  silenceGateDbfs: number;
  voteK: number;
  voteN: number;
  mergeGapSeconds: number;
  minDurationSeconds: number;
  /** Seconds of audio the ring buffer keeps (≥ one patch). */
  ringBufferSeconds: number;
  /** Groups whose labels never overlap (see {@link DetectorSettings.exclusiveGroups}). */
  exclusiveGroups?: readonly LabelGroup[];
  /** Gaps up to this long (seconds) are zero-filled; longer ones end open events and restart the front end (default {@link MAX_ZERO_FILL_SECONDS}). */
  maxZeroFillSeconds?: number;
  /** How the label scores of several models combine (default `max`; one model: its scores as they are). */
  combine?: CombineSettings;
}

/** A gap the pipeline saw in the chunks it was fed, and what it did about it. */
export interface PipelineGap {
  /** `[startSample, endSample)`, absolute 16 kHz indices. */
  startSample: number;
  endSample: number;
  /** `zero_fill` (bridged) or `restart` (events ended, front end restarted). */
  handling: 'zero_fill' | 'restart';
}

/**
 * A patch cut from the stream and measured, waiting for its scores. {@link Pipeline.cut} makes
 * them in stream order; {@link Pipeline.complete} must take them back in the same order.
 */
export interface CutPatch {
  readonly kind: 'patch';
  /** Absolute sample indices; `index` unique across front-end restarts. */
  readonly patch: Patch;
  readonly rmsDbfs: number;
  readonly peakDbfs: number;
  /** The patch's samples (15600), read from the ring buffer when it was cut. */
  readonly waveform: Float32Array;
  /** Per front end, its frames for this patch (frames × mels). */
  readonly frames: readonly Float32Array[];
  /** false when the silence gate holds the patch back (no model runs on it). */
  readonly audible: boolean;
}

/**
 * One step of a stream, in order: a patch to score, or the end of a front-end segment (a long
 * gap: open events end with reason `gap`; the stream resumes at `resumeSample`, absolute).
 */
export type PipelineStep = CutPatch | { readonly kind: 'gap_end'; readonly resumeSample: number };

/**
 * How a cut patch was dealt with: per model (pipeline order), its class scores or null when that
 * model failed on it; or `gated`, `skipped` (not scored, not shown to the detector), `failed`.
 */
export type PatchOutcome = readonly (Float32Array | null)[] | 'gated' | 'skipped' | 'failed';

/** Power ratio → dBFS, where a full-scale square wave is 0 dBFS. */
function toDbfs(amplitude: number): number {
  return 20 * Math.log10(amplitude);
}

/**
 * Level of a stretch of samples.
 * @returns RMS and sample peak in dBFS (−Infinity for all-zero input)
 */
export function levels(samples: Float32Array): { rmsDbfs: number; peakDbfs: number } {
  let sumSquares = 0;
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i];
    sumSquares += x * x;
    const a = Math.abs(x);
    if (a > peak) peak = a;
  }
  return { rmsDbfs: toDbfs(Math.sqrt(sumSquares / Math.max(1, samples.length))), peakDbfs: toDbfs(peak) };
}

/** Processes one stream. Not reentrant: await each {@link push} before the next. */
export class Pipeline {
  readonly ring: RingBuffer;
  readonly labels: readonly LabelSpec[];
  /** The models, primary first (one may be replaced while running: {@link prepareModelSwap}). */
  models: readonly PipelineModel[];
  private combiner: LabelCombiner;
  private readonly detector: EventDetector;
  /** Per model, the buffer its patch layout is written to (null for waveform models). */
  private readonly layoutBuffers: (Float32Array | null)[];
  /** Absolute index of the stream's first sample (set by the first chunk). */
  private streamStart = -1;
  /** Absolute index where the current front-end segment starts (moves on a restart after a long gap). */
  private segmentStart = -1;
  /** Patches emitted by earlier segments, so patch indices stay unique across restarts. */
  private patchBase = 0;
  /** Patches cut so far (completed or still waiting). */
  private patchesCut = 0;
  /** One front end per distinct front-end parameter set among the models. */
  private frontEnds: FrontEndGroup;
  /** The latest gap seen (the daemon stores the source's own account of it); counts in {@link gapCounts}. */
  lastGap: PipelineGap | null = null;
  /** The last few gaps (at most 64, oldest first), to match a source's account of them. */
  readonly recentGaps: PipelineGap[] = [];
  /** Gaps bridged with zeros, and gaps that restarted the front end. */
  readonly gapCounts = { zeroFill: 0, restart: 0 };
  /** Called for every patch after classification (optional: eval, tuning, pictures). */
  onPatch: ((report: PatchReport) => void) | null = null;
  /**
   * Patches completed (every status), those held back by the silence gate, skipped to catch up
   * with real time, failed (a model threw or its worker died), and log-mel frames computed
   * (summed over the front ends).
   */
  readonly counts = { patches: 0, gated: 0, skipped: 0, failed: 0, frames: 0 };

  /**
   * @param classifier the model, or several (primary first; each with the labels it serves and
   *   its weight; their label scores are combined as `settings.combine` says)
   * @param labels enabled labels with their classes (for one model, names must exist in
   *   `classifier.classNames`); with several models, every label some model serves
   * @param settings front-end and detection settings
   * @param newId event id factory (tests pass a deterministic one)
   * @throws EarshotError when a label maps a class its model lacks, or no model serves a label
   */
  constructor(
    classifier: PatchClassifier | readonly PipelineModel[],
    labels: readonly LabelSpec[],
    private readonly settings: PipelineSettings,
    origin: string,
    newId?: () => string,
  ) {
    this.models = 'classify' in classifier ? [{ classifier, name: origin, labels, weight: 1 }] : classifier;
    this.frontEnds = this.newFrontEnds();
    const patcher = this.frontEnds.patcher;
    this.ring = new RingBuffer(Math.max(Math.ceil(settings.ringBufferSeconds * SAMPLE_RATE), 2 * patcher.patchSamples));
    this.labels = labels;
    this.combiner = new LabelCombiner(
      labels,
      this.models.map((m) => ({ name: m.name, classNames: m.classifier.classNames, labels: m.labels, weight: m.weight })),
      settings.combine ?? { mode: 'max' },
    );
    this.detector = new EventDetector(
      labels,
      {
        voteK: settings.voteK,
        voteN: settings.voteN,
        mergeGapSamples: Math.round(settings.mergeGapSeconds * SAMPLE_RATE),
        minDurationSamples: Math.round(settings.minDurationSeconds * SAMPLE_RATE),
        hopSamples: settings.hopFrames * FRAME_HOP_SAMPLES,
        exclusiveGroups: settings.exclusiveGroups,
      },
      newId,
    );
    this.layoutBuffers = this.models.map((m) => (m.classifier.input.kind === 'logmel_patch' ? new Float32Array(patcher.patchFrames * patcher.melBands) : null));
  }

  /** Number of log-mel front ends running: one per distinct parameter set among the models. */
  get frontEndCount(): number {
    return this.frontEnds.count;
  }

  /**
   * Feeds audio. Chunks must be in order; a chunk that starts after the previous one ended is a
   * capture gap, handled as {@link MAX_ZERO_FILL_SECONDS} describes and noted in {@link lastGap}.
   * @returns the onsets and offsets the chunk caused (offsets closed by a gap first), in time order
   * @throws RangeError when a chunk starts before the previous one ended
   */
  async push(chunk: AudioChunk): Promise<DetectorOutput[]> {
    const outputs: DetectorOutput[] = [];
    for (const step of this.cut(chunk)) outputs.push(...(await this.run(step)));
    return outputs;
  }

  /**
   * The first half of {@link push}, for callers that score patches elsewhere (the daemon's
   * PatchScheduler, src/pipeline/scheduler.ts): writes the chunk to the ring buffer,
   * handles a gap, runs the front ends, and cuts and measures the patches the chunk completes.
   * Pass every step to {@link complete}, in order.
   * @throws RangeError when a chunk starts before the previous one ended
   */
  cut(chunk: AudioChunk): PipelineStep[] {
    if (this.streamStart < 0) this.streamStart = this.segmentStart = chunk.startSample;
    const gapStart = this.ring.endSample;
    this.ring.write(chunk);
    const steps: PipelineStep[] = [];
    if (chunk.startSample > gapStart) {
      const maxFill = Math.round((this.settings.maxZeroFillSeconds ?? MAX_ZERO_FILL_SECONDS) * SAMPLE_RATE);
      const length = chunk.startSample - gapStart;
      if (length <= maxFill) {
        this.lastGap = { startSample: gapStart, endSample: chunk.startSample, handling: 'zero_fill' };
        this.noteGap(this.lastGap);
        this.gapCounts.zeroFill += 1;
        steps.push(...this.feed(new Float32Array(length)));
      } else {
        this.lastGap = { startSample: gapStart, endSample: chunk.startSample, handling: 'restart' };
        this.noteGap(this.lastGap);
        this.gapCounts.restart += 1;
        steps.push({ kind: 'gap_end', resumeSample: chunk.startSample });
        this.patchBase = this.patchesCut;
        this.frontEnds = this.newFrontEnds();
        this.segmentStart = chunk.startSample;
      }
    }
    steps.push(...this.feed(chunk.samples));
    return steps;
  }

  /** Runs samples through the front ends; cuts and measures every patch they complete. */
  private feed(samples: Float32Array): CutPatch[] {
    const frontEnds = this.frontEnds;
    const framesBefore = frontEnds.framesComputed;
    const groups = frontEnds.push(samples);
    this.counts.frames += frontEnds.framesComputed - framesBefore;
    return groups.map((group) => this.cutPatch(group));
  }

  /** Scores a step here, model after model (analyze, eval, tune; the daemon uses a PatchScheduler). */
  private async run(step: PipelineStep): Promise<DetectorOutput[]> {
    if (step.kind === 'gap_end' || !step.audible) return this.complete(step, 'gated');
    const scores: Float32Array[] = [];
    for (let m = 0; m < this.models.length; m++)
      scores.push(await this.models[m].classifier.classify(this.modelInput(step, m, this.layoutBuffers[m] ?? undefined)));
    return this.complete(step, scores);
  }

  /**
   * Model `m`'s input for a cut patch: the waveform, or the patch's frames in the model's layout.
   * @param into where to write a log-mel layout (default: a new array, so inputs of several
   *   waiting patches do not share memory)
   */
  modelInput(step: CutPatch, m: number, into?: Float32Array): Float32Array {
    const input = this.models[m].classifier.input;
    if (input.kind === 'waveform') return step.waveform;
    const { patchFrames, melBands } = this.frontEnds.patcher;
    return toLayout(step.frames[this.frontEnds.frontEndOf[m]], patchFrames, melBands, input.layout, into ?? new Float32Array(patchFrames * melBands));
  }

  /**
   * How the pipeline handled the samples `[start, end)` of a gap: the handling of the jump that
   * contains them, or null when it has not seen (or no longer remembers) that jump.
   */
  gapHandling(start: number, end: number): PipelineGap['handling'] | null {
    const gap = this.recentGaps.find((g) => g.startSample <= start && g.endSample >= end);
    return gap ? gap.handling : null;
  }

  private noteGap(gap: PipelineGap): void {
    this.recentGaps.push(gap);
    if (this.recentGaps.length > 64) this.recentGaps.shift();
  }

  private newFrontEnds(): FrontEndGroup {
    return new FrontEndGroup(
      this.models.map((m) => m.classifier.input),
      this.settings.hopFrames,
    );
  }

  /**
   * Ends the stream and closes open events (offset = end of their last voting patch). At the end
   * of a file (`stream_end`) the audio is first padded with zeros to a whole patch and a whole
   * number of hops, as YAMNet's `features.pad_waveform` does, so a clip shorter than one patch
   * (0.975 s) is still classified and the last partial hop is not dropped.
   */
  async finish(reason: EndReason = 'stream_end'): Promise<DetectorOutput[]> {
    const outputs: DetectorOutput[] = [];
    for (const step of this.cutEnd(reason)) outputs.push(...(await this.run(step)));
    outputs.push(...this.end(reason));
    return outputs;
  }

  /** The first half of {@link finish}: the steps of the end-of-file padding (none unless `stream_end`); then call {@link end}. */
  cutEnd(reason: EndReason = 'stream_end'): PipelineStep[] {
    const length = this.streamStart < 0 ? 0 : this.ring.endSample - this.segmentStart;
    if (reason !== 'stream_end' || length <= 0) return [];
    const patchSamples = this.frontEnds.patcher.patchSamples;
    const hopSamples = this.frontEnds.patcher.hopFrames * FRAME_HOP_SAMPLES;
    const padded = length <= patchSamples ? patchSamples : patchSamples + Math.ceil((length - patchSamples) / hopSamples) * hopSamples;
    return padded > length ? this.cut({ startSample: this.ring.endSample, samples: new Float32Array(padded - length) }) : [];
  }

  /** The second half of {@link finish}, once every step is completed: closes open events with `reason`. */
  end(reason: EndReason = 'stream_end'): DetectorOutput[] {
    return this.detector.finish(reason);
  }

  /**
   * Retunes the labels' `threshold` and `release` while the stream runs (config reload); the
   * next patch uses them. Audio already buffered and open events are kept.
   * @param specs the pipeline's labels (same names and order) with new thresholds
   * @throws RangeError when the label set differs (that needs a new pipeline: a restart)
   */
  updateLabels(specs: readonly LabelSpec[]): void {
    this.detector.updateLabels(specs);
  }

  private cutPatch(group: PatchGroup): CutPatch {
    const segmentPatch = group.patch;
    // The patcher counts from its segment's start; the rest of the pipeline uses absolute indices.
    const base = this.segmentStart;
    const patch: Patch =
      base === 0 && this.patchBase === 0
        ? segmentPatch
        : {
            ...segmentPatch,
            index: segmentPatch.index + this.patchBase,
            startSample: segmentPatch.startSample + base,
            endSample: segmentPatch.endSample + base,
          };
    this.patchesCut += 1;
    const waveform = this.ring.read(patch.startSample, patch.endSample);
    const { rmsDbfs, peakDbfs } = levels(waveform);
    return { kind: 'patch', patch, rmsDbfs, peakDbfs, waveform, frames: group.frames, audible: rmsDbfs >= this.settings.silenceGateDbfs };
  }

  /**
   * The second half of {@link push}: takes a step back with its outcome, in cut order, and tells
   * the detector. A `skipped` patch is not shown to the detector at all, so it neither votes nor
   * counts as a "no" in k-of-n voting or the merge gap: skipping every other patch makes the
   * voting window span more time but does not end an open event. A `failed` patch is shown like
   * a gated one (no vote).
   * @param outcome ignored for a `gap_end` step
   * @returns the onsets and offsets the step caused
   */
  complete(step: PipelineStep, outcome: PatchOutcome): DetectorOutput[] {
    if (step.kind === 'gap_end') return this.detector.finish('gap');
    const { patch, rmsDbfs, peakDbfs } = step;
    let classScores: Float32Array | null = null;
    let labelScores: Float32Array | null = null;
    let modelClassScores: readonly Float32Array[] | null = null;
    let status: PatchReport['status'];
    this.counts.patches += 1;
    if (typeof outcome !== 'string' && outcome.some((scores) => scores !== null)) {
      status = outcome.every((scores) => scores !== null) ? 'classified' : 'failed';
      if (status === 'failed') this.counts.failed += 1;
      // A model that failed on this patch is left out of the labels it serves.
      classScores = outcome[0];
      if (status === 'classified') modelClassScores = outcome as readonly Float32Array[];
      labelScores = this.combiner.combine(outcome);
    } else {
      status = typeof outcome === 'string' ? outcome : 'failed';
      this.counts[status] += 1;
    }
    this.onPatch?.({ patch, rmsDbfs, peakDbfs, classScores, labelScores, modelClassScores, status });
    if (status === 'skipped') return [];
    return this.detector.observe({ index: patch.index, startSample: patch.startSample, endSample: patch.endSample, peakDbfs, labelScores });
  }

  /**
   * Checks that model `index` can be replaced by `model` while the stream runs (a model hot
   * reload), and returns the change to make between two patches. The replacement must take the
   * same input (waveform, or log-mel with the same log offset and mel range: the front ends keep
   * running) and, with the other models, serve exactly the pipeline's labels.
   * @returns a function that swaps the model in (and returns the one it replaced); it cannot fail
   * @throws EarshotError naming the model and the reason when the swap would need a restart
   */
  prepareModelSwap(index: number, model: PipelineModel): () => PipelineModel {
    const old = this.models[index];
    if (!old) throw new RangeError(`no model ${index} in the pipeline (it has ${this.models.length})`);
    const key = (input: ModelInput) =>
      input.kind === 'waveform' ? 'waveform' : `log-mel (log offset ${input.log_offset}, ${input.f_min_hz}–${input.f_max_hz} Hz)`;
    if (key(model.classifier.input) !== key(old.classifier.input)) {
      throw new EarshotError(
        `${model.name}: takes ${key(model.classifier.input)} input, but the running model takes ${key(old.classifier.input)}; changing that needs a restart`,
      );
    }
    const models = this.models.map((m, i) => (i === index ? model : m));
    const combiner = new LabelCombiner(
      this.labels,
      models.map((m) => ({ name: m.name, classNames: m.classifier.classNames, labels: m.labels, weight: m.weight })),
      this.settings.combine ?? { mode: 'max' },
    );
    const { patchFrames, melBands } = this.frontEnds.patcher;
    const layout = model.classifier.input.kind === 'logmel_patch' ? new Float32Array(patchFrames * melBands) : null;
    return () => {
      const replaced = this.models[index];
      this.models = this.models.map((m, i) => (i === index ? model : m));
      this.combiner = combiner;
      this.layoutBuffers[index] = layout;
      return replaced;
    };
  }
}
