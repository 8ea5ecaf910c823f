/**
 * `earshot tune` with two models (YAMNet + ST FSD50K) on two dev scenes: each model's scores are
 * cached on their own, the model combination is searched, and the snippet it prints (with
 * `extra_models` and `detection.combine`) is a config earshot accepts and that scores as tune said.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { earshot, SHARED } from './helpers/cli.js';
import { DEV_SCENES, YAMNET_WAVEFORM } from './helpers/fixtures.js';

const scenes = ['mixed_07.wav', 'distractors_only_03.wav'].map((f) => `${DEV_SCENES}${f}`);
const ref = `${DEV_SCENES}annotations.tsv`;

t.test('tune searches the combination of two models and prints a config that reproduces its score', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-tune2-'));
  const configPath = join(dir, 'two-models.yaml');
  writeFileSync(
    configPath,
    YAML.stringify({ model: { path: YAMNET_WAVEFORM }, extra_models: [{ path: `${SHARED}models/st/st_yamnet256_fsd50k_int8.tflite` }] }),
  );
  const args = ['tune', '--config', configPath, '--ref', ref, '--hops', '48', '--out', join(dir, 'out'), '--cache-dir', join(dir, 'cache'), ...scenes];
  const first = await earshot(args);
  t.equal(first.code, 0, first.code === 0 ? 'tune exits 0' : first.stderr);
  t.equal(readdirSync(join(dir, 'cache')).length, 4, 'one score cache file per model and audio file');
  t.match(first.stderr, /"model":"extra_models\[0\]".*"msg":"scored"/, 'the extra model is scored');
  t.match(first.stderr, /"msg":"searching model combinations"/);

  const result = JSON.parse(readFileSync(join(dir, 'out', 'tune.json'), 'utf8'));
  t.ok(result.combinations.length >= 2 * 4 * 3, `every mode × weight × hostile label subset was tried (${result.combinations.length})`);
  t.ok(
    result.combinations.some((c: { combination: { mode: string } }) => c.combination.mode === 'mean') &&
      result.combinations.some((c: { combination: { mode: string } }) => c.combination.mode === 'max'),
    'both modes',
  );
  t.ok(result.score.f1 >= result.baseline.score.f1 || result.baseline.score.falseAlarmsPerHour > 7, 'never worse than the config it started from');
  t.ok(result.best.combination, 'the best setting names its combination');

  const snippet = YAML.parse(first.stdout);
  const config = parseConfig(snippet, 'snippet', dir);
  t.match(snippet.detection.combine, /^(max|mean)$/, 'the snippet sets detection.combine');
  if (result.best.combination.extras[0].labels.length) {
    t.equal(config.extra_models.length, 1, 'the snippet lists the extra model');
    t.equal(config.extra_models[0].weight, result.best.combination.extras[0].weight);
    t.same(config.extra_models[0].labels, result.best.combination.extras[0].labels);
  }

  // The snippet, evaluated by the pipeline itself (models run live, not from the cache), scores as tune said.
  const tunedPath = join(dir, 'tuned.yaml');
  writeFileSync(tunedPath, YAML.stringify({ ...snippet, model: { path: YAMNET_WAVEFORM } }));
  const evaluated = await earshot(['eval', '--config', tunedPath, '--ref', ref, '--json', ...scenes]);
  t.equal(evaluated.code, 0, evaluated.code === 0 ? 'eval exits 0' : evaluated.stderr);
  const report = JSON.parse(evaluated.stdout);
  const hostile = report.reports[0].groups.hostile;
  t.ok(
    Math.abs(hostile.f1 - result.score.f1) < 0.05,
    `eval F1 ${hostile.f1.toFixed(3)} ≈ tune F1 ${result.score.f1.toFixed(3)} (cached scores are rounded to 5 decimals)`,
  );
  if (config.extra_models.length) t.match(report.model.id, /^yamnet_waveform\+st_yamnet256_fsd50k$/, 'eval ran the model set');

  const second = await earshot(args);
  t.equal(second.code, 0, second.code === 0 ? 'tune exits 0 again' : second.stderr);
  t.notMatch(second.stderr, /"msg":"scored"/, 'the second run reuses both caches');
  t.equal(second.stdout, first.stdout, 'same result from the cache');
});
