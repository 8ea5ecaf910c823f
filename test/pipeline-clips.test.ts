/**
 * The whole detection pipeline (front end, model, label map, detector) on real clips from
 * ../shared/audio/clips, with the shipped defaults.
 */
import t from 'tap';
import { analyzeFile } from '../src/analyze.js';
import { defaultConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { SHARED } from './helpers/cli.js';

const log = createLogger({ level: 'warn', pretty: false, fd: 2 });
const clip = (name: string) => `${SHARED}audio/clips/${name}.wav`;

async function open(modelFile: string, backend: 'tflite-node' | 'litert-wasm' = 'tflite-node') {
  const config = defaultConfig();
  config.model.path = `${SHARED}models/${modelFile}`;
  config.model.backend = backend;
  // These tests compare the models' own class scores: no head (the official YAMNet has a shipped one).
  config.model.head = 'none';
  return { config, ...(await openModelAndLabels(config, log)) };
}

/** Mean class scores over a clip's patches (YAMNet's clip-level score), and its top class. */
async function topClass(opened: Awaited<ReturnType<typeof open>>, name: string): Promise<{ top: string; mean: Float64Array }> {
  const mean = new Float64Array(opened.model.classNames.length);
  let patches = 0;
  await analyzeFile(clip(name), opened.model, opened.labels, { ...pipelineSettings(opened.config), silenceGateDbfs: -200 }, 'test', (report) => {
    patches += 1;
    report.classScores!.forEach((s, i) => {
      mean[i] += s;
    });
  });
  mean.forEach((s, i) => {
    mean[i] = s / patches;
  });
  let best = 0;
  mean.forEach((s, i) => {
    if (s > mean[best]) best = i;
  });
  return { top: opened.model.classNames[best], mean };
}

t.test('YAMNet finds the hostile clips and stays quiet on the non-hostile ones', async (t) => {
  const opened = await open('yamnet/yamnet_waveform.tflite');
  t.teardown(() => opened.model.close());
  const expectations: [string, string[]][] = [
    ['gunshot_1', ['gunshot', 'explosion']],
    ['gunshot_2', ['gunshot', 'explosion']],
    ['gunshot_3', ['gunshot', 'explosion']],
    ['glass_break_1', ['glass_break']],
    ['glass_break_2', ['glass_break']],
    ['scream_1', ['scream']],
    ['scream_2', ['scream']],
    ['scream_3', ['scream']],
  ];
  for (const [name, labels] of expectations) {
    const { events } = await analyzeFile(clip(name), opened.model, opened.labels, pipelineSettings(opened.config), 'test');
    t.ok(
      events.some((e) => labels.includes(e.label)),
      `${name}: a ${labels.join(' or ')} event (got ${events.map((e) => `${e.label} ${e.peak_score}`).join(', ') || 'none'})`,
    );
  }
  for (const name of ['speech_1', 'speech_2', 'speech_3', 'dog_bark_1', 'car_horn_1', 'siren_1', 'keyboard_1']) {
    const { events } = await analyzeFile(clip(name), opened.model, opened.labels, pipelineSettings(opened.config), 'test');
    const hostile = events.filter((e) => e.group === 'hostile');
    t.same(
      hostile.map((e) => `${e.label} ${e.peak_score}`),
      [],
      `${name}: no hostile event`,
    );
  }
});

t.test('the three YAMNet files give the same top class on the same audio', async (t) => {
  const forms = await Promise.all(
    ['yamnet/yamnet_waveform.tflite', 'yamnet/yamnet_audio_classifier_with_metadata.tflite', 'yamnet/yamnet_spectra_in.tflite'].map((f) => open(f)),
  );
  t.teardown(() => {
    for (const f of forms) f.model.close();
  });
  // The first patch (0.975 s) of clips whose sound fills it. Left out: clips where YAMNet's top
  // two classes tie (gunshot_1: Machine gun 0.99 / Gunshot 0.99 / Explosion 0.99), and clips
  // that start quietly (car_horn_1, glass_break_*: the first patch is mostly silence), where the
  // third-party waveform conversion scores differently from the official model: measured in
  // docs/evaluation.md.
  const clips: [string, string][] = [
    ['gunshot_2', 'Gunshot, gunfire'],
    ['gunshot_3', 'Explosion'],
    ['scream_1', 'Screaming'],
    ['scream_2', 'Screaming'],
    ['speech_1', 'Speech'],
    ['speech_2', 'Speech'],
    ['speech_3', 'Speech'],
    ['door_knock_1', 'Knock'],
    ['keyboard_1', 'Typing'],
  ];
  for (const [name, expected] of clips) {
    const tops = [];
    for (const form of forms) tops.push(await firstPatchTop(form, name));
    t.same(tops, [expected, expected, expected], `${name}: ${tops.join(' / ')}`);
  }
  // The official model and the log-mel-input model (fed by earshot's own front end) agree closely.
  const [, official, spectraIn] = forms;
  for (const name of ['gunshot_1', 'glass_break_2', 'car_horn_1', 'siren_1', 'scream_3']) {
    const a = await firstPatchScores(official, name);
    const b = await firstPatchScores(spectraIn, name);
    const maxDiff = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    t.ok(maxDiff < 0.1, `${name}: official vs log-mel-input YAMNet, max score difference ${maxDiff.toFixed(3)}`);
  }
});

async function firstPatchScores(opened: Awaited<ReturnType<typeof open>>, name: string): Promise<number[]> {
  let first: number[] | null = null;
  await analyzeFile(clip(name), opened.model, opened.labels, { ...pipelineSettings(opened.config), silenceGateDbfs: -200 }, 'test', (report) => {
    first ??= Array.from(report.classScores!);
  });
  return first!;
}

async function firstPatchTop(opened: Awaited<ReturnType<typeof open>>, name: string): Promise<string> {
  const scores = await firstPatchScores(opened, name);
  return opened.model.classNames[scores.indexOf(Math.max(...scores))];
}

t.test('the int8 ST FSD50K model: quantization, mels × frames layout and label order', async (t) => {
  for (const backend of ['tflite-node', 'litert-wasm'] as const) {
    const st = await open('st/st_yamnet256_fsd50k_int8.tflite', backend);
    t.equal(st.model.manifest.id, 'st_yamnet256_fsd50k');
    for (const [name, expected] of [
      ['gunshot_1', 'Gunshot_and_gunfire'],
      ['glass_break_1', 'Glass'],
      ['speech_1', 'Speech'],
      ['door_knock_1', 'Knock'],
    ]) {
      const { top, mean } = await topClass(st, name);
      t.equal(top, expected, `${backend} ${name}: ${top} (${Math.max(...mean).toFixed(2)})`);
    }
    st.model.close();
  }
});
