/**
 * Config reload on SIGHUP: what can change while the daemon runs is applied at once, the rest is
 * named as needing a restart. Live: `log_level`, `threshold` / `release` of the labels the
 * running pipeline detects, and the model file (`model.path`, `model.manifest`, or the file's
 * contents: a model hot reload, src/pipeline/model-reload.ts, which test-loads the new
 * model and swaps it in only if it passes). Everything else (source, backend, front end, voting,
 * the label set, database, MQTT) is wired into objects built at start, so it needs
 * `systemctl restart earshot`.
 */
import { isLiveConfigKey } from '../config/keys.js';
import type { EarshotConfig } from '../config/schema.js';
import type { RunningDaemon } from '../daemon.js';
import { resolveLabelSpecs } from '../detect/label-map.js';
import type { Logger } from '../log.js';

/** Dotted paths of the leaves that differ between two configs, e.g. `detection.labels.gunshot.threshold`. */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => changedKeys(before[key], after[key], prefix ? `${prefix}.${key}` : key));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || '(top level)'];
}

/**
 * True for a key that a reload applies live: the schema marks it `x-live` (src/config/schema.ts:
 * `log_level`, `model.path`, `model.manifest`, `model.head`, `detection.labels.<label>.threshold`
 * and `.release`).
 */
export function isLiveKey(key: string): boolean {
  return isLiveConfigKey(key);
}

/** What one reload did. */
export interface ReloadResult {
  /** Keys applied now. */
  applied: string[];
  /** Keys that differ from the running configuration but take effect only after a restart. */
  needRestart: string[];
}

/**
 * Applies a new, already validated config to a running daemon.
 * @param started the config the daemon started with (what restart-only keys are compared with)
 * @param current the config last applied (what live keys are compared with)
 * @param next the config just read
 * @throws RangeError when the pipeline refuses the new thresholds (then nothing was applied)
 */
export function applyReload(running: RunningDaemon, started: EarshotConfig, current: EarshotConfig, next: EarshotConfig, log: Logger): ReloadResult {
  const live = changedKeys(current, next).filter(isLiveKey);
  const needRestart = changedKeys(started, next).filter((key) => !isLiveKey(key));
  // A label the pipeline does not run (disabled, or new) cannot be retuned: its threshold waits for a restart.
  const running_ = new Set(running.pipeline.labels.map((l) => l.name));
  const applied = live.filter((key) => key === 'log_level' || key.startsWith('model.') || running_.has(key.split('.')[2]));
  needRestart.push(...live.filter((key) => !applied.includes(key)));
  if (applied.some((key) => key.startsWith('detection.'))) {
    const resolved = resolveLabelSpecs(next.detection.labels, running.classMap).specs;
    // With a head, its labels keep the head's thresholds unless the config sets theirs.
    const specs = running.withHeadThresholds?.(resolved) ?? resolved;
    const byName = new Map(specs.map((s) => [s.name, s]));
    running.pipeline.updateLabels(
      running.pipeline.labels.map((label) => {
        const tuned = byName.get(label.name);
        return tuned ? { ...label, threshold: tuned.threshold, release: tuned.release } : label;
      }),
    );
  }
  if (applied.includes('log_level')) log.level = next.log_level;
  // Also when the config names the same file: its contents may have changed (sha256 compared).
  // Asynchronous: the reload logs its own outcome, and the daemon keeps its model on failure.
  void running.reloadModel?.(next, 'SIGHUP');
  return { applied, needRestart: [...new Set(needRestart)].sort() };
}
