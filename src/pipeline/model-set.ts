/**
 * The models of one pipeline: the config's `model` (the primary) and its `extra_models`, opened
 * together (each probed in a child process first, as {@link loadModel} does), with the labels
 * each serves and the identity events record.
 */
import type { EarshotConfig } from '../config/schema.js';
import { resolveMemberLabels, unionLabels } from '../detect/combine.js';
import { resolveLabelSpecs, type LabelSpec } from '../detect/label-map.js';
import { EarshotError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PipelineModel } from './pipeline.js';
import type { LoadedHead } from '../inference/head/head-file.js';
import { attachHead, resolveHeadSetting } from '../inference/head/head-runtime.js';
import { loadModel, type LoadedModel } from '../inference/load-model.js';
import { modelRequests, type ModelRequest } from '../inference/model-request.js';
import type { ModelManifest } from '../inference/manifest.js';
import { headLabelSpecs } from '../detect/head-labels.js';

/** Open models ready for {@link Pipeline}; close with {@link ModelSet.close}. */
export interface ModelSet {
  /** The config's `model`. */
  readonly primary: LoadedModel;
  /** Every model, primary first, then `extra_models` in config order. */
  readonly models: readonly LoadedModel[];
  /** What the pipeline takes: per model, its classifier, the labels it serves and its weight. */
  readonly members: readonly PipelineModel[];
  /** The pipeline's labels: every enabled label some model serves, in config order. */
  readonly labels: LabelSpec[];
  /**
   * For events (`model_id`, `model_sha256`): the primary's manifest id and file sha256 alone, or,
   * with extra models, every model's joined with `+` in model order (e.g.
   * `yamnet_waveform+st_yamnet256_fsd50k`), so an event names the exact set that heard it.
   */
  readonly id: string;
  readonly sha256: string;
  /** Label → the classes of the first model serving it (what a config reload resolves against). */
  readonly classMap: Record<string, string[]>;
  /**
   * The primary's head (`model.head`, src/inference/head/head-runtime.ts), or null. With a head,
   * `primary` is the headed model and the labels the head serves read its probabilities.
   */
  readonly head: LoadedHead | null;
  /** The labels the head serves (its labels enabled in the config); empty without a head. */
  readonly headLabels: readonly string[];
  /** Closes every model. Idempotent as the backends are. */
  close(): void;
}

/** A model's manifest with its config key and name, for planning labels. */
export interface PlannedModel {
  /** `model` or `extra_models[i]`. */
  key: string;
  /** For messages: manifest id and file. */
  name: string;
  manifest: Pick<ModelManifest, 'class_map'>;
}

/**
 * Which labels each model serves: the primary as a single model would (classes from the config's
 * `classes` or its manifest), each extra model the labels its entry lists (else every enabled
 * label its manifest maps), with classes from its own manifest.
 * @param models primary first, then the extras in config order
 * @returns per model its labels, the pipeline's labels (their union, config order), and the
 *   enabled labels no model serves
 * @throws EarshotError naming `extra_models[i].labels` when a listed label has no class in that
 *   model, or `extra_models[i]` when the model serves no enabled label
 */
export function planModelLabels(config: EarshotConfig, models: readonly PlannedModel[]): { perModel: LabelSpec[][]; labels: LabelSpec[]; unmapped: string[] } {
  const settings = config.detection.labels;
  const perModel = models.map((model, i) => {
    if (i === 0) return resolveLabelSpecs(settings, model.manifest.class_map).specs;
    const extra = config.extra_models[i - 1];
    const labels = resolveMemberLabels(settings, model.manifest.class_map, extra.labels, model.key, model.name);
    if (labels.length === 0) {
      throw new EarshotError(
        `${model.key}: the model ${model.name} serves none of the enabled labels (its manifest maps ${Object.keys(model.manifest.class_map).join(', ') || 'no label'}); list some in ${model.key}.labels or remove it`,
      );
    }
    return labels;
  });
  const labels = unionLabels(Object.keys(settings), perModel);
  const served = new Set(labels.map((l) => l.name));
  const unmapped = Object.entries(settings)
    .filter(([name, l]) => l.enabled && !served.has(name))
    .map(([name]) => name);
  return { perModel, labels, unmapped };
}

