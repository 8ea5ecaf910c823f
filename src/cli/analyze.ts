/**
 * `earshot analyze FILE...`: finds events in audio files as fast as the machine allows and prints
 * them (a table, `--json`, or DCASE `--tsv`).
 *
 * The pattern every command file follows (main.ts loads them all for `--help`, so keep them
 * light): the `register*` function's file imports commander, node builtins, ../errors.js and
 * types only; the action imports the heavy modules (config, models, pipeline) with `await import(...)` when it runs.
 */
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import type { FileAnalysis, FilesRun } from '../analyze.js';
import type { ModelSet } from '../pipeline/model-set.js';
import type { ModelRequest } from '../inference/model-request.js';
import { analyzeJobs, endRun, moreSetsFor } from '../analysis-jobs.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import type { ActionWrapper } from './action.js';
import { examples, headOption, jobsOption, withCommon, type CommonOptions } from './common-options.js';
import { formatTable } from './table.js';

/** analyze's own options. */
export interface AnalyzeOptions extends CommonOptions {
  json?: boolean;
  tsv?: boolean;
  /** `--jobs`: model sets analysing files side by side, a whole number or `auto`. */
  jobs?: string;
}

function printTable(rows: string[][]): void {
  for (const line of formatTable(rows)) process.stdout.write(`${line}\n`);
}

/** Reads the start of `path` into the page cache (the analysis reads it next); never throws. */
async function prefetch(path: string | undefined): Promise<void> {
  if (!path) return;
  try {
    const { open } = await import('node:fs/promises');
    const handle = await open(path, 'r');
    await handle.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0).finally(() => handle.close());
  } catch {
    // The analysis reports a missing or unreadable file, with its name.
  }
}

/**
 * Analyses `files` with the configured models and prints their events.
 * @throws EarshotError for a bad option, model or audio file (the message names it)
 */
