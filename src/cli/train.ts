/**
 * `earshot train --data DIR... [--model M] [--out HEAD.json]`: trains a head (src/learn/train.ts)
 * on labelled audio (pool folders, folders written by `earshot pull` and labelled, DCASE folders),
 * prints its cross-validation figures per label and the time taken, and writes the head file.
 *
 * Command file pattern (see ./analyze.ts): commander and light imports here, the trainer loaded
 * when the action runs.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EarshotError, ExitCode } from '../errors.js';
import type { ActionWrapper } from './action.js';
import type { TfliteBackendKind } from '../constants.js';
import { formatTable } from './table.js';

/** train's options as commander hands them over. */
export interface TrainCommandOptions {
  data: string[];
  model?: string;
  manifest?: string;
  backend?: TfliteBackendKind;
  config?: string;
  out: string;
  seed: string;
  hidden: string;
  folds: string;
  cvRepeats: string;
  faBudget: string;
  siteWeight: string;
  serve: string;
  l2: string;
  augment: string;
  features: string;
  labels?: string;
  cache?: string;
  /** false with --no-cache. */
  cacheEnabled?: boolean;
  /** true with --site-ambience. */
  siteAmbience?: boolean;
  maxIterations: string;
}

const number = (value: string, name: string, check: (n: number) => boolean, what: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new EarshotError(`${name}: must be ${what}, got ${value}`);
  return n;
};

/**
 * Runs a training from the command line.
 * @throws EarshotError for a bad option, unreadable data or model, a head that cannot be written
 */
