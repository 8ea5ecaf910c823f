/**
 * `earshot analyze --jobs` and `eval --jobs` (issue 23, start-up and throughput): several files are analysed by as
 * many model sets as the machine has cores for, each in its own worker, and the output is the
 * same, byte for byte, as with one set; bad files are still each named and the run exits 2; a bad
 * `--jobs` is one clear line. (Its speed is measured by `npm run bench`, not asserted here.)
 */
import t from 'tap';
import { analyzeJobs } from '../src/analysis-jobs.js';
import { defaultConfig } from '../src/config/load.js';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { DEV_SCENES, YAMNET_WAVEFORM as MODEL } from './helpers/fixtures.js';

// Four 45 s scenes: the two beyond the first set's two files hold 2.9 MB, enough for a second set.
const SCENES = ['mixed_03', 'mixed_07', 'mixed_04', 'distractors_only_01'].map((name) => `${DEV_SCENES}${name}.wav`);

t.test('two model sets print exactly what one prints, in the order given', async (t) => {
  const one = await earshot(['analyze', '--tsv', '--jobs', '1', '--log-level', 'debug', '--model', MODEL, ...SCENES]);
  const two = await earshot(['analyze', '--tsv', '--jobs', '2', '--log-level', 'debug', '--model', MODEL, ...SCENES]);
  t.equal(one.code, 0, one.stderr);
  t.equal(two.code, 0, two.stderr);
  t.notMatch(one.stderr, /more model sets/, '--jobs 1: one model set');
  t.match(two.stderr, /analyze: more model sets for the files beyond the first two/, '--jobs 2: a second model set');
  t.equal((two.stderr.match(/"msg":"model loaded"/g) ?? []).length, 2, 'two models loaded');
  t.equal(two.stdout, one.stdout, 'the same TSV, byte for byte');
  const files = two.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((row) => row.split('\t')[0]);
  t.same([...new Set(files)], ['mixed_03.wav', 'mixed_07.wav', 'mixed_04.wav', 'distractors_only_01.wav'], 'events in the order of the files given');
  t.ok(files.includes('mixed_07.wav'), "mixed_07's gunshots are found");
});

t.test('with two model sets every readable file is analysed and each bad one named, exit 2', async (t) => {
  const bad = `${SHARED}audio/formats/not_audio.wav`;
  const result = await earshot(['analyze', '--jobs', '2', '--model', MODEL, SCENES[0]!, bad, ...SCENES.slice(1), '/nonexistent/take.wav']);
  t.equal(result.code, 2, 'exit 2');
  t.notOk(hasStackTrace(result.stderr), 'no stack trace');
  for (const name of ['mixed_03', 'mixed_07', 'mixed_04']) t.match(result.stdout, new RegExp(`^${name}\\.wav +`, 'm'), `${name}'s events are printed`);
  t.match(result.stderr, /not_audio\.wav: not a WAV file/, 'the bad file is named with its reason');
  t.match(result.stderr, /\/nonexistent\/take\.wav: cannot read file: no such file/, 'and the missing one');
  t.match(result.stderr, /analyze: 2 of 6 files could not be analysed/, 'a summary line');
});

t.test('eval: two model sets give the same report as one', async (t) => {
  const ref = `${DEV_SCENES}annotations.tsv`;
  const runs = [];
  for (const jobs of ['1', '2']) {
    const result = await earshot(['eval', '--json', '--jobs', jobs, '--model', MODEL, '--ref', ref, ...SCENES]);
    t.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { analysisSeconds?: number; detected: unknown[]; reports: unknown[] };
    delete report.analysisSeconds;
    runs.push(report);
  }
  t.ok(runs[0]!.detected.length > 0, 'events detected');
  t.same(runs[1], runs[0], 'the same detections and figures');
});

t.test('a bad --jobs is one clear line, exit 2', async (t) => {
  for (const jobs of ['0', 'two', '1.5']) {
    const result = await earshot(['analyze', '--jobs', jobs, '--model', MODEL, SCENES[0]!]);
    t.equal(result.code, 2, `--jobs ${jobs}: exit 2`);
    t.equal(result.stderr, `earshot: --jobs: must be auto or a whole number >= 1, got ${jobs}\n`);
  }
});

t.test('--jobs auto: one set per free core, at most 4 and as many as free memory holds; one for in-thread models and accelerators', async (t) => {
  const config = defaultConfig();
  const GB = 2 ** 30;
  t.equal(analyzeJobs(undefined, config, 2, 4 * GB), 2, '2 cores: 2 sets');
  t.equal(analyzeJobs(undefined, config, 4, 0.4 * GB), 2, 'as many as free memory holds at 160 MB each');
  t.equal(analyzeJobs(undefined, config, 4, 0), 1, 'at least one');
  t.equal(analyzeJobs('auto', config, 1, 4 * GB), 1, '1 core: 1 set');
  t.equal(analyzeJobs('auto', config, 16, 64 * GB), 4, '16 cores: at most 4 sets');
  t.equal(analyzeJobs('3', config, 1, 0), 3, 'a number is taken as given');
  t.equal(analyzeJobs('auto', { ...config, model: { ...config.model, threads: 2 } }, 4, 4 * GB), 2, '2 threads a model on 4 cores: 2 sets');
  t.equal(analyzeJobs('auto', { ...config, inference: { ...config.inference, worker: false } }, 8, 4 * GB), 1, 'models on the main thread: 1 set');
  t.equal(analyzeJobs('auto', { ...config, model: { ...config.model, delegate: 'libedgetpu.so.1' } }, 8, 4 * GB), 1, 'a TFLite delegate: 1 set');
  t.equal(analyzeJobs('auto', { ...config, model: { ...config.model, backend: 'onnx', execution_providers: ['cuda', 'cpu'] } }, 8, 4 * GB), 1, 'CUDA: 1 set');
});
