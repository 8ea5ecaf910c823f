/**
 * How many model sets analyse files side by side (`earshot analyze --jobs`, `earshot eval
 * --jobs`; src/analyze.ts's analyzeFiles runs them). Light on purpose: the CLI's command files
 * import it at start-up (issue 23).
 */
import { statSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import type { EarshotConfig } from './config/schema.js';
import { EarshotError, ExitCode } from './errors.js';

/** Files analysed at once per model set: two keep one model worker busy across file boundaries. */
export const FILES_IN_FLIGHT = 2;
/** `--jobs auto` runs at most this many model sets: each holds its own runtime and model in memory. */
export const MAX_AUTO_JOBS = 4;
/**
 * Memory `--jobs auto` leaves free per model set: a second set of YAMNet on LiteRT.js raised
 * analyze's peak RSS by 100 MB (193 → 292 MB over 10 dev scenes, docs/benchmarks.md), plus a margin.
 */
export const AUTO_JOB_BYTES = 160 << 20;
/**
 * More model sets start only when the files beyond the first {@link FILES_IN_FLIGHT} hold at least
 * this many bytes: 2 MB is about a minute of 16 kHz 16-bit mono, 125 patches, 1.3 s of YAMNet at
 * the bench machine's 10.5 ms a patch: more than the 0.7 s of CPU a worker takes to start
 * (docs/benchmarks.md, "Start-up").
 */
export const MORE_SETS_MIN_BYTES = 2 << 20;

/**
 * How many model sets (the config's models, each in its own worker) analyse files side by side.
 * `auto`: one per core the models' threads leave (`os.availableParallelism()`), at most
 * {@link MAX_AUTO_JOBS} and as many as free memory holds at {@link AUTO_JOB_BYTES} each; one when
 * models run on the main thread (`inference.worker: false`) or on an accelerator (a delegate or a
 * non-CPU execution provider: one device, and TensorRT builds its engine per session).
 * @param option `--jobs`: `auto` (or undefined) or a whole number
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

/**
 * Model sets to open beside the first for `files` at `jobs`: `jobs - 1` when the files beyond the
 * first set's {@link FILES_IN_FLIGHT} hold {@link MORE_SETS_MIN_BYTES} or more, else 0 (a clip or
 * a few short files never pay for a second worker). A missing file counts 0 bytes: its analysis
 * reports it.
 */
export function moreSetsFor(files: readonly string[], jobs: number): number {
  if (jobs <= 1) return 0;
  let bytes = 0;
  for (const file of files.slice(FILES_IN_FLIGHT)) {
    try {
      bytes += statSync(file).size;
    } catch {
      // reported by its analysis, with its name
    }
  }
  return bytes >= MORE_SETS_MIN_BYTES ? jobs - 1 : 0;
}

/**
 * Ends a run of model sets (`analyze`, `eval`): `run.stop()` (no file starts any more, the sets
 * beyond the first close), then the first set; when there is no run (the first set failed to
 * open), each further set is closed once it opens. Never throws.
 * @param run the run of src/analyze.ts's analyzeFiles, if it started
 */
export function endRun(run: { stop(): void } | undefined, first: { close(): void } | undefined, moreSets: readonly Promise<{ close(): void }>[]): void {
  run?.stop();
  first?.close();
  if (!run)
    for (const more of moreSets)
      more.then(
        (set) => set.close(),
        () => undefined,
      );
}
