/**
 * `earshot tune` on two dev scenes: prints a config snippet that earshot accepts, draws the
 * trade-off, and reuses its model score cache on the next run.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { earshot } from './helpers/cli.js';
import { DEV_SCENES, YAMNET_WAVEFORM } from './helpers/fixtures.js';

t.test('tune prints a valid config snippet and caches model scores', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-tune-'));
  const args = [
    'tune',
    '--ref',
    `${DEV_SCENES}annotations.tsv`,
    '--model',
    YAMNET_WAVEFORM,
    '--hops',
    '48',
    '--out',
    join(dir, 'out'),
    '--cache-dir',
    join(dir, 'cache'),
    ...['mixed_07.wav', 'distractors_only_03.wav'].map((f) => `${DEV_SCENES}${f}`),
  ];
  const first = await earshot(args);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^# earshot tune: hostile F1 [\d.]+ .*false alarms\/h/m);
  const snippet = YAML.parse(first.stdout);
  t.doesNotThrow(() => parseConfig(snippet, 'snippet', dir), 'the snippet is a valid earshot config');
  t.equal(snippet.frontend.hop_frames, 48);
  t.ok(existsSync(join(dir, 'out', 'tradeoff.png')), 'trade-off picture written');
  const result = JSON.parse(readFileSync(join(dir, 'out', 'tune.json'), 'utf8'));
  t.ok(result.score.f1 >= result.baseline.score.f1 || result.baseline.score.falseAlarmsPerHour > 7, 'never worse than the config it started from');
  t.equal(readdirSync(join(dir, 'cache')).length, 2, 'one score cache file per audio file');
  t.match(first.stderr, /"msg":"scored"/, 'the first run scores the files with the model');

  const second = await earshot(args);
  t.equal(second.code, 0, second.stderr);
  t.notMatch(second.stderr, /"msg":"scored"/, 'the second run reuses the cache');
  t.equal(second.stdout, first.stdout, 'same result from the cache');
});
