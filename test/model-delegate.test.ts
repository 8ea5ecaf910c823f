// TFLite external delegates (model.delegate, tflite-node): a library that is missing or is not a
// delegate leaves the model on the CPU with a warning, or fails with exit 3 when
// model.require_accelerator is true. (No real delegate, such as the Coral Edge TPU's, exists on
// the test machine: the working path is the same call with a library that loads.)
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import t from 'tap';

import { findDelegateLibrary } from '../src/inference/backends/delegate.js';
import { loadModel } from '../src/inference/load-model.js';
import { SHARED } from './helpers/cli.js';

const MODEL = `${SHARED}models/st/st_yamnet256_fsd50k_int8.tflite`;
const base = { path: MODEL, backend: 'tflite-node' as const, threads: 1, modelDir: tmpdir() };
/** A real shared library that is not a TFLite delegate: tflite-node segfaults when it loads it as one. */
const NOT_A_DELEGATE = [
  '/usr/lib/x86_64-linux-gnu/libz.so.1',
  '/lib/x86_64-linux-gnu/libz.so.1',
  '/usr/lib/aarch64-linux-gnu/libz.so.1',
  '/lib/aarch64-linux-gnu/libz.so.1',
].find(existsSync);

t.test('a delegate library that is not found: a warning and the CPU', async (t) => {
  const model = await loadModel({ ...base, delegate: 'libedgetpu.so.1', delegateOptions: { device: 'usb' } });
  t.equal(model.accelerator, 'cpu');
  t.equal(model.warnings?.length, 1);
  t.match(
    model.warnings![0],
    /^model\.delegate libedgetpu\.so\.1: TFLite delegate library not found \(looked in .*\/usr\/lib.*\); running st_yamnet256_fsd50k_int8\.tflite on the CPU$/,
  );
  const scores = await model.classify(new Float32Array(64 * 96));
  t.equal(scores.length, 5, 'and the model runs');
  model.close();
});

t.test(
  'a library that is not a delegate crashes only the test load: a warning and the CPU',
  { skip: NOT_A_DELEGATE ? false : 'no libz.so.1 here' },
  async (t) => {
    const model = await loadModel({ ...base, delegate: NOT_A_DELEGATE! });
    t.equal(model.accelerator, 'cpu');
    t.match(
      model.warnings![0],
      /TFLite delegate library cannot be used \(the test load with it failed: model crashed the TFLite runtime during a test load \(signal SIGSEGV, tflite-node with delegate .*libz\.so\.1\)\); running st_yamnet256_fsd50k_int8\.tflite on the CPU/,
    );
    model.close();
  },
);

t.test('require_accelerator: exit 3 naming the delegate; misconfigurations: exit 2', async (t) => {
  await t.rejects(loadModel({ ...base, delegate: 'libedgetpu.so.1', requireAccelerator: true }), {
    name: 'EarshotError',
    exitCode: 3,
    message:
      /^model\.delegate libedgetpu\.so\.1: TFLite delegate library not found .*; model\.require_accelerator is true, so earshot will not run .*st_yamnet256_fsd50k_int8\.tflite on the CPU$/,
  });
  await t.rejects(loadModel({ ...base, requireAccelerator: true }), {
    exitCode: 2,
    message: /model\.require_accelerator is true, but no accelerator is configured/,
  });
  await t.rejects(loadModel({ ...base, backend: 'litert-wasm', delegate: 'libedgetpu.so.1' }), {
    exitCode: 2,
    message:
      /model\.delegate \(libedgetpu\.so\.1\): TFLite delegates load in the tflite-node backend only; set model\.backend: tflite-node \(it is litert-wasm\)/,
  });
  // A bad model with a delegate is still reported as a bad model, not as a delegate problem.
  await t.rejects(
    loadModel({ ...base, path: `${SHARED}models/invalid/truncated_yamnet.tflite`, manifest: 'yamnet_waveform', delegate: NOT_A_DELEGATE ?? 'libz.so.1' }),
    {
      exitCode: 2,
      message: /truncated_yamnet\.tflite: TFLite model is truncated or corrupt/,
    },
  );
});

t.test('delegate libraries are found by path or, for a bare name, where the dynamic loader looks', async (t) => {
  t.same(findDelegateLibrary('/nonexistent/libedgetpu.so.1'), { searched: ['/nonexistent/libedgetpu.so.1'] });
  const dir = `${SHARED}models/st`;
  const found = findDelegateLibrary('st_yamnet256_fsd50k_int8.tflite', { LD_LIBRARY_PATH: `/nonexistent:${dir}` });
  t.equal(found.path, `${dir}/st_yamnet256_fsd50k_int8.tflite`, 'LD_LIBRARY_PATH first');
  t.equal(found.searched[0], '/nonexistent');
  if (NOT_A_DELEGATE) t.equal(findDelegateLibrary('libz.so.1', {}).path !== undefined, true, 'system library folders');
});
