#!/usr/bin/env node
// The learning loop at one site, simulated (issue 21, "Measure"; docs/learning.md):
//   node scripts/learning-loop.mjs --json [--site DIR] [--start-head HEAD.json] [--n 25,50,100]
//     [--model M] [--seed 1] [--work DIR] [--cache DIR] [--no-background] [--train-options '{"hidden":64}']
//     [--queue margin|entropy|hostile]
//
// 1. A set of scenes is the site (default: the 36 dev scenes, ../shared/audio/scenes/dev). It is
//    split in two halves, deterministically: mixed scenes (sorted) alternate A, B, A, ..., and so
//    do the distractors_only scenes, so each half has both kinds.
// 2. The starting head (default: trained like `earshot train --data ../shared/audio/pool2` on ../shared/audio/pool2 only, never the dev
//    scenes' clips) runs over half A in the real pipeline (`analyzeFile` with the head), as a node
//    at the site would: its events (hostile alerts and non-hostile events, each kept as a clip with
//    2 s of pre-roll and post-roll, as `clips` defaults do) and every patch's label probabilities.
// 3. N clips are labelled, in this order: the hostile alerts (a person reviews every alert: hits
//    and false alarms), closest to threshold first; then the uncertainty queue: the other events
//    and the patches whose hostile probability peaked closest to its threshold (|p − threshold|,
//    smallest first; every local peak below the threshold, so that the queue outlasts the
//    ~40 clips that peaks above threshold / 4 give in half A of the dev scenes), each cut as a
//    clip of the patch ± 2 s.
//    --queue entropy ranks the queue as a node's does with a head (src/api/queries.ts: 1 − the
//    largest normalised entropy of the head's probabilities over an event's patches, or a patch's
//    own); --queue hostile by how close any hostile label came to its threshold. Both labelled
//    less useful clips than the default on the validation sites (docs/evaluation.md, "The loop's
//    starting heads and its queue").
//    Clips never overlap. The label is what a person would give: every annotated span of
//    annotations.tsv overlapping the clip, cut to the clip; a clip with none is background (a
//    false alarm when it was an alert).
// 4. A head is retrained (`trainHead()`, what `earshot train` runs, with its defaults or --train-options) on the starting head's data plus the labelled clips
//    (a folder of WAVs with a DCASE annotations.tsv) plus half A's background: every stretch of
//    half A that overlaps no annotated event, cut into 3 s clips (the clips a node keeps as
//    background and that are nearly always non-hostile: the free negatives).
// 5. Half B is scored with `evaluateFiles` (`earshot eval`'s code): the starting head ("before"),
//    the retrained head ("after") and the YAMNet rule (no head), at collar 1 s and 0.2 s; each
//    with where it loses at collar 1 s (`missed`: references with their label's peak score;
//    `unmatched`: detections with the reference events they overlap).
// Prints one JSON line per N. Needs `npm run build` and ../shared beside the repository.
// One run is one seed's figures; scripts/loop-seeds.mjs runs it for several seeds and gives the mean.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SHARED = join(REPO, '../shared');
const dist = (p) => import(join(REPO, 'dist', p));
const { readWav } = await dist('capture/wav.js');
const { encodeWav16 } = await dist('store/clip-writer.js');
const { defaultConfig } = await dist('config/load.js');
const { openModelAndLabels, pipelineSettings } = await dist('setup.js');
const { analyzeFile } = await dist('analyze.js');
const { evaluateFiles } = await dist('evaluate.js');
const { analyzeJobs } = await dist('analysis-jobs.js');
const { readAnnotations } = await dist('eval/annotations.js');
const { createLogger } = await dist('log.js');
const { trainHead } = await dist('learn/train.js');

