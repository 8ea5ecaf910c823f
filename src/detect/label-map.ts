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
  /**
   * Optional, per class: its score is bent piecewise-linearly (0 → 0, `from` → `to`, 1 → 1) before
   * the max. Puts a head's probability on the rule's scale when a label reads both (a head's
   * `either_labels`): with `from` the head's threshold and `to` the label's, the label passes its
   * threshold exactly when a rule class passes it or the head's probability passes the head's.
   */
  rescale?: Readonly<Record<string, { from: number; to: number }>>;
}

/**
 * `score` bent piecewise-linearly through (0, 0), (`from`, `to`), (1, 1); monotonic, so a score
 * reaches `to` exactly when it reached `from`.
 * @param score 0..1
 * @param from 0..1 (at 0 every score reaches `to`; at 1 only a score of 1 does)
 * @param to 0..1
 */
export function rescaleScore(score: number, from: number, to: number): number {
  if (from <= 0) return to + score * (1 - to);
  if (from >= 1) return score * to;
  return score < from ? (score / from) * to : to + ((score - from) / (1 - from)) * (1 - to);
}

/** A compiled class → label table for one model's class list. */
export class LabelMap {
  /** For each label (same order as `labels`), the indices of its classes in the model's output. */
  private readonly classIndices: Int32Array[];
  /** For each label, per class (same order as classIndices): [from, to] of its rescale, or null. */
  private readonly rescales: (Float64Array | null)[];

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
    this.rescales = labels.map((label) => {
      if (!label.rescale) return null;
      for (const cls of Object.keys(label.rescale)) {
        if (!label.classes.includes(cls)) throw new EarshotError(`${origin}: label "${label.name}" rescales class "${cls}", which it does not map`);
      }
      const pairs = new Float64Array(label.classes.length * 2).fill(Number.NaN);
      label.classes.forEach((cls, c) => {
        const r = label.rescale![cls];
        if (r) pairs.set([r.from, r.to], c * 2);
      });
      return pairs;
    });
  }

  /**
   * Label scores for one patch.
   * @param classScores the model's scores, one per class (length = classNames.length)
   * @param out optional output, one score per label
   * @returns per label, the max score over its classes (each rescaled first where its spec says)
   */
  map(classScores: ArrayLike<number>, out = new Float32Array(this.labels.length)): Float32Array {
    for (let l = 0; l < this.classIndices.length; l++) {
      const indices = this.classIndices[l];
      const rescale = this.rescales[l];
      let best = 0;
      for (let c = 0; c < indices.length; c++) {
        let score = classScores[indices[c]];
        if (rescale && !Number.isNaN(rescale[c * 2])) score = rescaleScore(score, rescale[c * 2], rescale[c * 2 + 1]);
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
