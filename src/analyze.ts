/**
 * Offline analysis: runs the detection pipeline over a file as fast as possible and returns its
 * events. `earshot analyze` and `earshot eval` use it; `earshot run` uses the same {@link Pipeline}.
 *
 * Patches go through the daemon's {@link PatchScheduler} (never degraded for a file): when the
 * models run in worker threads, the front end cuts the next patches while the models score the
 * previous ones, so on two cores a fast model is not slowed down by the log-mel front end.
 */
import { ulid } from 'ulid';
import { FileSource } from './capture/file-source.js';
import type { LabelSpec } from './detect/label-map.js';
import { toEventRecord, type EventRecord, type StreamContext } from './events.js';
import type { LoadedModel } from './inference/load-model.js';
import type { ModelSet } from './pipeline/model-set.js';
import { PatchScheduler } from './pipeline/scheduler.js';
import { createLogger, type Logger } from './log.js';
import { EarshotError, isEarshotError } from './errors.js';
import { FILES_IN_FLIGHT } from './analysis-jobs.js';
import type { PatchReport } from './detect/patch-report.js';
import { Pipeline, type PipelineSettings } from './pipeline/pipeline.js';
import { SAMPLE_RATE } from './constants.js';

/** Patches cut ahead of the models: enough to keep a worker busy while the front end runs. */
const ANALYZE_QUEUE_PATCHES = 8;

/** The events found in one file, and its duration. */
export interface FileAnalysis {
  path: string;
  durationSeconds: number;
  /** Complete events (onset and offset) in onset order. */
  events: EventRecord[];
}

/**
 * Analyses one file.
 * @param model one model, or the config's model set (`openModelAndLabels(...).models`: all its models run, scores combined)
 * @param onPatch optional hook called for every patch (scores, levels)
 * @param log where a model failure is reported (a worker's patch that failed counts as unheard); default: nowhere
 * @throws EarshotError when the file cannot be read or decoded (message names the file)
 */
export async function analyzeFile(
  path: string,
  model: LoadedModel | ModelSet,
  labels: readonly LabelSpec[],
  settings: PipelineSettings,
  nodeId: string,
  onPatch?: (report: PatchReport) => void,
  log: Logger = createLogger({ level: 'silent', pretty: false, fd: 2 }),
): Promise<FileAnalysis> {
  const source = new FileSource(path, { pacing: 'fast', chunkSamples: SAMPLE_RATE });
  const info = await source.open();
  const set = 'members' in model ? model : null;
  const pipeline = set
    ? new Pipeline(set.members, labels, settings, set.primary.path)
    : new Pipeline(model as LoadedModel, labels, settings, (model as LoadedModel).path);
  if (onPatch) pipeline.onPatch = onPatch;
  const context: StreamContext = {
    nodeId,
    modelId: set ? set.id : (model as LoadedModel).manifest.id,
    modelSha256: model.sha256,
    source: `file:${path}`,
    streamId: ulid(),
    streamStartMs: Date.now(),
  };
  const events: EventRecord[] = [];
  const collect = (outputs: Awaited<ReturnType<Pipeline['push']>>) => {
    for (const output of outputs) if (output.kind === 'offset') events.push(toEventRecord(output.event, context, output.reason));
  };
  let newestSample = -1;
  const progress = {
    get newestSample() {
      return newestSample;
    },
    backlogSeconds: 0,
  };
  const scheduler = new PatchScheduler(
    pipeline,
    { queuePatches: ANALYZE_QUEUE_PATCHES, degradeLagSeconds: Infinity, recoverLagSeconds: 0, realtime: false },
    progress,
    log,
    collect,
  );
  for await (const chunk of source.chunks()) {
    newestSample = chunk.startSample + chunk.samples.length;
    await scheduler.push(chunk);
  }
  await scheduler.finish('stream_end');
  events.sort((a, b) => a.onset_s - b.onset_s || a.label.localeCompare(b.label));
  return { path, durationSeconds: info.durationSeconds, events };
}

/** Where {@link analyzeFiles} runs: the first model set and, optionally, more of the same. */
export interface AnalyzeFilesOptions {
  /** Further model sets (the config's models again, opened by the caller), each used once it opens; one that fails to open is logged and left out. */
  moreSets?: readonly Promise<ModelSet>[];
  /** A patch hook for file `index`, or undefined. */
  onPatchFor?: (index: number) => ((report: PatchReport) => void) | undefined;
  log?: Logger;
}

/** A run of {@link analyzeFiles}. */
export interface FilesRun {
  /** File `index`'s analysis; rejects as {@link analyzeFile} does (a file never started when the run stopped rejects too). */
  result(index: number): Promise<FileAnalysis>;
  /** Starts no further file and closes every set but the first (the caller's), now or when it opens. Idempotent. */
  stop(): void;
}

/**
 * Analyses `files` on one or more model sets, side by side (`earshot analyze` and `eval`).
 * Each set analyses {@link FILES_IN_FLIGHT} files at once, so that the next file's front end cuts
 * its first patches while the model scores the previous file's last ones; a set takes the next
 * file not yet started when one of its files is done. A file's events do not depend on the set
 * that analysed it (each is the same config's models). After a file fails with something other
 * than an EarshotError (a bug), its set starts nothing more.
 * @param first an open model set (not closed here)
 * @returns the run: results by file index, and stop()
 */
export function analyzeFiles(
  files: readonly string[],
  first: ModelSet,
  labels: readonly LabelSpec[],
  settings: PipelineSettings,
  nodeId: string,
  options: AnalyzeFilesOptions = {},
): FilesRun {
  const log = options.log ?? createLogger({ level: 'silent', pretty: false, fd: 2 });
  const results = files.map(() => {
    let settle!: { resolve: (a: FileAnalysis) => void; reject: (e: unknown) => void };
    const promise = new Promise<FileAnalysis>((resolve, reject) => {
      settle = { resolve, reject };
    });
    promise.catch(() => undefined); // taken by result(); a failure meanwhile must not be "unhandled"
    return { promise, ...settle };
  });
  const more: ModelSet[] = [];
  let started = 0;
  let stopped = false;
  const startOn = (set: ModelSet): void => {
    if (stopped || started >= files.length) return;
    const index = started++;
    analyzeFile(files[index]!, set, labels, settings, nodeId, options.onPatchFor?.(index), log).then(
      (analysis) => {
        results[index]!.resolve(analysis);
        startOn(set);
      },
      (error: unknown) => {
        results[index]!.reject(error);
        if (isEarshotError(error)) startOn(set);
      },
    );
  };
  for (let k = 0; k < FILES_IN_FLIGHT; k++) startOn(first);
  for (const opening of options.moreSets ?? []) {
    opening.then(
      (set) => {
        more.push(set);
        if (stopped) set.close();
        else for (let k = 0; k < FILES_IN_FLIGHT; k++) startOn(set);
      },
      (error: unknown) => {
        // The first set runs: the files are still analysed, on fewer sets.
        if (!stopped) log.warn({ err: error }, 'a further model set could not be opened; going on with fewer');
      },
    );
  }
  return {
    result: (index) => results[index]!.promise,
    stop: () => {
      if (stopped) return;
      stopped = true;
      for (const set of more) set.close();
      for (let index = started; index < files.length; index++) results[index]!.reject(new EarshotError(`${files[index]}: not analysed (the run stopped)`));
    },
  };
}
