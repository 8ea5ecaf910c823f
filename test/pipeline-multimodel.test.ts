/**
 * Several models in one pipeline (`extra_models`): YAMNet (waveform) with the ST FSD50K model
 * (int8 log-mel, mels × frames) on real clips. Each model scores exactly what it scores alone
 * (same frames, same scores), one front end runs per distinct parameter set, the combined labels
 * find the events, events name the model set, and bad configurations are refused clearly.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeFile } from '../src/analyze.js';
import { readWav } from '../src/capture/wav.js';
import { parseConfig } from '../src/config/load.js';
import type { EarshotConfig } from '../src/config/schema.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import { frameCountForSamples } from '../src/frontend/logmel.js';
import { createLogger } from '../src/log.js';
import type { PatchClassifier } from '../src/inference/types.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { YAMNET_WAVEFORM as YAMNET } from './helpers/fixtures.js';

const log = createLogger({ level: 'warn', pretty: false, fd: 2 });
const clip = (name: string) => `${SHARED}audio/clips/${name}.wav`;
const YAMNET_SPECTRA = `${SHARED}models/yamnet/yamnet_spectra_in.tflite`;
const ST_FSD50K = `${SHARED}models/st/st_yamnet256_fsd50k_int8.tflite`;
const ST_ESC10 = `${SHARED}models/st/st_yamnet256_esc10_int8.tflite`;

const configWith = (raw: Record<string, unknown>): EarshotConfig => parseConfig(raw, 'test.yaml', process.cwd());

/** Runs a pipeline over a whole clip (as analyze does), collecting per-patch scores and events. */
async function run(pipeline: Pipeline, samples: Float32Array) {
  const perPatch: { primary: number[]; models: number[][]; labels: number[] }[] = [];
  pipeline.onPatch = (r) =>
    perPatch.push({
      primary: Array.from(r.classScores ?? []),
      models: (r.modelClassScores ?? []).map((s) => Array.from(s)),
      labels: Array.from(r.labelScores ?? []),
    });
  const outputs: DetectorOutput[] = [];
  for (let start = 0; start < samples.length; start += 16000)
    outputs.push(...(await pipeline.push({ startSample: start, samples: samples.subarray(start, start + 16000) })));
  outputs.push(...(await pipeline.finish()));
  return { perPatch, events: outputs.filter((o) => o.kind === 'offset').map((o) => o.event) };
}

