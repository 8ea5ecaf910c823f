/**
 * Builds the pieces the commands share from a validated config: the model and the pipeline
 * settings and labels. One place, so `analyze`, `run` and `eval` detect exactly alike.
 */
import type { EarshotConfig } from './config/schema.js';
import type { LabelSpec } from './detect/label-map.js';
import type { LoadedModel } from './inference/load-model.js';
import type { ModelRequest } from './inference/model-request.js';
import { openModelSet, type ModelSet } from './pipeline/model-set.js';
import type { Logger } from './log.js';
import type { PipelineSettings } from './pipeline/pipeline.js';

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
    combine: { mode: d.combine, perLabel: Object.fromEntries(Object.entries(d.labels).flatMap(([name, l]) => (l.combine ? [[name, l.combine]] : []))) },
  };
}

/**
 * Opens the configured models (`model`, then `extra_models`) and resolves the labels they serve;
 * logs labels none can serve.
 * @returns `model` = the primary, `labels` = the pipeline's labels, `models` = the whole set
 *   (pass `models.members` to {@link Pipeline} and close with `models.close()`; with no extra
 *   models it holds the primary alone)
 * @param load opens one model (default: in this thread; `earshot run` opens each in a worker thread)
 * @throws EarshotError for a model that cannot be opened or a label no listed model has a class for
 */
export async function openModelAndLabels(
  config: EarshotConfig,
  log: Logger,
  load?: (request: ModelRequest) => Promise<LoadedModel>,
): Promise<{ model: LoadedModel; labels: LabelSpec[]; models: ModelSet }> {
  const models = await openModelSet(config, log, load);
  // A delegate or execution provider that fell back to the CPU (docs/models.md).
  for (const m of models.models) for (const warning of m.warnings ?? []) log.warn({ model: m.path, accelerator: m.accelerator }, warning);
  return { model: models.primary, labels: models.labels, models };
}
