/**
 * `earshot doctor`: a good config passes (exit 0); a node with a missing model, a missing source
 * file and a broker that does not answer gets one FAIL line each with how to fix it, and exit 3.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { freePort, startMosquitto } from './helpers/mosquitto.js';

t.test('a good node: exit 0', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-doctor-'));
  const config = join(dir, 'earshot.yaml');
  writeFileSync(config, [`source: { path: ${SHARED}audio/clips/gunshot_1.wav }`, `model: { path: ${SHARED}models/yamnet/yamnet_waveform.tflite }`, `mqtt: { url: '${broker.url}' }`, ''].join('\n'));
  const result = await earshot(['doctor', '--config', config]);
  t.comment(result.stdout);
  t.equal(result.code, 0, result.stderr);
  for (const name of ['config', 'model', 'source', 'data_dir', 'free space', 'broker']) t.match(result.stdout, new RegExp(`^(OK|WARN) +${name} `, 'm'), name);
  t.match(result.stdout, new RegExp(`^OK +broker +127\\.0\\.0\\.1:${broker.port} accepts TCP connections`, 'm'));
  t.match(result.stdout, /^(OK|WARN|FAIL) +clock /m, 'the clock is checked');
});

t.test('a broken node: what is wrong and how to fix it, exit 3', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-doctor-bad-'));
  const config = join(dir, 'earshot.yaml');
  const port = await freePort();
  writeFileSync(config, ['source: { path: missing.wav }', `model: { path: ${dir}/no-model.tflite }`, `mqtt: { url: 'mqtt://127.0.0.1:${port}' }`, ''].join('\n'));
  const result = await earshot(['doctor', '--config', config]);
  t.comment(result.stdout);
  t.equal(result.code, 3);
  t.notOk(hasStackTrace(result.stdout + result.stderr), 'no stack trace');
  t.match(result.stdout, /^FAIL +model +.*no-model\.tflite.*\n +fix: set model\.path/m, 'the model');
  t.match(result.stdout, /^FAIL +source +.*missing\.wav.*\n +fix: /m, 'the source');
  t.match(result.stdout, new RegExp(`^FAIL +broker +127\\.0\\.0\\.1:${port}: ECONNREFUSED\\n +fix: start the broker or fix mqtt\\.url`, 'm'), 'the broker');
  t.match(result.stdout, /^3 problems to fix/m, 'a summary');

  writeFileSync(config, 'detection: { vote_k: 3, vote_n: 2 }\n');
  const invalid = await earshot(['doctor', '--config', config]);
  t.equal(invalid.code, 3);
  t.match(invalid.stdout, /^FAIL +config +.*earshot\.yaml: detection\.vote_k: must be <= detection\.vote_n/m, 'an invalid config is named, key and problem');
});
