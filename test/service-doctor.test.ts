/**
 * `earshot doctor`: a good config passes (exit 0); a node with a missing model, a missing source
 * file and a broker that does not answer gets one FAIL line each with how to fix it. Exit codes as
 * elsewhere in the CLI (issue 23): 2 when a bad input failed (config, model or audio file), else 3
 * (broker, disk, clock).
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { clipPath, YAMNET_WAVEFORM } from './helpers/fixtures.js';
import { freePort, startMosquitto } from './helpers/mosquitto.js';

t.test('a good node: exit 0', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-doctor-'));
  const config = join(dir, 'earshot.yaml');
  // No node_id or data_dir: doctor checks the defaults.
  writeFileSync(config, [`source: { path: ${clipPath('gunshot_1')} }`, `model: { path: ${YAMNET_WAVEFORM} }`, `mqtt: { url: '${broker.url}' }`, ''].join('\n'));
  const result = await earshot(['doctor', '--config', config]);
  t.comment(result.stdout);
  t.equal(result.code, 0, result.stderr);
  for (const name of ['config', 'model', 'source', 'data_dir', 'free space', 'broker']) t.match(result.stdout, new RegExp(`^(OK|WARN) +${name} `, 'm'), name);
  t.match(result.stdout, new RegExp(`^OK +broker +127\\.0\\.0\\.1:${broker.port} accepts TCP connections`, 'm'));
  t.match(result.stdout, /^(OK|WARN|FAIL) +clock /m, 'the clock is checked');
});

t.test('a broken node: what is wrong and how to fix it, exit 2 for bad input, 3 for the environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-doctor-bad-'));
  const config = join(dir, 'earshot.yaml');
  const port = await freePort();
  writeFileSync(
    config,
    ['source: { path: missing.wav }', `model: { path: ${dir}/no-model.tflite }`, `mqtt: { url: 'mqtt://127.0.0.1:${port}' }`, ''].join('\n'),
  );
  const result = await earshot(['doctor', '--config', config]);
  t.comment(result.stdout);
  t.equal(result.code, 2, 'exit 2: a model and an audio file are bad input');
  t.notOk(hasStackTrace(result.stdout + result.stderr), 'no stack trace');
  t.match(result.stdout, /^FAIL +model +.*no-model\.tflite.*\n +fix: set model\.path/m, 'the model');
  t.match(result.stdout, /^FAIL +source +.*missing\.wav.*\n +fix: /m, 'the source');
  t.match(result.stdout, new RegExp(`^FAIL +broker +127\\.0\\.0\\.1:${port}: ECONNREFUSED\\n +fix: start the broker or fix mqtt\\.url`, 'm'), 'the broker');
  t.match(result.stdout, /^3 problems to fix/m, 'a summary');

  writeFileSync(config, 'detection: { vote_k: 3, vote_n: 2 }\n');
  const invalid = await earshot(['doctor', '--config', config]);
  t.equal(invalid.code, 2, 'an invalid config: exit 2');
  t.match(invalid.stdout, /^FAIL +config +.*earshot\.yaml: detection\.vote_k: must be <= detection\.vote_n/m, 'an invalid config is named, key and problem');
});

t.test('doctor: a bad WAV is bad input (exit 2); only the broker down is the environment (exit 3); --model', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-doctor-codes-'));
  const config = join(dir, 'earshot.yaml');
  const port = await freePort();
  const model = YAMNET_WAVEFORM;
  writeFileSync(config, [`source: { path: ${SHARED}audio/formats/not_audio.wav }`, `model: { path: ${model} }`, ''].join('\n'));
  const badWav = await earshot(['doctor', '--config', config]);
  t.match(badWav.stdout, /^FAIL +source +.*not_audio\.wav: not a WAV file/m, 'the bad WAV is named');
  t.equal(badWav.code, 2, 'a bad WAV: exit 2, as README says for bad input');

  writeFileSync(
    config,
    [`source: { path: ${clipPath('gunshot_1')} }`, `model: { path: ${dir}/absent.tflite }`, `mqtt: { url: 'mqtt://127.0.0.1:${port}' }`, ''].join('\n'),
  );
  const brokerDown = await earshot(['doctor', '--config', config, '--model', model]);
  t.match(brokerDown.stdout, /^OK +model +.*yamnet_waveform\.tflite/m, '--model replaces model.path');
  t.match(brokerDown.stdout, /^FAIL +broker /m);
  t.equal(brokerDown.code, 3, 'only the broker failed: exit 3');
});
