/**
 * Model hot reload while `earshot run` listens (the built CLI, a real dev scene in real time, real
 * models, a real SQLite file, a real Mosquitto): SIGHUP after `model.path` changed to an invalid
 * model logs why it was refused and the daemon keeps detecting with the model it has (a model that
 * crashes the native runtime crashes only the test-load child process); a valid, different model
 * is swapped in (`model reloaded`, old and new sha256) and the events after the swap name it.
 * The MQTT command `<prefix>/<node>/cmd/reload_model` does the same.
 */
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { SHARED } from './helpers/cli.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { startDaemon, type LogLine } from './helpers/service-daemon.js';
// YAMNET_METADATA: the official YAMNet with embedded labels: same classes and input, a different file.
import { type ConfigTree, daemonConfig, SCENE_08, YAMNET_OFFICIAL as YAMNET_METADATA, YAMNET_WAVEFORM } from './helpers/fixtures.js';

const INVALID = `${SHARED}models/invalid/`;

function configText(options: { model: string; manifest?: string; speed: number; extra?: ConfigTree; api?: boolean }): string {
  return daemonConfig({
    node_id: 'reload-node',
    api: options.api ? { enabled: true, port: 0 } : { enabled: false },
    source: { path: SCENE_08, pacing: 'realtime', speed: options.speed },
    // The native runtime, on which keyword_scrambled_8bit.tflite segfaults.
    model: { path: options.model, manifest: options.manifest, backend: 'tflite-node' },
    ...options.extra,
  });
}

interface EventRow {
  label: string;
  onset_s: number;
  model_id: string;
  model_sha256: string;
}

function events(dir: string): EventRow[] {
  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  try {
    return db.prepare('SELECT label, onset_s, model_id, model_sha256 FROM events ORDER BY onset_s').all() as EventRow[];
  } finally {
    db.close();
  }
}

const isFailure = (file: string) => (l: LogLine) => l.msg === 'model reload failed: keeping the running model' && String(l.model).endsWith(file);

