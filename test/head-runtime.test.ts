/**
 * A head at run time (src/inference/head/head-runtime.ts), on the official YAMNet and real clips:
 * the headed model's `head:<label>` classes are the head's probabilities; the label reads them
 * with the head's thresholds (the config's when it sets its own); a head that never fires silences
 * the label; the inference worker gives exactly what the local path gives; `model.head` auto /
 * none / a path; and a bad head file (wrong base model, wrong shapes, non-finite weights,
 * truncated JSON) is refused in the child-process check with one line.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { readWav } from '../src/capture/wav.js';
import { defaultConfig } from '../src/config/load.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import { checkHeadInChild } from '../src/inference/head/head-check.js';
import { serializeHead } from '../src/inference/head/head-file.js';
import { HEAD_CLASS_PREFIX, resolveHeadSetting } from '../src/inference/head/head-runtime.js';
import { loadModel } from '../src/inference/load-model.js';
import { WorkerClassifier } from '../src/inference/worker/worker-classifier.js';
import { createLogger } from '../src/log.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { SHARED } from './helpers/cli.js';
import { copyGunshotHead, copyGunshotHeadText, fileSha256, GUNSHOT_CLASS, YAMNET_OFFICIAL, YAMNET_WAVEFORM } from './helpers/heads.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const dir = mkdtempSync(join(tmpdir(), 'earshot-head-runtime-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const gunshot = readWav(`${SHARED}audio/clips/gunshot_1.wav`).mono;
const logit = (p: number) => Math.log(Math.min(Math.max(p, 1e-6), 1 - 1e-6) / (1 - Math.min(Math.max(p, 1e-6), 1 - 1e-6)));

/** Runs the configured model (with its head) over `audio`: per patch its scores, and the events. */
async function run(config: ReturnType<typeof defaultConfig>, audio: Float32Array) {
  const { model, labels, models } = await openModelAndLabels(config, log);
  try {
    const pipeline = new Pipeline(models.members, labels, pipelineSettings(config), model.path);
    const patches: Float32Array[] = [];
    pipeline.onPatch = (r) => r.classScores && patches.push(r.classScores);
    const outputs: DetectorOutput[] = [...(await pipeline.push({ startSample: 0, samples: audio })), ...(await pipeline.finish())];
    return {
      classNames: model.classNames,
      labels: pipeline.labels,
      patches,
      onsets: outputs.filter((o) => o.kind === 'onset').map((o) => o.event.label),
      head: models.head,
    };
  } finally {
    models.close();
  }
}

t.test("the head's probabilities drive its labels, with its thresholds", async (t) => {
  const config = defaultConfig();
  config.model.path = YAMNET_OFFICIAL;
  config.model.backend = 'tflite-node';
  config.model.head = write('copy.json', copyGunshotHeadText({ threshold: 0.3, release: 0.15 }));
  const headed = await run(config, gunshot);
  t.equal(headed.head?.origin, 'config');
  t.equal(headed.classNames.length, 521 + 2, 'the headed model: 521 classes, then head:gunshot, head:other');
  const at = headed.classNames.indexOf(`${HEAD_CLASS_PREFIX}gunshot`);
  t.equal(at, 521);
  // softmax([logit(p), 0]) = p: the head copies YAMNet's "Gunshot, gunfire".
  const worst = Math.max(...headed.patches.map((s) => Math.abs(s[at]! - 1 / (1 + Math.exp(-logit(s[GUNSHOT_CLASS]!))))));
  t.ok(worst < 1e-5, `head:gunshot = YAMNet's gunshot score on every patch (max difference ${worst.toExponential(1)})`);
  const label = headed.labels.find((l) => l.name === 'gunshot')!;
  t.same([label.threshold, label.release], [0.3, 0.15], "gunshot takes the head's threshold and release");
  t.same(
    headed.labels.find((l) => l.name === 'speech')!.classes.some((c) => c.startsWith(HEAD_CLASS_PREFIX)),
    false,
    "a label the head lacks keeps YAMNet's classes",
  );
  t.ok(headed.onsets.includes('gunshot'), 'the gunshot clip: a gunshot event from the head');

  // The config's own threshold wins over the head's.
  config.detection.labels.gunshot!.threshold = 0.7;
  config.detection.labels.gunshot!.release = 0.35;
  const overridden = await run(config, gunshot);
  t.same(overridden.labels.find((l) => l.name === 'gunshot')!.threshold, 0.7, 'a threshold set in the config wins');

  // A head that never says gunshot: no gunshot event, where YAMNet alone finds one.
  const silent = defaultConfig();
  silent.model.path = YAMNET_OFFICIAL;
  silent.model.backend = 'tflite-node';
  silent.model.head = write('mute.json', copyGunshotHeadText({ gain: 0, threshold: 0.6, release: 0.3 }));
  t.notOk((await run(silent, gunshot)).onsets.includes('gunshot'), 'a head at p = 0.5 under a 0.6 threshold: no gunshot event');
  silent.model.head = 'none';
  const plain = await run(silent, gunshot);
  t.ok(plain.onsets.includes('gunshot'), "model.head none: YAMNet's own gunshot event");
  t.equal(plain.classNames.length, 521, 'without a head the model has its 521 classes');
});

