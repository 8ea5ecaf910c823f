/**
 * Training heads (src/learn/): the data shapes users have (pool folder, pulled folder, DCASE
 * folder), window labels, the optimiser, grouped cross-validation, and determinism of
 * `trainHead` on a small real subset of ../shared/audio/pool through the real YAMNet.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { readDataset, mapClassToLabel, dataFolderShape } from '../src/learn/dataset.js';
import { readPulledFolder, labelsTsvRows } from '../src/learn/pulled-labels.js';
import { clipWindowLabels, spanWindowLabels } from '../src/learn/windows.js';
import { minimizeLbfgs } from '../src/learn/lbfgs.js';
import {
  assignFolds,
  chooseThreshold,
  jackknifeStandardError,
  servedBy,
  servedByRule,
  noAmbienceWarning,
  trainHead,
  type Budget,
  type LabelReport,
  type Row,
} from '../src/learn/train.js';
import { parseHead, applyHead } from '../src/inference/head/head-file.js';
import { openEmbedder, type Embedder } from '../src/inference/embedder.js';
import { drawAmbienceGain, extractFeatures, isSiteBackground, readClip16k } from '../src/learn/features.js';
import { earshot, SHARED } from './helpers/cli.js';
import { encodeWav16 } from '../src/store/clip-writer.js';
import { readWav16 } from './helpers/wav16.js';
import { YAMNET_WAVEFORM as MODEL } from './helpers/fixtures.js';

const POOL = join(SHARED, 'audio/pool');
const LABELS = ['gunshot', 'explosion', 'glass_break', 'scream', 'speech', 'dog_bark', 'car_horn', 'siren', 'door_knock', 'music'];
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `earshot-${name}-`));

/** A pool-shaped folder of symlinks to real pool clips, with the matching pool.tsv rows. */
function subsetPool(paths: string[]): string {
  const dir = tmp('pool');
  const [header, ...rows] = readFileSync(join(POOL, 'pool.tsv'), 'utf8').split('\n').filter(Boolean);
  const keep = rows.filter((r) => paths.includes(r.split('\t')[0]!));
  for (const p of paths) {
    mkdirSync(join(dir, p.split('/')[0]!), { recursive: true });
    // Ambience: the first 12 s are enough to mix into (and keep the test quick).
    if (p.startsWith('ambience/')) writeFileSync(join(dir, p), encodeWav16(readWav16(join(POOL, p)).subarray(0, 12 * 16000), 16000));
    else symlinkSync(join(POOL, p), join(dir, p));
  }
  writeFileSync(join(dir, 'pool.tsv'), `${[header, ...keep].join('\n')}\n`);
  return dir;
}

const SUBSET = [
  'gunshot/163460__lemudcrab__sniper-shot.wav',
  'gunshot/381997__mattix__shotgun-beretta-686-silver-pigeon-1-shot-02.wav',
  'gunshot/162398__qubodup__m16-single-shot-1.wav',
  'gunshot/162396__qubodup__m16-single-shot-3.wav',
  'gunshot/330634__elliotlp__desert-eagle-gunshot.wav',
  'gunshot/410399__deleted-user-2731495__30-30-lever-rifle-gunshot.wav',
  'glass_break/Room1_window_hit_3_W3_window_hit__crash__event_1_000_000.wav',
  'glass_break/GBTD-01-01-LP-gb24_000.wav',
  'glass_break/GBTD-01-01-LP-gb14_000.wav',
  'door_knock/knock013.wav',
  'door_knock/knock017.wav',
  'door_knock/knock010.wav',
  'keys_drop/keysDrop006.wav',
  'keys_drop/keysDrop002.wav',
  'keys_drop/keysDrop003.wav',
  'door_slam/doorslam013.wav',
  'door_slam/doorslam010.wav',
  'dog_bark/100032-3-0-0.wav',
  'impact/0_-___4_.wav',
  'ambience/150993__saphe__street-scene-1.wav',
];

t.test('class names map onto the label set; the rest is background', async (t) => {
  t.equal(mapClassToLabel('gunshot', LABELS), 'gunshot');
  t.equal(mapClassToLabel('Glass', LABELS), 'glass_break');
  t.equal(mapClassToLabel('door-knock', LABELS), 'door_knock');
  t.equal(mapClassToLabel('fireworks', LABELS), 'other');
  t.equal(mapClassToLabel('gunfire', ['scream']), 'other', 'an alias of a label not in the set is background');
});

t.test('a pool folder: clip labels from the folder/pool.tsv, groups from source_group', async (t) => {
  const dir = subsetPool(SUBSET);
  t.equal(dataFolderShape(dir), 'pool');
  const data = readDataset([dir], LABELS);
  t.equal(data.clips.length, SUBSET.length);
  const byName = new Map(data.clips.map((c) => [c.name, c]));
  t.match(byName.get(SUBSET[0]!), { labelling: 'clip', clipLabel: 'gunshot', sourceClass: 'gunshot' });
  t.match(byName.get('ambience/150993__saphe__street-scene-1.wav'), { labelling: 'ambience', clipLabel: 'other' });
  t.match(byName.get('keys_drop/keysDrop006.wav'), { labelling: 'clip', clipLabel: 'other' });
  t.equal(byName.get('keys_drop/keysDrop006.wav')!.group, byName.get('keys_drop/keysDrop002.wav')!.group, 'one source_group, one group');
  t.not(byName.get(SUBSET[0]!)!.group, byName.get(SUBSET[1]!)!.group);
  t.same(data.unmappedClasses, { door_slam: 2, impact: 1, keys_drop: 3 }, 'classes outside the label set, trained as other');
  t.match(byName.get('dog_bark/100032-3-0-0.wav'), { clipLabel: 'dog_bark' });
  t.throws(() => readDataset([join(dir, 'nope')], LABELS), /nope: cannot read the data folder \(ENOENT\)/);
  // pool and pool2 share recording sessions (the same DCASE knocks in both): a source_group is
  // one group whichever folder holds it, so it never sits on both sides of a split.
  const copy = subsetPool(SUBSET.slice(9, 12));
  const both = readDataset([dir, copy], LABELS);
  const knockGroups = new Set(both.clips.filter((c) => c.clipLabel === 'door_knock').map((c) => c.group));
  t.equal(knockGroups.size, 1, 'the knocks of two folders are one group');
  writeFileSync(join(copy, 'pool.tsv'), 'path\tclass\tkind\tsource_group\n');
  const noGroup = readDataset([copy], LABELS).clips.map((c) => c.group);
  t.equal(new Set(noGroup).size, 3, 'without a source_group every clip is its own group');

  // A pool put together from links to another pool's class folders (one class left out) reads like
  // the real one; a link to nothing is not a class.
  const linked = tmp('linked-pool');
  for (const name of ['gunshot', 'keys_drop']) symlinkSync(join(dir, name), join(linked, name));
  symlinkSync(join(dir, 'gone'), join(linked, 'dangling'));
  copyFileSync(join(dir, 'pool.tsv'), join(linked, 'pool.tsv'));
  t.equal(dataFolderShape(linked), 'pool');
  const fromLinks = readDataset([linked], LABELS).clips;
  t.same(
    fromLinks.map((c) => c.name),
    data.clips.filter((c) => c.name.startsWith('gunshot/') || c.name.startsWith('keys_drop/')).map((c) => c.name),
    'the linked class folders, every clip, in the same order',
  );
  t.equal(fromLinks.find((c) => c.name.startsWith('keys_drop/'))!.group, byName.get('keys_drop/keysDrop006.wav')!.group, 'groups from its pool.tsv');
});

