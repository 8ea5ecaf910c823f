// The onnx backend: Silero VAD streaming on real clips, execution-provider fallback, and a
// single-input ONNX classifier driving the same path as the TFLite models.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { readWav } from '../src/capture/wav.js';
import { openBackend } from '../src/inference/backends/create-backend.js';
import { openOnnxSession } from '../src/inference/backends/onnx.js';
import { backendFor, loadModel } from '../src/inference/load-model.js';
import { loadOnnxModelFile, readOnnxModel } from '../src/inference/onnx/model-file.js';
import { SileroVad, SILERO_STEP_SAMPLES } from '../src/inference/vad/silero-vad.js';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { loudnessClassifierOnnx } from './helpers/onnx-writer.js';
import { YAMNET_WAVEFORM } from './helpers/fixtures.js';

const SILERO = `${SHARED}models/onnx/silero_vad.onnx`;
const clip = (name: string) => readWav(`${SHARED}audio/clips/${name}.wav`).mono;
const max = (a: ArrayLike<number>) => Math.max(...Array.from(a));
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

t.test('Silero VAD hears speech in speech_1 and none in glass_break_1, carrying state and context', async (t) => {
  const vad = await SileroVad.open(SILERO);
  t.equal(vad.accelerator, 'cpu');
  t.same(vad.warnings, [], 'cpu asked, cpu given: no warning');

  const speech = clip('speech_1');
  const pSpeech = await vad.process(speech);
  t.equal(pSpeech.length, Math.floor(speech.length / SILERO_STEP_SAMPLES), 'one probability per 512-sample step');
  t.ok(max(pSpeech) > 0.9, `speech_1: max speech probability ${max(pSpeech).toFixed(3)} > 0.9`);
  t.ok(mean(pSpeech) > 0.5, `speech_1: mean ${mean(pSpeech).toFixed(3)}: mostly speech`);

  vad.reset();
  const glass = clip('glass_break_1');
  const pGlass = await vad.process(glass);
  // The MAX over every step (stricter than the mean) stays below 0.1.
  t.ok(max(pGlass) < 0.1, `glass_break_1: max speech probability ${max(pGlass).toFixed(3)} < 0.1`);

  // Chunking does not matter: leftovers wait for the next call, state and context carry over.
  vad.reset();
  const pieces: number[] = [];
  for (let i = 0; i < speech.length; i += 1000) pieces.push(...(await vad.process(speech.subarray(i, i + 1000))));
  t.same(pieces, Array.from(pSpeech), 'the same probabilities fed in 1000-sample pieces');

  // Without the carried state and context (a fresh stream for every step) the model hears
  // something else: each step alone looks like the start of a stream.
  const fresh: number[] = [];
  for (let i = 0; i + SILERO_STEP_SAMPLES <= speech.length; i += SILERO_STEP_SAMPLES) {
    vad.reset();
    fresh.push(...(await vad.process(speech.subarray(i, i + SILERO_STEP_SAMPLES))));
  }
  const largest = max(fresh.map((p, i) => Math.abs(p - pSpeech[i]!)));
  t.ok(largest > 0.3, `stateless probabilities differ (max |difference| ${largest.toFixed(3)})`);
  t.ok(mean(fresh) < mean(pSpeech) - 0.3, `stateless mean ${mean(fresh).toFixed(3)} vs streamed ${mean(pSpeech).toFixed(3)}`);
  t.comment(
    `speech_1 max ${max(pSpeech).toFixed(3)} mean ${mean(pSpeech).toFixed(3)}; glass_break_1 max ${max(pGlass).toFixed(3)}; stateless speech_1 max ${max(fresh).toFixed(3)} mean ${mean(fresh).toFixed(3)}`,
  );
  await vad.close();
  await vad.close();
});

t.test('an unavailable execution provider: a warning naming it and the CPU, or exit 3 when required', async (t) => {
  const cpu = await SileroVad.open(SILERO);
  const reference = await cpu.process(clip('speech_1').subarray(0, 16000));
  await cpu.close();

  // This machine has the npm build of ONNX Runtime: no TensorRT or CUDA provider libraries.
  const vad = await SileroVad.open(SILERO, { executionProviders: ['tensorrt', 'cpu'] });
  t.equal(vad.accelerator, 'cpu', 'fell back to the CPU');
  t.equal(vad.warnings.length, 1);
  t.match(vad.warnings[0], /silero_vad\.onnx: ONNX execution provider not available: tensorrt \(.+\); running on the CPU/);
  t.same(Array.from(await vad.process(clip('speech_1').subarray(0, 16000))), Array.from(reference), 'and runs as on the CPU');
  await vad.close();

  const both = await SileroVad.open(SILERO, { executionProviders: ['tensorrt', 'cuda'] });
  t.match(both.warnings[0], /providers not available: tensorrt \(.+\), cuda \(.+\); running on the CPU/, 'each missing provider named');
  await both.close();

  await t.rejects(SileroVad.open(SILERO, { executionProviders: ['tensorrt'], requireAccelerator: true }), {
    name: 'EarshotError',
    exitCode: 3,
    message: /silero_vad\.onnx: ONNX execution provider not available: tensorrt .*; model\.require_accelerator is true, so earshot will not run it on the CPU/,
  });
  await t.rejects(SileroVad.open(SILERO, { executionProviders: ['cpu'], requireAccelerator: true }), {
    exitCode: 2,
    message: /model\.require_accelerator is true, but model\.execution_providers \[cpu\] names no accelerator/,
  });
  const { bytes } = await loadOnnxModelFile(SILERO);
  await t.rejects(openOnnxSession(bytes, SILERO, { executionProviders: ['npu' as 'cpu'] }), { message: /model\.execution_providers: unknown provider "npu"/ });
});