const RATE = 16000;
const CLIP_PAD_S = 2; // clips.pre_roll_seconds / post_roll_seconds defaults
const BACKGROUND_CLIP_S = 3;

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    site: { type: 'string', default: join(SHARED, 'audio/scenes/dev') },
    'start-head': { type: 'string' },
    'start-data': { type: 'string', multiple: true },
    n: { type: 'string', default: '25,50,100' },
    model: { type: 'string', default: join(SHARED, 'models/yamnet/yamnet_audio_classifier_with_metadata.tflite') },
    seed: { type: 'string', default: '1' },
    work: { type: 'string' },
    'no-background': { type: 'boolean', default: false },
    'train-options': { type: 'string', default: '{}' },
    cache: { type: 'string' },
    queue: { type: 'string', default: 'margin' },
  },
});
const fail = (message) => {
  process.stderr.write(`learning-loop: ${message}\n`);
  process.exit(2);
};
const counts = values.n.split(',').map(Number);
if (counts.some((n) => !Number.isInteger(n) || n < 0)) fail(`--n ${values.n}: want comma-separated counts`);
const site = resolve(values.site);
const startData = (values['start-data'] ?? [join(SHARED, 'audio/pool2')]).map((p) => resolve(p));
const work = resolve(values.work ?? join(tmpdir(), 'earshot-learning-loop'));
mkdirSync(work, { recursive: true });
const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const say = (msg) => process.stderr.write(`[learning-loop] ${msg}\n`);
const trainOptions = JSON.parse(values['train-options']);

// --- the site and its halves ---
const refPath = join(site, 'annotations.tsv');
if (!existsSync(refPath)) fail(`${refPath}: no annotations.tsv in the site folder`);
const reference = readAnnotations(refPath).events;
const wavs = readdirSync(site).filter((f) => f.endsWith('.wav')).sort();
let kindOf = (f) => (f.startsWith('distractors_only') ? 'distractors_only' : 'mixed');
if (existsSync(join(site, 'scenes.json'))) {
  const described = new Map(JSON.parse(readFileSync(join(site, 'scenes.json'), 'utf8')).scenes.map((s) => [s.file, s.kind]));
  const byName = kindOf;
  kindOf = (f) => described.get(f) ?? byName(f);
}
const halves = { A: [], B: [] };
for (const kind of ['mixed', 'distractors_only']) wavs.filter((f) => kindOf(f) === kind).forEach((f, i) => halves[i % 2 === 0 ? 'A' : 'B'].push(f));
if (halves.A.length === 0 || halves.B.length === 0) fail(`${site}: too few scenes to split in two`);

// --- heads and configs ---
function configFor(head) {
  const config = defaultConfig(REPO);
  config.model.path = resolve(values.model);
  config.model.head = head ?? 'none';
  config.log_level = 'silent';
  return config;
}