t.test('a DCASE folder: spans per file, one group per recording', async (t) => {
  const dev = join(SHARED, 'audio/scenes/dev');
  const dir = tmp('dcase');
  const annotations = readFileSync(join(dev, 'annotations.tsv'), 'utf8').split('\n');
  const rows = annotations.filter((l) => l.startsWith('mixed_01.wav') || l.startsWith('distractors_only_01.wav'));
  writeFileSync(join(dir, 'annotations.tsv'), `filename\tonset\toffset\tevent_label\n${rows.join('\n')}\n`);
  for (const f of ['mixed_01.wav', 'distractors_only_01.wav']) symlinkSync(join(dev, f), join(dir, f));
  t.equal(dataFolderShape(dir), 'dcase');
  const data = readDataset([dir], LABELS);
  t.equal(data.clips.length, 2);
  const mixed = data.clips.find((c) => c.name === 'mixed_01.wav')!;
  t.equal(mixed.labelling, 'spans');
  t.equal(mixed.spans!.length, rows.filter((r) => r.startsWith('mixed_01.wav')).length);
  t.ok(
    mixed.spans!.some((s) => ['gunshot', 'glass_break', 'scream'].includes(s.label)),
    'hostile spans kept',
  );
  t.not(mixed.group, data.clips.find((c) => c !== mixed)!.group);
});

