/**
 * `earshot tune FILE... --ref REF`: searches thresholds, voting, hop and silence gate for the best
 * hostile F1 within a false-alarm budget. Heavy modules load when it runs (see ./analyze.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EarshotError } from '../errors.js';
import type { ActionWrapper } from './action.js';
import { examples, headOption, withCommon, type CommonOptions } from './common-options.js';

/** tune's own options. */
export interface TuneOptions extends CommonOptions {
  ref: string;
  collar: string;
  budget: string;
  hops: string;
  out: string;
  cacheDir?: string;
}

/**
 * Tunes and prints the config snippet; the trade-off plot goes to `--out`.
 * @throws EarshotError for a bad budget, hop list, reference, model or audio file
 */
export async function tuneCommand(files: string[], options: TuneOptions): Promise<void> {
  const { configFrom, loggerFor } = await import('./common.js');
  const { configSnippet, tune } = await import('../tune.js');
  const config = configFrom(options);
  const log = loggerFor(config, options, 2, false);
  const budget = Number(options.budget);
  if (!(budget >= 0)) throw new EarshotError(`--budget: must be a number of false alarms per hour >= 0, got ${options.budget}`);
  const hops = options.hops.split(',').map(Number);
  if (hops.some((h) => !Number.isInteger(h) || h < 1 || h > 960))
    throw new EarshotError(`--hops: must be frame counts (1..960) separated by commas, got ${options.hops}`);
  const outDir = resolve(options.out);
  const result = await tune(config, log, options.ref, files, {
    hops,
    budget,
    collar: Number(options.collar),
    outDir,
    cacheDir: options.cacheDir ? resolve(options.cacheDir) : resolve(config.data_dir, 'tune-cache'),
  });
  process.stdout.write(configSnippet(result));
  process.stderr.write(`trade-off plot: ${resolve(outDir, 'tradeoff.png')}\n`);
}

/** Registers `earshot tune`. */
export function registerTune(program: Command, action: ActionWrapper): void {
  withCommon(program.command('tune').description('search thresholds, voting, hop and silence gate for the best hostile F1 within a false-alarm budget'))
    .addOption(headOption())
    .argument('<files...>', 'WAV files named in the reference')
    .requiredOption('--ref <path>', 'references (as for eval)')
    .option('--budget <per-hour>', 'hostile false alarms per hour allowed on files with no hostile reference', '7')
    .option('--collar <seconds>', 'onset collar', '1.0')
    .option('--hops <frames,...>', 'candidate patch hops in 10 ms frames', '24,48')
    .option('--out <dir>', 'where to write tradeoff.png and tune.json', 'earshot-tune')
    .option('--cache-dir <dir>', 'model score cache (default: <data_dir>/tune-cache)')
    .addHelpText(
      'after',
      examples(
        `earshot tune --model ../shared/models/yamnet/yamnet_waveform.tflite --ref ../shared/audio/scenes/dev/annotations.tsv --budget 7 ../shared/audio/scenes/dev/mixed_0[0-3].wav`,
      ),
    )
    .action(action(tuneCommand));
}
