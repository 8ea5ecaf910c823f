#!/usr/bin/env node
// Mixes pool clips into ambience recordings to make scenes like the dev scenes (45 s, events at
// 0–20 dB event-to-background ratio; `mixed_NN` with hostile and non-hostile events,
// `distractors_only_NN` with non-hostile ones only), with a DCASE annotations.tsv and a
// scenes.json. Seeded: the same inputs and seed give the same bytes. Write them OUTSIDE the
// repository (never commit audio). The recipe is in scripts/lib/mix.mjs. Needs `npm run build`.
//
//   node scripts/mix-scenes.mjs --out /tmp/scenes [--pool ../shared/audio/pool2]... \
//     [--ambience ../shared/audio/pool/ambience] [--mixed 24] [--distractors 12] [--seed 1] \
//     [--duration 45] [--groups G1,G2 | --folds 5 --fold 0 [--train-out DIR [--train-pool P]...]]
//
// --groups keeps only clips of these source groups. --folds N --fold K keeps the groups of fold K
// (groups assigned to folds stratified by class, seeded); with --train-out it also writes a
// pool-shaped folder of symlinks to every clip of --train-pool (default: the --pool folders) whose
// source group is not in fold K, so a head trained on it and scored on these scenes never saw
// their recordings (`earshot train --data DIR`). Prints a one-line JSON summary.
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { DEFAULT_AMBIENCE, DEFAULT_POOL2, assignFolds, mixScenes, readPool, writeTrainingPool } from './lib/mix.mjs';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    pool: { type: 'string', multiple: true },
    ambience: { type: 'string', default: DEFAULT_AMBIENCE },
    mixed: { type: 'string', default: '24' },
    distractors: { type: 'string', default: '12' },
    seed: { type: 'string', default: '1' },
    duration: { type: 'string', default: '45' },
    groups: { type: 'string' },
    folds: { type: 'string' },
    fold: { type: 'string' },
    'train-out': { type: 'string' },
    'train-pool': { type: 'string', multiple: true },
    prefix: { type: 'string', default: '' },
  },
});
const fail = (message) => {
  process.stderr.write(`mix-scenes: ${message}\n`);
  process.exit(2);
};
if (!values.out) fail('--out DIR is required (a folder outside the repository)');
const repo = fileURLToPath(new URL('../', import.meta.url));
if (join(resolve(values.out), '/').startsWith(repo)) fail(`--out ${values.out} is inside the repository; write scenes elsewhere (e.g. /tmp)`);
const int = (name) => {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < 0) fail(`--${name} ${values[name]}: want a non-negative integer`);
  return v;
};
const pools = values.pool ?? [DEFAULT_POOL2];
const seed = int('seed');
let groups;
if (values.groups) groups = new Set(values.groups.split(',').map((g) => g.trim()).filter(Boolean));
let heldOut;
if (values.folds !== undefined || values.fold !== undefined) {
  if (groups) fail('--groups and --folds/--fold exclude each other');
  const folds = int('folds');
  const fold = int('fold');
  if (folds < 2 || fold >= folds) fail(`--fold ${fold} of --folds ${folds}: want 0 <= fold < folds, folds >= 2`);
  const { mulberry32 } = await import(join(repo, 'dist/random.js'));
  const foldOf = assignFolds(pools.flatMap((p) => readPool(p)), folds, seed, mulberry32);
  groups = new Set([...foldOf].filter(([, f]) => f === fold).map(([g]) => g));
  heldOut = groups;
}
if (values['train-out'] && !heldOut && !groups) fail('--train-out needs --folds/--fold or --groups (the held-out groups)');
const description = await mixScenes({
  pools,
  ambience: values.ambience,
  out: values.out,
  mixed: int('mixed'),
  distractors: int('distractors'),
  seed,
  duration: Number(values.duration),
  groups,
  prefix: values.prefix,
});
let trainClips;
if (values['train-out']) trainClips = writeTrainingPool(values['train-pool'] ?? pools, heldOut ?? groups, values['train-out']);
const events = description.scenes.flatMap((s) => s.events);
const hostileLabels = new Set(description.hostile_labels);
const perLabel = {};
for (const e of events) if (hostileLabels.has(e.label)) perLabel[e.label] = (perLabel[e.label] ?? 0) + 1;
process.stdout.write(`${JSON.stringify({ out: values.out, scenes: description.scenes.length, events: events.length, hostile_events: perLabel, source_groups: groups ? groups.size : 'all', train_out: values['train-out'], train_clips: trainClips })}\n`);