/** A pulled node folder built by hand: what `earshot pull` writes. */
function pulledFolder(): { dir: string; nodeDir: string; ids: string[] } {
  const dir = tmp('pulled');
  const nodeDir = join(dir, 'garage');
  mkdirSync(nodeDir);
  const ids = ['01JAAAAAAAAAAAAAAAAAAAAAAA', '01JBBBBBBBBBBBBBBBBBBBBBBB', '01JCCCCCCCCCCCCCCCCCCCCCCC', '01JDDDDDDDDDDDDDDDDDDDDDDD'];
  const clips = [
    { id: ids[0]!, src: 'audio/clips/gunshot_1.wav', label: 'gunshot', span: [0.2, 1.1] as [number, number], event: 'E1' },
    { id: ids[1]!, src: 'audio/clips/door_slam_1.wav', label: 'gunshot', span: [0.1, 0.9] as [number, number], event: 'E2' },
    { id: ids[2]!, src: 'audio/clips/glass_break_1.wav', label: 'glass_break', span: [0.3, 1.3] as [number, number], event: 'E3' },
    { id: ids[3]!, src: 'audio/clips/keyboard_1.wav', label: null, span: null, event: null },
  ];
  const manifest = { node_id: 'garage', node_url: 'http://x', updated_utc: '', clips: [] as unknown[] };
  let tsv = 'filename\tonset\toffset\tevent_label\n';
  for (const c of clips) {
    copyFileSync(join(SHARED, c.src), join(nodeDir, `${c.id}.wav`));
    const rows = c.label ? [{ label: c.label, onset_s: c.span![0], offset_s: c.span![1] }] : [];
    writeFileSync(join(nodeDir, `${c.id}.txt`), rows.map((r) => `${r.onset_s.toFixed(6)}\t${r.offset_s.toFixed(6)}\t${r.label}\n`).join(''));
    tsv += `${labelsTsvRows(`${c.id}.wav`, rows).join('\n')}\n`;
    manifest.clips.push({
      clip_id: c.id,
      file: `${c.id}.wav`,
      track: `${c.id}.txt`,
      sha256: 'f'.repeat(64),
      bytes: 0,
      kind: c.label ? 'event' : 'background',
      event_id: c.event,
      label: c.label,
      event_in_clip_s: c.span,
    });
  }
  writeFileSync(join(nodeDir, 'manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(nodeDir, 'labels.tsv'), tsv);
  return { dir, nodeDir, ids };
}

t.test('a pulled folder: the edited side of track / labels.tsv wins; both edited differently is refused', async (t) => {
  const { dir, nodeDir, ids } = pulledFolder();
  t.equal(dataFolderShape(dir), 'pulled');
  t.equal(dataFolderShape(nodeDir), 'pulled');
  // The person deleted the false gunshot (a door slam) in Audacity, and moved the glass span in labels.tsv.
  writeFileSync(join(nodeDir, `${ids[1]}.txt`), '');
  const tsvPath = join(nodeDir, 'labels.tsv');
  writeFileSync(tsvPath, readFileSync(tsvPath, 'utf8').replace(`${ids[2]}.wav\t0.300000\t1.300000\tglass_break`, `${ids[2]}.wav\t0.250\t1.400\tglass_break`));
  const folder = readPulledFolder(dir);
  const byId = new Map(folder.clips.map((c) => [c.clipId, c]));
  t.match(byId.get(ids[0]!), { from: 'unchanged', labels: [{ label: 'gunshot', onset_s: 0.2, offset_s: 1.1 }] });
  t.match(byId.get(ids[1]!), { from: 'track', labels: [] });
  t.match(byId.get(ids[2]!), { from: 'labels.tsv', labels: [{ label: 'glass_break', onset_s: 0.25, offset_s: 1.4 }] });
  t.match(byId.get(ids[3]!), { from: 'unchanged', labels: [], detectedLabel: null });

  const data = readDataset([dir], LABELS);
  t.equal(data.clips.length, 4);
  const slam = data.clips.find((c) => c.path.endsWith(`${ids[1]}.wav`))!;
  t.match(slam, { labelling: 'spans', spans: [], group: 'garage:E2' }, 'a deleted detection: every window is background');
  t.equal(data.clips.find((c) => c.path.endsWith(`${ids[3]}.wav`))!.group, `garage:${ids[3]}`, 'background clips group by clip');
  t.ok(
    data.warnings.some((w) => /sha256 differs from the manifest/.test(w)),
    'the hand-made manifest sha256 is noticed',
  );

  // Both edited, differently: refused, naming the clip.
  writeFileSync(join(nodeDir, `${ids[2]}.txt`), '0.100000\t0.500000\tscream\n');
  t.throws(() => readPulledFolder(dir), new RegExp(`edited both in their Audacity track and in labels.tsv, differently \\(${ids[2]}\\)`));
  t.equal(
    readPulledFolder(dir, { prefer: 'labels.tsv' }).clips.find((c) => c.clipId === ids[2])!.labels[0]!.label,
    'glass_break',
    'labels.tsv given explicitly wins',
  );
});

t.test('window labels: loud windows of clip labels, span overlap rules', async (t) => {
  t.same(clipWindowLabels('gunshot', [-20, -29.9, -30.1, -Infinity]), ['gunshot', 'gunshot', null, null], 'within 10 dB of the loudest');
  t.same(clipWindowLabels('other', [-20, -60]), ['other', 'other'], 'every background window counts');
  // Windows of 0.975 s from 0, 0.48 ... 2.88 s; a 0.3 s gunshot at 1.0–1.3 s and a 3 s scream at 3–6 s.
  const starts = [0, 0.48, 0.96, 1.44, 1.92, 2.4, 2.88].map((s) => Math.round(s * 16000));
  const labels = spanWindowLabels(starts, [
    { onset: 1.0, offset: 1.3, label: 'gunshot' },
    { onset: 3.0, offset: 6.0, label: 'scream' },
  ]);
  // [2.4, 3.375] holds 0.375 s of the scream (< half the window): left out; [2.88, 3.855] holds 0.855 s.
  t.same(labels, ['other', 'gunshot', 'gunshot', 'other', 'other', null, 'scream'], 'inside → label; slight overlap → left out; none → background');
  t.same(
    spanWindowLabels(
      [0],
      [
        { onset: 0.1, offset: 0.8, label: 'speech' },
        { onset: 0.2, offset: 0.6, label: 'gunshot' },
      ],
    ),
    ['gunshot'],
    'hostile wins over non-hostile',
  );
});

t.test('L-BFGS minimises a quadratic and the Rosenbrock function', async (t) => {
  const quadratic = await minimizeLbfgs(
    (x, g) => {
      g[0] = 2 * (x[0]! - 3);
      g[1] = 20 * (x[1]! + 1);
      return (x[0]! - 3) ** 2 + 10 * (x[1]! + 1) ** 2;
    },
    Float64Array.of(0, 0),
  );
  t.ok(Math.abs(quadratic.x[0]! - 3) < 1e-5 && Math.abs(quadratic.x[1]! + 1) < 1e-5, `quadratic minimum ${Array.from(quadratic.x)}`);
  const rosen = await minimizeLbfgs(
    (x, g) => {
      const [a, b] = [x[0]!, x[1]!];
      g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
      g[1] = 200 * (b - a * a);
      return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
    },
    Float64Array.of(-1.2, 1),
    { maxIterations: 500, gradientTolerance: 1e-8, relativeTolerance: 0 },
  );
  t.ok(Math.abs(rosen.x[0]! - 1) < 1e-4 && Math.abs(rosen.x[1]! - 1) < 1e-4, `Rosenbrock minimum ${Array.from(rosen.x)} after ${rosen.iterations}`);
});

/** A label's cross-validation report with 50 events; only the counts that {@link servedBy} reads matter. */
function labelReport(counts: Pick<LabelReport, 'detected' | 'false_alarms' | 'rule'> & Partial<LabelReport>): LabelReport {
  return {
    label: 'gunshot',
    clips: 50,
    windows: 400,
    positives: 50,
    precision: counts.detected / (counts.detected + counts.false_alarms),
    recall: counts.detected / 50,
    fa_per_hour: 2,
    threshold: 0.5,
    negative_hours: 2.5,
    over_budget: false,
    ...counts,
  };
}

t.test('thresholds: the best event F1 within the rule budget; on a tie (F1 0: a label the folds never find) the fewest false alarms', async (t) => {
  // One validated recording of six windows (0.48 s hop): five of other audio, then one of the label.
  // The head's label probability per window; the rule fires on windows 0 and 2 (two false alarms:
  // the budget). At a threshold of 0.31 the head alarms on windows 0 and 2 (within the budget),
  // at 0.51 on window 0 only, at 0.61 on none.
  const background = [0.6, 0, 0.5, 0, 0.3];
  const rows: Row[] = [...background, 0].map((_, w) => ({ item: 0, window: w, label: w < 5 ? 1 : 0, group: 'g', augmented: false, site: false }));
  const ruleScores = [1, 0, 1, 0, 0, 0];
  const budget: Budget = { rule: { score: (r) => ruleScores[r]!, threshold: 0.5 } };
  const choose = (labelProbability: number) => {
    const p = [...background, labelProbability];
    const probabilities = Float64Array.from(p.flatMap((x) => [x, 1 - x]));
    return chooseThreshold(rows, new Uint8Array(rows.length).fill(1), probabilities, 2, 0, budget, 0.48, new Set());
  };
  const never = choose(0);
  t.equal(never.rule!.false_alarms, 2, "the rule's two false alarms are the budget");
  t.equal(never.detected, 0, 'the event is never found');
  t.equal(never.false_alarms, 0, 'so the threshold raises no false alarm');
  t.equal(never.threshold, 0.61, 'the lowest threshold with none (not 0.31, the lowest within the budget)');
  t.equal(never.over_budget, false);
  const found = choose(0.4);
  t.equal(found.threshold, 0.31, 'a label found below 0.41: the best F1 (1 event, 2 false alarms) beats fewer false alarms');
  t.same([found.detected, found.false_alarms], [1, 2]);
});

t.test('thresholds: the next threshold down names the clips that hold the threshold up', async (t) => {
  // Two validated clips (0.48 s hop). Clip a: background, event, background, event, then two
  // background windows; clip b: three background windows. The rule raises one false alarm (b's
  // first window): the budget.
  const names = ['pool/scream/a.wav', 'pool/children_playing/b.wav'];
  const labelsOfA = [1, 0, 1, 0, 1, 1];
  const rows: Row[] = [
    ...labelsOfA.map((label, w) => ({ item: 0, window: w, label, group: 'ga', augmented: false, site: false })),
    ...[0, 1, 2].map((w) => ({ item: 1, window: w, label: 1, group: 'gb', augmented: false, site: false })),
  ];
  const ruleScores = [0, 1, 0, 0, 0, 0, 1, 0, 0];
  const budget: Budget = { rule: { score: (r) => ruleScores[r]!, threshold: 0.5 } };
  const choose = (head: number[]) =>
    chooseThreshold(
      rows,
      new Uint8Array(rows.length).fill(1),
      Float64Array.from(head.flatMap((x) => [x, 1 - x])),
      2,
      0,
      budget,
      0.48,
      new Set(),
      undefined,
      false,
      'best',
      (r) => names[rows[r]!.item]!,
    );
  // The first event at 0.95, the second at 0.72; a's last two windows (one run) at 0.85 and 0.86;
  // b's windows at 0.9, 0.3 and 0.8 (two runs).
  const report = choose([0.1, 0.95, 0.2, 0.72, 0.85, 0.86, 0.9, 0.3, 0.8]);
  t.same([report.threshold, report.detected, report.false_alarms], [0.91, 1, 0], 'the best F1 within one false alarm: one event, no false alarm');
  const hours = (7 * 0.48) / 3600;
  t.same(
    report.next_step,
    {
      threshold: 0.72,
      detected: 2,
      false_alarms: 3,
      fa_per_hour: Math.round((3 / hours) * 1000) / 1000,
      new_false_alarms: 3,
      confuser_clips: 2,
      confusers: [
        { clip: 'pool/children_playing/b.wav', score: 0.9, runs: 2 },
        { clip: 'pool/scream/a.wav', score: 0.86, runs: 1 },
      ],
    },
    'the highest threshold finding the second event (0.72) raises three false alarms more: two runs in b, one in a, highest first',
  );
  const allFound = choose([0.1, 0.95, 0.2, 0.93, 0.85, 0.86, 0.9, 0.3, 0.8]);
  t.same([allFound.threshold, allFound.detected], [0.91, 2], 'both events above every false alarm');
  t.equal(allFound.next_step, undefined, 'every event found: nothing holds the threshold up');
});

t.test("--serve better: the site's own windows decide who serves a label when they tell head and rule apart", async (t) => {
  // All validation windows: the head finds 40 of 50 events with 5 false alarms, the rule 30 with 5.
  const report = labelReport({
    label: 'explosion',
    detected: 40,
    false_alarms: 5,
    rule: { threshold: 0.3, detected: 30, false_alarms: 5, recall: 0.6, precision: 0.86, fa_per_hour: 2 },
  });
  const site = (s: Partial<NonNullable<LabelReport['site']>>) => ({
    ...report,
    site: { positives: 0, detected: 0, false_alarms: 0, rule_detected: 0, rule_false_alarms: 0, ...s },
  });
  t.equal(servedByRule(report), false, 'no site windows: the head, better on all windows, serves');
  t.equal(servedByRule(site({})), false, 'site windows that tell nothing apart (no event, no alarm): all windows decide');
  t.equal(
    servedByRule(site({ false_alarms: 2 })),
    true,
    'a label the site never had: the head alarms on its audio where the rule does not, so the rule keeps it',
  );
  t.equal(servedByRule(site({ false_alarms: 1, rule_false_alarms: 3 })), false, 'no event at the site and fewer head false alarms: the head');
  t.equal(servedByRule(site({ positives: 6, detected: 2, rule_detected: 5 })), true, 'the rule finds more of the site events');
  t.equal(servedByRule(site({ positives: 6, detected: 5, rule_detected: 5 })), false, 'a tie at the site: all windows decide');
  const ruleBetterOverall = { ...report, rule: { ...report.rule!, detected: 45 } };
  t.equal(servedByRule(ruleBetterOverall), true, 'no site windows, the rule better overall: the rule');
  t.equal(
    servedByRule({ ...ruleBetterOverall, site: { positives: 6, detected: 6, false_alarms: 0, rule_detected: 3, rule_false_alarms: 0 } }),
    false,
    'the site prefers the head: the head',
  );
  const { rule: _rule, ...noRule } = report;
  t.equal(servedByRule(noRule), false, 'a label the rule cannot hear: always the head');
});

t.test('jackknife over groups: the textbook standard error of a mean; paired figures per label; the serve margin', async (t) => {
  // Groups [value, 1] and the statistic sum/count: the jackknife SE of a mean is s/√n exactly.
  const values = [1, 2, 3, 4];
  const se = jackknifeStandardError(
    values.map((v) => [v, 1]),
    (c) => c[0]! / c[1]!,
  );
  t.ok(Math.abs(se - Math.sqrt(5 / 3) / 2) < 1e-12, `SE of the mean of 1..4: ${se} = s/√n`);
  t.equal(
    jackknifeStandardError([[3, 1]], (c) => c[0]!),
    0,
    'one group: no spread to measure',
  );

  // Two recordings of the label, one event each; the head finds the first only, the rule both.
  // Left out in turn: head F1 1 (first kept) or 0 (second kept); rule F1 1 either way.
  const rows: Row[] = [0, 1].flatMap((item) =>
    [0, 1, 2].map((w) => ({ item, window: w, label: w === 1 ? 0 : 1, group: `g${item}`, augmented: false, site: false })),
  );
  const head = [0, 0.9, 0, 0.5, 0.2, 0.5]; // the second recording's background outscores its event
  const ruleScore = [0, 1, 0, 0, 1, 0];
  const probabilities = Float64Array.from(head.flatMap((x) => [x, 1 - x]));
  const budget: Budget = { rule: { score: (r) => ruleScore[r]!, threshold: 0.5 } };
  const report = chooseThreshold(rows, new Uint8Array(rows.length).fill(1), probabilities, 2, 0, budget, 0.48, new Set());
  t.same([report.detected, report.rule!.detected], [1, 2], 'the head finds one event, the rule two');
  t.same(report.jackknife, { groups: 2, f1_se: 0.5, rule_f1_se: 0, difference_se: 0.5 }, 'SE = √(1/2 · (0.5² + 0.5²)) = 0.5 for the head and the difference');

  // The margin: the head 0.842 against the rule 0.706 (difference 0.136), difference SE 0.1.
  const margin = labelReport({
    label: 'explosion',
    detected: 40,
    false_alarms: 5,
    rule: { threshold: 0.3, detected: 30, false_alarms: 5, recall: 0.6, precision: 0.86, fa_per_hour: 2 },
    jackknife: { groups: 30, f1_se: 0.05, rule_f1_se: 0.06, difference_se: 0.1 },
  });
  t.equal(servedBy(margin), 'head', 'no margin: the higher F1 serves');
  t.equal(servedBy(margin, false, 1), 'head', 'ahead by 1.36 standard errors: the head, with a margin of 1');
  t.equal(servedBy(margin, false, 2), 'rule', 'not by 2: the rule keeps it');
  const atSite = { ...margin, site: { positives: 4, detected: 4, false_alarms: 0, rule_detected: 2, rule_false_alarms: 0 } };
  t.equal(servedBy(atSite, false, 2), 'head', "the site's windows decide without a margin");
});

t.test('thresholds, the one-standard-error rule: the fewest false alarms within one jackknife SE of the best F1', async (t) => {
  // Four recordings, each a window of other audio then one event. The head finds the events of the
  // first two at 0.95 and the third's at 0.4; the fourth's event never, and its other audio scores
  // 0.5. Thresholds ≤ 0.4: 3 found, 1 false alarm (F1 0.75, the best); 0.41…0.5: 2 found, 1 false
  // alarm (0.571); 0.51…0.95: 2 found, none (0.667).
  // Leaving out each recording in turn: F1 0.667, 0.667, 0.667, 1, so SE = √(3/4 · 1/12) = 0.25.
  const events = [0.95, 0.95, 0.4, 0];
  const others = [0, 0, 0, 0.5];
  const rows: Row[] = events.flatMap((_, item) =>
    [0, 1].map((w) => ({ item, window: w, label: w === 1 ? 0 : 1, group: `g${item}`, augmented: false, site: false })),
  );
  const head = events.flatMap((e, i) => [others[i]!, e]);
  const probabilities = Float64Array.from(head.flatMap((x) => [x, 1 - x]));
  const budget: Budget = { rule: { score: (r) => (r % 2 === 0 ? 1 : 0), threshold: 0.5 } }; // the rule: 4 false alarms
  const choose = (choice: 'best' | 'one-se') =>
    chooseThreshold(rows, new Uint8Array(rows.length).fill(1), probabilities, 2, 0, budget, 0.48, new Set(), undefined, false, choice);
  const best = choose('best');
  t.same([best.threshold, best.detected, best.false_alarms], [0.01, 3, 1], 'the best F1: the lowest threshold, 3 found, 1 false alarm');
  const oneSe = choose('one-se');
  t.same([oneSe.threshold, oneSe.detected, oneSe.false_alarms], [0.51, 2, 0], 'one SE: 0.667 is within 0.25 of 0.75, with no false alarm');
});

t.test("thresholds, the site's windows first: of the thresholds within the budget, the best F1 on the site's own windows", async (t) => {
  // Four recordings, each a window of other audio then one event; the last is the site's. The pool's
  // events score 0.95; the first two pool recordings' other audio 0.6 (the rule alarms there too:
  // a budget of 2); the site's event 0.5 and its other audio 0.2.
  // Thresholds 0.21…0.5: 4 found, 2 false alarms (F1 0.8), the site's event found (site F1 1);
  // 0.61…0.95: 3 found, none (F1 0.857), the site's event missed (site F1 0); ≤ 0.2: a site false alarm too.
  const events = [0.95, 0.95, 0.95, 0.5];
  const others = [0.6, 0.6, 0, 0.2];
  const rows: Row[] = events.flatMap((_, item) =>
    [0, 1].map((w) => ({ item, window: w, label: w === 1 ? 0 : 1, group: `g${item}`, augmented: false, site: item === 3 })),
  );
  const siteRows = Uint8Array.from(rows, (row) => (row.site ? 1 : 0));
  const head = events.flatMap((e, i) => [others[i]!, e]);
  const probabilities = Float64Array.from(head.flatMap((x) => [x, 1 - x]));
  const ruleScore = [1, 0, 1, 0, 0, 0, 0, 0];
  const budget: Budget = { rule: { score: (r) => ruleScore[r]!, threshold: 0.5 } };
  const choose = (choice: 'best' | 'site', site = siteRows) =>
    chooseThreshold(rows, new Uint8Array(rows.length).fill(1), probabilities, 2, 0, budget, 0.48, new Set(), site, false, choice);
  const best = choose('best');
  t.same([best.threshold, best.detected, best.false_alarms, best.site?.detected], [0.61, 3, 0, 0], 'the best F1 on all windows misses the site event');
  const site = choose('site');
  t.same(
    [site.threshold, site.detected, site.false_alarms, site.site?.detected, site.site?.false_alarms],
    [0.21, 4, 2, 1, 0],
    "the site's windows first: the lowest threshold that finds its event without a false alarm there, within the rule's 2",
  );
  const noSite = choose('site', new Uint8Array(rows.length));
  t.equal(noSite.threshold, 0.61, 'no site windows: as the best F1');
  const tightBudget: Budget = { rule: { score: (r) => (r === 0 ? 1 : 0), threshold: 0.5 } };
  const tight = chooseThreshold(rows, new Uint8Array(rows.length).fill(1), probabilities, 2, 0, tightBudget, 0.48, new Set(), siteRows, false, 'site');
  t.same([tight.threshold, tight.false_alarms], [0.61, 0], 'a budget of 1 false alarm: the site cannot buy its event with a second one');
});

t.test('--serve either: the rule and the head together serve a label when the pair measured best', async (t) => {
  // All validation windows, 50 events: the head finds 25 (6 false alarms), the rule 35 (6), the pair 40 (6).
  const report = labelReport({
    detected: 25,
    false_alarms: 6,
    rule: { threshold: 0.15, detected: 35, false_alarms: 6, recall: 0.7, precision: 0.85, fa_per_hour: 3 },
    either: { threshold: 0.9, detected: 40, false_alarms: 6, recall: 0.8, precision: 0.87, fa_per_hour: 3 },
  });
  t.equal(servedBy(report, true), 'either', "the pair finds 40 at the rule's 6 false alarms: the pair");
  t.equal(servedBy(report), 'rule', '--serve better: the better of rule and head alone');
  t.equal(servedBy({ ...report, either: { ...report.either!, detected: 35 } }, true), 'rule', 'a pair that adds nothing: the rule (a tie goes to the rule)');
  t.equal(servedBy({ ...report, detected: 48, false_alarms: 2 }, true), 'head', 'a head better than the pair: the head');
  const site = { positives: 6, detected: 3, false_alarms: 0, rule_detected: 5, rule_false_alarms: 0, either_detected: 5, either_false_alarms: 1 };
  t.equal(servedBy({ ...report, site }, true), 'rule', "the site's windows first: the pair's extra false alarm there loses to the rule");
  const { either: _either, ...noPair } = report;
  t.equal(servedBy(noPair, true), 'rule', 'no head threshold kept the pair within budget: rule or head');
});

t.test('grouped folds: every group in exactly one fold, balanced per label, fixed by the seed', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ label: fc.integer({ min: 0, max: 3 }), windows: fc.integer({ min: 1, max: 40 }) }), { minLength: 5, maxLength: 80 }),
      fc.integer({ min: 2, max: 6 }),
      fc.integer(),
      (groups, folds, seed) => {
        const map = new Map(groups.map((g, i) => [`g${i}`, g]));
        const assigned = assignFolds(map, folds, seed);
        if (assigned.size !== map.size) return false;
        for (const fold of assigned.values()) if (!(fold >= 0 && fold < folds)) return false;
        // Balance: per label, no fold exceeds the lightest by more than the largest group of that label.
        for (let label = 0; label <= 3; label++) {
          const load = new Array(folds).fill(0);
          let largest = 0;
          for (const [name, g] of map) {
            if (g.label !== label) continue;
            load[assigned.get(name)!] += g.windows;
            largest = Math.max(largest, g.windows);
          }
          if (Math.max(...load) - Math.min(...load) > largest) return false;
        }
        const again = assignFolds(map, folds, seed);
        return [...assigned].every(([k, v]) => again.get(k) === v);
      },
    ),
    { numRuns: 200 },
  );
  t.pass('property holds');
});

