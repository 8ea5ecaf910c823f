// Tests of probeModel(): models are test-loaded in a child process, so a model that crashes the
// native runtime gives an error here instead of killing the test process.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { BACKEND_KINDS } from '../src/inference/backends/backend.js';
import { probeChildPath, probeModel } from '../src/inference/probe.js';

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const INVALID = join(MODELS, 'invalid');

t.test('the child module has the same extension as probe.ts', async (t) => {
  t.match(probeChildPath(), /src[/\\]inference[/\\]probe-child\.ts$/);
});

// What each invalid model must say, per backend (the keyword model parses, then crashes
// tflite-node — at the free after its invoke, see probe-child.ts — while LiteRT.js refuses it).
const EXPECTED: Record<string, Record<string, RegExp>> = {
  'not_a_model.tflite': {
    'tflite-node': /not_a_model\.tflite: not a TFLite model \(no "TFL3" FlatBuffer identifier/,
    'litert-wasm': /not_a_model\.tflite: not a TFLite model \(no "TFL3" FlatBuffer identifier/,
  },
  'truncated_yamnet.tflite': {
    'tflite-node': /truncated_yamnet\.tflite: TFLite model is truncated or corrupt/,
    'litert-wasm': /truncated_yamnet\.tflite: TFLite model is truncated or corrupt/,
  },
  'keyword_scrambled_8bit.tflite': {
    // It corrupts the native heap: the child dies by SIGSEGV or, when glibc notices, SIGABRT.
    'tflite-node': /keyword_scrambled_8bit\.tflite: model crashed the TFLite runtime during a test load \(signal SIG(SEGV|ABRT).*\); refusing it$/,
    'litert-wasm': /keyword_scrambled_8bit\.tflite: LiteRT\.js refused the model at load \(.*Variable tensors not yet supported/,
  },
};

t.test('every invalid model gives a clear error naming the file, and this process survives', async (t) => {
  const files = readdirSync(INVALID).sort();
  t.same(files, Object.keys(EXPECTED).sort(), 'every file of shared/models/invalid has an expectation');
  const jobs = files.flatMap((file) =>
    BACKEND_KINDS.map(async (backend) => {
      const path = join(INVALID, file);
      const error = await probeModel(path, backend).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      t.ok(error, `${file} (${backend}) is refused`);
      t.equal(error?.name, 'EarshotError', `${file} (${backend}): an EarshotError`);
      t.ok(error?.message.startsWith(`${path}: `), `${file} (${backend}): the message starts with the path`);
      t.match(error?.message, EXPECTED[file]![backend]!, `${file} (${backend}): ${error?.message}`);
    }),
  );
  await Promise.all(jobs);
  t.pass('still alive');
});

t.test('a missing file', async (t) => {
  const path = join(MODELS, 'nope', 'missing.tflite');
  await t.rejects(probeModel(path, 'tflite-node'), { name: 'EarshotError', message: `${path}: model file not found` });
  await t.rejects(probeModel(MODELS, 'tflite-node'), { name: 'EarshotError', message: /models\/?: model path is not a regular file/ });
});

t.test('good models probe ok on both backends', async (t) => {
  for (const backend of BACKEND_KINDS) {
    const path = join(MODELS, 'yamnet', 'yamnet_audio_classifier_with_metadata.tflite');
    const r = await probeModel(path, backend);
    t.equal(r.ok, true);
    t.equal(r.path, path);
    t.equal(r.backend, backend);
    t.same(
      r.inputs.map((i) => [i.dtype, i.shape]),
      [['float32', [15600]]],
    );
    t.same(
      r.outputs.map((o) => [o.dtype, o.shape]),
      [['float32', [1, 521]]],
    );
    t.equal(r.metadataName, 'yamnet/classification');
    t.equal(r.labelCount, 521);
    t.ok(r.operators.includes('RFFT2D'));
    t.ok(r.invokeMs > 0 && r.invokeMs < 5000, `${backend}: one invoke took ${r.invokeMs.toFixed(1)} ms`);
    t.ok(Number.isFinite(r.maxOutputOnSilence));
    t.comment(`${backend}: load ${r.loadMs.toFixed(0)} ms, invoke on silence ${r.invokeMs.toFixed(1)} ms`);
  }
  const st = await probeModel(join(MODELS, 'st', 'st_yamnet256_fsd50k_int8.tflite'), 'tflite-node');
  t.same(st.inputs[0], { name: 'serving_default_input_1:0', dtype: 'int8', shape: [1, 64, 96, 1], quantization: st.inputs[0]!.quantization });
  t.equal(st.inputs[0]!.quantization!.zeroPoint, 33);
});

t.test('a child that hangs is killed at the timeout', async (t) => {
  // 1 ms is too short for any child to even start: the probe must give up and say so.
  const path = join(MODELS, 'yamnet', 'yamnet_waveform.tflite');
  await t.rejects(probeModel(path, 'tflite-node', { timeoutMs: 1 }), {
    name: 'EarshotError',
    message: `${path}: model test load did not finish within 0.001 s (tflite-node); refusing it`,
  });
});
