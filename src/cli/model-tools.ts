/**
 * `earshot model info FILE` and `earshot model bench FILE`: what is in a model file, and how fast
 * it runs here.
 *
 * - info reads the file only (no runtime is loaded, so a bad file cannot crash anything): for
 *   TFLite its tensors with dtype, shape and quantization, the operators with their counts, the
 *   TFLite Metadata and embedded labels; for ONNX its inputs / outputs, opset, producer and
 *   operators; and the manifest that describes it (or why earshot refuses it).
 * - bench opens the model as the daemon does (child-process probe, manifest, delegate / execution
 *   providers from the config), feeds it real audio through earshot's front end (a WAV clip, one
 *   model input per hop) and prints the median and 99th-percentile invoke time and the real-time
 *   factor (invoke time / hop: below 1 keeps up; the daemon needs headroom for the front end and
 *   the rest). Silero VAD (.onnx) is benched through the streaming VAD at its fixed 32 ms step.
 */
import { existsSync } from 'node:fs';
import { relative } from 'node:path';

import { readWav } from '../capture/wav.js';
import { defaultConfig, loadConfigFile } from '../config/load.js';
import type { EarshotConfig } from '../config/schema.js';
import { EarshotError } from '../errors.js';
import { ALL_BACKEND_KINDS, BACKEND_KINDS, isBackendKind, type BackendKind } from '../inference/backends/backend.js';
import { acceleratorRequest, backendFor, loadModel } from '../inference/load-model.js';
import { LogMelFrontEnd } from '../frontend/logmel.js';
import { labelsFilePath, resolveManifest, type ModelManifest } from '../inference/manifest.js';
import { isOnnxInfo, loadModelFile, type ModelFileInfo } from '../inference/model-format.js';
import { sha256File } from '../inference/model-store.js';
import { defaultOpset, type OnnxModelInfo, type OnnxTensorInfo } from '../inference/onnx/model-file.js';
import { Patcher, toLayout } from '../frontend/patcher.js';
import { findEmbeddingTensor } from '../inference/tflite/embedding-output.js';
import { readLabelsFile, type TfliteModelInfo, type TfliteTensorInfo } from '../inference/tflite/model-file.js';
import { looksLikeSileroVad, SileroVad, SILERO_SAMPLE_RATE, SILERO_STEP_SAMPLES } from '../inference/vad/silero-vad.js';
import { FRAME_HOP_SAMPLES, MEL_BANDS, PATCH_FRAMES, PATCH_SAMPLES, SAMPLE_RATE } from '../constants.js';
import { nearestRankOfSorted } from '../stats.js';
import { formatTable } from './table.js';

/** One front-end frame hop: 10 ms. */
const FRAME_SECONDS = FRAME_HOP_SAMPLES / SAMPLE_RATE;

// ---------------------------------------------------------------------------------------------
// info

interface InfoTensor {
  name: string;
  dtype: string;
  shape: (number | string)[] | null;
  quantization?: { scale: number; zero_point: number; per_channel?: number };
}

/** What `model info --json` prints. */
export interface ModelInfoReport {
  file: string;
  bytes: number;
  sha256: string;
  format: 'tflite' | 'onnx';
  /** TFLite: schema version and description; ONNX: IR version, opset and producer. */
  details: Record<string, string | number>;
  inputs: InfoTensor[];
  outputs: InfoTensor[];
  /**
   * A YAMNet-family TFLite model's embedding (the MEAN feeding the last FULLY_CONNECTED), which
   * earshot adds as a second output when it opens the model (src/inference/tflite/embedding-output.ts); null when none.
   */
  embedding?: (InfoTensor & { values: number }) | null;
  operators: { name: string; count: number }[];
  /** TFLite Metadata (name, description, version, author, license) or ONNX metadata_props. */
  metadata: Record<string, string>;
  /** Labels the file carries (TFLite Metadata), or null. */
  embedded_labels: { count: number; file: string; first: string[] } | null;
  /** The manifest describing the file: id and origin, or null with `manifest_problem` saying why. */
  manifest: { id: string; origin: string; input: string; labels: string; class_map: Record<string, string[]> } | null;
  manifest_problem?: string;
}

