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
