// Patcher: which frames go into which patch, the sample span of each, and layouts.
import t from 'tap';

import { LogMelFrontEnd, type FrameBatch } from '../src/frontend/logmel.js';
import { Patcher, toLayout, type Patch } from '../src/frontend/patcher.js';
import { readWav16, sharedPath } from './helpers/wav16.js';

/** Frames whose values name themselves: frame f, band m holds f · 1000 + m (exact in float32). */
function batch(firstFrame: number, count: number, bands: number): FrameBatch {
  const data = new Float32Array(count * bands);
  for (let i = 0; i < count; i++) for (let m = 0; m < bands; m++) data[i * bands + m] = (firstFrame + i) * 1000 + m;
  return { firstFrame, count, data };
}

/** Runs `total` synthetic frames through `patcher` in batches of `size`. */
function run(patcher: Patcher, total: number, size: number): Patch[] {
  const out: Patch[] = [];
  for (let f = 0; f < total; f += size) out.push(...patcher.push(batch(f, Math.min(size, total - f), patcher.melBands)));
  return out;
}

/** True when `patch.frames` holds frames firstFrame..firstFrame + patchFrames − 1 in order. */
function holdsItsFrames(patch: Patch, patchFrames: number, bands: number): boolean {
  for (let r = 0; r < patchFrames; r++) {
    for (let m = 0; m < bands; m++) {
      if (patch.frames[r * bands + m] !== (patch.firstFrame + r) * 1000 + m) return false;
    }
  }
  return true;
}

t.test('YAMNet defaults: 96 frames every 48', async (t) => {
  const patcher = new Patcher();
  t.same([patcher.patchFrames, patcher.hopFrames, patcher.melBands, patcher.patchSamples], [96, 48, 64, 15600]);
  const patches = run(patcher, 300, 7);
  // Patches end at frames 95, 143, 191, 239, 287; the next would need frame 335.
  t.equal(patches.length, 5);
  patches.forEach((p, i) => {
    t.same(
      { index: p.index, firstFrame: p.firstFrame, startSample: p.startSample, endSample: p.endSample, length: p.frames.length },
      { index: i, firstFrame: 48 * i, startSample: 7680 * i, endSample: 7680 * i + 15600, length: 96 * 64 },
      `patch ${i}`,
    );
    t.ok(holdsItsFrames(p, 96, 64), `patch ${i} holds frames ${p.firstFrame}..${p.firstFrame + 95}`);
  });
});

t.test('a patch is emitted with its last frame, not before', async (t) => {
  const patcher = new Patcher();
  const emittedAt: number[] = [];
  for (let f = 0; f < 200; f++) if (patcher.push(batch(f, 1, 64)).length > 0) emittedAt.push(f);
  t.same(emittedAt, [95, 143, 191]);
});

t.test('one big batch can complete many patches', async (t) => {
  const patches = new Patcher().push(batch(0, 1000, 64));
  t.equal(patches.length, Math.floor((1000 - 96) / 48) + 1);
  t.ok(patches.every((p) => holdsItsFrames(p, 96, 64)));
});

t.test('hop sizes', async (t) => {
  for (const [hop, want] of [
    [1, [0, 1, 2, 3, 4]],
    [48, [0]],
    [96, [0]],
    [100, [0]],
  ] as const) {
    const patches = run(new Patcher({ hopFrames: hop }), 100, 13);
    t.same(
      patches.map((p) => p.firstFrame),
      want,
      `hop ${hop} over 100 frames`,
    );
  }
  // A hop longer than a patch skips frames between patches.
  const sparse = run(new Patcher({ patchFrames: 4, hopFrames: 10, melBands: 3 }), 35, 3);
  t.same(
    sparse.map((p) => [p.index, p.firstFrame, p.startSample, p.endSample]),
    [
      [0, 0, 0, 880],
      [1, 10, 1600, 2480],
      [2, 20, 3200, 4080],
      [3, 30, 4800, 5680],
    ],
  );
  t.ok(sparse.every((p) => holdsItsFrames(p, 4, 3)));
  const dense = run(new Patcher({ patchFrames: 5, hopFrames: 1, melBands: 2 }), 40, 6);
  t.equal(dense.length, 36);
  t.ok(
    dense.every((p, i) => p.firstFrame === i && holdsItsFrames(p, 5, 2)),
    'hop 1: every frame starts a patch',
  );
});