t.test('the ONNX reader: Silero VAD I/O, and files that are not ONNX are refused with the file named', async (t) => {
  const { info } = await loadOnnxModelFile(SILERO);
  t.same(
    info.inputs.map((i) => [i.name, i.dtype, i.shape]),
    [
      ['input', 'float32', ['?', '?']],
      ['state', 'float32', [2, '?', 128]],
      ['sr', 'int64', []],
    ],
  );
  t.same(
    info.outputs.map((o) => o.name),
    ['output', 'stateN'],
  );
  t.same(info.opsets, [{ domain: '', version: 16 }]);
  t.equal(info.producerName, 'spox');
  t.ok(
    info.operators.some((o) => o.name === 'LSTM'),
    'operators counted inside If subgraphs too',
  );

  for (const file of ['invalid/not_a_model.tflite', 'yamnet/yamnet_waveform.tflite']) {
    t.throws(() => readOnnxModel(readFileSync(`${SHARED}models/${file}`), file), {
      name: 'EarshotError',
      message: new RegExp(`^${file.replace('.', '\\.')}: not an ONNX model`),
    });
  }
  const truncated = readFileSync(SILERO).subarray(0, 100_000);
  t.throws(() => readOnnxModel(truncated, 'cut.onnx'), {
    message: /^cut\.onnx: not an ONNX model, or a truncated \/ corrupt one \(.+; the file has 100000 bytes\)/,
  });
  t.throws(() => readOnnxModel(new Uint8Array(0), 'empty.onnx'), { message: /empty\.onnx: model file is empty/ });
});

/** A user-brought ONNX classifier and its manifest, in a temporary folder. */
function loudnessModel(): { dir: string; model: string; manifest: string } {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-onnx-'));
  const model = join(dir, 'loudness.onnx');
  const bytes = loudnessClassifierOnnx();
  writeFileSync(model, bytes);
  const manifest = join(dir, 'loudness.yaml');
  writeFileSync(
    manifest,
    [
      'id: loudness_test',
      `sha256: [${createHash('sha256').update(bytes).digest('hex')}]`,
      'input:',
      '  kind: waveform',
      'labels:',
      '  source: inline',
      '  names: [peak, level]',
      'class_map:',
      '  gunshot: [peak]',
      '',
    ].join('\n'),
  );
  return { dir, model, manifest };
}

t.test('a single-input ONNX classifier opens through loadModel like a TFLite model', async (t) => {
  const { model: path, manifest } = loudnessModel();
  // The configured backend is a TFLite one (the default): an .onnx file goes to onnx anyway.
  const model = await loadModel({ path, manifest, backend: 'litert-wasm', threads: 1, modelDir: tmpdir(), executionProviders: ['cuda', 'cpu'] });
  t.equal(model.backend.kind, 'onnx');
  t.equal(model.format, 'onnx');
  t.equal(model.accelerator, 'cpu');
  t.match(model.warnings, [/loudness\.onnx: ONNX execution provider not available: cuda .*; running on the CPU/]);
  t.same(model.classNames, ['peak', 'level']);
  t.same(model.backend.input.shape, [1, 15600], 'symbolic batch dimension fixed to 1');
  const window = clip('gunshot_1').subarray(0, 15600);
  const pending = model.classify(window);
  t.ok(pending instanceof Promise, 'classify() is asynchronous on onnx');
  const scores = await pending;
  t.ok(Math.abs(scores[0]! - max(window.map(Math.abs))) < 1e-6, `peak ${scores[0]!.toFixed(3)} = max |x|`);
  model.close();

  t.throws(() => backendFor(YAMNET_WAVEFORM, 'onnx'), { message: /yamnet_waveform\.tflite: model\.backend is onnx, but this is a TFLite model/ });
  const { bytes, info } = await loadOnnxModelFile(SILERO);
  await t.rejects(openBackend('onnx', bytes, info), {
    message: /silero_vad\.onnx: ONNX model has 3 inputs \(input, state, sr\); earshot classifies with a model that has exactly one/,
  });
  await t.rejects(openBackend('tflite-node', bytes, info), { message: /an ONNX model runs on the onnx backend, not tflite-node/ });
});

t.test('earshot analyze with an ONNX classifier: provider fallback logged, or exit 3 when an accelerator is required', async (t) => {
  const { dir, model, manifest } = loudnessModel();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `model:\n  path: ${model}\n  manifest: ${manifest}\n  execution_providers: [tensorrt, cpu]\n`);
  const gunshot = `${SHARED}audio/clips/gunshot_1.wav`;
  const ok = await earshot(['analyze', '--config', config, '--json', gunshot]);
  t.equal(ok.code, 0, ok.stderr);
  const result = JSON.parse(ok.stdout) as { model: { backend: string; id: string }; files: { events: { label: string }[] }[] };
  t.equal(result.model.backend, 'onnx');
  t.equal(result.model.id, 'loudness_test');
  t.ok(
    result.files[0]!.events.some((e) => e.label === 'gunshot'),
    "the ONNX model's scores drove the detector",
  );
  t.match(ok.stderr, /ONNX execution provider not available: tensorrt .*running on the CPU/, 'the fallback is a logged warning');

  writeFileSync(config, `model:\n  path: ${model}\n  manifest: ${manifest}\n  execution_providers: [tensorrt, cpu]\n  require_accelerator: true\n`);
  const refused = await earshot(['analyze', '--config', config, gunshot]);
  t.equal(refused.code, 3, 'exit 3: the environment lacks the accelerator');
  t.match(refused.stderr, /^earshot: .*loudness\.onnx: ONNX execution provider not available: tensorrt .*model\.require_accelerator is true/);
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
  t.notOk(hasStackTrace(refused.stderr));
});
