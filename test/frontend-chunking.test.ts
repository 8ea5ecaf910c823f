// Streaming must not depend on chunking: every chunk size gives the same frames and patches, bit for bit.
import t, { type Test } from 'tap';

import { frameCountForSamples, LogMelFrontEnd } from '../src/frontend/logmel.js';
import { Patcher, type Patch } from '../src/frontend/patcher.js';
import { readWav16, sharedPath } from './helpers/wav16.js';

interface StreamResult {
  frames: Float32Array;
  patches: Patch[];
}

/** Feeds `samples` in chunks whose lengths cycle through `pattern`; checks batch continuity. */
function stream(t: Test, samples: Float32Array, pattern: readonly number[]): StreamResult {
  const frontEnd = new LogMelFrontEnd();
  const patcher = new Patcher();
  const total = frameCountForSamples(samples.length);
  const frames = new Float32Array(total * frontEnd.melBands);
  const patches: Patch[] = [];
  let produced = 0;
  let continuous = true;
  for (let pos = 0, p = 0; pos < samples.length; p++) {
    const size = pattern[p % pattern.length]!;
    const chunk = samples.subarray(pos, Math.min(samples.length, pos + size));
    pos += chunk.length;
    const batch = frontEnd.push(chunk);
    if (batch.firstFrame !== produced || batch.data.length !== batch.count * frontEnd.melBands) continuous = false;
    frames.set(batch.data, produced * frontEnd.melBands);
    produced += batch.count;
    patches.push(...patcher.push(batch));
  }
  t.ok(continuous, 'batches are consecutive and sized count × melBands');
  t.equal(produced, total, `${total} frames`);
  t.equal(frontEnd.nextFrame, total);
  return { frames, patches };
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function samePatches(t: Test, got: Patch[], want: Patch[]): void {
  t.equal(got.length, want.length, `${want.length} patches`);
  let same = true;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (
      g.index !== w.index ||
      g.firstFrame !== w.firstFrame ||
      g.startSample !== w.startSample ||
      g.endSample !== w.endSample ||
      !bitsEqual(g.frames, w.frames)
    ) {
      same = false;
    }
  }
  t.ok(same, 'patches identical (index, samples, bits)');
}

// Odd sizes straddle frame starts, frame ends and the 400-sample carry from every side; 0 is a no-op push.
const IRREGULAR = [1, 399, 400, 401, 0, 159, 161, 7, 3001, 160, 239, 241, 12345];

const clips = ['audio/clips/gunshot_1.wav', 'audio/scenes/dev/mixed_01.wav'];
for (const clip of clips) {
  t.test(clip, async (t) => {
    const samples = readWav16(sharedPath(clip));
    const reference = stream(t, samples, [samples.length]);
    t.ok(reference.patches.length > 0, 'the clip yields patches');
    // One front end run sample by sample over 45 s is the slow case; still well under a second.
    for (const pattern of [[1], [160], [1000], [16000], IRREGULAR]) {
      t.test(`chunks of ${pattern.join(',')}`, async (t) => {
        const got = stream(t, samples, pattern);
        t.ok(bitsEqual(got.frames, reference.frames), 'frames bit-identical to one whole push');
        samePatches(t, got.patches, reference.patches);
      });
    }
  });
}

t.test('reset restarts the stream from frame 0 with identical output', async (t) => {
  const samples = readWav16(sharedPath('audio/clips/gunshot_1.wav'));
  const frontEnd = new LogMelFrontEnd();
  const first = frontEnd.push(samples);
  frontEnd.push(samples.subarray(0, 1234)); // leave a partial frame in the carry
  frontEnd.reset();
  t.equal(frontEnd.nextFrame, 0);
  const again = frontEnd.push(samples);
  t.equal(again.firstFrame, 0);
  t.ok(bitsEqual(again.data, first.data), 'same frames after reset');
});

t.test('the 45 s scene has 4498 frames', async (t) => {
  const samples = readWav16(sharedPath('audio/scenes/dev/mixed_01.wav'));
  t.equal(samples.length, 45 * 16000);
  t.equal(new LogMelFrontEnd().push(samples).count, 4498);
});
