#!/usr/bin/env node
// Does a head trained by `earshot train` beat the YAMNet rule on recordings it never heard?
// (issue 21, "Done when"; docs/evaluation.md, "Heads"). Needs `npm run build` and ../shared.
//
//   node scripts/heldout-check.mjs [--folds 5] [--seed 7] [--mixed 10] [--distractors 5]
//     [--pool ../shared/audio/pool2] [--train-pool ../shared/audio/pool --train-pool ../shared/audio/pool2]
//     [--model M] [--work DIR] [--cache DIR] [--train-options '{"features":["scores"],"faBudgetPerHour":5}'] [--json]
//
// For each fold k of the --pool clips' source groups (stratified by class, seeded; scripts/lib/mix.mjs):
// 1. mixes scenes like the dev scenes from fold k's clips only (`--mixed` mixed + `--distractors`
//    distractors_only scenes, seed + k) into the pool/ambience recordings;
// 2. trains a head (`trainHead()`, what `earshot train` runs; --train-options are its options) on every --train-pool clip whose source group is
//    NOT in fold k (pool and pool2 share a few groups: those are left out of training too);
// 3. scores the fold's scenes with `earshot eval`'s code, once with that head and once with the
//    YAMNet rule (`--head none`: the shipped thresholds on YAMNet's own classes).
// Counts are summed over the folds (every scene is scored by a head that never heard its clips).
// Prints one JSON object (or a table without --json): hostile F1 / P / R at collar 1 s and 0.2 s,
// false alarms per hour on the distractors_only scenes, and per label TP / references / detections.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readdirSync, writeFileSync } from 'node:fs';
import { assignFolds, mixScenes, readPool, writeTrainingPool } from './lib/mix.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SHARED = join(REPO, '../shared');
const dist = (p) => import(join(REPO, 'dist', p));
const { defaultConfig } = await dist('config/load.js');
const { evaluateFiles } = await dist('evaluate.js');
const { analyzeJobs } = await dist('analysis-jobs.js');
const { createLogger } = await dist('log.js');
const { mulberry32 } = await dist('random.js');
const { trainHead } = await dist('learn/train.js');

const { values } = parseArgs({
  options: {
    folds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '7' },
    mixed: { type: 'string', default: '10' },
    distractors: { type: 'string', default: '5' },
    pool: { type: 'string', multiple: true },
    'train-pool': { type: 'string', multiple: true },
    model: { type: 'string', default: join(SHARED, 'models/yamnet/yamnet_audio_classifier_with_metadata.tflite') },
    work: { type: 'string' },
    cache: { type: 'string' },
    'train-options': { type: 'string', default: '{}' },
    json: { type: 'boolean', default: false },
  },
});
const folds = Number(values.folds);
const seed = Number(values.seed);
const pools = (values.pool ?? [join(SHARED, 'audio/pool2')]).map((p) => resolve(p));
const trainPools = (values['train-pool'] ?? [join(SHARED, 'audio/pool'), join(SHARED, 'audio/pool2')]).map((p) => resolve(p));
const work = resolve(values.work ?? join(tmpdir(), 'earshot-heldout-check'));
mkdirSync(work, { recursive: true });
const say = (msg) => process.stderr.write(`[heldout-check] ${msg}\n`);
const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const trainOptions = JSON.parse(values['train-options']);