/**
 * trainHead's options for the SUBSET clips, as the trainer tests share them: a pool folder of
 * their own, a fresh embedding cache, one embedder (closed when `t` ends), 2 folds, a fixed seed
 * and training date.
 */
async function subsetTraining(t: Test) {
  const embedder: Embedder = await openEmbedder({ modelPath: MODEL });
  t.teardown(() => embedder.close());
  return {
    data: [subsetPool(SUBSET)],
    modelPath: MODEL,
    embedder,
    cacheDir: tmp('cache'),
    seed: 7,
    folds: 2,
    augmentCopies: 1,
    maxIterations: 40,
    trainedAt: new Date('2026-12-02T07:00:00Z'),
  };
}

t.test("site ambience: pool events are mixed into the site's background clips (a DCASE or pulled clip with no span)", async (t) => {
  const embedder: Embedder = await openEmbedder({ modelPath: MODEL });
  t.teardown(() => embedder.close());
  // A pool with no ambience recording, and a site folder: 3 s of the exercise bike, no event, and a clip with a gunshot span.
  const pool = subsetPool(SUBSET.slice(0, 2));
  const site = tmp('site-ambience');
  const bike = readWav16(join(POOL, 'ambience/exercise_bike.wav'));
  writeFileSync(join(site, 'bike.wav'), encodeWav16(bike.subarray(0, 3 * 16000), 16000));
  writeFileSync(join(site, 'shot.wav'), encodeWav16(bike.subarray(3 * 16000, 6 * 16000), 16000));
  writeFileSync(join(site, 'annotations.tsv'), 'filename\tonset\toffset\tevent_label\nshot.wav\t1.0\t1.5\tgunshot\n');
  const { clips } = readDataset([pool, site], LABELS);
  const background = clips.find((c) => c.name === 'bike.wav')!;
  t.ok(
    isSiteBackground(background) && !isSiteBackground(clips.find((c) => c.name === 'shot.wav')!),
    'the clip with no span is the site background; the annotated one is not',
  );
  // The trainer warns when the data holds neither ambience nor background: pool events alone.
  t.match(
    noAmbienceWarning(readDataset([pool], LABELS).clips),
    /^no ambience recording or background clip in the data: .*fire on background it has not heard/,
    'pool events alone: the warning',
  );
  t.equal(noAmbienceWarning(clips), null, "with the site's background clip: none");
  t.equal(
    noAmbienceWarning(readDataset([subsetPool([SUBSET[0]!, 'ambience/150993__saphe__street-scene-1.wav'])], LABELS).clips),
    null,
    'with an ambience recording: none',
  );
  const options = { embedder, hopFrames: 48, cacheDir: null, seed: 3, augmentCopies: 1 };
  const without = await extractFeatures(clips, { ...options, siteAmbience: false });
  t.equal(without.items.filter((i) => i.augmentation !== 'none').length, 0, 'no ambience recording in the data and no site ambience: no augmented copies');
  const withSite = await extractFeatures(clips, { ...options, siteAmbience: true });
  const copies = withSite.items.filter((i) => i.augmentation !== 'none');
  t.equal(copies.length, 2, 'one copy of each pool clip (the site clips are not copied)');
  t.ok(
    copies.every((c) => c.augmentation.startsWith(`mix1:${background.sha256.slice(0, 16)}:`)),
    "each copy is mixed into the site's background clip",
  );
});

