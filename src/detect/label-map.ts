/**
 * Maps a model's class scores to earshot labels: a label's score for a patch is the highest score
 * among the model classes mapped to it.
 */
import { EarshotError } from '../errors.js';
import type { LabelGroup } from '../types.js';

/** One earshot label with the model classes it gathers and its thresholds. */
export interface LabelSpec {
  name: string;
  group: LabelGroup;
  /** Model class names mapped to this label (exact, case-sensitive display names). */
  classes: string[];
  /** Score (0..1) at which a patch votes to open an event. */
  threshold: number;
  /** Score (0..1, ≤ threshold) at which a patch keeps an open event open (hysteresis). */
  release: number;
}

/** A compiled class → label table for one model's class list. */
export class LabelMap {
  /** For each label (same order as `labels`), the indices of its classes in the model's output. */
  private readonly classIndices: Int32Array[];

  /**
   * @param classNames the model's output classes in output order (e.g. YAMNet's 521 display names)
   * @param labels the enabled labels
   * @param origin a name for error messages (model file or manifest)
   * @throws EarshotError when a label names a class the model does not have, or maps no class
   */
  constructor(
    classNames: readonly string[],
    readonly labels: readonly LabelSpec[],
    origin: string,
  ) {
    const indexOf = new Map(classNames.map((name, i) => [name, i] as const));
    this.classIndices = labels.map((label) => {
      if (label.classes.length === 0) {
        throw new EarshotError(`${origin}: label "${label.name}" maps no model class; give detection.labels.${label.name}.classes or disable it`);
      }
      return Int32Array.from(label.classes, (cls) => {
        const index = indexOf.get(cls);
        if (index === undefined) {
          throw new EarshotError(`${origin}: label "${label.name}" maps class "${cls}", which the model does not have`);
        }
        return index;
      });
    });
  }

  /**
   * Label scores for one patch.
   * @param classScores the model's scores, one per class (length = classNames.length)
   * @param out optional output, one score per label
   * @returns per label, the max score over its classes
   */
  map(classScores: ArrayLike<number>, out = new Float32Array(this.labels.length)): Float32Array {
    for (let l = 0; l < this.classIndices.length; l++) {
      let best = 0;
      for (const index of this.classIndices[l]) {
        const score = classScores[index];
        if (score > best) best = score;
      }
      out[l] = best;
    }
    return out;
  }
}

/** A label's settings as the config gives them (see `LabelConfig` in src/config/schema.ts). */
export interface LabelSettings {
  group: LabelGroup;
  classes?: string[];
  threshold: number;
  release: number;
  enabled: boolean;
}

/**
 * The enabled labels a model can detect: each label's classes come from its settings, else from
 * the model manifest's class map; a label with neither is left out (the model cannot hear it).
 * @returns label specs in the settings' key order, and the names left out
 */
export function resolveLabelSpecs(settings: Record<string, LabelSettings>, classMap: Record<string, string[]>): { specs: LabelSpec[]; unmapped: string[] } {
  const specs: LabelSpec[] = [];
  const unmapped: string[] = [];
  for (const [name, label] of Object.entries(settings)) {
    if (!label.enabled) continue;
    const classes = label.classes?.length ? label.classes : classMap[name];
    if (!classes?.length) {
      unmapped.push(name);
      continue;
    }
    specs.push({ name, group: label.group, classes, threshold: label.threshold, release: label.release });
  }
  return { specs, unmapped };
}
