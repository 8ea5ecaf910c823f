/**
 * Label specs when a head runs: which labels read the head's probabilities (`head:<label>`
 * classes, appended to the model's scores by the inference worker) and with which thresholds.
 * Detection logic, so it lives in the detect layer; the head itself is src/inference/head.
 */
import { DEFAULT_LABELS } from '../config/labels.js';
import type { Head } from '../inference/head/head-file.js';
import { HEAD_CLASS_PREFIX } from '../inference/head/head-runtime.js';
import type { LabelSpec } from './label-map.js';

/**
 * The primary model's labels with a head: each label the head serves reads `head:<label>` with
 * the head's threshold and release (the config's when it sets the label's threshold to other than
 * earshot's default, docs/configuration.md); every other label, and those the head leaves to the
 * rule (`rule_labels`), is left as it is. A label the head and the rule serve together
 * (`either_labels`) reads its YAMNet classes and `head:<label>` with the config's threshold and
 * release, the head's probability rescaled so that the head's threshold lands on the label's: it
 * fires when either passes its own threshold.
 * @param specs the primary's labels without a head (resolveLabelSpecs: classes and config thresholds)
 * @returns the new specs (same names, same order) and the head labels served (alone or with the rule)
 */
export function headLabelSpecs(specs: readonly LabelSpec[], head: Head): { specs: LabelSpec[]; served: string[] } {
  const served: string[] = [];
  const out = specs.map((spec) => {
    // A label the head leaves to the rule (rule_labels) keeps its classes and thresholds.
    if (spec.name === head.backgroundLabel || !head.labels.includes(spec.name) || head.ruleLabels.includes(spec.name)) return spec;
    served.push(spec.name);
    const headClass = `${HEAD_CLASS_PREFIX}${spec.name}`;
    const fromHead = head.thresholds[spec.name];
    if (head.eitherLabels.includes(spec.name) && fromHead) {
      return { ...spec, classes: [...spec.classes, headClass], rescale: { [headClass]: { from: fromHead.threshold, to: spec.threshold } } };
    }
    const defaultThreshold = (DEFAULT_LABELS as Record<string, { threshold: number } | undefined>)[spec.name]?.threshold;
    const configSetsIt = defaultThreshold === undefined || spec.threshold !== defaultThreshold;
    const thresholds =
      configSetsIt || !fromHead
        ? { threshold: spec.threshold, release: spec.release }
        : { threshold: fromHead.threshold, release: Math.min(fromHead.release, fromHead.threshold) };
    return { ...spec, classes: [headClass], ...thresholds };
  });
  return { specs: out, served };
}
