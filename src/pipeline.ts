/**
 * The detection pipeline for one audio stream: ring buffer → log-mel front end → patches →
 * classifier → label scores → event detector. The same code serves `earshot analyze`,
 * `earshot run` and `earshot eval`; what happens to the events (print, store, publish) is the
 * caller's.
 */
import { RingBuffer } from './capture/ring-buffer.js';
import { EventDetector, type DetectorOutput, type EndReason } from './detect/detector.js';
import { LabelMap, type LabelSpec } from './detect/label-map.js';
import { LogMelFrontEnd, YAMNET_LOG_OFFSET } from './inference/logmel.js';
import type { ModelManifest } from './inference/manifest.js';
import { Patcher, toLayout, type Patch } from './inference/patcher.js';
import { SAMPLE_RATE, type AudioChunk, type LabelGroup } from './types.js';

/** A model as the pipeline sees it: class scores for one patch. */
export interface PatchClassifier {
  /** Output class names, in output order. */
  readonly classNames: readonly string[];
  /** What the model takes (from its manifest). */
  readonly input: ModelManifest['input'];
  /**
   * Scores one patch.
   * @param modelInput the waveform (15600 samples, −1..1) for waveform models, or the log-mel
   *   patch in the model's layout (96 × 64 values) for patch models
   * @returns one score per class (0..1), owned by the caller
   */
  classify(modelInput: Float32Array): Float32Array | Promise<Float32Array>;
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
}

/**
 * Capture gaps up to 0.5 s (a few lost serial packets, a short overrun) are bridged with zeros
 * (as the ring buffer holds them): the front end and the patch grid stay aligned, so an event
 * heard on both sides of a 16 ms hole stays one event with the same onset. Longer gaps (an unplugged device) end open events with
 * reason `gap` and restart the front end and patcher at the new position: the silence of a
 * missing device must not be classified, and an event must not claim time nobody heard. Either
 * way the ring buffer records the gap, so evidence clips show which samples are not real.
 * Zeros rather than concealment: repeating the audio before a hole (waveform substitution, as
 * ITU-T G.711 Appendix I does for speech) was tried on the 10-minute soak with 1% loss and
 * made things worse (2 missed and 5 spurious hostile events, against 1 and 1 with zeros):
 * repeating 16 ms just after a gunshot or glass transient duplicates the transient.
 */
export const MAX_ZERO_FILL_SECONDS = 0.5;

/** A gap the pipeline saw in the chunks it was fed, and what it did about it. */
export interface PipelineGap {
  /** `[startSample, endSample)`, absolute 16 kHz indices. */
  startSample: number;
  endSample: number;
  /** `zero_fill` (bridged) or `restart` (events ended, front end restarted). */
  handling: 'zero_fill' | 'restart';
}