t.test('YAMNet + ST FSD50K: same scores as alone, one front end, combined events', async (t) => {
  const config = configWith({ model: { path: YAMNET }, extra_models: [{ path: ST_FSD50K }] });
  const { model, labels, models } = await openModelAndLabels(config, log);
  t.teardown(() => models.close());
  t.equal(models.models.length, 2);
  t.equal(models.id, 'yamnet_waveform+st_yamnet256_fsd50k', 'the set has a joined id');
  t.equal(models.sha256, `${models.models[0].sha256}+${models.models[1].sha256}`);
  t.same(
    models.members[1].labels.map((l) => l.name),
    ['gunshot', 'glass_break', 'speech', 'door_knock'],
    'ST serves every enabled label its manifest maps',
  );
  t.same(models.members[1].labels[0].classes, ['Gunshot_and_gunfire'], 'with its own class names');
  const settings = pipelineSettings(config);

  for (const name of ['gunshot_1', 'glass_break_1']) {
    const samples = readWav(clip(name)).mono;
    const combined = new Pipeline(models.members, labels, settings, model.path);
    const together = await run(combined, samples);
    t.equal(combined.frontEndCount, 1, `${name}: the waveform model needs no front end; ST's runs once`);
    const alone = await Promise.all(
      models.members.map(async (member) => {
        const pipeline = new Pipeline(member.classifier, member.labels, settings, member.name);
        return { pipeline, result: await run(pipeline, samples) };
      }),
    );
    t.equal(combined.counts.frames, alone[1].pipeline.counts.frames, `${name}: the combined pipeline computes ST's frames once (${combined.counts.frames})`);
    t.equal(together.perPatch.length, alone[0].result.perPatch.length, `${name}: same patch grid`);
    // Patches the silence gate held back have no scores in either.
    t.ok(
      together.perPatch.some((p) => p.models.length === 2),
      `${name}: patches were classified`,
    );
    t.same(
      together.perPatch.map((p) => p.models[0] ?? []),
      alone[0].result.perPatch.map((p) => p.primary),
      `${name}: YAMNet's class scores equal YAMNet alone`,
    );
    t.same(
      together.perPatch.map((p) => p.models[1] ?? []),
      alone[1].result.perPatch.map((p) => p.primary),
      `${name}: ST's class scores equal ST alone`,
    );
    t.same(
      together.perPatch.map((p) => p.primary),
      alone[0].result.perPatch.map((p) => p.primary),
      `${name}: classScores stays the primary model's`,
    );
    // max combination: each label's score is the higher of the two models' label scores.
    const gunshot = labels.findIndex((l) => l.name === 'gunshot');
    const yamnetGunshot = alone[0].pipeline.labels.findIndex((l) => l.name === 'gunshot');
    const expected = alone[0].result.perPatch.map((p, i) =>
      p.labels.length ? Math.max(p.labels[yamnetGunshot], alone[1].result.perPatch[i].labels[0]) : null,
    );
    t.same(
      together.perPatch.map((p) => (p.labels.length ? p.labels[gunshot] : null)),
      expected,
      `${name}: gunshot = max of the two models`,
    );
  }

  const gunshot = await analyzeFile(clip('gunshot_1'), models, labels, settings, 'test');
  t.ok(
    gunshot.events.some((e) => e.label === 'gunshot' && e.peak_score > 0.9),
    `gunshot_1: a gunshot event (${gunshot.events.map((e) => `${e.label} ${e.peak_score}`).join(', ')})`,
  );
  t.ok(
    gunshot.events.every((e) => e.model_id === 'yamnet_waveform+st_yamnet256_fsd50k' && e.model_sha256 === models.sha256),
    'events name the model set',
  );
  const glass = await analyzeFile(clip('glass_break_1'), models, labels, settings, 'test');
  t.ok(
    glass.events.some((e) => e.label === 'glass_break'),
    `glass_break_1: a glass_break event (${glass.events.map((e) => e.label).join(', ')})`,
  );
});

t.test('one front end per distinct parameter set: YAMNet log-mel (offset 0.001) + two ST models (1e-4)', async (t) => {
  const config = configWith({
    model: { path: YAMNET_SPECTRA },
    extra_models: [
      { path: ST_FSD50K, labels: ['gunshot'] },
      { path: ST_ESC10, weight: 0.5 },
    ],
  });
  const { model, labels, models } = await openModelAndLabels(config, log);
  t.teardown(() => models.close());
  t.same(
    models.members.map((m) => m.labels.map((l) => l.name)),
    [['gunshot', 'explosion', 'glass_break', 'scream', 'speech', 'dog_bark', 'car_horn', 'siren', 'door_knock', 'music'], ['gunshot'], ['dog_bark']],
    'labels per model',
  );
  const samples = readWav(clip('gunshot_2')).mono;
  const pipeline = new Pipeline(models.members, labels, pipelineSettings(config), model.path);
  const { perPatch } = await run(pipeline, samples);
  t.equal(pipeline.frontEndCount, 2, 'two front ends for three log-mel models');
  // Padded to whole hops at the end, as finish() does; both front ends see the same samples.
  const padded = samples.length <= 15600 ? 15600 : 15600 + Math.ceil((samples.length - 15600) / 7680) * 7680;
  t.equal(pipeline.counts.frames, 2 * frameCountForSamples(padded), 'each front end computes each frame once');
  t.ok(perPatch.length > 0 && perPatch.every((p) => p.models.length === 3 && p.models[2].length === 10), 'three models score every patch');
});

