/**
 * `earshot eval FILE... --ref REF`: scores detections against DCASE-style references
 * (event-based F1 per label, false alarms per hour). Heavy modules load when it runs (see ./analyze.ts).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { analyzeJobs } from '../analysis-jobs.js';
import { EarshotError } from '../errors.js';
import type { ActionWrapper } from './action.js';
import { examples, headOption, jobsOption, withCommon, type CommonOptions } from './common-options.js';

/** eval's own options. */
export interface EvalOptions extends CommonOptions {
  ref: string;
  collar: string;
  json?: boolean;
  out?: string;
  /** `--jobs`: model sets analysing files side by side (src/analysis-jobs.ts). */
  jobs?: string;
}

/**
 * Evaluates `files` against `--ref` and prints the report.
 * @throws EarshotError for a bad collar, reference, model or audio file
 */
export async function evalCommand(files: string[], options: EvalOptions): Promise<void> {
  const { configFrom, loggerFor } = await import('./common.js');
  const { evaluateFiles, formatReport } = await import('../evaluate.js');
  const config = configFrom(options);
  const log = loggerFor(config, options, 2, true);
  const collar = Number(options.collar);
  if (!(collar > 0)) throw new EarshotError(`--collar: must be a positive number of seconds, got ${options.collar}`);
  const report = await evaluateFiles(
    config,
    log,
    options.ref,
    files,
    collar,
    options.out ? resolve(options.out) : undefined,
    analyzeJobs(options.jobs, config),
  );
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

/** Registers `earshot eval`. */
export function registerEval(program: Command, action: ActionWrapper): void {
  withCommon(program.command('eval').description('score detections against DCASE-style references (event-based F1, false alarms per hour)'))
    .addOption(headOption())
    .argument('<files...>', 'WAV files named in the reference')
    .requiredOption('--ref <path>', 'references: a DCASE TSV (filename onset offset event_label), or a folder of Audacity label tracks (<audio name>.txt)')
    .option('--collar <seconds>', 'onset collar', '1.0')
    .option('--json', 'print JSON')
    .option('--out <dir>', 'also write report.md, report.json and one PNG per file (spectrogram, scores, events) there')
    .addOption(jobsOption())
    .addHelpText(
      'after',
      examples(
        `earshot eval --model ../shared/models/yamnet/yamnet_waveform.tflite --ref ../shared/audio/scenes/dev/annotations.tsv --out eval-report ../shared/audio/scenes/dev/mixed_0[0-3].wav`,
      ),
    )
    .action(action(evalCommand));
}