t.test('quieter ambience: each ambience recording also as copies at −30…0 dB, seeded (ambienceGainCopies)', async (t) => {
  const embedder: Embedder = await openEmbedder({ modelPath: MODEL });
  t.teardown(() => embedder.close());
  const { clips } = readDataset([subsetPool([SUBSET[0]!, 'ambience/150993__saphe__street-scene-1.wav'])], LABELS);
  const options = { embedder, hopFrames: 48, cacheDir: null, seed: 3, augmentCopies: 2 };
  const off = await extractFeatures(clips, options);
  t.equal(off.items.filter((i) => i.augmentation !== 'none').length, 2, 'off (the default): only the gunshot is copied, into the ambience');
  const on = await extractFeatures(clips, { ...options, ambienceGainCopies: true });
  const ambience = on.items.filter((i) => i.clip.labelling === 'ambience');
  const [original, ...copies] = ambience;
  t.equal(copies.length, 2, 'two quieter copies of the ambience recording');
  t.same(
    copies.map((c) => c.augmentation),
    [0, 1].map((copy) => `gain1:${drawAmbienceGain(3, original!.clip.sha256, copy).toFixed(2)}`),
    'named by their gain, drawn from the seed and the recording',
  );
  for (const copy of copies) {
    const gain = Number(copy.augmentation.slice('gain1:'.length));
    t.ok(gain <= 0 && gain >= -30, `gain ${gain} dB within −30…0`);
    t.equal(copy.windows, original!.windows, 'the same windows as the recording');
    const levels = Array.from(copy.dbfs, (d, w) => d - original!.dbfs[w]!);
    t.ok(
      levels.every((d) => Math.abs(d - gain) < 0.01),
      `every window ${gain} dB under the recording's`,
    );
    t.not(copy.scores.join(','), original!.scores.join(','), 'YAMNet hears the quieter copy differently');
  }
  t.not(drawAmbienceGain(4, original!.clip.sha256, 0), drawAmbienceGain(3, original!.clip.sha256, 0), 'another seed, another gain');
});