/** `earshot model info FILE` (registered in ./model.ts). @throws EarshotError for a file that is not a model */
export async function infoCommand(file: string, options: { manifest?: string; json?: boolean }): Promise<void> {
  const { format, bytes, info } = await loadModelFile(file);
  const sha256 = await sha256File(file);
  const embedding = isOnnxInfo(info) ? undefined : findEmbeddingTensor(bytes, info);
  const report: ModelInfoReport = {
    file,
    bytes: info.fileBytes,
    sha256,
    format,
    ...(isOnnxInfo(info) ? onnxDetails(info) : tfliteDetails(info)),
    embedding: embedding ? { ...tfliteTensor(embedding.tensor), values: embedding.length } : null,
    manifest: null,
  };
  try {
    const manifest = resolveManifest(options.manifest, file, sha256);
    report.manifest = {
      id: manifest.id,
      origin: relative(process.cwd(), manifest.origin) || manifest.origin,
      input: describeInput(manifest),
      labels: describeLabels(manifest, file),
      class_map: manifest.class_map,
    };
  } catch (error) {
    if (!(error instanceof EarshotError)) throw error;
    report.manifest_problem = error.message.replace(`${file}: `, '');
  }
  if (!report.manifest && isOnnxInfo(info) && looksLikeSileroVad(info.inputs.map((i) => i.name))) {
    report.manifest_problem = 'none needed: Silero VAD (speech probability per 32 ms step; earshot runs it with src/inference/vad/silero-vad.ts)';
  }
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatInfo(report));
}

function tfliteTensor(t: TfliteTensorInfo): InfoTensor {
  const q = t.quantization;
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    ...(q ? { quantization: { scale: q.scale, zero_point: q.zeroPoint, ...(q.perChannel ? { per_channel: q.perChannel.scales.length } : {}) } } : {}),
  };
}

function onnxTensor(t: OnnxTensorInfo): InfoTensor {
  return { name: t.name, dtype: t.dtype, shape: t.shape ?? null };
}

function tfliteDetails(info: TfliteModelInfo): Pick<ModelInfoReport, 'details' | 'inputs' | 'outputs' | 'operators' | 'metadata' | 'embedded_labels'> {
  const m = info.metadata;
  const metadata: Record<string, string> = {};
  for (const key of ['name', 'description', 'version', 'author', 'license'] as const) if (m?.[key]) metadata[key] = m[key]!;
  const labelFile = m?.associatedFiles.find((f) => f.type === 'TENSOR_AXIS_LABELS')?.name ?? '';
  return {
    details: {
      schema_version: info.version,
      description: info.description,
      subgraphs: info.subgraphCount,
      operators_in_subgraph_0: info.operatorCount,
      ...(info.minRuntimeVersion ? { min_runtime_version: info.minRuntimeVersion } : {}),
      ...(info.signatures.length ? { signatures: info.signatures.map((s) => s.key).join(', ') } : {}),
      ...(info.embeddedFiles.length ? { embedded_files: info.embeddedFiles.join(', ') } : {}),
    },
    inputs: info.inputs.map(tfliteTensor),
    outputs: info.outputs.map(tfliteTensor),
    operators: info.operatorUsage.map((o) => ({ ...o })),
    metadata,
    embedded_labels: info.labels ? { count: info.labels.length, file: labelFile, first: info.labels.slice(0, 5) } : null,
  };
}

