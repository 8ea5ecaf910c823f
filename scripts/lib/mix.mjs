// Scenes mixed like the dev scenes (../shared/audio/scenes/dev/scenes.json), from any pool-shaped
// folder (`<class>/*.wav` + pool.tsv with `kind` and `source_group`), for honest detection checks
// and the learning-loop simulation. Used by scripts/mix-scenes.mjs and scripts/learning-loop.mjs.
// Needs `npm run build` (WAV reading and writing and the seeded generator are earshot's own).
//
// How a scene is made (the dev scenes' recipe as scenes.json shows it):
// - `duration` seconds of one ambience recording (a random stretch; looped if shorter), scaled to a
//   background level drawn uniformly in [-48, -32] dBFS (RMS);
// - `mixed` scenes get 4–6 events, 2 or 3 of them hostile (pool.tsv `kind` = hostile), the rest
//   non-hostile; `distractors_only` scenes get 4–6 non-hostile events;
// - an event is a pool clip's active span: from the first to the last 25 ms frame within 30 dB of
//   its loudest frame, at most 6 s; its annotation is exactly where that span was placed;
// - each event is scaled so that its RMS over the span sits `ebr_db` (uniform 0–20 dB) above the
//   background's RMS over the same span (the event-to-background ratio);
// - events do not overlap: at least 1.5 s before the first, between events, and 1 s after the last;
// - a scene whose peak would pass 0.99 is scaled down as a whole (ratios kept; `background_dbfs`
//   records the level actually written).
// A label is drawn uniformly among the labels the allowed groups provide, then a clip uniformly
// within that label, so rare labels (glass, scream in pool2) are not drowned by common ones.
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = join(REPO, '../shared');
export const DEFAULT_POOL2 = join(SHARED, 'audio/pool2');
export const DEFAULT_AMBIENCE = join(SHARED, 'audio/pool/ambience');

const RATE = 16000;
const FRAME = 400; // 25 ms
const ACTIVE_DB = 30;
const MAX_EVENT_S = 6;
const LEAD_S = 1.5;
const MIN_GAP_S = 1.5;
const TAIL_S = 1.0;

const dist = (p) => import(join(REPO, 'dist', p));

/** Parses a pool.tsv into rows `{ path, class, kind, source_group, pool }` (pool = the folder). */
export function readPool(dir) {
  const text = readFileSync(join(dir, 'pool.tsv'), 'utf8');
  const [header, ...lines] = text.split('\n').filter((l) => l.trim() !== '');
  const cols = header.split('\t');
  for (const need of ['path', 'class', 'kind', 'source_group']) {
    if (!cols.includes(need)) throw new Error(`${join(dir, 'pool.tsv')}: no "${need}" column`);
  }
  return lines.map((line) => {
    const cells = line.split('\t');
    const row = Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
    return { ...row, pool: resolve(dir) };
  });
}

/**
 * Assigns source groups to `folds` folds, stratified by class: per class (sorted), its groups in a
 * seeded shuffle go round-robin to the fold that has the fewest groups of that class so far. A
 * group is assigned once, by the first class (in sorted order) it appears under.
 * @returns Map group → fold index
 */
export function assignFolds(rows, folds, seed, mulberry32) {
  const rand = mulberry32(seed ^ 0x5eed);
  const byClass = new Map();
  for (const r of rows) {
    if (r.kind === 'ambience') continue;
    if (!byClass.has(r.class)) byClass.set(r.class, new Set());
    byClass.get(r.class).add(r.source_group);
  }
  const foldOf = new Map();
  const load = new Array(folds).fill(0);
  for (const cls of [...byClass.keys()].sort()) {
    const groups = [...byClass.get(cls)].sort().filter((g) => !foldOf.has(g));
    shuffle(groups, rand);
    const perFold = new Array(folds).fill(0);
    for (const g of groups) {
      let best = 0;
      for (let f = 1; f < folds; f++) if (perFold[f] < perFold[best] || (perFold[f] === perFold[best] && load[f] < load[best])) best = f;
      foldOf.set(g, best);
      perFold[best]++;
      load[best]++;
    }
  }
  return foldOf;
}

function shuffle(items, rand) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

const db = (x) => 20 * Math.log10(Math.max(x, 1e-12));
function rms(samples, from = 0, to = samples.length) {
  let s = 0;
  for (let i = from; i < to; i++) s += samples[i] * samples[i];
  return Math.sqrt(s / Math.max(1, to - from));
}

/** The active span of a clip: first to last 25 ms frame within 30 dB of the loudest, at most 6 s. */
export function activeSpan(samples) {
  const frames = Math.max(1, Math.floor(samples.length / FRAME));
  const levels = new Float64Array(frames);
  let loudest = -Infinity;
  for (let f = 0; f < frames; f++) {
    levels[f] = db(rms(samples, f * FRAME, Math.min(samples.length, (f + 1) * FRAME)));
    loudest = Math.max(loudest, levels[f]);
  }
  let first = 0;
  while (levels[first] < loudest - ACTIVE_DB) first++;
  let last = frames - 1;
  while (levels[last] < loudest - ACTIVE_DB) last--;
  const start = first * FRAME;
  const end = Math.min(samples.length, (last + 1) * FRAME, start + MAX_EVENT_S * RATE);
  return { start, end };
}

