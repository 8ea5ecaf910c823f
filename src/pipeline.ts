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
  private readonly frontEnd: LogMelFrontEnd;
  private readonly patcher: Patcher;
  private readonly labelMap: LabelMap;
  private readonly detector: EventDetector;
  private readonly layoutBuffer: Float32Array;
  /** Absolute index of the stream's first sample (set by the first chunk). */
  private streamStart = -1;
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
    const input = classifier.input;
    this.frontEnd = new LogMelFrontEnd(
      input.kind === 'logmel_patch'
        ? { logOffset: input.log_offset, fMinHz: input.f_min_hz, fMaxHz: input.f_max_hz }
        : { logOffset: YAMNET_LOG_OFFSET },
    );
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
   * Feeds audio. Chunks must be contiguous and in order (startSample = previous end).
   * @returns the onsets and offsets the chunk caused, in time order
   */
  async push(chunk: AudioChunk): Promise<DetectorOutput[]> {
    if (this.streamStart < 0) this.streamStart = chunk.startSample;
    this.ring.write(chunk);
    const patches = this.patcher.push(this.frontEnd.push(chunk.samples));
    const outputs: DetectorOutput[] = [];
    for (const patch of patches) outputs.push(...(await this.processPatch(patch)));
    return outputs;
  }

  /**
   * Ends the stream and closes open events (offset = end of their last voting patch). At the end
   * of a file (`stream_end`) the audio is first padded with zeros to a whole patch and a whole
   * number of hops, as YAMNet's `features.pad_waveform` does, so a clip shorter than one patch
   * (0.975 s) is still classified and the last partial hop is not dropped.
   */
  async finish(reason: EndReason = 'stream_end'): Promise<DetectorOutput[]> {
    const outputs: DetectorOutput[] = [];
    const length = this.streamStart < 0 ? 0 : this.ring.endSample - this.streamStart;
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

  private async processPatch(patch: Patch): Promise<DetectorOutput[]> {
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