t.test('either_labels: the label fires when the rule or the head passes its own threshold', async (t) => {
  const config = defaultConfig();
  config.model.path = YAMNET_OFFICIAL;
  config.model.backend = 'tflite-node';
  const bare = await run({ ...config, model: { ...config.model, head: 'none' } }, gunshot);
  const ruleClasses = bare.labels.find((l) => l.name === 'gunshot')!.classes.map((c) => bare.classNames.indexOf(c));
  const rulePeak = Math.max(...bare.patches.flatMap((s) => ruleClasses.map((i) => s[i]!)));
  t.ok(rulePeak > config.detection.labels.gunshot!.threshold, `the rule alone fires on the clip (peak ${rulePeak.toFixed(4)})`);

  // A head that never passes its threshold (p = 0.5 under 0.6) leaves the rule's event in place.
  const mute = copyGunshotHead({ gain: 0, threshold: 0.6, release: 0.3 });
  mute.either_labels = ['gunshot'];
  config.model.head = write('either-mute.json', serializeHead(mute));
  const kept = await run(config, gunshot);
  const label = kept.labels.find((l) => l.name === 'gunshot')!;
  t.same(label.classes.slice(-1), [`${HEAD_CLASS_PREFIX}gunshot`], "the label reads YAMNet's classes and the head's probability");
  t.same(
    [label.threshold, label.release],
    [config.detection.labels.gunshot!.threshold, config.detection.labels.gunshot!.release],
    "the config's threshold and release",
  );
  t.ok(kept.onsets.includes('gunshot'), "the rule's gunshot event stays when the head does not fire");

  // The rule cannot fire (a threshold above its peak); the head at p = 0.5 passes its 0.4: the pair fires.
  config.detection.labels.gunshot!.threshold = Math.min(1, Math.round(rulePeak * 1000 + 2) / 1000);
  config.detection.labels.gunshot!.release = 0.5;
  const plain = await run({ ...config, model: { ...config.model, head: 'none' } }, gunshot);
  t.notOk(plain.onsets.includes('gunshot'), `the rule alone at ${config.detection.labels.gunshot!.threshold}: no gunshot event`);
  const eager = copyGunshotHead({ gain: 0, threshold: 0.4, release: 0.2 });
  eager.either_labels = ['gunshot'];
  config.model.head = write('either-eager.json', serializeHead(eager));
  const fired = await run(config, gunshot);
  t.ok(fired.onsets.includes('gunshot'), "the head's probability passing the head's threshold fires the label");
});

t.test('the inference worker runs the head and gives exactly what the local path gives', async (t) => {
  const text = copyGunshotHeadText();
  const path = write('worker.json', text);
  const request = { path: YAMNET_OFFICIAL, backend: 'tflite-node' as const, threads: 1, modelDir: dir };
  const local = await loadModel(request);
  const worker = await WorkerClassifier.open(request);
  t.teardown(() => {
    local.close();
    worker.close();
  });
  t.equal(worker.embeddingLength, 1024, 'the worker reports the embedding');
  const { attachHead, readHead } = await import('../src/inference/head/head-runtime.js');
  const loaded = readHead(path, 'config');
  const inWorker = await attachHead(worker, loaded);
  const here = await attachHead(local, loaded);
  t.equal(inWorker.backbone, worker, 'the view keeps its backbone');
  t.same(inWorker.classNames, here.classNames);
  const input = gunshot.slice(0, 15600);
  const a = await inWorker.classify(input);
  const b = await here.classify(input);
  t.ok(a.length === 523 && a.every((v, i) => Object.is(v, b[i])), 'worker and local: identical scores and head probabilities');
  t.same(Array.from((await worker.classify(input)).subarray(0, 521)), Array.from(a.subarray(0, 521)), 'the same worker still serves the bare model');
  const bad = { ...loaded, text: text.replace('"gunshot","other"', '"gunshot","other","extra"'), path: 'bad.json' };
  await t.rejects(worker.withHead(bad), /bad\.json: head file: /, 'the worker refuses a bad head with one line naming it');
});

