import t from 'tap';
import { EventDetector, type DetectorOutput, type DetectorSettings } from '../src/detect/detector.js';
import { LabelMap, rescaleScore, resolveLabelSpecs, type LabelSpec } from '../src/detect/label-map.js';

const HOP = 7680; // 48 frames
const PATCH = 15600;
const gunshot: LabelSpec = { name: 'gunshot', group: 'hostile', classes: ['Gunshot, gunfire'], threshold: 0.5, release: 0.3 };
const settings = (over: Partial<DetectorSettings> = {}): DetectorSettings => ({
  voteK: 1,
  voteN: 1,
  mergeGapSamples: 0,
  minDurationSamples: 0,
  hopSamples: HOP,
  ...over,
});

/** Runs a score sequence (null = silent patch) through a one-label detector. */
function run(scores: (number | null)[], over: Partial<DetectorSettings> = {}): DetectorOutput[] {
  let n = 0;
  const detector = new EventDetector([gunshot], settings(over), () => `id${n++}`);
  const out: DetectorOutput[] = [];
  scores.forEach((score, index) => {
    out.push(
      ...detector.observe({
        index,
        startSample: index * HOP,
        endSample: index * HOP + PATCH,
        peakDbfs: -6 - index,
        labelScores: score === null ? null : [score],
      }),
    );
  });
  out.push(...detector.finish());
  return out;
}

t.test('one patch above threshold opens an event at the patch start and closes at its end', async (t) => {
  const out = run([0.1, 0.9, 0.1, 0.1]);
  t.same(
    out.map((o) => o.kind),
    ['onset', 'offset'],
  );
  t.equal(out[0].event.onsetSample, HOP);
  t.equal(out[1].event.offsetSample, HOP + PATCH);
  t.equal(out[1].event.peakScore, 0.9);
  t.equal(out[1].kind === 'offset' && out[1].reason, 'released');
});

t.test('hysteresis: scores between release and threshold keep an open event open but do not open one', async (t) => {
  const out = run([0.4, 0.6, 0.4, 0.35, 0.1, 0.1, 0.4]);
  t.equal(out.filter((o) => o.kind === 'onset').length, 1, 'the trailing 0.4 opens nothing');
  const end = out.find((o) => o.kind === 'offset')!;
  t.equal(end.event.onsetSample, HOP);
  t.equal(end.event.offsetSample, 3 * HOP + PATCH, 'ends with the last patch at or above release');
  t.equal(end.event.patchCount, 3);
  t.ok(Math.abs(end.event.meanScore - (0.6 + 0.4 + 0.35) / 3) < 1e-9);
});

t.test('k-of-n voting: 2 of 3 needs two votes; onset is the first voting patch', async (t) => {
  t.same(run([0.9, 0.1, 0.1, 0.9, 0.1, 0.1], { voteK: 2, voteN: 3 }), [], 'isolated votes open nothing');
  const out = run([0.1, 0.9, 0.1, 0.9, 0.1, 0.1], { voteK: 2, voteN: 3 });
  t.equal(out.length, 2);
  t.equal(out[0].event.onsetSample, HOP, 'onset at the first voting patch, not the confirming one');
});

t.test('silent patches vote for nothing', async (t) => {
  t.same(run([null, null]), []);
  const out = run([0.9, null, null]);
  t.equal(out[1].event.offsetSample, PATCH);
});

t.test('merge gap joins stretches of votes closer than the gap', async (t) => {
  const scores = [0.9, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1];
  t.equal(run(scores).filter((o) => o.kind === 'onset').length, 2, 'without a gap: two events');
  const merged = run(scores, { mergeGapSamples: 3 * HOP });
  t.equal(merged.filter((o) => o.kind === 'onset').length, 1, 'with a 3-hop gap: one event');
  t.equal(merged[1].event.offsetSample, 4 * HOP + PATCH);
});

t.test('minimum duration: short events are never reported', async (t) => {
  t.same(run([0.9, 0.1, 0.1], { minDurationSamples: PATCH + HOP }), []);
  const out = run([0.9, 0.9, 0.1, 0.1], { minDurationSamples: PATCH + HOP });
  t.same(
    out.map((o) => o.kind),
    ['onset', 'offset'],
  );
});

t.test('end of stream closes an open event with reason stream_end', async (t) => {
  const out = run([0.9, 0.9]);
  t.equal(out[1].kind === 'offset' && out[1].reason, 'stream_end');
});

t.test('vote k above n is refused', async (t) => {
  t.throws(() => new EventDetector([gunshot], settings({ voteK: 3, voteN: 2 })), RangeError);
});

t.test('label map takes the best class score and names unknown classes', async (t) => {
  const map = new LabelMap(['Speech', 'Explosion', 'Boom'], [{ ...gunshot, name: 'explosion', classes: ['Explosion', 'Boom'] }], 'model.tflite');
  t.same([...map.map([0.9, 0.2, 0.4])], [Math.fround(0.4)]);
  t.throws(
    () => new LabelMap(['Speech'], [gunshot], 'model.tflite'),
    /model\.tflite: label "gunshot" maps class "Gunshot, gunfire", which the model does not have/,
  );
});

