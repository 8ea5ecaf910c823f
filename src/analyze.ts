/**
 * Offline analysis: runs the detection pipeline over a file as fast as possible and returns its
 * events. `earshot analyze` and `earshot eval` use it; `earshot run` uses the same {@link Pipeline}.
 */
import { ulid } from 'ulid';
import { FileSource } from './capture/file-source.js';
import type { LabelSpec } from './detect/label-map.js';
import { toEventRecord, type EventRecord, type StreamContext } from './events.js';
import type { LoadedModel } from './inference/load-model.js';
import { Pipeline, type PatchReport, type PipelineSettings } from './pipeline.js';

/** The events found in one file, and its duration. */
export interface FileAnalysis {
  path: string;
  durationSeconds: number;
  /** Complete events (onset and offset) in onset order. */
  events: EventRecord[];
}

/**
 * Analyses one file.
 * @param onPatch optional hook called for every patch (scores, levels)
 * @throws EarshotError when the file cannot be read or decoded (message names the file)
 */
export async function analyzeFile(
  path: string,
  model: LoadedModel,
  labels: readonly LabelSpec[],
  settings: PipelineSettings,
  nodeId: string,
  onPatch?: (report: PatchReport) => void,
): Promise<FileAnalysis> {
  const source = new FileSource(path, { pacing: 'fast', chunkSamples: 16000 });
  const info = await source.open();
  const pipeline = new Pipeline(model, labels, settings, model.path);
  if (onPatch) pipeline.onPatch = onPatch;
  const context: StreamContext = {
    nodeId,
    modelId: model.manifest.id,
    modelSha256: model.sha256,
    source: `file:${path}`,
    streamId: ulid(),
    streamStartMs: Date.now(),
  };
  const events: EventRecord[] = [];
  const collect = (outputs: Awaited<ReturnType<Pipeline['push']>>) => {
    for (const output of outputs) if (output.kind === 'offset') events.push(toEventRecord(output.event, context, output.reason));
  };
  for await (const chunk of source.chunks()) collect(await pipeline.push(chunk));
  collect(await pipeline.finish('stream_end'));
  events.sort((a, b) => a.onset_s - b.onset_s || a.label.localeCompare(b.label));
  return { path, durationSeconds: info.durationSeconds, events };
}
