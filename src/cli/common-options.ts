/**
 * Options shared by the commands that open a model (analyze, run, eval, tune, model pull), and
 * the types their actions receive. Commander only: loaded for `--help`. The code that turns these
 * options into a config and a logger is in ./common.ts, which actions import when they run.
 */
import { Option, type Command } from 'commander';
import { MAX_AUTO_JOBS, MORE_SETS_MIN_BYTES } from '../analysis-jobs.js';
import { ALL_BACKEND_KINDS } from '../constants.js';

/** Inference backends a user can choose with `--backend`: every backend kind (src/constants.ts imports nothing, so `--help` stays commander-only). */
export const BACKEND_NAMES = ALL_BACKEND_KINDS;

/** The options {@link withCommon} adds, as commander hands them to an action. */
export interface CommonOptions {
  config?: string;
  model?: string;
  manifest?: string;
  backend?: (typeof BACKEND_NAMES)[number];
  pretty?: boolean;
  logLevel?: string;
  /** `--head` (analyze, eval, tune, run): a head file, `auto` or `none`. */
  head?: string;
}

/** `--backend <name>`, limited to {@link BACKEND_NAMES}. */
export const backendOption = () => new Option('--backend <name>', 'inference backend').choices(BACKEND_NAMES);

/** `--head <file|auto|none>`: the head run after the model (config `model.head`). */
export const headOption = () =>
  new Option(
    '--head <file|auto|none>',
    "head file run after the model (earshot train writes one); auto: the shipped head for the model, if any; none: the model's class scores alone (default: model.head, auto)",
  );

/** `--jobs <n|auto>` (analyze, eval): model sets analysing files side by side (src/analysis-jobs.ts's analyzeJobs reads it). */
export const jobsOption = () =>
  new Option(
    '--jobs <n|auto>',
    `model sets analysing files side by side, each in its own worker (auto: one per free core, at most ${MAX_AUTO_JOBS}; more only for over ${MORE_SETS_MIN_BYTES >> 20} MB of files left)`,
  ).default('auto');

/** Adds --config, --model, --manifest, --backend, --log-level and --pretty to `command`. */
export const withCommon = (command: Command, configHelp = 'YAML config file (default: built-in defaults)') =>
  command
    .option('--config <file>', configHelp)
    .option('--model <file>', 'model file (.tflite or .onnx); default: the pulled YAMNet')
    .option('--manifest <id|file>', 'model manifest id or file; default: matched by the model file sha256')
    .addOption(backendOption())
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--pretty', 'human-readable logs');

/** The "Example:" block a command's `--help` ends with (`.addHelpText('after', examples(...))`). */
export function examples(...commands: string[]): string {
  return `\nExample${commands.length > 1 ? 's' : ''}:\n${commands.map((c) => `  $ ${c}`).join('\n')}\n`;
}