export async function trainCommand(options: TrainCommandOptions): Promise<void> {
  const started = performance.now();
  const seed = number(options.seed, '--seed', Number.isInteger, 'a whole number');
  const hidden = number(options.hidden, '--hidden', (n) => Number.isInteger(n) && n >= 0 && n <= 4096, 'a whole number 0..4096 (0 = logistic regression)');
  const folds = number(options.folds, '--folds', (n) => Number.isInteger(n) && n >= 0 && n <= 50, 'a whole number 0..50 (0 or 1 = no cross-validation)');
  const cvRepeats = number(options.cvRepeats, '--cv-repeats', (n) => Number.isInteger(n) && n >= 1 && n <= 20, 'a whole number 1..20');
  const faBudget = options.faBudget.trim() === 'rule' ? 'rule' : number(options.faBudget, '--fa-budget', (n) => n >= 0, '"rule" or false alarms per hour >= 0');
  const siteWeight = number(options.siteWeight, '--site-weight', (n) => n > 0, 'a number > 0');
  if (options.serve !== 'better' && options.serve !== 'either' && options.serve !== 'all')
    throw new EarshotError(`--serve: "better", "either" or "all", got ${options.serve}`);
  const serve = options.serve;
  const l2 = number(options.l2, '--l2', (n) => n >= 0, 'a number >= 0');
  const augment = number(options.augment, '--augment', (n) => Number.isInteger(n) && n >= 0 && n <= 20, 'a whole number 0..20');
  const maxIterations = number(options.maxIterations, '--max-iterations', (n) => Number.isInteger(n) && n >= 1, 'a whole number >= 1');
  const features = options.features
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (features.length === 0 || features.some((f) => f !== 'embedding' && f !== 'scores'))
    throw new EarshotError(`--features: embedding, scores or embedding,scores; got ${options.features}`);

  const { configFrom } = await import('./common.js');
  const { resolveModelPath } = await import('../inference/load-model.js');
  const { trainHead, eventF1 } = await import('../learn/train.js');
  const { HOSTILE_LABELS } = await import('../learn/windows.js');
  const { defaultCacheDir } = await import('../learn/features.js');
  const config = configFrom(options);
  const modelPath = resolveModelPath(config.model.path, config.model_dir);
  const labels = options.labels
    ? options.labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean)
    : Object.keys(config.detection.labels);
  const cacheDir = options.cacheEnabled === false ? null : resolve(options.cache ?? defaultCacheDir());

  const tty = Boolean(process.stderr.isTTY);
  let lastLine = '';
  const result = await trainHead({
    data: options.data,
    modelPath,
    ...(options.manifest ? { manifest: options.manifest } : {}),
    labels,
    seed,
    hidden,
    features: features as ('embedding' | 'scores')[],
    l2,
    folds,
    cvRepeats,
    faBudgetPerHour: faBudget,
    ruleLabels: config.detection.labels,
    siteWeight,
    serve,
    augmentCopies: augment,
    siteAmbience: options.siteAmbience === true,
    cacheDir,
    maxIterations,
    onProgress: (p) => {
      if (!tty) return;
      const line =
        p.stage === 'features'
          ? `features: ${p.done}/${p.total} clips`
          : p.stage === 'cross-validation'
            ? `cross-validation: fold ${Math.floor(p.done) + 1}/${p.total}${p.loss !== undefined ? `, loss ${p.loss.toFixed(4)}` : ''}`
            : `final fit${p.loss !== undefined ? `: loss ${p.loss.toFixed(4)}` : ''}`;
      if (line !== lastLine) {
        lastLine = line;
        process.stderr.write(`\r${line.padEnd(60)}`);
      }
    },
  });
  if (tty) process.stderr.write(`${'\r'.padEnd(62)}\r`);
  const out = resolve(options.out);
  try {
    writeFileSync(`${out}.tmp`, result.text);
    renameSync(`${out}.tmp`, out);
  } catch (error) {
    throw new EarshotError(`${options.out}: cannot write the head (${(error as NodeJS.ErrnoException).code ?? error})`, ExitCode.Environment, { cause: error });
  }

  const r = result.report;
  for (const warning of r.warnings) process.stderr.write(`earshot: warning: ${warning}\n`);
  const unmapped = Object.entries(r.unmappedClasses);
  if (unmapped.length) process.stdout.write(`trained as "other" (not in the label set): ${unmapped.map(([c, n]) => `${c} ${n}`).join(', ')}\n`);
  process.stdout.write(
    `${r.clips} clips, ${r.windows} windows (+${r.augmentedWindows} augmented), ${r.groups} source groups; ` +
      `features: ${r.featuresComputed} computed, ${r.featuresCached} from the cache${cacheDir ? ` (${cacheDir})` : ''}\n`,
  );
  const method =
    result.head.validation.method === 'grouped-kfold'
      ? `${r.folds}-fold cross-validation grouped by source recording${cvRepeats > 1 ? `, repeated ${cvRepeats} times (the mean of each window's out-of-fold probabilities)` : ''}`
      : 'no cross-validation: figures on the training windows (optimistic)';
  process.stdout.write(
    faBudget === 'rule'
      ? `${method}; thresholds: best F1 with no more false alarms per hour of other audio than the YAMNet rule (the config's classes and thresholds) on the same windows:\n`
      : `${method}; thresholds under ${faBudget} false alarms per hour of other audio:\n`,
  );
  const rows = [
    [
      'label',
      'clips',
      'events',
      'threshold',
      'recall',
      'precision',
      'FA/h',
      'hours',
      'F1 ± SE',
      ...(faBudget === 'rule' ? ['rule recall', 'rule FA/h', 'rule F1 ± SE', 'served by'] : []),
    ],
  ];
  // Event F1 and the jackknife standard error over source groups beside it.
  const withSe = (value: number, se: number | undefined) => `${value.toFixed(3)}${se === undefined ? '' : ` ± ${se.toFixed(3)}`}`;
  for (const l of r.labels) {
    rows.push([
      l.label,
      String(l.clips),
      String(l.positives),
      String(l.threshold) + (l.over_budget ? '*' : ''),
      l.recall.toFixed(3),
      l.precision.toFixed(3),
      l.fa_per_hour.toFixed(1),
      l.negative_hours.toFixed(2),
      withSe(eventF1(l.detected, l.positives, l.false_alarms), l.jackknife?.f1_se),
      ...(faBudget === 'rule'
        ? l.rule
          ? [
              l.rule.recall.toFixed(3),
              l.rule.fa_per_hour.toFixed(1),
              withSe(eventF1(l.rule.detected, l.positives, l.rule.false_alarms), l.jackknife?.rule_f1_se),
              l.served_by ?? 'head',
            ]
          : ['—', '—', '—', 'head']
        : []),
    ]);
  }
  for (const line of formatTable(rows, { indent: '  ', align: rows[0]!.map((_, c) => (c === 0 ? 'left' : 'right')) })) process.stdout.write(`${line}\n`);
  if (r.labels.some((l) => l.over_budget)) process.stdout.write('  * no threshold met the budget: the one with the fewest false alarms\n');
  if (r.labels.some((l) => l.jackknife))
    process.stdout.write('  F1: event F1 at the threshold; ± its jackknife standard error over source groups (each left out in turn)\n');
  if (result.head.rule_labels?.length)
    process.stdout.write(
      `  the YAMNet rule keeps ${result.head.rule_labels.join(', ')} (it measured at least as good in cross-validation, on your own clips first; --serve all to override)\n`,
    );
  if (result.head.either_labels?.length)
    process.stdout.write(
      `  the rule and the head serve ${result.head.either_labels
        .map((l) => `${l} (head threshold ${result.head.thresholds[l]?.threshold})`)
        .join(', ')} together: either fires (better than each alone in cross-validation)\n`,
    );
  // What holds each hostile threshold up: the confusers a person can judge for their own site.
  const steps = r.labels.filter((l) => HOSTILE_LABELS.has(l.label) && l.next_step);
  if (steps.length) {
    const on = result.head.validation.method === 'grouped-kfold' ? 'cross-validation' : 'the training windows';
    process.stdout.write(
      `what holds the hostile thresholds up (${on}: the next threshold down that finds more events, and the clips of other audio that would fire there; a clip your site never hears can be left out of --data):\n`,
    );
    for (const l of steps) {
      const step = l.next_step!;
      const more = step.new_false_alarms;
      const rest = step.confuser_clips - step.confusers.length;
      const clips =
        step.confusers.map((c) => `${c.clip} ${c.score.toFixed(3)}${c.runs > 1 ? ` (×${c.runs})` : ''}`).join(', ') +
        (rest > 0 ? `, and ${rest} clip${rest === 1 ? '' : 's'} more` : '');
      process.stdout.write(
        `  ${l.label} ${l.threshold} → ${step.threshold}: ${step.detected} of ${l.positives} events (+${step.detected - l.detected}), ` +
          `${more} false alarm${more === 1 ? '' : 's'} more (${step.fa_per_hour.toFixed(1)}/h in all)${clips ? `: ${clips}` : ''}\n`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `wrote ${options.out} (${result.head.kind}, ${result.head.labels.length} labels, base model sha256 ${r.modelSha256.slice(0, 12)}…) in ${seconds.toFixed(1)} s ` +
      `(features ${r.seconds.features.toFixed(1)} s, cross-validation ${r.seconds.crossValidation.toFixed(1)} s, final fit ${r.seconds.final.toFixed(1)} s)\n`,
  );
}

/** Registers `earshot train`. */
export function registerTrain(program: Command, action: ActionWrapper): void {
  program
    .command('train')
    .description('train a head on labelled audio (pool folders, pulled and labelled folders, DCASE folders) and write it as a head file')
    .requiredOption('--data <dir...>', 'labelled audio: <label>/*.wav (+ pool.tsv), a folder from `earshot pull`, or WAVs with annotations.tsv (repeatable)')
    .option('--out <file>', 'head file to write', 'head.json')
    .option('--config <file>', 'YAML config (its model and label set; default: built-in defaults)')
    .option('--model <file>', 'the model the head runs on (a YAMNet-family .tflite); default: the configured or pulled YAMNet')
    .option('--manifest <id|file>', 'model manifest id or file; default: matched by the model file sha256')
    .option('--seed <n>', 'seed of augmentation, folds and initial weights (same data and seed: same head)', '1')
    .option('--hidden <n>', 'hidden units of a one-hidden-layer MLP; 0 = multinomial logistic regression', '0')
    .option('--features <list>', 'what the head reads: embedding, scores, or embedding,scores', 'embedding,scores')
    .option('--labels <list>', 'labels the head may learn, comma-separated (default: the configured label set); other classes train as "other"')
    .option('--folds <n>', 'cross-validation folds, grouped by source recording (0 = none)', '5')
    .option(
      '--cv-repeats <n>',
      'repeats of the cross-validation, each with another deal of source groups to folds; thresholds and who serves each label come from the mean',
      '1',
    )
    .option(
      '--fa-budget <rule|n>',
      'false alarms per hour of other audio allowed per label when choosing thresholds: "rule" = no more than the YAMNet rule makes on the same validation audio (best F1 within that), or a number (lowest threshold within it)',
      'rule',
    )
    .option(
      '--serve <better|either|all>',
      'who serves each label: "better" = only where its cross-validated F1 beats the YAMNet rule\'s (on your pulled and DCASE clips first, when they tell the two apart; the rule keeps the others), "either" = the best of the rule, the head, and both together (the label fires when either does), "all" = every label',
      'better',
    )
    .option('--site-weight <w>', "weight of windows from pulled and DCASE folders (the site's own labels) relative to pool clips", '1')
    .option('--l2 <lambda>', 'L2 penalty on the weights (inputs are standardised)', '0.1')
    .option('--augment <n>', "augmented copies per clip-labelled clip (mixed into the data's ambience recordings)", '2')
    .option(
      '--site-ambience',
      'also mix the augmented copies into your background clips (pulled and DCASE clips with no span): more events found at your site, and more false alarms in the one measured case',
    )
    .option('--max-iterations <n>', 'L-BFGS iterations per fit at most', '300')
    .option('--cache <dir>', 'embedding cache folder (default: $XDG_CACHE_HOME/earshot or ~/.cache/earshot)')
    .option('--no-cache', 'compute every embedding, keep none')
    .action(
      action(async (options: Omit<TrainCommandOptions, 'cache'> & { cache?: string | false }) => {
        // commander turns --no-cache into cache: false.
        const cacheEnabled = options.cache !== false;
        await trainCommand({ ...options, cache: typeof options.cache === 'string' ? options.cache : undefined, cacheEnabled });
      }),
    );
}