function onnxDetails(info: OnnxModelInfo): Pick<ModelInfoReport, 'details' | 'inputs' | 'outputs' | 'operators' | 'metadata' | 'embedded_labels'> {
  const opset = defaultOpset(info);
  return {
    details: {
      ir_version: info.irVersion,
      ...(opset !== undefined ? { opset } : {}),
      ...(info.opsets.length > 1 ? { opsets: info.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ') } : {}),
      producer: [info.producerName, info.producerVersion].filter(Boolean).join(' ') || '(none)',
      ...(info.domain ? { domain: info.domain } : {}),
      ...(info.modelVersion ? { model_version: info.modelVersion } : {}),
      graph: info.graphName,
      nodes: info.nodeCount,
    },
    inputs: info.inputs.map(onnxTensor),
    outputs: info.outputs.map(onnxTensor),
    operators: info.operators.map((o) => ({ ...o })),
    metadata: { ...info.metadata, ...(info.docString ? { doc_string: info.docString } : {}) },
    embedded_labels: null,
  };
}

function describeInput(manifest: ModelManifest): string {
  const i = manifest.input;
  const hop = i.hop_frames ? `, hop ${i.hop_frames} frames (${(i.hop_frames * FRAME_SECONDS).toFixed(2)} s)` : '';
  if (i.kind === 'waveform') return `waveform, ${i.window_samples ?? PATCH_SAMPLES} samples at ${i.sample_rate_hz ?? SAMPLE_RATE} Hz${hop}`;
  return `log-mel patch ${i.layout}, ${i.patch_frames ?? PATCH_FRAMES} frames x ${i.mel_bands ?? MEL_BANDS} mels, ${i.f_min_hz}-${i.f_max_hz} Hz, log offset ${i.log_offset}${hop}`;
}

function describeLabels(manifest: ModelManifest, modelPath: string): string {
  const l = manifest.labels;
  if (l.source === 'embedded') return 'embedded in the model';
  if (l.source === 'inline') return `${l.names.length} inline`;
  const path = labelsFilePath(manifest, modelPath)!;
  if (!existsSync(path)) return `file ${l.file} (missing: ${path})`;
  try {
    return `${readLabelsFile(path).length} in ${l.file}`;
  } catch (error) {
    return `file ${l.file} (${(error as Error).message})`;
  }
}

function shapeText(shape: (number | string)[] | null): string {
  return shape ? `[${shape.join(',')}]` : '(no shape)';
}

function formatInfo(r: ModelInfoReport): string {
  const lines: string[] = [];
  lines.push(`file       ${r.file}`);
  lines.push(`size       ${r.bytes} bytes, sha256 ${r.sha256}`);
  lines.push(
    `format     ${r.format === 'onnx' ? 'ONNX' : 'TFLite'}: ${Object.entries(r.details)
      .map(([k, v]) => `${k.replaceAll('_', ' ')} ${v === '' ? '(none)' : v}`)
      .join(', ')}`,
  );
  const tensorRows = (tensors: InfoTensor[]) =>
    tensors.map((t) => {
      const q = t.quantization
        ? `  scale ${t.quantization.scale} zero point ${t.quantization.zero_point}${t.quantization.per_channel ? ` (per channel, ${t.quantization.per_channel})` : ''}`
        : '';
      return [`  ${t.name || '(unnamed)'}`, t.dtype, `${shapeText(t.shape)}${q}`];
    });
  lines.push('inputs');
  lines.push(...table(tensorRows(r.inputs)));
  lines.push('outputs');
  lines.push(...table(tensorRows(r.outputs)));
  if (r.embedding) {
    lines.push(`embedding  ${r.embedding.values} values, the second output earshot adds when it runs the model (MEAN before the last FULLY_CONNECTED)`);
    lines.push(...table(tensorRows([r.embedding])));
  }
  const total = r.operators.reduce((a, o) => a + o.count, 0);
  lines.push(`operators  ${total} in ${r.operators.length} kinds: ${r.operators.map((o) => `${o.name} x${o.count}`).join(', ')}`);
  const metadata = Object.entries(r.metadata);
  lines.push(metadata.length ? 'metadata' : 'metadata   none');
  for (const [key, value] of metadata) lines.push(`  ${key}: ${oneLine(value, 160)}`);
  if (r.embedded_labels) {
    const l = r.embedded_labels;
    lines.push(`labels     ${l.count} embedded${l.file ? ` (${l.file})` : ''}: ${l.first.join(', ')}${l.count > l.first.length ? ', ...' : ''}`);
  }
  if (r.manifest) {
    const m = r.manifest;
    lines.push(`manifest   ${m.id} (${m.origin})`);
    lines.push(`  input    ${m.input}`);
    lines.push(`  labels   ${m.labels}`);
    lines.push(
      `  maps     ${Object.entries(m.class_map)
        .map(([label, classes]) => `${label} <- ${classes.join(' | ')}`)
        .join('; ')}`,
    );
  } else {
    lines.push(`manifest   ${r.manifest_problem ?? 'none'}`);
  }
  return `${lines.join('\n')}\n`;
}

function table(rows: string[][]): string[] {
  return rows.length === 0 ? ['  (none)'] : formatTable(rows);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

// ---------------------------------------------------------------------------------------------
// bench

export interface BenchOptions {
  config?: string;
  manifest?: string;
  backend?: string;
  runs: string;
  hop?: string;
  threads?: string;
  clip?: string;
  json?: boolean;
}

/** One row of `model bench`: one backend. Times in milliseconds. */
export interface BenchRow {
  backend: BackendKind;
  /** 'cpu', `delegate <library>` or the ONNX execution provider. */
  accelerator: string;
  runs: number;
  /** Distinct real inputs cycled through. */
  inputs: number;
  median_ms: number;
  p99_ms: number;
  /** Seconds between model inputs the factor is computed at. */
  hop_s: number;
  /** median invoke time / hop: below 1 the model keeps up with the stream. */
  rtf: number;
  /** p99 invoke time / hop. */
  rtf_p99: number;
}

/** `earshot model bench FILE` (registered in ./model.ts). @throws EarshotError for a bad option, config, model or clip */
export async function benchCommand(file: string, options: BenchOptions): Promise<void> {
  const config: EarshotConfig = options.config ? loadConfigFile(options.config) : defaultConfig();
  const runs = positiveInteger(options.runs, '--runs');
  const threads = options.threads !== undefined ? positiveInteger(options.threads, '--threads') : config.model.threads;
  const hopSeconds = options.hop !== undefined ? positiveNumber(options.hop, '--hop') : config.frontend.hop_frames * FRAME_SECONDS;
  // Parse first: a file that is not a model is refused here, before any runtime sees it.
  const { info } = await loadModelFile(file);
  const samples = benchAudio(options.clip ?? (config.source.path?.toLowerCase().endsWith('.wav') ? config.source.path : undefined));
  let rows: BenchRow[];
  let note: string;
  if (isOnnxInfo(info) && looksLikeSileroVad(info.inputs.map((i) => i.name)) && !options.manifest) {
    rows = [await benchSilero(file, config, samples.audio, runs, threads)];
    note = `Silero VAD: one invoke per ${SILERO_STEP_SAMPLES}-sample step (${(SILERO_STEP_SAMPLES / SILERO_SAMPLE_RATE) * 1000} ms); --hop does not apply`;
  } else {
    rows = [];
    for (const backend of benchBackends(options.backend, info, config)) {
      rows.push(await benchClassifier(file, backend, config, options.manifest, samples.audio, runs, threads, hopSeconds));
    }
    note = `hop ${hopSeconds} s`;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ file, clip: samples.source, note, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${file}\ninput: ${samples.source}; ${note}; ${runs} timed runs each (node ${process.version}, ${process.arch})\n`);
  const header = ['backend', 'accelerator', 'median ms', 'p99 ms', 'RTF (median)', 'RTF (p99)', 'hop s', 'inputs'];
  const body = rows.map((r) => [
    r.backend,
    r.accelerator,
    r.median_ms.toFixed(2),
    r.p99_ms.toFixed(2),
    r.rtf.toFixed(4),
    r.rtf_p99.toFixed(4),
    String(r.hop_s),
    String(r.inputs),
  ]);
  process.stdout.write(`${table([header, ...body]).join('\n')}\n`);
}

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new EarshotError(`${option}: must be a whole number >= 1, got ${text}`);
  return n;
}

function positiveNumber(text: string, option: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new EarshotError(`${option}: must be a positive number of seconds, got ${text}`);
  return n;
}

/** The backends asked for, checked against the file's format. */
function benchBackends(asked: string | undefined, info: ModelFileInfo, config: EarshotConfig): BackendKind[] {
  if (!asked) return [isOnnxInfo(info) ? 'onnx' : backendFor(info.path, config.model.backend)];
  const names =
    asked === 'all'
      ? isOnnxInfo(info)
        ? ['onnx']
        : [...BACKEND_KINDS]
      : asked
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  return names.map((name) => {
    if (!isBackendKind(name)) throw new EarshotError(`--backend: unknown backend "${name}" (expected ${ALL_BACKEND_KINDS.join(', ')} or all)`);
    if (isOnnxInfo(info) !== (name === 'onnx')) {
      throw new EarshotError(
        `--backend ${name}: ${info.path} is ${isOnnxInfo(info) ? 'an ONNX model (backend onnx)' : 'a TFLite model (tflite-node or litert-wasm)'}`,
      );
    }
    return name;
  });
}

/** 16 kHz mono audio to feed: a WAV clip, or a synthetic test signal when none is given. */
function benchAudio(clip: string | undefined): { audio: Float32Array; source: string } {
  if (clip) {
    const wav = readWav(clip);
    if (wav.sampleRate !== SAMPLE_RATE) throw new EarshotError(`${clip}: bench needs a ${SAMPLE_RATE} Hz clip; this one is ${wav.sampleRate} Hz`);
    if (wav.frames === 0) throw new EarshotError(`${clip}: the clip has no samples`);
    return { audio: wav.mono, source: `${clip} (${wav.durationSeconds.toFixed(2)} s)` };
  }
  // 5 s of deterministic noise with a chirp: exercises the whole spectrum, unlike silence.
  const audio = new Float32Array(5 * SAMPLE_RATE);
  let seed = 12345;
  for (let i = 0; i < audio.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const t = i / SAMPLE_RATE;
    audio[i] = 0.05 * (seed / 2 ** 32 - 0.5) + 0.2 * Math.sin(2 * Math.PI * (200 + 700 * t) * t);
  }
  return { audio, source: 'synthetic noise and chirp, 5 s (pass --clip WAV for real audio)' };
}

/**
 * The model inputs of `audio` at `hopSeconds`, as the pipeline makes them: 15600-sample windows
 * for waveform models, log-mel patches (manifest front-end parameters, manifest layout) otherwise.
 */
function modelInputs(audio: Float32Array, manifest: ModelManifest, hopSeconds: number): Float32Array[] {
  const hopFrames = Math.max(1, Math.round(hopSeconds / FRAME_SECONDS));
  const patchSamples = PATCH_SAMPLES;
  const padded = audio.length >= patchSamples ? audio : Float32Array.from({ length: patchSamples }, (_, i) => audio[i] ?? 0);
  const input = manifest.input;
  if (input.kind === 'waveform') {
    const out: Float32Array[] = [];
    for (let start = 0; start + patchSamples <= padded.length; start += hopFrames * FRAME_HOP_SAMPLES) out.push(padded.slice(start, start + patchSamples));
    return out;
  }
  const frontEnd = new LogMelFrontEnd({ logOffset: input.log_offset, fMinHz: input.f_min_hz, fMaxHz: input.f_max_hz });
  const patcher = new Patcher({ hopFrames });
  return patcher.push(frontEnd.push(padded)).map((p) => toLayout(p.frames, patcher.patchFrames, patcher.melBands, input.layout));
}

function row(backend: BackendKind, accelerator: string, times: number[], inputs: number, hopSeconds: number): BenchRow {
  const sorted = [...times].sort((a, b) => a - b);
  const median = nearestRankOfSorted(sorted, 50);
  const p99 = nearestRankOfSorted(sorted, 99);
  const round = (x: number, digits: number) => Number(x.toFixed(digits));
  return {
    backend,
    accelerator,
    runs: times.length,
    inputs,
    median_ms: round(median, 3),
    p99_ms: round(p99, 3),
    hop_s: hopSeconds,
    rtf: round(median / 1000 / hopSeconds, 5),
    rtf_p99: round(p99 / 1000 / hopSeconds, 5),
  };
}

async function benchClassifier(
  file: string,
  backend: BackendKind,
  config: EarshotConfig,
  manifestWanted: string | undefined,
  audio: Float32Array,
  runs: number,
  threads: number,
  hopSeconds: number,
): Promise<BenchRow> {
  const model = await loadModel({
    path: file,
    ...(manifestWanted ? { manifest: manifestWanted } : {}),
    backend,
    threads,
    modelDir: config.model_dir,
    // The configured accelerator applies to the backend it belongs to only.
    ...acceleratorRequest({ ...config.model, ...(backend === 'tflite-node' ? {} : { delegate: undefined, delegate_options: undefined }) }),
  });
  try {
    for (const warning of model.warnings ?? []) process.stderr.write(`earshot: warning: ${warning}\n`);
    const inputs = modelInputs(audio, model.manifest, hopSeconds);
    for (let i = 0; i < 3; i++) await model.backend.run(inputs[i % inputs.length]!);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const x = inputs[i % inputs.length]!;
      const start = performance.now();
      await model.backend.run(x);
      times.push(performance.now() - start);
    }
    return row(model.backend.kind, model.accelerator ?? 'cpu', times, inputs.length, hopSeconds);
  } finally {
    model.close();
  }
}

async function benchSilero(file: string, config: EarshotConfig, audio: Float32Array, runs: number, threads: number): Promise<BenchRow> {
  const vad = await SileroVad.open(file, {
    threads,
    executionProviders: config.model.execution_providers,
    requireAccelerator: config.model.require_accelerator,
  });
  try {
    for (const warning of vad.warnings) process.stderr.write(`earshot: warning: ${warning}\n`);
    const steps = Math.max(1, Math.floor(audio.length / SILERO_STEP_SAMPLES));
    const stepAt = (i: number) => audio.subarray((i % steps) * SILERO_STEP_SAMPLES, (i % steps) * SILERO_STEP_SAMPLES + SILERO_STEP_SAMPLES);
    for (let i = 0; i < 3; i++) await vad.process(stepAt(i));
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      // The stream restarts when the clip wraps around, as a new recording would.
      if (i % steps === 0) vad.reset();
      const x = stepAt(i);
      const start = performance.now();
      await vad.process(x);
      times.push(performance.now() - start);
    }
    return row('onnx', vad.accelerator, times, steps, SILERO_STEP_SAMPLES / SILERO_SAMPLE_RATE);
  } finally {
    await vad.close();
  }
}