t.test('a one-model pipeline given as a model list scores exactly as before', async (t) => {
  const config = configWith({ model: { path: YAMNET } });
  const { model, labels, models } = await openModelAndLabels(config, log);
  t.teardown(() => models.close());
  t.equal(models.id, 'yamnet_waveform');
  t.equal(models.sha256, model.sha256);
  const samples = readWav(clip('scream_1')).mono;
  const ids = () => {
    let n = 0;
    return () => `event-${n++}`;
  };
  const asList = await run(new Pipeline(models.members, labels, pipelineSettings(config), model.path, ids()), samples);
  const asModel = await run(new Pipeline(model as PatchClassifier, labels, pipelineSettings(config), model.path, ids()), samples);
  t.ok(asModel.events.length > 0, 'the scream clip has events');
  t.same(asList.perPatch, asModel.perPatch);
  t.same(asList.events, asModel.events);
});

t.test('bad extra_models are refused with the key named', async (t) => {
  t.throws(() => configWith({ extra_models: [{ path: ST_FSD50K, labels: ['gunfire'] }] }), /^test\.yaml: extra_models\[0\]\.labels: "gunfire" is not a label/);
  t.throws(
    () => configWith({ extra_models: [{ path: ST_FSD50K, backend: 'cuda' }] }),
    /^test\.yaml: extra_models\[0\]\.backend: must be one of "tflite-node", "litert-wasm"/,
  );
  t.throws(() => configWith({ extra_models: [{ path: ST_FSD50K, weight: 0 }] }), /extra_models\.0\.weight: must be > 0/);
  t.throws(() => configWith({ extra_models: [{ path: ST_FSD50K, threshold: 0.5 }] }), /extra_models\.0\.threshold: unknown key/);
  t.throws(() => configWith({ extra_models: [{ manifest: 'st_yamnet256_fsd50k' }] }), /extra_models\.0: must have required property 'path'/);
  t.throws(() => configWith({ detection: { combine: 'product' } }), /detection\.combine: must be one of "max", "mean"/);
  t.throws(() => configWith({ detection: { labels: { gunshot: { combine: 'min' } } } }), /detection\.labels\.gunshot\.combine: must be one of "max", "mean"/);
  const ok = configWith({
    detection: { combine: 'mean', labels: { glass_break: { combine: 'max' } } },
    extra_models: [{ path: ST_FSD50K, weight: 0.5, labels: ['glass_break'] }],
  });
  t.equal(ok.extra_models[0].weight, 0.5);
  t.same(pipelineSettings(ok).combine, { mode: 'mean', perLabel: { glass_break: 'max' } });
  t.same(configWith({}).extra_models, [], 'no extra models by default');

  // A label the model has no class for: found when the models are opened (the manifest says).
  await t.rejects(
    openModelAndLabels(configWith({ model: { path: YAMNET }, extra_models: [{ path: ST_FSD50K, labels: ['gunshot', 'scream'] }] }), log),
    /^extra_models\[0\]\.labels: the model st_yamnet256_fsd50k \(.*st_yamnet256_fsd50k_int8\.tflite\) has no class for label "scream" \(its manifest maps gunshot, glass_break, speech, door_knock\)$/,
  );
  await t.rejects(
    openModelAndLabels(configWith({ model: { path: YAMNET }, extra_models: [{ path: `${SHARED}models/invalid/not_a_model.tflite` }] }), log),
    /not_a_model\.tflite/,
    'a bad extra model file is named',
  );
});

t.test('the CLI prints one line for a label the extra model cannot serve', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-multimodel-'));
  const configPath = join(dir, 'earshot.yaml');
  writeFileSync(configPath, `model:\n  path: ${YAMNET}\nextra_models:\n  - path: ${ST_FSD50K}\n    labels: [scream]\n`);
  const result = await earshot(['analyze', '--config', configPath, clip('gunshot_1')]);
  t.equal(result.code, 2, result.stderr);
  t.match(result.stderr, /^earshot: extra_models\[0\]\.labels: the model st_yamnet256_fsd50k .* has no class for label "scream"/m);
  t.notOk(hasStackTrace(result.stderr), 'no stack trace');
});
