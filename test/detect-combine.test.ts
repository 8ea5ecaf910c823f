/**
 * Combining several models' label scores: max and weighted mean per label, weights, labels a model
 * does not serve, per-label modes, and the labels an extra model serves from its config entry.
 */
import t from 'tap';
import fc from 'fast-check';
import { LabelCombiner, resolveMemberLabels, unionLabels, type CombineMember } from '../src/detect/combine.js';
import { LabelMap, type LabelSettings, type LabelSpec } from '../src/detect/label-map.js';

const spec = (name: string, classes: string[], group: 'hostile' | 'non_hostile' = 'hostile'): LabelSpec => ({
  name,
  group,
  classes,
  threshold: 0.5,
  release: 0.25,
});

// A YAMNet-like model serving gunshot, glass_break and scream; an ST-like model serving gunshot and glass_break.
const labels = [spec('gunshot', ['Gunshot']), spec('glass_break', ['Glass']), spec('scream', ['Screaming'])];
const big: CombineMember = {
  name: 'big',
  classNames: ['Speech', 'Gunshot', 'Machine gun', 'Glass', 'Screaming'],
  labels: [spec('gunshot', ['Gunshot', 'Machine gun']), spec('glass_break', ['Glass']), spec('scream', ['Screaming'])],
  weight: 1,
};
const small = (weight: number, served = ['gunshot', 'glass_break']): CombineMember => ({
  name: 'small',
  classNames: ['Glass', 'Gunshot_and_gunfire', 'Speech'],
  labels: [spec('gunshot', ['Gunshot_and_gunfire']), spec('glass_break', ['Glass'])].filter((l) => served.includes(l.name)),
  weight,
});
const bigScores = Float32Array.from([0.9, 0.2, 0.3, 0.1, 0.6]); // gunshot 0.3 (max of its classes), glass 0.1, scream 0.6
const smallScores = Float32Array.from([0.7, 0.9, 0.05]); // glass 0.7, gunshot 0.9
const near = (test: Pick<typeof t, 'ok'>, got: ArrayLike<number>, want: number[], message: string) =>
  test.ok(
    want.every((w, i) => Math.abs(got[i] - w) < 1e-6),
    `${message}: got [${Array.from(got).map((x) => x.toFixed(4))}], want [${want}]`,
  );

t.test('max takes the highest serving score per label; a label one model serves keeps its score', async (t) => {
  const combiner = new LabelCombiner(labels, [big, small(1)], { mode: 'max' });
  near(t, combiner.combine([bigScores, smallScores]), [0.9, 0.7, 0.6], 'max');
  t.same(combiner.servingCounts, [2, 2, 1]);
});

t.test('max scales a model by its weight (capped at 1)', async (t) => {
  near(t, new LabelCombiner(labels, [big, small(0.5)], { mode: 'max' }).combine([bigScores, smallScores]), [0.45, 0.35, 0.6], 'weight 0.5');
  near(t, new LabelCombiner(labels, [big, small(2)], { mode: 'max' }).combine([bigScores, smallScores]), [1, 1, 0.6], 'weight 2, capped');
});

t.test('mean is the weighted mean over the models serving the label', async (t) => {
  near(
    t,
    new LabelCombiner(labels, [big, small(1)], { mode: 'mean' }).combine([bigScores, smallScores]),
    [(0.3 + 0.9) / 2, (0.1 + 0.7) / 2, 0.6],
    'equal weights',
  );
  near(
    t,
    new LabelCombiner(labels, [big, small(0.25)], { mode: 'mean' }).combine([bigScores, smallScores]),
    [(0.3 + 0.25 * 0.9) / 1.25, (0.1 + 0.25 * 0.7) / 1.25, 0.6],
    'weight 0.25',
  );
});

t.test('a model contributes only to the labels it is given', async (t) => {
  const combiner = new LabelCombiner(labels, [big, small(1, ['gunshot'])], { mode: 'mean' });
  near(t, combiner.combine([bigScores, smallScores]), [0.6, 0.1, 0.6], 'glass_break from the big model alone');
});

