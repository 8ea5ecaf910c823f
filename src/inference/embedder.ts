/**
 * Patch features for training and measuring heads (src/learn/, scripts/): a YAMNet-family model's
 * class scores AND its embedding for every patch of a recording, from one invoke per patch, on
 * exactly the grid the pipeline uses.
 *
 * The grid and the model inputs are the pipeline's own: the same streaming log-mel front end and
 * patcher ({@link FrontEndGroup}), the same layout conversion ({@link toLayout}), the same waveform
 * window (patch start … +15600 samples), and the same end-of-file padding as `Pipeline.cutEnd`
 * (zeros up to one whole patch and a whole number of hops, as YAMNet's `features.pad_waveform`).
 * The model is opened by {@link loadModel} (so it is probed in a child process first, and its
 * manifest and labels are checked) and runs in this thread; the embedding is the model's second
 * output (tflite/embedding-output.ts). Unlike the pipeline, no silence gate applies: every patch
 * is returned, with its RMS level so a caller can leave quiet ones out.
 */
import { defaultModelDir } from '../config/model-dir.js';
import { EarshotError } from '../errors.js';
import type { TfliteBackendKind } from './backends/backend.js';
import { FrontEndGroup } from '../frontend/front-end-group.js';
import { loadModel, type LoadedModel } from './load-model.js';
import { toLayout } from '../frontend/patcher.js';
import { FRAME_HOP_SAMPLES } from '../constants.js';

/** One patch of audio through a YAMNet-family model: both outputs of one invoke. */
export interface PatchFeatures {
  /** First sample of the patch in the input, 16 kHz. */
  readonly startSample: number;
  /** The model's class scores, e.g. 521 (after the manifest's activation, as the pipeline sees them). */
  readonly scores: Float32Array;
  /** The embedding, e.g. 1024 values, dequantized if the tensor is int8. */
  readonly embedding: Float32Array;
  /** RMS of the patch's samples in dBFS (−Infinity for digital silence), as the pipeline's silence gate measures it. */
  readonly rmsDbfs: number;
}

/** A model opened for feature extraction; close it when done. */
export interface Embedder {
  /** sha256 of the model FILE (as the manifest lists it; what a head's `base_model_sha256` must be). */
  readonly modelSha256: string;
  /** The model's class names, in score order. */
  readonly classNames: readonly string[];
  /** The embedding's length (1024 for YAMNet). */
  readonly embeddingLength: number;
  /** The model's manifest id, e.g. `yamnet`. */
  readonly manifestId: string;
  /** The model file. */
  readonly modelPath: string;
  /**
   * Patches on the pipeline's grid: 0.96 s patches (15600 samples) every `hopFrames` frames of
   * 10 ms (default 48 = 0.48 s), the last one padded with zeros as the pipeline pads a file's end.
   * @param samples 16 kHz mono, −1..1; an empty array gives no patch
   * @param hopFrames frames between patch starts (positive integer; the config's `frontend.hop_frames`)
   * @returns one entry per patch, in order
   * @throws RangeError for a bad hop; EarshotError when the model fails
   */
  embed(samples: Float32Array, hopFrames?: number): Promise<PatchFeatures[]>;
  close(): Promise<void> | void;
}

/** What {@link openEmbedder} opens. */
export interface EmbedderOptions {
  /** The model file (a YAMNet-family TFLite model). */
  modelPath: string;
  /** Manifest path or shipped id; default: matched by the file's sha256. */
  manifest?: string;
  /**
   * Default 'litert-wasm', the daemon's default backend, so features match what a default node
   * computes (the two runtimes' float kernels differ slightly on yamnet_waveform).
   */
  backend?: TfliteBackendKind;
  /** Interpreter threads (default 1). */
  threads?: number;
}

/**
 * Opens a model for {@link Embedder.embed}.
 * @throws EarshotError (exit 2) naming the file when it is missing, refused by the probe or its
 *   manifest, or has no embedding (not a YAMNet-family TFLite model: its last FULLY_CONNECTED is
 *   not fed by a MEAN); exit 3 when the runtime cannot be loaded
 */
export async function openEmbedder(options: EmbedderOptions): Promise<Embedder> {
  const model: LoadedModel = await loadModel({
    path: options.modelPath,
    ...(options.manifest ? { manifest: options.manifest } : {}),
    backend: options.backend ?? 'litert-wasm',
    threads: options.threads ?? 1,
    modelDir: defaultModelDir(),
  });
  const classify = model.classifyWithEmbedding;
  if (!classify || !model.embeddingLength) {
    model.close();
    throw new EarshotError(
      `${model.path}: the model has no embedding output (earshot finds one in YAMNet-family TFLite models: a MEAN feeding the last FULLY_CONNECTED); heads need one`,
    );
  }
  const input = model.input;
  let closed = false;
  return {
    modelSha256: model.sha256,
    classNames: model.classNames,
    embeddingLength: model.embeddingLength,
    manifestId: model.manifest.id,
    modelPath: model.path,
    async embed(samples: Float32Array, hopFrames = 48): Promise<PatchFeatures[]> {
      if (closed) throw new Error(`${model.path}: the embedder is closed`);
      if (!Number.isInteger(hopFrames) || hopFrames < 1) throw new RangeError(`embed: hopFrames must be a positive integer, got ${hopFrames}`);
      if (samples.length === 0) return [];
      const frontEnds = new FrontEndGroup([input], hopFrames);
      const { patchSamples, patchFrames, melBands } = frontEnds.patcher;
      // As Pipeline.cutEnd: pad to one whole patch, then to a whole number of hops.
      const hopSamples = hopFrames * FRAME_HOP_SAMPLES;
      const length = samples.length;
      const padded = length <= patchSamples ? patchSamples : patchSamples + Math.ceil((length - patchSamples) / hopSamples) * hopSamples;
      const audio = padded > length ? new Float32Array(padded) : samples;
      if (audio !== samples) audio.set(samples);
      const groups = frontEnds.push(audio);
      const layout = input.kind === 'logmel_patch' ? new Float32Array(patchFrames * melBands) : null;
      const out: PatchFeatures[] = [];
      for (const group of groups) {
        const { startSample, endSample } = group.patch;
        const waveform = audio.subarray(startSample, endSample);
        const modelInput = input.kind === 'waveform' ? waveform : toLayout(group.frames[0]!, patchFrames, melBands, input.layout, layout!);
        const { scores, embedding } = await classify(modelInput);
        out.push({ startSample, scores, embedding, rmsDbfs: rmsDbfs(waveform) });
      }
      return out;
    },
    close(): void {
      if (closed) return;
      closed = true;
      model.close();
    },
  };
}

/** RMS in dBFS, as the pipeline's `levels()` (src/pipeline/pipeline.ts) computes it. */
function rmsDbfs(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return 20 * Math.log10(Math.sqrt(sum / Math.max(1, samples.length)));
}
