/**
 * Combines several models' scores into the one score per label the detector sees.
 *
 * Each model maps its own class scores to the labels it serves (a {@link LabelMap}: max over the
 * label's classes in that model). Per label, the scores of the models that serve it are then
 * combined:
 * - `max`: the highest of `weight · score` (a weight below 1 makes a model need a higher score
 *   to reach the label's threshold; scaled scores are capped at 1);
 * - `mean`: the weighted mean `Σ wᵢ·sᵢ / Σ wᵢ` over the models serving the label, a late fusion
 *   that needs the models to agree.
 * These are the two usual late-fusion rules for classifier ensembles (Kittler et al., "On
 * combining classifiers", IEEE TPAMI 20(3), 1998: max rule and (weighted) sum rule). A label
 * served by one model keeps that model's score (under `max`, times its weight; the primary's
 * weight is 1), so a one-model pipeline scores exactly as it did before combination existed.
 */
import { EarshotError } from '../errors.js';
import { LabelMap, type LabelSettings, type LabelSpec } from './label-map.js';

/** How the models serving one label are combined. */
export type CombineMode = 'max' | 'mean';

/** The combination rule: a default mode and optional per-label overrides. */
export interface CombineSettings {
  mode: CombineMode;
  /** Label name → mode, overriding {@link mode} for that label. */
  perLabel?: Readonly<Record<string, CombineMode>>;
}

/** One model as the combiner sees it. */
export interface CombineMember {
  /** For error messages: the manifest id or file. */
  name: string;
  /** The model's output classes in output order. */
  classNames: readonly string[];
  /**
   * The labels this model serves, with this model's class names (each name must be one of the
   * pipeline's labels; thresholds are not used here).
   */
  labels: readonly LabelSpec[];
  /** Weight in the combination, > 0 (1 = as is). */
  weight: number;
}

/** Where one pipeline label's score comes from: a member and the label's index in that member's map. */
interface Source {
  member: number;
  index: number;
  weight: number;
}

/**
 * Compiled per-label combination for a fixed set of models: built once per pipeline (or per
 * tuning candidate), then called for every patch without allocating.
 */
export class LabelCombiner {
  private readonly maps: LabelMap[];
  private readonly memberScores: Float32Array<ArrayBuffer>[];
  private readonly sources: Source[][];
  private readonly modes: CombineMode[];

  /**
   * @param labels the pipeline's labels, in the detector's order
   * @param members the models, primary first
   * @throws EarshotError when a member serves a label the pipeline does not have, a label has no
   *   member serving it, a weight is not positive, or a member's label maps a class it lacks
   */
  constructor(
    readonly labels: readonly LabelSpec[],
    members: readonly CombineMember[],
    settings: CombineSettings,
  ) {
    const position = new Map(labels.map((l, i) => [l.name, i] as const));
    this.sources = labels.map(() => []);
    this.maps = members.map((member, m) => {
      if (!(member.weight > 0) || !Number.isFinite(member.weight)) {
        throw new EarshotError(`${member.name}: weight must be a positive number, got ${member.weight}`);
      }
      member.labels.forEach((label, index) => {
        const at = position.get(label.name);
        if (at === undefined)
          throw new EarshotError(
            `${member.name}: serves label "${label.name}", which is not one of the detected labels (${labels.map((l) => l.name).join(', ')})`,
          );
        this.sources[at].push({ member: m, index, weight: member.weight });
      });
      return new LabelMap(member.classNames, member.labels, member.name);
    });
    labels.forEach((label, i) => {
      if (this.sources[i].length === 0) throw new EarshotError(`label "${label.name}": no model serves it`);
    });
    this.memberScores = members.map((member) => new Float32Array(member.labels.length));
    this.modes = labels.map((l) => settings.perLabel?.[l.name] ?? settings.mode);
  }

  /** How many models serve each label (pipeline label order). */
  get servingCounts(): number[] {
    return this.sources.map((s) => s.length);
  }

  /**
   * Label scores for one patch.
   * @param classScores per member (same order as the constructor's), its class scores for the
   *   patch; `null` for a member that has none (it is left out of every label it serves)
   * @param out optional output, one score per pipeline label
   * @returns per pipeline label, the combined score (0 when no serving member has scores)
   */
  combine(classScores: readonly (ArrayLike<number> | null)[], out = new Float32Array(this.labels.length)): Float32Array {
    for (let m = 0; m < this.maps.length; m++) {
      const scores = classScores[m];
      if (scores) this.maps[m].map(scores, this.memberScores[m]);
    }
    for (let l = 0; l < this.sources.length; l++) {
      const sources = this.sources[l];
      if (this.modes[l] === 'max') {
        let best = 0;
        for (const { member, index, weight } of sources) {
          if (!classScores[member]) continue;
          const raw = this.memberScores[member][index];
          const score = weight === 1 ? raw : Math.min(1, weight * raw);
          if (score > best) best = score;
        }
        out[l] = best;
      } else {
        let sum = 0;
        let weights = 0;
        for (const { member, index, weight } of sources) {
          if (!classScores[member]) continue;
          sum += weight * this.memberScores[member][index];
          weights += weight;
        }
        // One serving model: its score as is (no rounding through the division).
        out[l] = weights === 0 ? 0 : sources.length === 1 ? this.memberScores[sources[0].member][sources[0].index] : sum / weights;
      }
    }
    return out;
  }
}

/**
 * The labels an additional model serves: those named in `wanted` (its config entry's `labels`),
 * else every enabled label its manifest's class map covers. Classes always come from the model's
 * own manifest (a label's `classes` in the config name the primary model's classes).
 * @param settings the config's label table (merged with the defaults)
 * @param classMap the model manifest's label → class names
 * @param key the config key for messages, e.g. `extra_models[0]`
 * @param modelName the model for messages (manifest id and file)
 * @returns label specs (thresholds from the config) in the config's label order; disabled labels are left out
 * @throws EarshotError naming `key.labels` when a wanted label is unknown or the model has no class for it
 */
export function resolveMemberLabels(
  settings: Record<string, LabelSettings>,
  classMap: Record<string, string[]>,
  wanted: readonly string[] | undefined,
  key: string,
  modelName: string,
): LabelSpec[] {
  if (wanted) {
    for (const name of wanted) {
      if (!settings[name]) throw new EarshotError(`${key}.labels: "${name}" is not a label (detection.labels has ${Object.keys(settings).join(', ')})`);
      if (!classMap[name]?.length) {
        throw new EarshotError(
          `${key}.labels: the model ${modelName} has no class for label "${name}" (its manifest maps ${Object.keys(classMap).join(', ') || 'no label'})`,
        );
      }
    }
  }
  const served = new Set(wanted ?? Object.keys(classMap));
  const specs: LabelSpec[] = [];
  for (const [name, label] of Object.entries(settings)) {
    if (!label.enabled || !served.has(name) || !classMap[name]?.length) continue;
    specs.push({ name, group: label.group, classes: classMap[name], threshold: label.threshold, release: label.release });
  }
  return specs;
}

/**
 * The pipeline's labels for a set of models: every label some model serves, in the config's
 * label order, each with the first serving model's classes.
 * @param order label names in config order
 * @param perModel the labels each model serves, primary first
 */
export function unionLabels(order: readonly string[], perModel: readonly (readonly LabelSpec[])[]): LabelSpec[] {
  const byName = new Map<string, LabelSpec>();
  for (const labels of perModel) for (const label of labels) if (!byName.has(label.name)) byName.set(label.name, label);
  return order.filter((name) => byName.has(name)).map((name) => byName.get(name)!);
}
