/**
 * A clip's picture for `GET /api/v1/clips/:id/spectrogram.png`: the YAMNet log-mel spectrogram of
 * the clip (src/frontend/logmel.ts, 64 bands 125–7500 Hz, 10 ms frames), the event's top class
 * scores per patch from the scores table, and the event span marked — drawn by src/eval/plot.ts
 * (`drawFilePlot`, @napi-rs/canvas), the same picture `earshot eval --out` draws per file.
 *
 * Only classes mapped to an earshot label are drawn (the config's `detection.labels.*.classes`,
 * else the model manifest's class map), each with the threshold of its own label; an event of a
 * single patch shows its scores as points.
 */
import { decodeFlac, isFlac } from '../capture/flac.js';
import { decodeWav } from '../capture/wav.js';
import type { EarshotConfig } from '../config/schema.js';
import { resolveLabelSpecs } from '../detect/label-map.js';
import { drawFilePlot, type PlotLabel } from '../eval/plot.js';
import { listManifests } from '../inference/manifest.js';
import { LogMelFrontEnd } from '../frontend/logmel.js';
import { FRAME_HOP_SAMPLES, FRAME_LENGTH_SAMPLES, PATCH_FRAMES, SAMPLE_RATE } from '../constants.js';
import type { ClipRecord, PatchScore } from './queries.js';

/** Classes drawn as score curves: the event's highest-scoring few of those mapped to a label. */
const CLASSES_DRAWN = 4;
/** Picture width in pixels. */
const WIDTH = 1000;
/** A YAMNet patch (96 frames) spans 0.975 s; its centre is this far after its start (seconds). */
const PATCH_CENTRE_S = ((PATCH_FRAMES - 1) * FRAME_HOP_SAMPLES + FRAME_LENGTH_SAMPLES) / SAMPLE_RATE / 2;
/** Samples per front-end call: between calls the event loop runs (capture must not wait on a picture). */
const SLICE_SAMPLES = SAMPLE_RATE;

/** Thrown for a clip file that cannot be drawn (not 16 kHz WAV); the route answers 422. */
export class UndrawableClipError extends Error {}

/**
 * Draws a clip.
 * @param wavBytes the clip file (16 kHz WAV, any PCM encoding src/capture/wav.ts reads, or FLAC)
 * @param clip its row; the event span comes from `clip.event`
 * @param scores the event's stored score rows (may be empty: no curves then)
 * @param labels the config's `detection.labels` (which classes each label gathers, and its
 *   threshold); classes no enabled label maps are not drawn
 * @returns a PNG, 1000 px wide
 * @throws UndrawableClipError when the file is not a readable 16 kHz WAV or FLAC
 */
export async function drawClipSpectrogram(
  wavBytes: Uint8Array,
  clip: ClipRecord,
  scores: readonly PatchScore[],
  labels: EarshotConfig['detection']['labels'] = {},
): Promise<Buffer> {
  let wav;
  try {
    wav = isFlac(wavBytes) ? await decodeFlac(wavBytes, `clip ${clip.id}`) : decodeWav(wavBytes, `clip ${clip.id}`);
  } catch (error) {
    throw new UndrawableClipError((error as Error).message);
  }
  if (wav.sampleRate !== SAMPLE_RATE) throw new UndrawableClipError(`clip ${clip.id}: ${wav.sampleRate} Hz; the log-mel front end needs ${SAMPLE_RATE} Hz`);
  const frontEnd = new LogMelFrontEnd();
  const batches: Float32Array[] = [];
  for (let start = 0; start < wav.mono.length; start += SLICE_SAMPLES) {
    const batch = frontEnd.push(wav.mono.subarray(start, start + SLICE_SAMPLES));
    if (batch.count) batches.push(batch.data);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const frames = new Float32Array(batches.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const batch of batches) {
    frames.set(batch, offset);
    offset += batch.length;
  }

  const plotted = scoreCurves(scores, labels, clip.event?.model_id);
  const classes = plotted.map((c) => c.name);
  const byPatch = new Map<number, { startS: number; scores: number[] }>();
  for (const row of scores) {
    const index = classes.indexOf(row.class);
    if (index < 0) continue;
    const patch = byPatch.get(row.patch_index) ?? { startS: row.start_s, scores: classes.map(() => 0) };
    patch.scores[index] = Math.max(patch.scores[index], row.score);
    byPatch.set(row.patch_index, patch);
  }
  const patches = [...byPatch.values()]
    .map((p) => ({ timeSeconds: p.startS - clip.start_s + PATCH_CENTRE_S, scores: p.scores }))
    .filter((p) => p.timeSeconds >= 0 && p.timeSeconds <= wav.durationSeconds)
    .sort((a, b) => a.timeSeconds - b.timeSeconds);
  const event = clip.event;
  const title = event
    ? `${clip.id}  ${event.label} (${event.group}, peak ${event.peak_score.toFixed(2)})  ${clip.start_utc}`
    : `${clip.id}  background  ${clip.start_utc}`;
  return drawFilePlot(
    {
      title,
      durationSeconds: wav.durationSeconds,
      frames,
      melBands: frontEnd.melBands,
      patches,
      labels: plotted,
      reference: [],
      detected: event ? [{ filename: clip.id, onset: event.onset_in_clip_s, offset: event.offset_in_clip_s, label: event.label }] : [],
    },
    WIDTH,
  );
}

/**
 * The score curves of a clip picture: the event's highest-scoring classes among those mapped to
 * an enabled label, each with its label and that label's threshold (at most 4).
 * @param modelId the model that scored the event (its manifest's class map), when the rows do not say
 */
export function scoreCurves(scores: readonly PatchScore[], labels: EarshotConfig['detection']['labels'], modelId?: string): PlotLabel[] {
  const mapped = classLabels(labels, scores[0]?.model_id ?? modelId);
  return topClassNames(
    scores.filter((row) => mapped.has(row.class)),
    CLASSES_DRAWN,
  ).map((name) => ({ name, label: mapped.get(name)!.label, threshold: mapped.get(name)!.threshold }));
}

const manifestClassMaps = new Map<string, Record<string, string[]>>();

/**
 * Model class → the enabled label it is mapped to, with that label's threshold: the label's
 * `classes` from the config, else the class map of the manifest with id `modelId` (the model
 * that scored the event). A class two labels share goes to the first (config order).
 */
export function classLabels(labels: EarshotConfig['detection']['labels'], modelId: string | undefined): Map<string, { label: string; threshold: number }> {
  let classMap = modelId ? manifestClassMaps.get(modelId) : undefined;
  if (modelId && !classMap) {
    try {
      classMap = listManifests().find((m) => m.id === modelId)?.class_map ?? {};
    } catch {
      classMap = {};
    }
    manifestClassMaps.set(modelId, classMap);
  }
  const out = new Map<string, { label: string; threshold: number }>();
  for (const spec of resolveLabelSpecs(labels, classMap ?? {}).specs) {
    for (const name of spec.classes) if (!out.has(name)) out.set(name, { label: spec.name, threshold: spec.threshold });
  }
  return out;
}

/** The `k` classes with the highest score anywhere in `scores` (classes outside a patch's top-k are drawn at 0 there). */
function topClassNames(scores: readonly PatchScore[], k: number): string[] {
  const best = new Map<string, number>();
  for (const row of scores) best.set(row.class, Math.max(best.get(row.class) ?? 0, row.score));
  return [...best.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, k)
    .map(([name]) => name);
}