/** Trains a head with `trainHead()` (what `earshot train` runs) on `dataDirs`; returns the head path. */
async function train(dataDirs, name) {
  const out = join(work, `${name}.json`);
  const started = performance.now();
  const trained = await trainHead({ data: dataDirs, modelPath: resolve(values.model), seed: Number(values.seed), ...(values.cache ? { cacheDir: values.cache } : {}), ...trainOptions });
  writeFileSync(out, trained.text);
  say(`trained ${name} on ${trained.report.clips} clips in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

const startHead = values['start-head'] ? resolve(values['start-head']) : await train(startData, 'start-head');

// --- half A through the starting head: events and patch probabilities ---
say(`site ${site}: half A ${halves.A.length} scenes, half B ${halves.B.length} scenes; starting head ${startHead}`);
if (!['margin', 'entropy', 'hostile'].includes(values.queue)) fail(`--queue ${values.queue}: want margin, entropy or hostile`);
const { model, labels, models } = await openModelAndLabels(configFor(startHead), log);
// The head's probabilities among the class scores (`head:<label>`, background included).
const headClasses = model.classNames.map((c, i) => (c.startsWith('head:') ? i : -1)).filter((i) => i >= 0);
/** Normalised entropy (0 = certain, 1 = uniform) of the head's probabilities in one patch's class scores. */
function headEntropy(classScores) {
  let h = 0;
  for (const i of headClasses) {
    const p = classScores[i];
    if (p > 0) h -= p * Math.log(p);
  }
  return h / Math.log(headClasses.length);
}
const hostileIndex = labels.map((l, i) => (l.group === 'hostile' ? i : -1)).filter((i) => i >= 0);
const candidates = [];
const audio = new Map();
try {
  for (const file of halves.A) {
    const patches = [];
    const path = join(site, file);
    const analysis = await analyzeFile(path, models, labels, pipelineSettings(configFor(startHead)), 'learning-loop', (report) => {
      if (report.labelScores && report.classScores)
        patches.push({ start: report.patch.startSample / RATE, end: report.patch.endSample / RATE, scores: Float32Array.from(report.labelScores), entropy: headEntropy(report.classScores) });
    });
    audio.set(file, readWav(path).mono);
    for (const e of analysis.events) {
      const threshold = e.threshold ?? labels.find((l) => l.name === e.label)?.threshold ?? 0.5;
      const end = e.offset_s ?? e.onset_s;
      // The node's queue with a head (src/api/queries.ts): 1 − the largest entropy over the event's patches.
      const inEvent = patches.filter((p) => p.start < end && e.onset_s < p.end);
      const entropy = Math.max(0, ...inEvent.map((p) => p.entropy));
      // How close any hostile label came to its threshold within the event.
      const hostileMargin = Math.min(1, ...inEvent.flatMap((p) => hostileIndex.map((i) => Math.abs(labels[i].threshold - p.scores[i]))));
      candidates.push({ file, kind: e.group === 'hostile' ? 'alert' : 'event', label: e.label, start: e.onset_s, end, margin: Math.abs(e.peak_score - threshold), uncertainty: 1 - entropy, hostileMargin });
    }
    // Sub-threshold peaks of each hostile label's probability.
    for (const i of hostileIndex) {
      const thr = labels[i].threshold;
      patches.forEach((p, k) => {
        const v = p.scores[i];
        const prev = patches[k - 1]?.scores[i] ?? -1;
        const next = patches[k + 1]?.scores[i] ?? -1;
        if (v < thr && v > 0 && v >= prev && v > next) candidates.push({ file, kind: 'patch', label: labels[i].name, start: p.start, end: p.end, margin: thr - v, uncertainty: 1 - p.entropy, hostileMargin: thr - v });
      });
    }
  }
} finally {
  models.close();
}
const order = { alert: 0, event: 1, patch: 1 };
const rank = (c) => (c.kind === 'alert' || values.queue === 'margin' ? c.margin : values.queue === 'entropy' ? c.uncertainty : c.hostileMargin);
candidates.sort((a, b) => order[a.kind] - order[b.kind] || rank(a) - rank(b) || a.file.localeCompare(b.file) || a.start - b.start);

/** The clip a candidate becomes (seconds in its scene), or null when it overlaps one already taken. */
function clipOf(c, taken) {
  const duration = audio.get(c.file).length / RATE;
  const start = Math.max(0, c.start - CLIP_PAD_S);
  const end = Math.min(duration, c.end + CLIP_PAD_S, start + 15);
  if (taken.some((t) => t.file === c.file && t.start < end && start < t.end)) return null;
  return { file: c.file, start, end, kind: c.kind, flaggedAs: c.label };
}

/** Writes clips and their labels (reference spans overlapping each clip, cut to it) as a DCASE folder. */
function writeLabelled(dir, clips) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rows = ['filename\tonset\toffset\tevent_label'];
  const tally = { hostile: 0, non_hostile: 0, background: 0 };
  clips.forEach((clip, k) => {
    const name = `${clip.file.replace(/\.wav$/, '')}_${String(Math.round(clip.start * 1000)).padStart(6, '0')}_${k}.wav`;
    const samples = audio.get(clip.file).subarray(Math.round(clip.start * RATE), Math.round(clip.end * RATE));
    writeFileSync(join(dir, name), encodeWav16(samples, RATE));
    const spans = reference.filter((r) => r.filename === clip.file && r.onset < clip.end && clip.start < r.offset);
    for (const r of spans) rows.push(`${name}\t${(Math.max(r.onset, clip.start) - clip.start).toFixed(3)}\t${(Math.min(r.offset, clip.end) - clip.start).toFixed(3)}\t${r.label}`);
    const groupOf = (label) => labels.find((l) => l.name === label)?.group ?? 'non_hostile';
    if (spans.some((r) => groupOf(r.label) === 'hostile')) tally.hostile++;
    else if (spans.length > 0) tally.non_hostile++;
    else tally.background++;
  });
  writeFileSync(join(dir, 'annotations.tsv'), `${rows.join('\n')}\n`);
  return tally;
}

// --- half A's background: stretches with no annotated event, as 3 s clips ---
const backgroundDir = join(work, 'background-A');
if (!values['no-background']) {
  const clips = [];
  for (const file of halves.A) {
    const duration = audio.get(file).length / RATE;
    const busy = reference.filter((r) => r.filename === file);
    for (let t = 0; t + BACKGROUND_CLIP_S <= duration; t += BACKGROUND_CLIP_S) {
      if (!busy.some((r) => r.onset < t + BACKGROUND_CLIP_S && t < r.offset)) clips.push({ file, start: t, end: t + BACKGROUND_CLIP_S });
    }
  }
  const tally = writeLabelled(backgroundDir, clips);
  say(`half A background: ${tally.background} clips of ${BACKGROUND_CLIP_S} s`);
}

// --- scoring half B ---
function summary(result) {
  const [at1, at02] = result.reports;
  const perLabel = {};
  for (const [name, r] of Object.entries(at1.labels)) {
    if (labels.find((l) => l.name === name)?.group !== 'hostile') continue;
    perLabel[name] = { tp: r.tp, n_ref: r.nRef, n_sys: r.nSys, f1: round(r.f1), f1_collar_0_2: round(at02.labels[name]?.f1 ?? 0) };
  }
  const h = at1.groups.hostile ?? { f1: 0, precision: 0, recall: 0, tp: 0, nRef: 0, nSys: 0 };
  return {
    f1: round(h.f1),
    precision: round(h.precision),
    recall: round(h.recall),
    tp: h.tp,
    n_ref: h.nRef,
    n_sys: h.nSys,
    f1_collar_0_2: round(at02.groups.hostile?.f1 ?? 0),
    fa_per_hour: round(at1.hostileFalseAlarmsPerHour, 1),
    per_label: perLabel,
    // Where it loses at collar 1 s (`earshot eval`'s report, src/evaluate.ts): each missed hostile
    // reference with its label's peak score and threshold, each unmatched hostile detection.
    missed: result.hostileUnmatched.missed.map((e) => ({ file: e.filename, label: e.label, onset: round(e.onset, 2), peak: e.peak_score === null ? null : round(e.peak_score), threshold: e.threshold })),
    unmatched: result.hostileUnmatched.unmatched.map((e) => ({ file: e.filename, label: e.label, onset: round(e.onset, 2), false_alarm: e.false_alarm, overlaps: e.overlaps })),
  };
}
const round = (x, d = 3) => Number(x.toFixed(d));
const filesB = halves.B.map((f) => join(site, f));
async function scoreB(head) {
  // As many model sets as `earshot eval --jobs auto` runs: the same figures, sooner.
  return summary(await evaluateFiles(configFor(head), log, refPath, filesB, 1.0, undefined, analyzeJobs('auto', configFor(head))));
}
const rule = await scoreB(undefined);
const before = await scoreB(startHead);

const siteName = site === resolve(join(SHARED, 'audio/scenes/dev')) ? 'dev' : basename(site);
for (const n of counts) {
  const taken = [];
  for (const c of candidates) {
    if (taken.length >= n) break;
    const clip = clipOf(c, taken);
    if (clip) taken.push(clip);
  }
  const labelledDir = join(work, `labelled-A-${n}`);
  const tally = writeLabelled(labelledDir, taken);
  const dataDirs = [...startData, labelledDir, ...(values['no-background'] ? [] : [backgroundDir])];
  const head = n === 0 ? startHead : await train(dataDirs, `site-head-${n}`);
  const after = n === 0 ? before : await scoreB(head);
  const line = {
    site: siteName,
    n_labelled: taken.length,
    labelled: { alerts: taken.filter((t) => t.kind === 'alert').length, queue: taken.filter((t) => t.kind !== 'alert').length, ...tally },
    half_a: halves.A.length,
    half_b: halves.B.length,
    before,
    after,
    yamnet_rule: rule,
    start_head: startHead,
    head: after === before ? startHead : head,
  };
  process.stdout.write(values.json ? `${JSON.stringify(line)}\n` : `N=${taken.length}: hostile F1 ${before.f1} -> ${after.f1}, FA/h ${before.fa_per_hour} -> ${after.fa_per_hour} (YAMNet rule ${rule.f1}, ${rule.fa_per_hour}/h)\n`);
}