/**
 * Opens the configured models and resolves the labels they serve; logs labels none can serve.
 * @param load opens one model (default {@link loadModel}, in this thread; the daemon passes one that opens it in a worker thread)
 * @throws EarshotError for a missing, unreadable or crashing model file (naming it), or a label
 *   problem (see {@link planModelLabels}); models already opened are closed first
 */
export async function openModelSet(config: EarshotConfig, log: Logger, load: (request: ModelRequest) => Promise<LoadedModel> = loadModel): Promise<ModelSet> {
  const models: LoadedModel[] = [];
  try {
    // In order, the primary first: a caller may have started opening it already (cli/analyze.ts).
    for (const request of modelRequests(config)) models.push(await load(request));
    const planned = models.map((m, i) => ({ key: i === 0 ? 'model' : `extra_models[${i - 1}]`, name: `${m.manifest.id} (${m.path})`, manifest: m.manifest }));
    const plan = planModelLabels(config, planned);
    const { perModel, unmapped } = plan;
    let labels = plan.labels;
    // The primary's head (model.head: a file, auto = the shipped head for this model, or none).
    const { head, skipped } = resolveHeadSetting(config.model.head, models[0]!);
    for (const s of skipped) log.warn({ head: s.path, reason: s.problem }, 'shipped head skipped');
    let headLabels: string[] = [];
    if (head) {
      models[0] = await attachHead(models[0]!, head);
      const headed = headLabelSpecs(perModel[0]!, head.head);
      perModel[0] = headed.specs;
      headLabels = headed.served;
      labels = unionLabels(Object.keys(config.detection.labels), perModel);
      const unused = head.head.labels.filter((l) => l !== head.head.backgroundLabel && !headLabels.includes(l));
      log.info(
        {
          head: head.path,
          origin: head.origin,
          sha256: head.head.sha256,
          trained_at: head.head.trainedAt,
          clips: head.head.clipCount,
          labels: headLabels,
          ...(head.head.eitherLabels.length ? { with_rule: head.head.eitherLabels.filter((l) => headLabels.includes(l)) } : {}),
          ...(unused.length ? { not_enabled: unused } : {}),
        },
        'head loaded: these labels read its probabilities',
      );
    }
    if (unmapped.length)
      log.info({ model: models.map((m) => m.manifest.id).join('+'), labels: unmapped }, 'no model has a class for these labels; they are not detected');
    const members: PipelineModel[] = models.map((m, i) => ({
      classifier: m,
      name: planned[i].name,
      labels: perModel[i],
      weight: i === 0 ? 1 : config.extra_models[i - 1].weight,
    }));
    for (const [i, m] of models.entries()) {
      log.info(
        {
          model: m.path,
          manifest: m.manifest.id,
          backend: m.backend.kind,
          classes: m.classNames.length,
          labels: perModel[i].map((s) => s.name),
          ...(i > 0 ? { weight: members[i].weight, role: planned[i].key } : {}),
        },
        'model loaded',
      );
    }
    if (models.length > 1) log.info({ combine: config.detection.combine, models: models.length }, 'label scores of several models are combined');
    const classMap: Record<string, string[]> = {};
    for (const label of labels) classMap[label.name] = label.classes;
    return {
      primary: models[0],
      models,
      members,
      labels,
      id: models.map((m) => m.manifest.id).join('+'),
      sha256: models.map((m) => m.sha256).join('+'),
      classMap,
      head,
      headLabels,
      close: () => {
        for (const m of models) m.close();
      },
    };
  } catch (error) {
    for (const m of models) m.close();
    throw error;
  }
}