t.test('SIGHUP: invalid models are refused with the reason, the daemon keeps detecting; a valid one is swapped in', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-model-reload-'));
  const config = join(dir, 'earshot.yaml');
  // mixed_08: glass breaking at 12 s, gunshots and explosions from 18 s to 36 s. Speed 1.5: 30 s of wall time.
  writeFileSync(config, configText({ model: YAMNET_WAVEFORM, manifest: 'yamnet_waveform', speed: 1.5 }));
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await daemon.log.waitFor((l) => l.msg.startsWith('ready'), 'ready');

  // Named with a manifest, the invalid files get as far as the child-process test load.
  const refusals: [string, RegExp][] = [
    ['not_a_model.tflite', /not_a_model\.tflite: not a TFLite or ONNX model \(a text file\)/],
    ['keyword_scrambled_8bit.tflite', /keyword_scrambled_8bit\.tflite: model crashed the TFLite runtime during a test load \(signal SIG(SEGV|ABRT)/],
  ];
  for (const [file, reason] of refusals) {
    writeFileSync(config, configText({ model: `${INVALID}${file}`, manifest: 'yamnet_waveform', speed: 1.5 }));
    const sentAt = performance.now();
    daemon.child.kill('SIGHUP');
    const reloaded = await daemon.log.waitFor((l) => l.msg.startsWith('config reloaded') && l.readAtMs > sentAt, `the reload of ${file}`);
    t.ok(
      (reloaded.applied as string[]).includes('model.path'),
      `SIGHUP applies model.path live (applied: ${JSON.stringify(reloaded.applied)}, need_restart: ${JSON.stringify(reloaded.need_restart)})`,
    );
    const failed = await daemon.log.waitFor(isFailure(file), `the refusal of ${file}`);
    t.equal(failed.level, 50, `an error line for ${file}`);
    t.match(failed.err?.message, reason, `naming the file and the reason: ${failed.err?.message}`);
    t.equal(failed.running_model, YAMNET_WAVEFORM, 'and the model it keeps');
    t.equal(daemon.child.exitCode, null, 'the daemon keeps running');
  }

  writeFileSync(config, configText({ model: YAMNET_METADATA, speed: 1.5 }));
  daemon.child.kill('SIGHUP');
  const swapped = await daemon.log.waitFor((l) => l.msg === 'model reloaded', 'the swap');
  t.equal(swapped.model, YAMNET_METADATA, 'the new model runs');
  t.equal(swapped.old_model, YAMNET_WAVEFORM);
  t.equal(swapped.trigger, 'SIGHUP');
  t.match(swapped.old_sha256, /^[0-9a-f]{64}$/);
  t.match(swapped.new_sha256, /^[0-9a-f]{64}$/);
  t.not(
    swapped.new_sha256,
    swapped.old_sha256,
    `old and new sha256 logged: ${String(swapped.old_sha256).slice(0, 12)}… → ${String(swapped.new_sha256).slice(0, 12)}…`,
  );

  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the run ends normally (${daemon.stderr()})`);
  const end = daemon.log.items.find((l) => l.msg === 'source ended');
  t.equal(end?.audio_s, 45, 'all 45 s of the scene went through the pipeline across three reloads');
  t.equal(end?.gaps, undefined, 'no capture gap');
  const rows = events(dir);
  const swapAt = swapped.audio_s as number;
  t.ok(rows.length > 0, `events: ${rows.map((e) => `${e.label} ${e.onset_s} s (${e.model_id})`).join(', ')}`);
  const firstFailureAt = daemon.log.items.find(isFailure('not_a_model.tflite'))!.readAtMs;
  const detectedAfterFailures = daemon.log.items.filter((l) => /^(hostile|non_hostile) event/.test(l.msg) && l.readAtMs > firstFailureAt);
  t.ok(detectedAfterFailures.length > 0, `the daemon kept detecting after the refused reloads (${detectedAfterFailures.length} onsets)`);
  // An event's model is the one that ran when its onset was reported (a patch or two after onset_s).
  t.ok(
    rows.filter((e) => e.onset_s < swapAt - 3).every((e) => e.model_sha256 === swapped.old_sha256 && e.model_id === 'yamnet_waveform'),
    'events before the swap name the old model',
  );
  t.ok(
    rows.filter((e) => e.onset_s > swapAt).every((e) => e.model_sha256 === swapped.new_sha256 && e.model_id === 'yamnet'),
    `events after the swap (at ${swapAt} s of audio) name the new one`,
  );
});

t.test('MQTT: <prefix>/<node>/cmd/reload_model swaps in the model it names; a bad command is refused', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-mqtt-reload-'));
  const modelDir = join(dir, 'models');
  mkdirSync(modelDir);
  copyFileSync(YAMNET_METADATA, join(modelDir, 'yamnet-v2.tflite'));
  const config = join(dir, 'earshot.yaml');
  writeFileSync(config, configText({ model: YAMNET_WAVEFORM, speed: 2, api: true, extra: { model_dir: modelDir, mqtt: { url: broker.url } } }));
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const api = (await daemon.log.waitFor((l) => l.msg.startsWith('api listening'), 'the API')).url as string;
  const nodeModel = async () => ((await (await fetch(`${api}/api/v1/node`)).json()) as { model: { id: string; sha256: string } }).model;
  await daemon.log.waitFor((l) => l.msg === 'mqtt connected', 'the broker connection');
  await daemon.log.waitFor((l) => l.msg.startsWith('ready'), 'ready');

  const client = await mqtt.connectAsync(broker.url, { clientId: 'reload-commander' });
  t.teardown(() => client.endAsync());
  const topic = 'earshot/reload-node/cmd/reload_model';
  await client.publishAsync(topic, 'not json', { qos: 1 });
  const refused = await daemon.log.waitFor((l) => l.component === 'mqtt' && l.msg === 'reload_model command refused', 'the refused command');
  t.match(refused.err?.message, /not JSON/, `a bad payload is refused: ${refused.err?.message}`);

  await client.publishAsync(topic, JSON.stringify({ path: 'no-such-model.tflite' }), { qos: 1 });
  const missing = await daemon.log.waitFor(isFailure('no-such-model.tflite'), 'the missing model');
  t.match(missing.err?.message, /no-such-model\.tflite: model file not found/, `a missing file is reported: ${missing.err?.message}`);

  // Relative to model_dir.
  await client.publishAsync(topic, JSON.stringify({ path: 'yamnet-v2.tflite' }), { qos: 1 });
  const swapped = await daemon.log.waitFor((l) => l.msg === 'model reloaded', 'the swap');
  t.equal(swapped.trigger, 'mqtt');
  t.equal(swapped.model, join(modelDir, 'yamnet-v2.tflite'), 'the file the command named, found in model_dir');
  t.not(swapped.new_sha256, swapped.old_sha256, 'a different model');
  t.equal(daemon.child.exitCode, null, 'the daemon keeps running');
  t.same(await nodeModel(), { id: 'yamnet', sha256: swapped.new_sha256 }, '/api/v1/node names the model now running');

  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `a clean stop after the reload (${daemon.stderr()})`);
});
