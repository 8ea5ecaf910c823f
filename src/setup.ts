/**
 * Builds the pieces the commands share from a validated config: the model and the pipeline
 * settings and labels. One place, so `analyze`, `run` and `eval` detect exactly alike.
 */
import type { EarshotConfig } from './config.js';
import { resolveLabelSpecs, type LabelSpec } from './detect/label-map.js';
import { loadModel, type LoadedModel } from './inference/load-model.js';
import type { Logger } from './log.js';
import type { PipelineSettings } from './pipeline.js';

/** The pipeline settings of a config. */
export function pipelineSettings(config: EarshotConfig): PipelineSettings {
  const d = config.detection;
  return {
    hopFrames: config.frontend.hop_frames,
    silenceGateDbfs: d.silence_gate_dbfs,
    voteK: d.vote_k,
    voteN: d.vote_n,
    mergeGapSeconds: d.merge_gap_seconds,
    minDurationSeconds: d.min_duration_seconds,
    ringBufferSeconds: config.ring_buffer_seconds,
    exclusiveGroups: d.exclusive_groups,
  };
}

/** Opens the configured model and resolves the labels it can serve; logs labels it cannot. */
export async function openModelAndLabels(config: EarshotConfig, log: Logger): Promise<{ model: LoadedModel; labels: LabelSpec[] }> {
  const model = await loadModel({
    path: config.model.path,
    manifest: config.model.manifest,
    backend: config.model.backend,
    threads: config.model.threads,
    modelDir: config.model_dir,
  });
  const { specs, unmapped } = resolveLabelSpecs(config.detection.labels, model.manifest.class_map);
  if (unmapped.length) log.info({ model: model.manifest.id, labels: unmapped }, 'the model has no class for these labels; they are not detected');
  log.info({ model: model.path, manifest: model.manifest.id, backend: model.backend.kind, classes: model.classNames.length, labels: specs.map((s) => s.name) }, 'model loaded');
  return { model, labels: specs };
}
