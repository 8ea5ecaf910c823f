/**
 * The embedding as a second output of YAMNet-family TFLite models (src/inference/tflite/
 * embedding-output.ts): the in-memory FlatBuffer rewrite, both backends giving the embedding from
 * the same invoke with scores bit-identical to the unmodified file on real clips, and the embedder
 * (src/inference/embedder.ts) on the pipeline's patch grid.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';

import { readWav } from '../src/capture/wav.js';
import { defaultConfig } from '../src/config/load.js';
import { BACKEND_KINDS } from '../src/inference/backends/backend.js';
import { openBackend } from '../src/inference/backends/create-backend.js';
import { openEmbedder } from '../src/inference/embedder.js';
import { EMBEDDING_SIGNATURE_NAME, findEmbeddingTensor, withEmbeddingOutput } from '../src/inference/tflite/embedding-output.js';
import { readTfliteModel } from '../src/inference/tflite/model-file.js';
import { createLogger } from '../src/log.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { runSync, SHARED } from './helpers/fixtures.js';

const MODELS = ['yamnet_waveform', 'yamnet_audio_classifier_with_metadata', 'yamnet_spectra_in'] as const;
const CLIPS = ['gunshot_1', 'glass_break_1', 'scream_1', 'speech_1', 'door_slam_1'];
const modelPath = (name: string) => `${SHARED}models/yamnet/${name}.tflite`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The model input of patch p (hop 0.48 s) of a clip: the waveform window, or for the log-mel model a patch from the embedder's front end. */
function waveformPatches(samples: Float32Array, count: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let p = 0; p < count; p++) {
    const w = new Float32Array(15600);
    w.set(samples.subarray(p * 7680, p * 7680 + 15600));
    out.push(w);
  }
  return out;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

t.test('the rewrite adds the MEAN output to the subgraph (and signature) outputs, found by structure', async (t) => {
  for (const name of MODELS) {
    const bytes = readFileSync(modelPath(name));
    const before = sha(bytes);
    const info = readTfliteModel(bytes, name);
    const found = findEmbeddingTensor(bytes, info)!;
    t.ok(found, `${name}: an embedding tensor is found`);
    t.equal(found.length, 1024, `${name}: 1024 values`);
    const rewritten = withEmbeddingOutput(bytes, info)!;
    t.equal(sha(bytes), before, `${name}: the original bytes are untouched`);
    let changed = 0;
    for (let i = 0; i < bytes.length; i++) if (rewritten.bytes[i] !== bytes[i]) changed += 1;
    t.ok(
      changed <= 4 * (1 + info.signatures.length),
      `${name}: the original bytes stay in place but for the repointed uoffsets (${changed} bytes differ); ${rewritten.bytes.length - bytes.length} bytes appended`,
    );
    const again = readTfliteModel(rewritten.bytes, name);
    t.same(
      again.outputs.map((o) => o.index),
      [info.outputs[0]!.index, found.tensor.index],
      `${name}: outputs are [scores, embedding]`,
    );
    t.same(again.outputs[0], info.outputs[0], `${name}: output 0 is unchanged`);
    t.equal(again.operatorCount, info.operatorCount, `${name}: same operators`);
    t.same(again.labels, info.labels, `${name}: embedded labels still read`);
    // The embedding tensor is the MEAN's output (by graph), whatever its name.
    t.match(found.tensor.name, /Mean|reduce_mean/, `${name}: it is the global average pooling (${found.tensor.name.split(';')[0]})`);
    if (info.signatures.length > 0) {
      const sig = again.signatures[0]!;
      t.same(
        sig.outputs,
        [...info.signatures[0]!.outputs, { name: EMBEDDING_SIGNATURE_NAME, tensorIndex: found.tensor.index }],
        `${name}: the SignatureDef lists the embedding too`,
      );
      t.same(sig.inputs, info.signatures[0]!.inputs, `${name}: SignatureDef inputs unchanged`);
      t.equal(rewritten.signatureName, EMBEDDING_SIGNATURE_NAME);
    }
    // Rewriting a rewritten model is a no-op (the embedding is already an output).
    const twice = withEmbeddingOutput(rewritten.bytes, again)!;
    t.equal(twice.bytes, rewritten.bytes, `${name}: a second rewrite changes nothing`);
  }
  // A model that does not end in MEAN → FULLY_CONNECTED(classes) has no embedding.
  const micro = `${SHARED}models/micro/micro_speech_int8.tflite`;
  const microBytes = readFileSync(micro);
  t.equal(findEmbeddingTensor(microBytes, readTfliteModel(microBytes, micro)), undefined, 'micro_speech: no embedding');
});