const foldOf = assignFolds(pools.flatMap((p) => readPool(p)), folds, seed, mulberry32);
const config = (head) => {
  const c = defaultConfig(REPO);
  c.model.path = resolve(values.model);
  c.model.head = head;
  c.log_level = 'silent';
  return c;
};
const totals = { head: newTotals(), rule: newTotals() };
function newTotals() {
  return { collars: {}, falseAlarms: 0, freeHours: 0, trainSeconds: 0 };
}
function add(total, result) {
  for (const report of result.reports) {
    const c = (total.collars[report.collar] ??= { group: { tp: 0, nRef: 0, nSys: 0 }, labels: {} });
    const g = report.groups.hostile ?? { tp: 0, nRef: 0, nSys: 0 };
    c.group.tp += g.tp;
    c.group.nRef += g.nRef;
    c.group.nSys += g.nSys;
    for (const [name, r] of Object.entries(report.labels)) {
      const l = (c.labels[name] ??= { tp: 0, nRef: 0, nSys: 0 });
      l.tp += r.tp;
      l.nRef += r.nRef;
      l.nSys += r.nSys;
    }
  }
  total.falseAlarms += Math.round(result.reports[0].hostileFalseAlarmsPerHour * result.reports[0].hostileFreeHours);
  total.freeHours += result.reports[0].hostileFreeHours;
}
const hostile = new Set(['gunshot', 'explosion', 'glass_break', 'scream']);
function figures(total) {
  const f = (c) => {
    const p = c.nSys ? c.tp / c.nSys : 0;
    const r = c.nRef ? c.tp / c.nRef : 0;
    return { f1: Number((p + r ? (2 * p * r) / (p + r) : 0).toFixed(3)), precision: Number(p.toFixed(3)), recall: Number(r.toFixed(3)), tp: c.tp, n_ref: c.nRef, n_sys: c.nSys };
  };
  const out = { fa_per_hour: Number((total.falseAlarms / total.freeHours).toFixed(1)), false_alarms: total.falseAlarms, distractor_minutes: Number((total.freeHours * 60).toFixed(1)) };
  for (const [collar, c] of Object.entries(total.collars)) {
    out[`collar_${collar}`] = { hostile: f(c.group), per_label: Object.fromEntries(Object.entries(c.labels).filter(([n]) => hostile.has(n)).map(([n, l]) => [n, f(l)])) };
  }
  if (total.trainSeconds) out.train_seconds = Math.round(total.trainSeconds);
  return out;
}

for (let k = 0; k < folds; k++) {
  const heldOut = new Set([...foldOf].filter(([, f]) => f === k).map(([g]) => g));
  const scenes = join(work, `fold${k}`);
  const trainDir = join(work, `train${k}`);
  await mixScenes({ pools, ambience: join(SHARED, 'audio/pool/ambience'), out: scenes, mixed: Number(values.mixed), distractors: Number(values.distractors), seed: seed + k, groups: heldOut, prefix: `f${k}_` });
  const clips = writeTrainingPool(trainPools, heldOut, trainDir);
  const headPath = join(work, `head${k}.json`);
  const started = performance.now();
  const trained = await trainHead({ data: [trainDir], modelPath: resolve(values.model), seed: 1, ...(values.cache ? { cacheDir: values.cache } : {}), ...trainOptions });
  writeFileSync(headPath, trained.text);
  totals.head.trainSeconds += (performance.now() - started) / 1000;
  const files = readdirSync(scenes).filter((f) => f.endsWith('.wav')).sort().map((f) => join(scenes, f));
  const ref = join(scenes, 'annotations.tsv');
  // As many model sets as `earshot eval --jobs auto` runs: the same figures, sooner.
  add(totals.head, await evaluateFiles(config(headPath), log, ref, files, 1.0, undefined, analyzeJobs('auto', config(headPath))));
  add(totals.rule, await evaluateFiles(config('none'), log, ref, files, 1.0, undefined, analyzeJobs('auto', config('none'))));
  say(`fold ${k}: ${heldOut.size} held-out groups, ${files.length} scenes, head trained on ${clips} clips in ${((performance.now() - started) / 1000).toFixed(0)} s (with scoring)`);
}
const result = { folds, seed, pools: pools.map((p) => p.replace(`${SHARED}/`, '')), train_pools: trainPools.map((p) => p.replace(`${SHARED}/`, '')), train_options: trainOptions, head: figures(totals.head), yamnet_rule: figures(totals.rule) };
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  for (const name of ['yamnet_rule', 'head']) {
    const r = result[name];
    const c1 = r['collar_1'];
    const c02 = r['collar_0.2'];
    process.stdout.write(`${name}: hostile F1 ${c1.hostile.f1} (P ${c1.hostile.precision}, R ${c1.hostile.recall}; collar 0.2 s: ${c02.hostile.f1}), ${r.fa_per_hour} FA/h; ${Object.entries(c1.per_label).map(([n, l]) => `${n} ${l.tp}/${l.n_ref}/${l.n_sys}`).join(', ')}\n`);
  }
}