t.test('trainHead on 20 real clips: deterministic, cached, grouped CV, a valid head', async (t) => {
  const options = await subsetTraining(t);
  const first = await trainHead(options);
  t.ok(first.report.featuresComputed > SUBSET.length, `features computed (${first.report.featuresComputed}, with augmented copies)`);
  const second = await trainHead(options);
  t.equal(second.report.featuresComputed, 0, 'a re-train reads every embedding from the cache');
  t.equal(second.text, first.text, 'same data and seed: the same bytes');
  const otherSeed = await trainHead({ ...options, seed: 8 });
  t.not(otherSeed.text, first.text, 'another seed: other augmentation and folds');

  const head = parseHead(first.text, 'trained.json');
  t.same(head.labels, ['gunshot', 'glass_break', 'dog_bark', 'door_knock', 'other'], 'labels with clips, configured order, then background');
  t.equal(head.json.validation.method, 'grouped-kfold');
  t.equal(head.json.training.clip_count, SUBSET.length);
  t.equal(head.json.training.clips_per_label.gunshot, 6);
  t.equal(head.json.base_model.sha256, options.embedder.modelSha256);
  t.ok(head.thresholds.gunshot!.threshold > 0 && head.thresholds.gunshot!.release <= head.thresholds.gunshot!.threshold);
  const gunshot = first.report.labels.find((l) => l.label === 'gunshot')!;
  t.ok(gunshot.positives >= 6 && gunshot.recall >= 0 && gunshot.recall <= 1, `gunshot CV recall ${gunshot.recall} of ${gunshot.positives}`);
  t.ok(
    gunshot.jackknife && gunshot.jackknife.groups >= 6 && gunshot.jackknife.f1_se > 0,
    `gunshot F1 jackknife SE ${gunshot.jackknife?.f1_se} over ${gunshot.jackknife?.groups} groups`,
  );
  t.same((head.json.validation.labels.gunshot as unknown as { jackknife: unknown }).jackknife, gunshot.jackknife, 'and the head file carries it');

  // Grouped: the five keys_drop clips share one recording, so one fold.
  const folds = first.report.foldOfGroup;
  t.equal(
    new Set(
      Object.keys(folds)
        .filter((g) => g.includes('keys_drop'))
        .map((g) => folds[g]),
    ).size,
    1,
  );
  t.equal(Object.keys(folds).filter((g) => g.includes('keys_drop')).length, 1, 'keys_drop clips are one group');
  // dog_bark is one clip, so one source recording: no fold can find it, and the trainer says so.
  t.match(
    first.report.warnings.filter((w) => w.startsWith('dog_bark: ')),
    [/every clip of it is from one source recording .*cross-validation cannot find it.*label clips of it from other recordings/],
  );
  t.notOk(
    first.report.warnings.some((w) => w.startsWith('gunshot: ')),
    'gunshot (six recordings): no such warning',
  );
  t.notOk(
    first.report.warnings.some((w) => w.startsWith('no ambience')),
    'the subset holds an ambience recording: no ambience warning',
  );

  // The head's forward pass agrees with the trainer: a gunshot clip's loud window scores gunshot highest.
  const samples = await readClip16k(join(POOL, SUBSET[4]!));
  const patches = await options.embedder.embed(samples);
  const loudest = patches.reduce((a, b) => (b.rmsDbfs > a.rmsDbfs ? b : a));
  const p = applyHead(head, loudest.embedding, loudest.scores);
  t.equal(head.labels[p.indexOf(Math.max(...p))], 'gunshot', `probabilities ${Array.from(p, (v) => v.toFixed(2))}`);
});

