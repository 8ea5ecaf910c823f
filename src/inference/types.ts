/**
 * Types the inference layer owns and the layers above use: what a model looks like to the
 * pipeline (src/pipeline/pipeline.ts runs one or several of them per patch), and the inference
 * figures the scheduler (src/pipeline/scheduler.ts) reports to the API and the logs.
 */
import type { ModelInput } from '../frontend/types.js';

/** A model as the pipeline sees it: class scores for one patch. */
export interface PatchClassifier {
  /** Output class names, in output order. */
  readonly classNames: readonly string[];
  /** What the model takes (from its manifest). */
  readonly input: ModelInput;
  /**
   * Scores one patch.
   * @param modelInput the waveform (15600 samples, −1..1) for waveform models, or the log-mel
   *   patch in the model's layout (96 × 64 values) for patch models
   * @returns one score per class (0..1), owned by the caller
   */
  classify(modelInput: Float32Array): Float32Array | Promise<Float32Array>;
}

/**
 * What the HTTP API (/healthz, /metrics) and the logs read of inference while the daemon runs.
 * Plain getters, cheap to read at any time.
 */
export interface InferenceStatus {
  /** Seconds of audio between the newest captured sample and the end of the newest patch dealt with. */
  readonly lagSeconds: number;
  /** The largest lag seen so far, seconds. */
  readonly maxLagSeconds: number;
  /** True while only every other patch is classified. */
  readonly degraded: boolean;
  /** Times the degrade policy engaged. */
  readonly degradedEpisodes: number;
  /** Patches waiting for the models. */
  readonly queuedPatches: number;
  /** Seconds of captured audio waiting before the front end (the capture pump's backlog). */
  readonly backlogSeconds: number;
  /** Patches classified, skipped by the degrade policy, and failed (a model threw or its worker died). */
  readonly classifiedPatches: number;
  readonly skippedPatches: number;
  readonly failedPatches: number;
  /** Inference workers restarted after dying (summed over the models). */
  readonly workerRestarts: number;
}