export async function analyzeCommand(files: string[], options: AnalyzeOptions): Promise<void> {
  if (options.json && options.tsv) throw new EarshotError('--json and --tsv: choose one output format');
  // Start-up (issue 23): only what it takes to start the primary model loads before the model
  // does: the config, the logger and the worker. Models run in worker threads (inference.worker):
  // while the worker loads its runtime and the model on the other core, this thread loads the
  // model set, the pipeline and the analysis code and reads the first file's header.
  const [{ configFrom, loggerFor }, { modelOpener }, { primaryModelRequest }] = await Promise.all([
    import('./common.js'),
    import('../pipeline/worker-options.js'),
    import('../inference/model-request.js'),
  ]);
  const config = configFrom(options);
  const jobs = analyzeJobs(options.jobs, config);
  const log = loggerFor(config, options, 2, true);
  const open = modelOpener(config, log);
  const primaryRequest = primaryModelRequest(config);
  let primary: ReturnType<typeof open> | undefined = open(primaryRequest);
  primary.catch(() => undefined); // awaited through openModelAndLabels below; a failure meanwhile must not be "unhandled"
  // openModelSet opens the primary first, with the same request: it gets the model already opening.
  const openStarted = (request: ModelRequest): ReturnType<typeof open> => {
    const started = primary !== undefined && isDeepStrictEqual(request, primaryRequest) ? primary : undefined;
    primary = undefined;
    return started ?? open(request);
  };
  const opening = import('../setup.js').then(({ openModelAndLabels }) => openModelAndLabels(config, log, openStarted));
  opening.catch(() => undefined);
  // More model sets (--jobs) for enough audio to repay a worker's start, opened alongside the
  // first (on the other cores). Each is the config's model set again, the same model and head, so
  // a file's events do not depend on the set that analysed it.
  const moreSets = moreSetsFor(files, jobs);
  if (moreSets) log.debug({ jobs, files: files.length }, 'analyze: more model sets for the files beyond the first two');
  const moreOpening = Array.from({ length: moreSets }, () =>
    import('../setup.js').then(({ openModelAndLabels }) => openModelAndLabels(config, log, open).then(({ models: set }) => set)),
  );
  for (const more of moreOpening) more.catch(() => undefined); // analyzeFiles logs a failure; with the first failing too, nobody needs to hear
  let run: FilesRun | undefined;
  let first: ModelSet | undefined;
  try {
    const [{ pipelineSettings }, { analyzeFiles }, { formatTsvRow, TSV_HEADER }] = await Promise.all([
      import('../setup.js'),
      import('../analyze.js'),
      import('../eval/annotations.js'),
      prefetch(files[0]),
    ]);
    const { model, labels, models } = await opening;
    first = models;
    if (options.tsv) process.stdout.write(`${TSV_HEADER}\n`);
    const table: string[][] = [['file', 'onset_s', 'offset_s', 'label', 'group', 'score', 'peak_dbfs']];
    const all = [];
    // Every readable file is analysed; a bad one is named on stderr (with why) and the run goes
    // on, exiting 2 at the end. A bug (not an EarshotError) still stops it.
    const unreadable: string[] = [];
    // Results are taken, and printed, in the order of `files`.
    run = analyzeFiles(files, models, labels, pipelineSettings(config), config.node_id, { moreSets: moreOpening, log });
    for (const [index, file] of files.entries()) {
      let analysis: FileAnalysis | undefined;
      try {
        analysis = await run.result(index);
      } catch (error) {
        if (!isEarshotError(error) || files.length === 1) throw error;
        unreadable.push(file);
        process.stderr.write(`earshot: ${error.message.split('\n').join('\nearshot: ')}\n`);
      }
      if (!analysis) continue;
      all.push(analysis);
      for (const e of analysis.events) {
        const name = basename(file);
        if (options.tsv) process.stdout.write(`${formatTsvRow({ filename: name, onset: e.onset_s, offset: e.offset_s ?? e.onset_s, label: e.label })}\n`);
        table.push([
          name,
          e.onset_s.toFixed(3),
          (e.offset_s ?? 0).toFixed(3),
          e.label,
          e.group,
          e.peak_score.toFixed(2),
          e.peak_dbfs === null ? '-inf' : e.peak_dbfs.toFixed(1),
        ]);
      }
    }
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ model: { path: model.path, id: models.id, sha256: models.sha256, backend: model.backend.kind }, files: all.map((a) => ({ path: a.path, duration_s: a.durationSeconds, events: a.events })) }, null, 2)}\n`,
      );
    } else if (!options.tsv) {
      if (table.length === 1) process.stdout.write(`no events in ${all.length} file${all.length === 1 ? '' : 's'}\n`);
      else printTable(table);
    }
    if (unreadable.length)
      throw new EarshotError(
        `analyze: ${unreadable.length} of ${files.length} file${files.length === 1 ? '' : 's'} could not be analysed (see above); the others' events are printed`,
        ExitCode.BadInput,
      );
  } finally {
    // Nothing new starts while the models close (also on a bug's way out).
    endRun(run, first, moreOpening);
  }
}

/** Registers `earshot analyze`. */
export function registerAnalyze(program: Command, action: ActionWrapper): void {
  withCommon(program.command('analyze').description('find events in WAV files (as fast as possible) and print them'))
    .addOption(headOption())
    .argument('<files...>', 'WAV files')
    .option('--json', 'print JSON')
    .option('--tsv', 'print DCASE TSV: filename onset offset event_label')
    .addOption(jobsOption())
    .addHelpText(
      'after',
      examples(
        `earshot analyze --model ../shared/models/yamnet/yamnet_waveform.tflite ../shared/audio/scenes/dev/mixed_07.wav`,
        `earshot analyze --tsv --model ../shared/models/yamnet/yamnet_waveform.tflite recordings/*.wav > detections.tsv`,
      ),
    )
    .action(action(analyzeCommand));
}
