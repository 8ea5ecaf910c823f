/**
 * The probe cache (issue 23, start-up): a model already test-loaded with the same content,
 * backend, runtime and options is not test-loaded again; a file whose content changed is probed
 * anew (the key is its sha256, not its name); a failure is never remembered.
 */
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { probeModel } from '../src/inference/probe.js';
import { SHARED } from './helpers/cli.js';
import { YAMNET_WAVEFORM } from './helpers/fixtures.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'earshot-probe-cache-'));
process.env.EARSHOT_CACHE_DIR = cacheDir;
const entries = () => readdirSync(join(cacheDir, 'probe')).filter((f) => f.endsWith('.json'));

t.test('probed once, then remembered by content; a changed file is probed again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-probe-model-'));
  const model = join(dir, 'model.tflite');
  copyFileSync(YAMNET_WAVEFORM, model);
  const first = await probeModel(model, 'litert-wasm', { cache: true, threads: 1 });
  t.notOk(first.cached, 'first time: a real test load');
  t.equal(entries().length, 1, 'one cache entry');
  const second = await probeModel(model, 'litert-wasm', { cache: true, threads: 1 });
  t.equal(second.cached, true, 'second time: from the cache');
  t.same(second.inputs, first.inputs, 'the same description');
  t.notOk((await probeModel(model, 'litert-wasm', { threads: 1 })).cached, 'without cache: true, a real test load');
  t.notOk((await probeModel(model, 'tflite-node', { cache: true, threads: 1 })).cached, 'another backend: a real test load');

  // Another model under the same name: its content decides.
  copyFileSync(`${SHARED}models/yamnet/yamnet_spectra_in.tflite`, model);
  const changed = await probeModel(model, 'litert-wasm', { cache: true, threads: 1 });
  t.notOk(changed.cached, 'a changed file is probed again');
  t.not(JSON.stringify(changed.inputs), JSON.stringify(first.inputs), 'and described as what it now is');
});

t.test('failures are not remembered', async (t) => {
  const before = entries().length;
  for (let i = 0; i < 2; i++)
    await t.rejects(probeModel(`${SHARED}models/invalid/truncated_yamnet.tflite`, 'litert-wasm', { cache: true }), { name: 'EarshotError' });
  t.equal(entries().length, before, 'no entry for a model that failed');
});
