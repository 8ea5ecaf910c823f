/**
 * What the pipeline (src/pipeline/pipeline.ts) reports of each patch it completed: levels, the
 * models' class scores and the label scores the detector saw. Consumers below the pipeline (the
 * clip recorder, microphone health) and eval read it, so it lives here, with the label scores'
 * owner, rather than in the pipeline.
 */
import type { Patch } from '../frontend/patcher.js';

/** What the pipeline knows of one patch after classifying it (for eval, tuning and pictures). */
export interface PatchReport {
  patch: Patch;
  /** Patch RMS in dBFS (−Infinity for digital silence). */
  rmsDbfs: number;
  /** Patch sample peak in dBFS. */
  peakDbfs: number;
  /** Class scores of the primary model, or null when the silence gate held the patch back. */
  classScores: Float32Array | null;
  /** Every model's class scores (pipeline model order, primary first), or null when gated. */
  modelClassScores?: readonly Float32Array[] | null;
  /** Per label (pipeline `labels` order), or null when gated. */
  labelScores: Float32Array | null;
  /**
   * What became of the patch: scored by the models, held back by the silence gate, skipped to
   * catch up with real time (the daemon's degrade policy, docs/service.md), or failed (a model
   * threw or its worker died). Only `classified` patches have scores.
   */
  status?: 'classified' | 'gated' | 'skipped' | 'failed';
}