/**
 * Mixes scenes and writes them with `annotations.tsv` and `scenes.json` into `out`.
 * @param options.pools pool-shaped folders the events come from
 * @param options.ambience folder of ambience WAVs (16 kHz mono)
 * @param options.mixed / options.distractors how many scenes of each kind
 * @param options.groups when given, a Set of source groups: only clips of these groups are used
 * @param options.seed integer; the same inputs and seed give the same bytes
 * @param options.duration seconds per scene (45)
 * @param options.prefix file name prefix (''): scenes are `<prefix>mixed_NN.wav`, `<prefix>distractors_only_NN.wav`
 * @returns the scenes.json object
 */
export async function mixScenes(options) {
  const { readWav } = await dist('capture/wav.js');
  const { encodeWav16 } = await dist('store/clip-writer.js');
  const { mulberry32 } = await dist('random.js');
  const duration = options.duration ?? 45;
  const total = Math.round(duration * RATE);
  const prefix = options.prefix ?? '';
  const rand = mulberry32(options.seed ?? 1);
  const pick = (items) => items[Math.floor(rand() * items.length)];
  const uniform = (a, b) => a + (b - a) * rand();

  const rows = options.pools.flatMap((p) => readPool(p)).filter((r) => r.kind !== 'ambience' && (!options.groups || options.groups.has(r.source_group)));
  rows.sort((a, b) => (a.pool + a.path).localeCompare(b.pool + b.path));
  const byLabel = (kind) => {
    const m = new Map();
    for (const r of rows) if ((r.kind === 'hostile') === (kind === 'hostile')) m.set(r.class, [...(m.get(r.class) ?? []), r]);
    return m;
  };
  const hostile = byLabel('hostile');
  const benign = byLabel('distractor');
  const hostileLabels = [...hostile.keys()].sort();
  const benignLabels = [...benign.keys()].sort();
  if (benignLabels.length === 0) throw new Error('mix-scenes: no non-hostile clips in the chosen pools/groups');
  if ((options.mixed ?? 0) > 0 && hostileLabels.length === 0) throw new Error('mix-scenes: no hostile clips in the chosen pools/groups, cannot make mixed scenes');

  const ambienceFiles = readdirSync(options.ambience).filter((f) => f.endsWith('.wav')).sort();
  if (ambienceFiles.length === 0) throw new Error(`${options.ambience}: no .wav ambience recordings`);
  const cache = new Map();
  const load = (path) => {
    if (!cache.has(path)) {
      const wav = readWav(path);
      if (wav.sampleRate !== RATE) throw new Error(`${path}: ${wav.sampleRate} Hz; mix-scenes needs 16 kHz clips`);
      cache.set(path, wav.mono);
    }
    return cache.get(path);
  };
  const clipEvent = (row) => {
    const key = `span:${row.pool}/${row.path}`;
    if (!cache.has(key)) {
      const samples = load(join(row.pool, row.path));
      const { start, end } = activeSpan(samples);
      cache.set(key, samples.subarray(start, end));
    }
    return cache.get(key);
  };

  mkdirSync(options.out, { recursive: true });
  const scenes = [];
  const annotations = [];
  const plan = [
    ...Array.from({ length: options.mixed ?? 24 }, (_, i) => ({ kind: 'mixed', n: i })),
    ...Array.from({ length: options.distractors ?? 12 }, (_, i) => ({ kind: 'distractors_only', n: i })),
  ];
  for (const { kind, n } of plan) {
    const file = `${prefix}${kind}_${String(n).padStart(2, '0')}.wav`;
    // Ambience: a random stretch of one recording, looped when shorter than the scene.
    const ambienceName = pick(ambienceFiles);
    const amb = load(join(options.ambience, ambienceName));
    const scene = new Float32Array(total);
    const offset = amb.length > total ? Math.floor(rand() * (amb.length - total)) : 0;
    for (let i = 0; i < total; i++) scene[i] = amb[(offset + i) % amb.length];
    const backgroundDbfs = uniform(-48, -32);
    const bgGain = 10 ** ((backgroundDbfs - db(rms(scene))) / 20);
    for (let i = 0; i < total; i++) scene[i] *= bgGain;

    // Events: labels first, then clips; drop the longest non-hostile one until they fit.
    const count = 4 + Math.floor(rand() * 3);
    const hostileCount = kind === 'mixed' ? 2 + Math.floor(rand() * 2) : 0;
    let events = [];
    for (let k = 0; k < count; k++) {
      const isHostile = k < hostileCount;
      const label = pick(isHostile ? hostileLabels : benignLabels);
      const row = pick((isHostile ? hostile : benign).get(label));
      events.push({ label, row, hostile: isHostile, samples: clipEvent(row), ebr: uniform(0, 20) });
    }
    const room = () => total - Math.round((LEAD_S + TAIL_S + MIN_GAP_S * (events.length - 1)) * RATE) - events.reduce((s, e) => s + e.samples.length, 0);
    while (room() < 0) {
      const benignOnes = events.filter((e) => !e.hostile);
      const victim = (benignOnes.length > 0 ? benignOnes : events).reduce((a, b) => (b.samples.length > a.samples.length ? b : a));
      events = events.filter((e) => e !== victim);
    }
    shuffle(events, rand);
    // Spare time shared out at random among the lead, the gaps and the tail.
    const weights = Array.from({ length: events.length + 1 }, () => rand());
    const sum = weights.reduce((a, b) => a + b, 0);
    const spare = room();
    let at = Math.round(LEAD_S * RATE) + Math.floor((spare * weights[0]) / sum);
    const placed = [];
    events.forEach((e, k) => {
      const span = e.samples;
      const bgDb = db(rms(scene, at, at + span.length));
      const gain = 10 ** ((bgDb + e.ebr - db(rms(span))) / 20);
      placed.push({ at, span, gain, e });
      at += span.length + Math.round(MIN_GAP_S * RATE) + Math.floor((spare * weights[k + 1]) / sum);
    });
    for (const { at: start, span, gain } of placed) for (let i = 0; i < span.length; i++) scene[start + i] += gain * span[i];
    let peak = 0;
    for (let i = 0; i < total; i++) peak = Math.max(peak, Math.abs(scene[i]));
    const scale = peak > 0.99 ? 0.99 / peak : 1;
    if (scale !== 1) for (let i = 0; i < total; i++) scene[i] *= scale;
    writeFileSync(join(options.out, file), encodeWav16(scene, RATE));
    const round3 = (x) => Math.round(x * 1000) / 1000;
    const sceneEvents = placed.map(({ at: start, span, e }) => ({
      onset: round3(start / RATE),
      offset: round3((start + span.length) / RATE),
      label: e.label,
      source: `${basename(e.row.pool)}/${e.row.path}`,
      source_group: e.row.source_group,
      ebr_db: Math.round(e.ebr * 10) / 10,
    }));
    for (const ev of sceneEvents) annotations.push(`${file}\t${ev.onset}\t${ev.offset}\t${ev.label}`);
    scenes.push({ file, kind, ambience: `ambience/${ambienceName}`, background_dbfs: Math.round((backgroundDbfs + db(scale)) * 10) / 10, events: sceneEvents });
  }
  const hostileAll = [...new Set(options.pools.flatMap((p) => readPool(p)).filter((r) => r.kind === 'hostile').map((r) => r.class))].sort();
  const description = {
    sample_rate: RATE,
    duration_s: duration,
    hostile_labels: hostileAll,
    made_by: 'scripts/mix-scenes.mjs',
    seed: options.seed ?? 1,
    pools: options.pools.map((p) => basename(resolve(p))),
    source_groups: options.groups ? [...options.groups].sort() : 'all',
    scenes,
  };
  writeFileSync(join(options.out, 'annotations.tsv'), `filename\tonset\toffset\tevent_label\n${annotations.join('\n')}\n`);
  writeFileSync(join(options.out, 'scenes.json'), `${JSON.stringify(description, null, 1)}\n`);
  return description;
}

