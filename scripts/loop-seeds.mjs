#!/usr/bin/env node
// The simulated learning loop (scripts/learning-loop.mjs) run once per seed, and the mean:
//   node scripts/loop-seeds.mjs [--seeds 1,2,3,4,5] [--work DIR] [-- learning-loop options...]
//
// Why: the seed sets the starting head's augmentation and cross-validation folds and the retrained
// heads' (docs/evaluation.md, "The learning loop, simulated"). On a half of 33 hostile events one
// event is about 0.03 F1, and one seed's heads can serve a label by the rule where another's serve
// it by the head: the figures of one run swing by more than the labels move them. The mean over
// seeds says what labelling N clips does; each seed's line says how far one run can be from it.
//
// Prints one JSON line per N (as learning-loop.mjs's, in its order): the site, n_labelled per seed,
// the mean and the per-seed values of before/after hostile F1 and false alarms per hour, the mean
// gain, and how many seeds met the target (+0.10 F1, no more false alarms per hour).
// Options after `--` go to learning-loop.mjs unchanged (e.g. `-- --site /tmp/vsite --n 50`).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const LOOP = fileURLToPath(new URL('./learning-loop.mjs', import.meta.url));
const { values, positionals } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3,4,5' },
    work: { type: 'string' },
  },
  allowPositionals: true,
});
const seeds = values.seeds.split(',').map(Number);
if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s))) {
  process.stderr.write(`loop-seeds: --seeds ${values.seeds}: want comma-separated whole numbers\n`);
  process.exit(2);
}
const work = resolve(values.work ?? join(tmpdir(), 'earshot-loop-seeds'));
mkdirSync(work, { recursive: true });

/** Per seed, the JSON lines of one learning-loop.mjs run. */
const runs = seeds.map((seed) => {
  process.stderr.write(`[loop-seeds] seed ${seed}\n`);
  const run = spawnSync(process.execPath, [LOOP, '--json', '--seed', String(seed), '--work', join(work, `seed-${seed}`), ...positionals], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) {
    process.stderr.write(`loop-seeds: learning-loop.mjs --seed ${seed} exited with ${run.status}\n`);
    process.exit(run.status ?? 1);
  }
  return run.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
});

const round = (x) => Number(x.toFixed(3));
const mean = (xs) => round(xs.reduce((a, b) => a + b, 0) / xs.length);
for (let i = 0; i < runs[0].length; i++) {
  const lines = runs.map((lines) => lines[i]);
  const of = (pick) => lines.map(pick);
  /** `before` or `after`: the mean and each seed's F1 and false alarms per hour. */
  const figures = (side) => {
    const f1 = of((l) => l[side].f1);
    const fa = of((l) => l[side].fa_per_hour);
    return { f1: mean(f1), fa_per_hour: mean(fa), f1_per_seed: f1, fa_per_hour_per_seed: fa };
  };
  const gains = of((l) => l.after.f1 - l.before.f1);
  process.stdout.write(
    `${JSON.stringify({
      site: lines[0].site,
      seeds,
      n_labelled: of((l) => l.n_labelled),
      before: figures('before'),
      after: figures('after'),
      gain: { mean: mean(gains), min: round(Math.min(...gains)), max: round(Math.max(...gains)) },
      seeds_meeting_target: lines.filter((l) => l.after.f1 - l.before.f1 >= 0.1 - 1e-9 && l.after.fa_per_hour <= l.before.fa_per_hour + 1e-9).length,
      yamnet_rule: { f1: lines[0].yamnet_rule.f1, fa_per_hour: lines[0].yamnet_rule.fa_per_hour },
    })}\n`,
  );
}