/** What the pipeline knows of one patch after classifying it (for eval, tuning and pictures). */
export interface PatchReport {
  patch: Patch;
  /** Patch RMS in dBFS (−Infinity for digital silence). */
  rmsDbfs: number;
  /** Patch sample peak in dBFS. */
  peakDbfs: number;
  /** Class scores, or null when the silence gate held the patch back. */
  classScores: Float32Array | null;
  /** Per label (pipeline `labels` order), or null when gated. */
  labelScores: Float32Array | null;
}

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
  private readonly labelMap: LabelMap;
  private readonly detector: EventDetector;
  private readonly layoutBuffer: Float32Array;
  /** Absolute index of the stream's first sample (set by the first chunk). */
  private streamStart = -1;
  /** Absolute index where the current front-end segment starts (moves on a restart after a long gap). */
  private segmentStart = -1;
  /** Patches emitted by earlier segments, so patch indices stay unique across restarts. */
  private patchBase = 0;
  private frontEnd: LogMelFrontEnd;
  private patcher: Patcher;
  /** The latest gap seen (the daemon stores the source's own account of it); counts in {@link gapCounts}. */
  lastGap: PipelineGap | null = null;
  /** The last few gaps (at most 64, oldest first), to match a source's account of them. */
  readonly recentGaps: PipelineGap[] = [];
  /** Gaps bridged with zeros, and gaps that restarted the front end. */
  readonly gapCounts = { zeroFill: 0, restart: 0 };
  /** Called for every patch after classification (optional: eval, tuning, pictures). */
  onPatch: ((report: PatchReport) => void) | null = null;
  /** Patches classified and patches held back by the silence gate. */
  readonly counts = { patches: 0, gated: 0 };

  /**
   * @param classifier the model
   * @param labels enabled labels with their classes (names must exist in `classifier.classNames`)
   * @param settings front-end and detection settings
   * @param newId event id factory (tests pass a deterministic one)
   * @throws EarshotError when a label maps a class the model lacks
   */
  constructor(
    private readonly classifier: PatchClassifier,
    labels: readonly LabelSpec[],
    private readonly settings: PipelineSettings,
    origin: string,
    newId?: () => string,
  ) {
    this.frontEnd = this.newFrontEnd();
    this.patcher = new Patcher({ hopFrames: settings.hopFrames });
    this.ring = new RingBuffer(Math.max(Math.ceil(settings.ringBufferSeconds * SAMPLE_RATE), 2 * this.patcher.patchSamples));
    this.labels = labels;
    this.labelMap = new LabelMap(classifier.classNames, labels, origin);
    this.detector = new EventDetector(
      labels,
      {
        voteK: settings.voteK,
        voteN: settings.voteN,
        mergeGapSamples: Math.round(settings.mergeGapSeconds * SAMPLE_RATE),
        minDurationSamples: Math.round(settings.minDurationSeconds * SAMPLE_RATE),
        hopSamples: settings.hopFrames * 160,
        exclusiveGroups: settings.exclusiveGroups,
      },
      newId,
    );
    this.layoutBuffer = new Float32Array(this.patcher.patchFrames * this.patcher.melBands);
  }

  /**
   * Feeds audio. Chunks must be in order; a chunk that starts after the previous one ended is a
   * capture gap, handled as {@link MAX_ZERO_FILL_SECONDS} describes and noted in {@link lastGap}.
   * @returns the onsets and offsets the chunk caused (offsets closed by a gap first), in time order
   * @throws RangeError when a chunk starts before the previous one ended
   */
  async push(chunk: AudioChunk): Promise<DetectorOutput[]> {
    if (this.streamStart < 0) this.streamStart = this.segmentStart = chunk.startSample;
    const gapStart = this.ring.endSample;
    this.ring.write(chunk);
    const outputs: DetectorOutput[] = [];
    if (chunk.startSample > gapStart) {
      const maxFill = Math.round((this.settings.maxZeroFillSeconds ?? MAX_ZERO_FILL_SECONDS) * SAMPLE_RATE);
      const length = chunk.startSample - gapStart;
      if (length <= maxFill) {
        this.lastGap = { startSample: gapStart, endSample: chunk.startSample, handling: 'zero_fill' };
        this.noteGap(this.lastGap);
        this.gapCounts.zeroFill += 1;
        for (const patch of this.patcher.push(this.frontEnd.push(new Float32Array(length)))) outputs.push(...(await this.processPatch(patch)));
      } else {
        this.lastGap = { startSample: gapStart, endSample: chunk.startSample, handling: 'restart' };
        this.noteGap(this.lastGap);
        this.gapCounts.restart += 1;
        outputs.push(...this.detector.finish('gap'));
        this.patchBase = this.counts.patches;
        this.frontEnd = this.newFrontEnd();
        this.patcher = new Patcher({ hopFrames: this.settings.hopFrames });
        this.segmentStart = chunk.startSample;
      }
    }
    for (const patch of this.patcher.push(this.frontEnd.push(chunk.samples))) outputs.push(...(await this.processPatch(patch)));
    return outputs;
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

  private newFrontEnd(): LogMelFrontEnd {
    const input = this.classifier.input;
    return new LogMelFrontEnd(
      input.kind === 'logmel_patch' ? { logOffset: input.log_offset, fMinHz: input.f_min_hz, fMaxHz: input.f_max_hz } : { logOffset: YAMNET_LOG_OFFSET },
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
    const length = this.streamStart < 0 ? 0 : this.ring.endSample - this.segmentStart;
    if (reason === 'stream_end' && length > 0) {
      const patchSamples = this.patcher.patchSamples;
      const hopSamples = this.patcher.hopFrames * 160;
      const padded = length <= patchSamples ? patchSamples : patchSamples + Math.ceil((length - patchSamples) / hopSamples) * hopSamples;
      if (padded > length) outputs.push(...(await this.push({ startSample: this.ring.endSample, samples: new Float32Array(padded - length) })));
    }
    outputs.push(...this.detector.finish(reason));
    return outputs;
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

  private async processPatch(segmentPatch: Patch): Promise<DetectorOutput[]> {
    // The patcher counts from its segment's start; the rest of the pipeline uses absolute indices.
    const base = this.segmentStart;
    const patch: Patch =
      base === 0 && this.patchBase === 0
        ? segmentPatch
        : { ...segmentPatch, index: segmentPatch.index + this.patchBase, startSample: segmentPatch.startSample + base, endSample: segmentPatch.endSample + base };
    const waveform = this.ring.read(patch.startSample, patch.endSample);
    const { rmsDbfs, peakDbfs } = levels(waveform);
    let classScores: Float32Array | null = null;
    let labelScores: Float32Array | null = null;
    this.counts.patches += 1;
    if (rmsDbfs >= this.settings.silenceGateDbfs) {
      const input = this.classifier.input;
      const modelInput =
        input.kind === 'waveform' ? waveform : toLayout(patch.frames, this.patcher.patchFrames, this.patcher.melBands, input.layout, this.layoutBuffer);
      classScores = await this.classifier.classify(modelInput);
      labelScores = this.labelMap.map(classScores);
    } else {
      this.counts.gated += 1;
    }
    this.onPatch?.({ patch, rmsDbfs, peakDbfs, classScores, labelScores });
    return this.detector.observe({ index: patch.index, startSample: patch.startSample, endSample: patch.endSample, peakDbfs, labelScores });
  }
}
