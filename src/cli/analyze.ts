/**
 * `earshot analyze FILE...`: finds events in audio files as fast as the machine allows and prints
 * them (a table, `--json`, or DCASE `--tsv`).
 *
 * The pattern every command file follows (main.ts loads them all for `--help`, so keep them
 * light): the `register*` function's file imports commander, node builtins, ../errors.js and
 * types only; the action imports the heavy modules (config, models, pipeline) with `await import(...)` when it runs.
 */
import { statSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import type { FileAnalysis } from '../analyze.js';
import type { EarshotConfig } from '../config/schema.js';
import type { ModelSet } from '../pipeline/model-set.js';
import type { ModelRequest } from '../inference/model-request.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import type { ActionWrapper } from './action.js';
import { examples, headOption, withCommon, type CommonOptions } from './common-options.js';
import { formatTable } from './table.js';

/** Files analysed at once per model set (see analyzeCommand): two keep one model worker busy across file boundaries. */
const FILES_IN_FLIGHT = 2;
/** `--jobs auto` runs at most this many model sets: each holds its own runtime and model in memory. */
const MAX_AUTO_JOBS = 4;
/**
 * Memory `--jobs auto` leaves free per model set: a second set of YAMNet on LiteRT.js raised
 * analyze's peak RSS by 100 MB (193 → 292 MB over 10 dev scenes, docs/benchmarks.md), plus a margin.
 */
const AUTO_JOB_BYTES = 160 << 20;
/**
 * More model sets start only when the files beyond the first two hold at least this many bytes:
 * 2 MB is about a minute of 16 kHz 16-bit mono, 125 patches, 1.3 s of YAMNet at the bench
 * machine's 10.5 ms a patch: more than the 0.7 s of CPU a worker takes to start
 * (docs/benchmarks.md, "Start-up").
 */
const EXTRA_JOB_MIN_BYTES = 2 << 20;

/** analyze's own options. */
export interface AnalyzeOptions extends CommonOptions {
  json?: boolean;
  tsv?: boolean;
  /** `--jobs`: model sets analysing files side by side, a whole number or `auto`. */
  jobs?: string;
}

/**
 * How many model sets (the config's models, each in its own worker) analyse files side by side.
 * `auto`: one per core the models' threads leave (`os.availableParallelism()`), at most
 * {@link MAX_AUTO_JOBS} and as many as free memory holds at {@link AUTO_JOB_BYTES} each; one when
 * models run on the main thread (`inference.worker: false`) or on an accelerator (a delegate or a
 * non-CPU execution provider: one device, and TensorRT builds its engine per session).
 * @param cores the machine's cores; `freeBytes` its free memory (bytes)
 * @throws EarshotError (exit 2) for a value that is neither `auto` nor a whole number >= 1
 */
export function analyzeJobs(option: string | undefined, config: EarshotConfig, cores = availableParallelism(), freeBytes = freemem()): number {
  if (option !== undefined && option !== 'auto') {
    const n = Number(option);
    if (!Number.isInteger(n) || n < 1) throw new EarshotError(`--jobs: must be auto or a whole number >= 1, got ${option}`, ExitCode.BadInput);
    return n;
  }
  const model = config.model;
  if (!config.inference.worker || model.delegate || model.execution_providers.some((p) => p !== 'cpu')) return 1;
  const threadsPerSet = [model, ...config.extra_models].reduce((sum, m) => sum + (m.threads ?? model.threads), 0);
  return Math.max(1, Math.min(MAX_AUTO_JOBS, Math.floor(cores / threadsPerSet), Math.floor(freeBytes / AUTO_JOB_BYTES)));
}

/** Bytes of the files from `first` on (a missing file counts 0: its analysis reports it). */
function bytesFrom(files: readonly string[], first: number): number {
  let bytes = 0;
  for (const file of files.slice(first)) {
    try {
      bytes += statSync(file).size;
    } catch {
      // reported by its analysis, with its name
    }
  }
  return bytes;
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
  const extraJobs = jobs > 1 && bytesFrom(files, FILES_IN_FLIGHT) >= EXTRA_JOB_MIN_BYTES ? jobs - 1 : 0;
  if (extraJobs) log.debug({ jobs, files: files.length }, 'analyze: more model sets for the files beyond the first two');
  const extraOpening = Array.from({ length: extraJobs }, () =>
    import('../setup.js').then(({ openModelAndLabels }) => openModelAndLabels(config, log, open).then(({ models: set }) => set)),
  );
  for (const extra of extraOpening) extra.catch(() => undefined); // handled below
  // Every set opened (the first too), closed at the end; `closing` closes one that opens later.
  const openSets: ModelSet[] = [];
  let closing = false;
  try {
    const [{ pipelineSettings }, { analyzeFile }, { formatTsvRow, TSV_HEADER }] = await Promise.all([
      import('../setup.js'),
      import('../analyze.js'),
      import('../eval/annotations.js'),
      prefetch(files[0]),
    ]);
    const { model, labels, models } = await opening;
    openSets.push(models);
    const settings = pipelineSettings(config);
    if (options.tsv) process.stdout.write(`${TSV_HEADER}\n`);
    const table: string[][] = [['file', 'onset_s', 'offset_s', 'label', 'group', 'score', 'peak_dbfs']];
    const all = [];
    // Every readable file is analysed; a bad one is named on stderr (with why) and the run goes
    // on, exiting 2 at the end. A bug (not an EarshotError) still stops it.
    const unreadable: string[] = [];
    // Each model set analyses FILES_IN_FLIGHT files at once: the next file's front end cuts its
    // first patches while the model still scores the previous file's last ones, so the worker
    // does not wait at each file boundary. A set takes the next file not yet started when one of
    // its files is done. Results are taken, and printed, in the order of `files`.
    const analyses: Promise<FileAnalysis>[] = [];
    const startOn = (set: ModelSet): void => {
      const file = files[analyses.length];
      if (file === undefined || closing) return;
      const analysis = analyzeFile(file, set, labels, settings, config.node_id, undefined, log);
      analyses.push(analysis);
      // Not on a bug's way out (the in-order loop below rethrows it): nothing new starts then.
      analysis.then(
        () => startOn(set),
        (error: unknown) => {
          if (isEarshotError(error) && files.length > 1) startOn(set);
        },
      );
    };
    for (let k = 0; k < FILES_IN_FLIGHT; k++) startOn(models);
    for (const extra of extraOpening) {
      extra.then(
        (set) => {
          openSets.push(set);
          if (closing) set.close();
          else for (let k = 0; k < FILES_IN_FLIGHT; k++) startOn(set);
        },
        (error: unknown) => {
          // The first set runs: the files are still analysed, on fewer sets.
          if (!closing) log.warn({ err: error }, 'analyze: a further model set could not be opened; going on with fewer');
        },
      );
    }
    for (const [index, file] of files.entries()) {
      let analysis: FileAnalysis | undefined;
      try {
        const started = analyses[index];
        // Every file before this one has settled and each started the next: this one has begun.
        if (!started) throw new Error(`analyze: ${file} was never started`);
        analysis = await started;
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
    closing = true;
    for (const set of openSets) set.close();
    // A set still opening is closed when it opens.
    for (const extra of extraOpening)
      extra.then(
        (set) => set.close(),
        () => undefined,
      );
  }
}

/** Registers `earshot analyze`. */
export function registerAnalyze(program: Command, action: ActionWrapper): void {
  withCommon(program.command('analyze').description('find events in WAV files (as fast as possible) and print them'))
    .addOption(headOption())
    .argument('<files...>', 'WAV files')
    .option('--json', 'print JSON')
    .option('--tsv', 'print DCASE TSV: filename onset offset event_label')
    .option(
      '--jobs <n|auto>',
      `model sets analysing files side by side, each in its own worker (auto: one per free core, at most ${MAX_AUTO_JOBS}; more only for over ${EXTRA_JOB_MIN_BYTES >> 20} MB of files left)`,
      'auto',
    )
    .addHelpText(
      'after',
      examples(
        `earshot analyze --model ../shared/models/yamnet/yamnet_waveform.tflite ../shared/audio/scenes/dev/mixed_07.wav`,
        `earshot analyze --tsv --model ../shared/models/yamnet/yamnet_waveform.tflite recordings/*.wav > detections.tsv`,
      ),
    )
    .action(action(analyzeCommand));
}