t.test('both backends: scores identical to the unmodified model, embedding 1024 finite values, one invoke', async (t) => {
  const clips = CLIPS.map((c) => readWav(`${SHARED}audio/clips/${c}.wav`).mono);
  for (const name of MODELS) {
    const bytes = readFileSync(modelPath(name));
    const info = readTfliteModel(bytes, name);
    const embeddings = new Map<string, Float32Array[]>();
    for (const kind of BACKEND_KINDS) {
      const plain = await openBackend(kind, bytes, info, { embeddingOutput: false });
      const both = await openBackend(kind, bytes, info);
      t.teardown(() => {
        plain.close();
        both.close();
      });
      t.equal(plain.embedding, undefined, `${name} ${kind}: the unmodified model has no embedding output`);
      t.equal(both.embeddingLength, 1024, `${name} ${kind}: embedding of 1024 values`);
      let identical = 0;
      let total = 0;
      let finite = true;
      const mine: Float32Array[] = [];
      for (const samples of clips) {
        // Waveform models take the window; the log-mel model takes a patch: build one from the same audio
        // by the embedder below; here any fixed input of the right size is a fair comparison.
        const inputs = name === 'yamnet_spectra_in' ? waveformPatches(samples, 3).map((w) => logMelLike(w)) : waveformPatches(samples, 3);
        for (const input of inputs) {
          const a = runSync(plain, input);
          const { scores, embedding } = both.runWithEmbedding!(input);
          const c = runSync(both, input);
          total += 1;
          if (a.length === scores.length && a.every((v, i) => Object.is(v, scores[i]) && Object.is(v, c[i]))) identical += 1;
          if (embedding.length !== 1024 || !embedding.every((v) => Number.isFinite(v) && v >= 0)) finite = false;
          mine.push(embedding);
        }
      }
      t.equal(identical, total, `${name} ${kind}: scores bit-identical to the unmodified model on ${total} patches of ${clips.length} real clips`);
      t.ok(finite, `${name} ${kind}: every embedding has 1024 finite, non-negative values (ReLU before the pooling)`);
      embeddings.set(kind, mine);
    }
    const [node, wasm] = [embeddings.get('tflite-node')!, embeddings.get('litert-wasm')!];
    const agree = node.map((e, i) => cosine(e, wasm[i]!));
    t.ok(Math.min(...agree) > 0.98, `${name}: the two backends' embeddings agree (cosine ≥ ${Math.min(...agree).toFixed(4)})`);
    // Different sounds give different embeddings: gunshot patch 0 vs speech patch 0.
    t.ok(cosine(node[0]!, node[9]!) < 0.95, `${name}: a gunshot and speech differ (cosine ${cosine(node[0]!, node[9]!).toFixed(3)})`);
  }
});

/** A log-mel-like patch (96 × 64) from a waveform window, enough to drive the log-mel model with real audio energy. */
function logMelLike(w: Float32Array): Float32Array {
  const out = new Float32Array(96 * 64);
  for (let f = 0; f < 96; f++) {
    let e = 0;
    for (let i = f * 160; i < f * 160 + 400 && i < w.length; i++) e += w[i]! * w[i]!;
    for (let m = 0; m < 64; m++) out[f * 64 + m] = Math.log(Math.sqrt(e / 400) * (1 + m / 64) + 0.001);
  }
  return out;
}

t.test("the embedder gives the pipeline's patches: same grid, same scores", async (t) => {
  const log = createLogger({ level: 'warn', pretty: false, fd: 2 });
  // The official YAMNet on the default backend (the two backends are compared above).
  for (const [name, backend] of [['yamnet_audio_classifier_with_metadata', 'litert-wasm']] as const) {
    const config = defaultConfig();
    config.model.path = modelPath(name);
    config.model.backend = backend;
    config.detection.silence_gate_dbfs = -200;
    const { model, labels } = await openModelAndLabels(config, log);
    const embedder = await openEmbedder({ modelPath: modelPath(name), backend });
    t.teardown(() => {
      model.close();
      void embedder.close();
    });
    t.equal(embedder.modelSha256, model.sha256, `${name}: the embedder names the model file's sha256`);
    t.equal(embedder.classNames.length, 521);
    const audio = readWav(`${SHARED}audio/clips/gunshot_1.wav`).mono;
    const pipeline = new Pipeline(model, labels, pipelineSettings(config), model.path);
    const reports: { start: number; scores: Float32Array | null }[] = [];
    pipeline.onPatch = (r) => reports.push({ start: r.patch.startSample, scores: r.classScores });
    await pipeline.push({ startSample: 0, samples: audio });
    await pipeline.finish();
    const patches = await embedder.embed(audio);
    t.same(
      patches.map((p) => p.startSample),
      reports.map((r) => r.start),
      `${name}: ${patches.length} patches on the pipeline's grid (with its end padding)`,
    );
    t.ok(
      patches.every((p, i) => p.scores.every((v, k) => Object.is(v, reports[i]!.scores![k]))),
      `${name}: scores identical to the pipeline's`,
    );
    t.ok(
      patches.every((p) => p.embedding.length === 1024 && p.embedding.every(Number.isFinite)),
      `${name}: 1024-d finite embeddings`,
    );
    const gun = embedder.classNames.indexOf('Gunshot, gunfire');
    t.ok(Math.max(...patches.map((p) => p.scores[gun]!)) > 0.5, `${name}: a gunshot clip scores "Gunshot, gunfire" high`);
    t.same(await embedder.embed(new Float32Array(0)), [], 'no audio, no patch');
    const short = await embedder.embed(audio.subarray(0, 4000));
    t.equal(short.length, 1, 'a clip shorter than a patch gives one padded patch');
  }
  await t.rejects(
    openEmbedder({ modelPath: `${SHARED}models/micro/micro_speech_int8.tflite` }),
    /micro_speech_int8.tflite: /,
    'a model that is not YAMNet-family is refused with a line naming it',
  );
});

t.test('earshot model info shows the embedding output', async (t) => {
  const { earshot } = await import('./helpers/cli.js');
  const result = await earshot(['model', 'info', '--json', modelPath('yamnet_audio_classifier_with_metadata')]);
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    outputs: { shape: number[] }[];
    embedding: { name: string; dtype: string; shape: number[]; values: number; quantization?: { scale: number } } | null;
  };
  t.same(
    report.outputs.map((o) => o.shape),
    [[1, 521]],
    "the file's own output: the scores",
  );
  t.match(
    report.embedding,
    { name: 'tower0/network/layer28/reduce_mean', dtype: 'int8', shape: [1, 1, 1, 1024], values: 1024 },
    'the embedding earshot adds: the int8 reduce_mean, 1024 values',
  );
  const text = await earshot(['model', 'info', modelPath('yamnet_waveform')]);
  t.match(text.stdout, /^embedding {2}1024 values, the second output earshot adds/m, 'the text report has an embedding line');
});