/**
 * Writes a pool-shaped folder (`<class>/<file>.wav` symlinks + pool.tsv) of every clip in `pools`
 * whose source group is NOT in `heldOut`: the training side of a held-out check.
 * @returns the number of clips linked
 */
export function writeTrainingPool(pools, heldOut, out) {
  mkdirSync(out, { recursive: true });
  const rows = pools.flatMap((p) => readPool(p)).filter((r) => !heldOut.has(r.source_group));
  const header = ['path', 'class', 'kind', 'duration_s', 'source_group', 'source_pool'];
  const lines = [header.join('\t')];
  const seen = new Set();
  for (const r of rows) {
    let path = r.path;
    // pool and pool2 may hold the same relative path: keep both, renamed.
    if (seen.has(path)) path = path.replace(/\.wav$/, `__${basename(r.pool)}.wav`);
    seen.add(path);
    mkdirSync(join(out, path, '..'), { recursive: true });
    if (!existsSync(join(out, path))) symlinkSync(join(r.pool, r.path), join(out, path));
    lines.push([path, r.class, r.kind, r.duration_s ?? '', r.source_group, basename(r.pool)].join('\t'));
  }
  writeFileSync(join(out, 'pool.tsv'), `${lines.join('\n')}\n`);
  return rows.length;
}