t.test("label map rescale: a head's probability on the rule's scale passes the label's threshold exactly when it passes the head's", async (t) => {
  t.same(
    [rescaleScore(0, 0.8, 0.2), rescaleScore(0.4, 0.8, 0.2), rescaleScore(0.8, 0.8, 0.2), rescaleScore(0.9, 0.8, 0.2), rescaleScore(1, 0.8, 0.2)],
    [0, 0.1, 0.2, 0.6000000000000001, 1],
  );
  t.ok(rescaleScore(0.999, 1, 0.2) < 0.2 && rescaleScore(1, 1, 0.2) === 0.2, 'a head threshold of 1: only a probability of 1 reaches the label threshold');
  t.ok(rescaleScore(0, 0, 0.2) === 0.2, 'a head threshold of 0: every probability reaches it');
  // gunshot at 0.5 reads the rule class "Gunshot, gunfire" and "head:gunshot" (head threshold 0.9).
  const pair: LabelSpec = { ...gunshot, classes: ['Gunshot, gunfire', 'head:gunshot'], rescale: { 'head:gunshot': { from: 0.9, to: 0.5 } } };
  const map = new LabelMap(['Gunshot, gunfire', 'head:gunshot'], [pair], 'model.tflite');
  const score = (rule: number, head: number) => map.map([rule, head])[0]!;
  t.ok(score(0.1, 0.89) < 0.5, 'neither passes: under the threshold');
  t.ok(score(0.1, 0.9) >= 0.5, "the head passes its 0.9: the label's 0.5 is reached");
  t.ok(score(0.6, 0.2) >= 0.5, 'the rule passes its 0.5: reached');
  t.throws(
    () => new LabelMap(['Gunshot, gunfire'], [{ ...gunshot, rescale: { 'head:gunshot': { from: 0.9, to: 0.5 } } }], 'model.tflite'),
    /label "gunshot" rescales class "head:gunshot", which it does not map/,
  );
});

t.test('labels without classes in the config or the manifest are left out', async (t) => {
  const { specs, unmapped } = resolveLabelSpecs(
    {
      gunshot: { group: 'hostile', threshold: 0.5, release: 0.2, enabled: true },
      scream: { group: 'hostile', threshold: 0.5, release: 0.2, enabled: true },
      siren: { group: 'non_hostile', threshold: 0.5, release: 0.2, enabled: false },
    },
    { gunshot: ['Gunshot_and_gunfire'], siren: ['Siren'] },
  );
  t.same(
    specs.map((s) => s.name),
    ['gunshot'],
  );
  t.same(unmapped, ['scream']);
});

t.test('an exclusive group: one incident heard as two hostile labels is one event', async (t) => {
  const explosion: LabelSpec = { name: 'explosion', group: 'hostile', classes: ['Explosion'], threshold: 0.5, release: 0.3 };
  const speech: LabelSpec = { name: 'speech', group: 'non_hostile', classes: ['Speech'], threshold: 0.5, release: 0.3 };
  const run2 = (rows: [number, number, number][], exclusive: boolean) => {
    let n = 0;
    const detector = new EventDetector([gunshot, explosion, speech], settings({ exclusiveGroups: exclusive ? ['hostile'] : [] }), () => `id${n++}`);
    const out: DetectorOutput[] = [];
    rows.forEach((labelScores, index) => {
      out.push(...detector.observe({ index, startSample: index * HOP, endSample: index * HOP + PATCH, peakDbfs: -6, labelScores }));
    });
    out.push(...detector.finish());
    return out.filter((o) => o.kind === 'onset').map((o) => `${o.event.label}@${o.event.onsetSample / HOP}`);
  };
  // gunshot, explosion, speech scores per patch
  const rows: [number, number, number][] = [
    [0.1, 0.1, 0.9],
    [0.6, 0.9, 0.9],
    [0.7, 0.9, 0.1],
    [0.1, 0.6, 0.1],
    [0.1, 0.1, 0.1],
    [0.1, 0.1, 0.1],
    [0.1, 0.9, 0.1],
    [0.1, 0.1, 0.1],
  ];
  t.same(run2(rows, false), ['speech@0', 'explosion@1', 'gunshot@1', 'explosion@6'], 'without exclusivity: gunshot and explosion overlap');
  t.same(
    run2(rows, true),
    ['speech@0', 'explosion@1', 'explosion@6'],
    'exclusive: the higher score (explosion) takes the incident; a later, separate one is reported; speech is not affected',
  );
  const late: [number, number, number][] = [
    [0.9, 0.1, 0.1],
    [0.9, 0.1, 0.1],
    [0.1, 0.9, 0.1],
    [0.1, 0.1, 0.1],
    [0.1, 0.1, 0.1],
  ];
  t.same(run2(late, true), ['gunshot@0'], 'a label voting on audio the group already covered (its patch overlaps the ended event) opens nothing');
});
