/**
 * The inference worker (src/inference/worker): a real model in a real worker thread scores
 * exactly as the same model in-process, a model that throws fails one input only, a worker that
 * dies is restarted and serves again, and an invalid model is refused with a clear error while
 * this process survives. Faults are injected with EARSHOT_TEST_MODEL_FAULT, passed to the worker
 * as its environment.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EarshotError } from '../src/errors.js';
import { loadModel, WAVEFORM_INPUT_SAMPLES } from '../src/inference/load-model.js';
import { parseModelFaults } from '../src/inference/worker/faults.js';
import { inferenceWorkerUrl, isModelCallError, WorkerClassifier } from '../src/inference/worker/worker-classifier.js';
import { startDaemon } from './helpers/service-daemon.js';
import { readWav16, sharedPath } from './helpers/wav16.js';
import { SCENE_07, writeDaemonConfig, YAMNET_WAVEFORM as YAMNET } from './helpers/fixtures.js';

const MODEL_DIR = sharedPath('models');

/** Consecutive 15600-sample windows (hop 7680) of a real gunshot clip. */
function windows(count: number): Float32Array[] {
  const audio = readWav16(sharedPath('audio/clips/gunshot_1.wav'));
  const out: Float32Array[] = [];
  for (let start = 0; out.length < count && start + WAVEFORM_INPUT_SAMPLES <= audio.length; start += 7680)
    out.push(audio.slice(start, start + WAVEFORM_INPUT_SAMPLES));
  while (out.length < count) out.push(out[out.length % Math.max(1, out.length)]!.slice());
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const request = (backend: 'litert-wasm' | 'tflite-node') => ({ path: YAMNET, backend, threads: 1, modelDir: MODEL_DIR });

t.test('the worker entry has the same extension as the module that starts it', async (t) => {
  t.match(inferenceWorkerUrl().pathname, /src\/inference\/worker\/inference-worker\.ts$/);
});

for (const backend of ['litert-wasm', 'tflite-node'] as const) {
  t.test(`${backend}: the worker scores exactly as the model in-process`, async (t) => {
    const inProcess = await loadModel(request(backend));
    t.teardown(() => inProcess.close());
    const worker = await WorkerClassifier.open(request(backend));
    t.teardown(() => worker.close());
    t.same(worker.classNames, inProcess.classNames, 'same class names');
    t.same(worker.input, inProcess.input, 'same input kind');
    t.equal(worker.sha256, inProcess.sha256, 'same file');
    t.equal(worker.backend.kind, backend);
    const inputs = windows(6);
    let worst = 0;
    for (const input of inputs) {
      const copy = input.slice();
      const [a, b] = await Promise.all([worker.classify(input), Promise.resolve(inProcess.classify(input))]);
      worst = Math.max(worst, maxAbsDiff(a, b));
      t.same(input, copy, "the caller's input is left intact");
    }
    t.ok(worst <= 1e-6, `largest score difference ${worst} (≤ 1e-6) over ${inputs.length} real patches`);
    t.equal(worker.stats.scored, inputs.length);
  });
}

t.test('a model that throws fails that input only; the worker keeps serving', async (t) => {
  const worker = await WorkerClassifier.open(request('litert-wasm'), { env: { ...process.env, EARSHOT_TEST_MODEL_FAULT: 'throw:3' } });
  t.teardown(() => worker.close());
  t.equal(worker.faults, 'throw:3', 'the worker reports the injected faults');
  const outcomes: string[] = [];
  for (const input of windows(7)) {
    try {
      await worker.classify(input);
      outcomes.push('ok');
    } catch (error) {
      t.ok(isModelCallError(error) && error.reason === 'model_error', `a model error: ${(error as Error).message}`);
      outcomes.push('failed');
    }
  }
  t.same(outcomes, ['ok', 'ok', 'failed', 'ok', 'ok', 'failed', 'ok'], 'every third call fails, the others are scored');
  t.equal(worker.stats.restarts, 0, 'no restart was needed');
  t.equal(worker.stats.failed, 2);
});

for (const fault of ['exit:3', 'uncaught:3'] as const) {
  t.test(`a worker that dies (${fault}) is restarted and scores as before`, async (t) => {
    const reference = await loadModel(request('litert-wasm'));
    t.teardown(() => reference.close());
    const worker = await WorkerClassifier.open(request('litert-wasm'), { env: { ...process.env, EARSHOT_TEST_MODEL_FAULT: fault }, restartMinMs: 20 });
    t.teardown(() => worker.close());
    const inputs = windows(8);
    let scored = 0;
    let died = 0;
    let worst = 0;
    for (const input of inputs) {
      try {
        const scores = await worker.classify(input);
        worst = Math.max(worst, maxAbsDiff(scores, await reference.classify(input)));
        scored += 1;
      } catch (error) {
        t.ok(isModelCallError(error), `the lost call says why: ${(error as Error).message}`);
        died += 1;
      }
    }
    // The fault counts per worker: calls 3 and 6 of the first worker's life, then of the next.
    t.ok(died >= 2, `calls lost with the dying workers: ${died}`);
    t.ok(worker.stats.restarts >= 1, `restarted ${worker.stats.restarts} times`);
    t.ok(scored >= inputs.length - died && scored >= 4, `${scored} of ${inputs.length} inputs scored`);
    t.ok(worst <= 1e-6, `a restarted worker scores exactly as in-process (largest difference ${worst})`);
  });
}

t.test('calls made while the worker restarts wait for it instead of failing', async (t) => {
  // Faults count per worker: the first worker dies at its 2nd call, the next one serves its 1st.
  const worker = await WorkerClassifier.open(request('litert-wasm'), {
    env: { ...process.env, EARSHOT_TEST_MODEL_FAULT: 'exit:2,calls:2' },
    restartMinMs: 200,
  });
  const [a, b, c] = windows(3);
  t.equal((await worker.classify(a!)).length, 521, 'scored');
  await t.rejects(worker.classify(b!), /the inference worker died/, 'the call in flight when the worker died fails');
  t.equal((await worker.classify(c!)).length, 521, 'the next call, made while the worker restarts, is scored by the new worker');
  t.equal(worker.stats.restarts, 1);
  worker.close();
  await t.rejects(worker.classify(c!), /model closed/, 'a closed classifier refuses calls');
});

t.test('invalid models are refused with an error naming the file; this process survives', async (t) => {
  for (const [file, backend, expected] of [
    ['not_a_model.tflite', 'litert-wasm', /not_a_model\.tflite: not a TFLite or ONNX model \(a text file\)/],
    ['keyword_scrambled_8bit.tflite', 'tflite-node', /keyword_scrambled_8bit\.tflite: model crashed the TFLite runtime during a test load/],
    ['truncated_yamnet.tflite', 'litert-wasm', /truncated_yamnet\.tflite: TFLite model is truncated or corrupt/],
  ] as const) {
    // With a manifest named, the file gets as far as the child-process probe.
    const error = await WorkerClassifier.open({ ...request(backend), manifest: 'yamnet_waveform', path: sharedPath(`models/invalid/${file}`) }).catch(
      (e: unknown) => e,
    );
    t.ok(error instanceof EarshotError, `${file} (${backend}): an EarshotError`);
    t.match((error as Error).message, expected, (error as Error).message);
  }
  t.rejects(
    WorkerClassifier.open({ ...request('litert-wasm'), path: sharedPath('models/no_such_model.tflite') }),
    /no_such_model\.tflite: model file not found/,
  );
});

t.test('a bad fault specification is a clear error', async (t) => {
  t.throws(() => parseModelFaults('explode:3'), /EARSHOT_TEST_MODEL_FAULT=explode:3: bad item "explode:3"/);
  t.same(parseModelFaults('delay_ms:300, calls:40'), { throwEvery: 0, exitEvery: 0, uncaughtEvery: 0, delayMs: 300, calls: 40 });
  await t.rejects(
    WorkerClassifier.open(request('litert-wasm'), { env: { ...process.env, EARSHOT_TEST_MODEL_FAULT: 'throw:x' } }),
    /EARSHOT_TEST_MODEL_FAULT=throw:x: bad item/,
  );
});

t.test('earshot run keeps its event stream while its model throws and its worker dies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-worker-faults-'));
  const config = writeDaemonConfig(dir, { node_id: 'fault-node', api: { enabled: false }, source: { path: SCENE_07, pacing: 'fast' } });
  // Every 7th call of a worker throws; every worker dies at its 25th call (93 patches: 3 deaths).
  const daemon = startDaemon(config, { EARSHOT_TEST_MODEL_FAULT: 'throw:7,exit:25' });
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the run ends normally (${daemon.stderr()})`);
  const lines = daemon.log.items;
  const deaths = lines.filter((l) => l.msg === 'inference worker died; restarting it');
  const restarts = lines.filter((l) => l.msg === 'inference worker restarted');
  t.ok(deaths.length >= 2 && deaths.every((l) => l.level === 50), `each death is an error line (${deaths.length}): ${deaths[0]?.reason}`);
  t.equal(restarts.length, deaths.length, 'and each is followed by a restart');
  const failures = lines.filter((l) => l.msg === 'a patch failed in the model: no vote from it');
  t.ok(failures.length >= 1 && failures.length < 10, `failed patches are logged, rate-limited (${failures.length} lines)`);
  const end = lines.find((l) => l.msg === 'source ended');
  t.equal(end?.audio_s, 45, 'the whole scene went through');
  t.equal(end?.patches, 93, 'every patch was dealt with');
  t.ok(
    (end?.failed as number) >= 10 && (end?.failed as number) < 93 / 2,
    `${end?.failed} patches failed (thrown, or lost with a worker), the rest were scored`,
  );
  t.equal(end?.worker_restarts, deaths.length, 'the summary counts the restarts');
  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const events = db.prepare('SELECT label, onset_s, end_reason FROM events ORDER BY onset_s').all() as {
    label: string;
    onset_s: number;
    end_reason: string | null;
  }[];
  t.ok(
    events.some((e) => e.label === 'gunshot'),
    `events are still detected and stored: ${events.map((e) => `${e.label} ${e.onset_s} s`).join(', ')}`,
  );
  t.ok(
    events.every((e) => e.end_reason !== null),
    'and closed',
  );
});
