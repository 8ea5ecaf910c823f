// The front end against the float64 reference in ../shared/golden/logmel (README: "The front end").
import { readFileSync } from 'node:fs';
import t from 'tap';

import { applyLogOffset, LogMelFrontEnd } from '../src/frontend/logmel.js';
import { readWav16, sharedPath } from './helpers/wav16.js';

interface GoldenEntry {
  clip: string;
  log_offset: number;
  file: string;
  frames: number;
  mel_bins: number;
}

const TOLERANCE = 2e-3;
const index = JSON.parse(readFileSync(sharedPath('golden/logmel/index.json'), 'utf8')) as {
  entries: GoldenEntry[];
};

function readGolden(file: string): Float32Array {
  const bytes = readFileSync(sharedPath(`golden/logmel/${file}`));
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

t.ok(index.entries.length >= 12, 'golden index lists the clips at both offsets');
// Worst differences seen, per log offset, for the report printed at the end.
const worst = new Map<number, { direct: number; viaLinear: number }>();

for (const entry of index.entries) {
  t.test(`${entry.clip} offset ${entry.log_offset}`, async (t) => {
    const samples = readWav16(sharedPath(entry.clip));
    const golden = readGolden(entry.file);
    t.equal(golden.length, entry.frames * entry.mel_bins, 'golden file size matches index');

    const frontEnd = new LogMelFrontEnd({ logOffset: entry.log_offset });
    const batch = frontEnd.push(samples);
    t.equal(batch.firstFrame, 0);
    t.equal(batch.count, entry.frames, 'frame count');
    t.equal(batch.data.length, golden.length);
    const diff = maxAbsDiff(batch.data, golden);
    t.ok(diff <= TOLERANCE, `log-mel max |diff| ${diff.toExponential(2)} ≤ ${TOLERANCE}`);

    // The shared-front-end path: linear mel, then the model's own offset.
    const linear = new LogMelFrontEnd({ logOffset: null }).push(samples);
    const viaLinear = applyLogOffset(linear.data, entry.log_offset);
    const linearDiff = maxAbsDiff(viaLinear, golden);
    t.ok(linearDiff <= TOLERANCE, `linear + applyLogOffset max |diff| ${linearDiff.toExponential(2)}`);

    const seen = worst.get(entry.log_offset) ?? { direct: 0, viaLinear: 0 };
    worst.set(entry.log_offset, {
      direct: Math.max(seen.direct, diff),
      viaLinear: Math.max(seen.viaLinear, linearDiff),
    });
  });
}

t.teardown(() => {
  for (const [offset, { direct, viaLinear }] of worst) {
    // A plain '#' line shows in tap's default reporter, which hides t.comment.
    console.log(`# max |diff| vs golden at log offset ${offset}: ${direct.toExponential(3)} ` + `(linear + applyLogOffset: ${viaLinear.toExponential(3)})`);
  }
});