t.test('earshot train says what holds each hostile threshold up, as the report has it', async (t) => {
  const options = await subsetTraining(t);
  const { report } = await trainHead(options);
  const steps = report.labels.filter((l) => ['gunshot', 'glass_break'].includes(l.label) && l.next_step);
  t.ok(steps.length > 0, `a hostile label misses events in cross-validation (${steps.map((l) => l.label).join(', ')})`);
  const out = join(tmp('train-cli'), 'head.json');
  const cli = await earshot([
    'train',
    ...['--data', options.data[0]!, '--model', MODEL, '--cache', options.cacheDir, '--out', out],
    ...['--seed', '7', '--folds', '2', '--augment', '1', '--max-iterations', '40'],
  ]);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, /^what holds the hostile thresholds up \(cross-validation: the next threshold down that finds more events/m);
  const pool = basename(options.data[0]!);
  for (const l of steps) {
    const step = l.next_step!;
    t.ok(step.threshold < l.threshold && step.detected > l.detected && step.confusers.length <= 5);
    const line = cli.stdout.split('\n').find((x) => x.startsWith(`  ${l.label} ${l.threshold} → ${step.threshold}: `));
    t.ok(line, `${l.label}'s line: ${line}`);
    t.ok(line!.includes(`${step.detected} of ${l.positives} events (+${step.detected - l.detected}), ${step.new_false_alarms} false alarm`));
    for (const c of step.confusers) {
      t.ok(c.clip.startsWith(`${pool}/`), `${c.clip}: the data folder's name, then the clip's path in it`);
      t.ok(line!.includes(`${c.clip} ${c.score.toFixed(3)}`), `${c.clip} named with its probability`);
    }
  }
});