t.test('model.head: none, auto (the shipped head for this model file), a path', async (t) => {
  const model = { sha256: fileSha256(YAMNET_OFFICIAL), classNames: new Array<string>(521).fill('x'), embeddingLength: 1024, path: YAMNET_OFFICIAL };
  const shipped = join(dir, 'shipped');
  mkdirSync(shipped);
  writeFileSync(join(shipped, 'a-old.json'), copyGunshotHeadText({ trainedAt: '2026-01-01T00:00:00Z' }));
  writeFileSync(join(shipped, 'b-new.json'), copyGunshotHeadText({ trainedAt: '2026-06-01T00:00:00Z' }));
  writeFileSync(join(shipped, 'c-other-model.json'), copyGunshotHeadText({ baseSha256: fileSha256(YAMNET_WAVEFORM), trainedAt: '2026-09-01T00:00:00Z' }));
  writeFileSync(join(shipped, 'd-broken.json'), '{"format": "earshot-head", ');
  // Broken too, but declaring another base model near its start: passed over unparsed (start-up, issue 23).
  const otherModelText = copyGunshotHeadText({ baseSha256: fileSha256(YAMNET_WAVEFORM) });
  writeFileSync(join(shipped, 'e-broken-other-model.json'), otherModelText.slice(0, otherModelText.indexOf('"labels"') + 20));
  t.equal(resolveHeadSetting('none', model).head, null, 'none: no head');
  const auto = resolveHeadSetting('auto', model, { shippedDir: shipped });
  t.equal(auto.head?.path, join(shipped, 'b-new.json'), 'auto: the newest shipped head trained on this model file');
  t.equal(auto.head?.origin, 'auto');
  t.same(
    auto.skipped.map((s) => s.path),
    [join(shipped, 'd-broken.json')],
    'a broken shipped file is skipped and reported; one declaring another base model is passed over unparsed',
  );
  t.equal(
    resolveHeadSetting('auto', { ...model, sha256: '0'.repeat(64) }, { shippedDir: shipped }).head,
    null,
    'auto: none for a model no head was trained on',
  );
  t.throws(
    () => resolveHeadSetting(join(shipped, 'c-other-model.json'), model),
    /c-other-model\.json: head file: trained on model sha256 [0-9a-f]{64} \(yamnet\), but the running model is sha256 10c95ea3/,
    'an explicit head for another model: refused, naming both sha256',
  );
  t.throws(() => resolveHeadSetting(join(shipped, 'missing.json'), model), /missing\.json: head file: not found/);
});

t.test('bad head files are refused with one line; the child-process check runs a good one through the model', async (t) => {
  const good = copyGunshotHeadText();
  const base = { modelPath: YAMNET_OFFICIAL, backend: 'tflite-node' as const };
  const passed = await checkHeadInChild({ ...base, headPath: write('good.json', good) });
  t.match(passed, { ok: true, clipCount: 42, labels: ['gunshot', 'other'] }, 'a valid head passes: one invoke through backbone and head');
  const wrongBase = await checkHeadInChild({
    ...base,
    headPath: write('wrong-base.json', copyGunshotHeadText({ baseSha256: fileSha256(YAMNET_WAVEFORM) })),
    source: 'uploaded head',
  }).then(
    () => null,
    (e: Error & { exitCode?: number }) => e,
  );
  t.match(
    wrongBase?.message,
    /^uploaded head: head file: trained on model sha256 [0-9a-f]{64} \(yamnet\), but the running model is sha256 10c95ea3[^\n]*$/,
    'wrong base model: refused in the child, one line',
  );
  t.equal(wrongBase?.exitCode, 2);
  // What fails before any model is needed (the daemon test sends these over HTTP too).
  const cases: [string, string, RegExp][] = [
    ['wrong shapes', good.replace(/"std": \[1,/, '"std": [1,1,'), /normalisation\.std: 1546 values, the features give 1545/],
    ['non-finite weights', good.replace(/"bias": \[0,0\]/, '"bias": [1e999,0]'), /layers\.0\.bias\.0: must be number|not a finite number/],
    ['truncated JSON', good.slice(0, 3000), /not valid JSON .*; the file looks truncated/],
    ['not a head', '{"hello": "world"}', /"format" is undefined, not "earshot-head"/],
  ];
  const { readHead } = await import('../src/inference/head/head-runtime.js');
  for (const [what, text, message] of cases) {
    const path = write(`${what.replace(/\W+/g, '-')}.json`, text);
    let error: (Error & { exitCode?: number }) | null = null;
    try {
      readHead(path, 'push', 'uploaded head');
    } catch (e) {
      error = e as Error & { exitCode?: number };
    }
    t.match(error?.message, message, `${what}: ${error?.message.slice(0, 140)}`);
    t.ok(error?.message.startsWith('uploaded head: head file: ') && !error.message.includes('\n'), `${what}: one line naming the upload`);
    t.equal(error?.exitCode, 2, `${what}: bad input (exit 2, a 4xx over HTTP)`);
  }
});

t.test('earshot analyze --head: a head for another model is refused with one line (exit 2)', async (t) => {
  const { earshot } = await import('./helpers/cli.js');
  const wrong = write('cli-wrong.json', copyGunshotHeadText({ baseSha256: fileSha256(YAMNET_WAVEFORM) }));
  const result = await earshot(['analyze', '--model', YAMNET_OFFICIAL, '--backend', 'tflite-node', '--head', wrong, `${SHARED}audio/clips/gunshot_1.wav`]);
  t.equal(result.code, 2, 'exit 2');
  t.match(
    result.stderr,
    /^earshot: [^\n]*cli-wrong\.json: head file: trained on model sha256 [0-9a-f]{64} \(yamnet\), but the running model is sha256 10c95ea3[^\n]*\n$/,
    'one line naming the head file and both sha256',
  );
});