t.test('per-label mode overrides the default', async (t) => {
  const combiner = new LabelCombiner(labels, [big, small(1)], { mode: 'max', perLabel: { glass_break: 'mean' } });
  near(t, combiner.combine([bigScores, smallScores]), [0.9, 0.4, 0.6], 'gunshot max, glass mean');
});

t.test('a model without scores for a patch is left out', async (t) => {
  near(t, new LabelCombiner(labels, [big, small(1)], { mode: 'mean' }).combine([bigScores, null]), [0.3, 0.1, 0.6], 'mean without the small model');
  near(t, new LabelCombiner(labels, [big, small(1)], { mode: 'max' }).combine([null, smallScores]), [0.9, 0.7, 0], 'max without the big model');
});

t.test('one model: exactly the label map scores, in both modes', async (t) => {
  const map = new LabelMap(big.classNames, big.labels, 'big');
  await fc.assert(
    fc.property(fc.float32Array({ minLength: 5, maxLength: 5, noNaN: true, min: 0, max: 1 }), (scores) => {
      const expected = Array.from(map.map(scores));
      for (const mode of ['max', 'mean'] as const) {
        const got = Array.from(new LabelCombiner(big.labels, [big], { mode }).combine([scores]));
        if (got.some((x, i) => !Object.is(x, expected[i]))) return false;
      }
      return true;
    }),
  );
  t.pass('bit-identical to LabelMap for random scores');
});

t.test('bad combinations are refused with the model and label named', async (t) => {
  t.throws(() => new LabelCombiner(labels.slice(0, 2), [big], { mode: 'max' }), /big: serves label "scream", which is not one of the detected labels/);
  t.throws(() => new LabelCombiner(labels, [small(1)], { mode: 'max' }), /label "scream": no model serves it/);
  t.throws(() => new LabelCombiner(labels, [big, small(0)], { mode: 'max' }), /small: weight must be a positive number/);
  const wrongClass: CombineMember = { ...small(1), labels: [spec('gunshot', ['Gunshot, gunfire'])] };
  t.throws(
    () => new LabelCombiner(labels, [big, wrongClass], { mode: 'max' }),
    /small: label "gunshot" maps class "Gunshot, gunfire", which the model does not have/,
  );
});

t.test('the labels an extra model serves', async (t) => {
  const settings: Record<string, LabelSettings> = {
    gunshot: { group: 'hostile', threshold: 0.2, release: 0.1, enabled: true, classes: ['Gunshot, gunfire'] },
    glass_break: { group: 'hostile', threshold: 0.4, release: 0.2, enabled: true },
    scream: { group: 'hostile', threshold: 0.1, release: 0.05, enabled: true },
    speech: { group: 'non_hostile', threshold: 0.5, release: 0.25, enabled: false },
  };
  const classMap = { gunshot: ['Gunshot_and_gunfire'], glass_break: ['Glass'], speech: ['Speech'] };
  const all = resolveMemberLabels(settings, classMap, undefined, 'extra_models[0]', 'st (st.tflite)');
  t.same(
    all.map((l) => [l.name, l.classes, l.threshold]),
    [
      ['gunshot', ['Gunshot_and_gunfire'], 0.2],
      ['glass_break', ['Glass'], 0.4],
    ],
    "every enabled label its manifest maps, with its own classes (not the config's)",
  );
  t.same(
    resolveMemberLabels(settings, classMap, ['glass_break'], 'extra_models[0]', 'st').map((l) => l.name),
    ['glass_break'],
    'only the listed ones',
  );
  t.throws(
    () => resolveMemberLabels(settings, classMap, ['scream'], 'extra_models[0]', 'st (st.tflite)'),
    /^extra_models\[0\]\.labels: the model st \(st\.tflite\) has no class for label "scream" \(its manifest maps gunshot, glass_break, speech\)$/,
  );
  t.throws(() => resolveMemberLabels(settings, classMap, ['gunfire'], 'extra_models[1]', 'st'), /^extra_models\[1\]\.labels: "gunfire" is not a label/);
  const union = unionLabels(Object.keys(settings), [[spec('scream', ['Screaming'])], all]);
  t.same(
    union.map((l) => l.name),
    ['gunshot', 'glass_break', 'scream'],
    'union in config order',
  );
});