t.test('validation', async (t) => {
  for (const hopFrames of [0, -1, -48, 1.5, Number.NaN]) {
    t.throws(() => new Patcher({ hopFrames }), { name: 'RangeError', message: /hopFrames must be a positive integer/ }, `hopFrames ${hopFrames}`);
  }
  t.throws(() => new Patcher({ patchFrames: 0 }), { name: 'RangeError', message: /patchFrames/ });
  t.throws(() => new Patcher({ melBands: -64 }), { name: 'RangeError', message: /melBands/ });
  const patcher = new Patcher();
  patcher.push(batch(0, 10, 64));
  t.throws(() => patcher.push(batch(11, 1, 64)), { name: 'RangeError', message: /expected frame 10/ }, 'a gap');
  t.throws(() => patcher.push(batch(5, 10, 64)), RangeError, 'a repeat');
  t.throws(() => patcher.push({ firstFrame: 10, count: 2, data: new Float32Array(64) }), RangeError, 'short data');
  t.same(patcher.push({ firstFrame: 10, count: 0, data: new Float32Array(0) }), [], 'empty batch is fine');
});

t.test('reset', async (t) => {
  const patcher = new Patcher({ patchFrames: 4, hopFrames: 2, melBands: 2 });
  run(patcher, 9, 4);
  patcher.reset();
  const again = run(patcher, 6, 4);
  t.same(
    again.map((p) => [p.index, p.firstFrame]),
    [
      [0, 0],
      [1, 2],
    ],
  );
  t.ok(again.every((p) => holdsItsFrames(p, 4, 2)));
});

t.test('patches own their frames', async (t) => {
  const patcher = new Patcher({ patchFrames: 4, hopFrames: 1, melBands: 2 });
  const [first] = patcher.push(batch(0, 4, 2));
  const before = first!.frames.slice();
  patcher.push(batch(4, 8, 2));
  t.same(first!.frames, before, 'later frames do not overwrite an emitted patch');
});

t.test('toLayout', async (t) => {
  // 2 frames × 3 mels.
  const patch = new Float32Array([1, 2, 3, 4, 5, 6]);
  const same = toLayout(patch, 2, 3, 'frames_mels');
  t.same(Array.from(same), [1, 2, 3, 4, 5, 6]);
  t.not(same, patch, 'frames_mels returns a copy');
  t.same(Array.from(toLayout(patch, 2, 3, 'mels_frames')), [1, 4, 2, 5, 3, 6], 'mels × frames');
  const out = new Float32Array(6);
  t.equal(toLayout(patch, 2, 3, 'mels_frames', out), out, 'writes into out');
  t.same(Array.from(patch), [1, 2, 3, 4, 5, 6], 'input untouched');

  // A real-sized round trip: transposing back (as a 64 × 96 "frames × mels") restores the patch.
  const big = batch(0, 96, 64).data;
  const mf = toLayout(big, 96, 64, 'mels_frames');
  t.equal(mf[5 * 96 + 7], 7 * 1000 + 5, 'mel 5 of frame 7');
  t.same(toLayout(mf, 64, 96, 'mels_frames'), big);

  t.throws(() => toLayout(patch, 3, 3, 'frames_mels'), RangeError, 'wrong patch length');
  t.throws(() => toLayout(patch, 2, 3, 'mels_frames', new Float32Array(5)), RangeError, 'wrong out length');
  t.throws(() => toLayout(patch, 2, 3, 'mels_frames', patch), RangeError, 'in place');
  t.throws(() => toLayout(patch, 2, 3, 'mels' as 'mels_frames'), RangeError, 'unknown layout');
  t.throws(() => toLayout(patch, 0, 3, 'frames_mels'), RangeError);
});

t.test('front end → patcher on a real clip', async (t) => {
  const samples = readWav16(sharedPath('audio/clips/gunshot_1.wav'));
  const frames = new LogMelFrontEnd().push(samples);
  const patches = new Patcher().push(frames);
  t.equal(patches.length, Math.floor((frames.count - 96) / 48) + 1);
  for (const p of patches) {
    const slice = frames.data.subarray(p.firstFrame * 64, (p.firstFrame + 96) * 64);
    t.same(p.frames, slice, `patch ${p.index} = frames ${p.firstFrame}..${p.firstFrame + 95}`);
    t.ok(p.endSample <= samples.length, `patch ${p.index} lies within the clip`);
  }
});