t.test('repeated cross-validation: thresholds from the mean of several deals of groups to folds; the final fit unchanged', async (t) => {
  const options = await subsetTraining(t);
  const once = await trainHead(options);
  t.equal((await trainHead({ ...options, cvRepeats: 1 })).text, once.text, 'one repeat is the head of one deal');
  const thrice = await trainHead({ ...options, cvRepeats: 3 });
  t.equal(parseHead(thrice.text, 'repeated.json').json.validation.repeats, 3, 'the head records the repeats');
  t.notOk('repeats' in once.head.validation, 'a head of one deal does not');
  t.same(thrice.head.layers, once.head.layers, 'the weights are the final fit on all windows, whatever the repeats');
  for (const l of thrice.report.labels) {
    const single = once.report.labels.find((o) => o.label === l.label)!;
    t.equal(l.positives, single.positives, `${l.label}: every original window scored, in every repeat (${l.positives} events)`);
  }
  t.same(thrice.report.foldOfGroup, once.report.foldOfGroup, "the report's folds are the first deal's");
  await t.rejects(trainHead({ ...options, cvRepeats: 0 }), /cv repeats: must be a whole number 1\.\.20, got 0/);
});

t.test(
  'thresholds under the rule budget: no more false alarms than the YAMNet rule on the same validation audio; a number still works; site weight',
  async (t) => {
    const options = await subsetTraining(t);
    const byRule = await trainHead(options);
    const head = parseHead(byRule.text, 'rule.json');
    t.equal(head.json.validation.fa_budget, 'rule', 'the default budget is the rule, and the head says so');
    for (const l of byRule.report.labels) {
      // Every label here has YAMNet classes in the manifest's class map: the rule's figures are there.
      t.ok(l.rule, `${l.label}: the rule's figures on the same windows`);
      t.equal(l.fa_budget_per_hour, l.rule!.fa_per_hour, `${l.label}: the budget is the rule's false alarms per hour (${l.rule!.fa_per_hour})`);
      if (!l.over_budget) t.ok(l.fa_per_hour <= l.rule!.fa_per_hour + 1e-9, `${l.label}: head ${l.fa_per_hour} FA/h <= rule ${l.rule!.fa_per_hour}`);
      const written = head.json.validation.labels[l.label] as unknown as { fa_budget_per_hour: number; rule: { threshold: number } };
      t.equal(written.fa_budget_per_hour, l.fa_budget_per_hour, `${l.label}: the budget is written into the head`);
      t.equal(head.thresholds[l.label]!.threshold, l.threshold);
    }
    // The rule's threshold is the configured one: a stricter config gives the rule fewer false alarms, so a tighter budget.
    const gunshotRule = byRule.report.labels.find((l) => l.label === 'gunshot')!.rule!;
    t.equal(gunshotRule.threshold, 0.2, "earshot's default gunshot threshold");
    const strict = await trainHead({ ...options, ruleLabels: { gunshot: { group: 'hostile', threshold: 0.99, release: 0.5, enabled: true } } });
    const strictGunshot = strict.report.labels.find((l) => l.label === 'gunshot')!;
    t.equal(strictGunshot.rule!.threshold, 0.99);
    t.ok(strictGunshot.rule!.fa_per_hour <= gunshotRule.fa_per_hour, 'a stricter rule: no more false alarms to match');
    t.notOk(strict.report.labels.find((l) => l.label === 'glass_break')!.rule, 'a label the given rule lacks: no rule figures (best F1, no budget)');

    // --serve either: the pair's figures stay within the rule's false alarms; a paired label carries the pair's head threshold.
    const paired = await trainHead({ ...options, serve: 'either' });
    const pairedHead = parseHead(paired.text, 'either.json');
    for (const l of paired.report.labels) {
      if (!l.either) continue;
      t.ok(l.either.false_alarms <= l.rule!.false_alarms, `${l.label}: the pair ${l.either.false_alarms} false alarms <= the rule's ${l.rule!.false_alarms}`);
      t.ok(l.either.detected >= l.rule!.detected, `${l.label}: the pair finds at least what the rule finds`);
      t.equal(l.served_by === 'either', pairedHead.eitherLabels.includes(l.label), `${l.label}: served by ${l.served_by}, in either_labels accordingly`);
      if (l.served_by === 'either') t.equal(pairedHead.thresholds[l.label]!.threshold, l.either.threshold, `${l.label}: the head's threshold is the pair's`);
    }
    t.notOk(
      pairedHead.eitherLabels.some((l) => pairedHead.ruleLabels.includes(l)),
      'no label is both paired and left to the rule',
    );
    await t.rejects(trainHead({ ...options, serve: 'pair' as 'either' }), /serve: "better", "either" or "all", got pair/);
    await t.rejects(trainHead({ ...options, thresholdChoice: 'lowest' as 'best' }), /threshold choice: "best", "one-se" or "site", got lowest/);
    await t.rejects(trainHead({ ...options, serveMargin: -1 }), /serve margin: must be a number >= 0 \(standard errors\), got -1/);

    const fixed = await trainHead({ ...options, faBudgetPerHour: 1e9 });
    t.equal(parseHead(fixed.text, 'fixed.json').json.validation.fa_budget_per_hour, 1e9, 'a numeric budget is still accepted');
    t.ok(
      fixed.report.labels.every((l) => l.threshold === 0.01 && !l.rule),
      'a huge numeric budget: the lowest threshold of the grid',
    );

    // Site weight: windows from a DCASE folder (the site's own labels) weigh more.
    const [data] = options.data as [string];
    const site = tmp('site');
    copyFileSync(join(data, 'ambience/150993__saphe__street-scene-1.wav'), join(site, 'garage.wav'));
    writeFileSync(join(site, 'annotations.tsv'), 'filename\tonset\toffset\tevent_label\n');
    const plain = await trainHead({ ...options, data: [data, site], folds: 0 });
    const weighted = await trainHead({ ...options, data: [data, site], folds: 0, siteWeight: 5 });
    t.not(weighted.text, plain.text, 'a site weight changes the head');
    t.equal(parseHead(weighted.text, 'w.json').json.training.options.site_weight, 5, 'and is recorded in it');
    await t.rejects(trainHead({ ...options, siteWeight: 0 }), /site weight: must be a number > 0/);
  },
);
