// Unit behaviour of the front end and its mel filterbank (exact numbers are in frontend-golden).
import t from 'tap';

import {
  applyLogOffset,
  FRAME_HOP_SAMPLES,
  FRAME_LENGTH_SAMPLES,
  frameCountForSamples,
  frameStartSample,
  hzToMel,
  LogMelFrontEnd,
  melFilterbank,
  SPECTRUM_BINS,
} from '../src/frontend/logmel.js';

t.test('frame geometry', async (t) => {
  t.equal(FRAME_LENGTH_SAMPLES, 400);
  t.equal(FRAME_HOP_SAMPLES, 160);
  t.equal(SPECTRUM_BINS, 257);
  t.equal(frameStartSample(0), 0);
  t.equal(frameStartSample(48), 7680);
  t.equal(frameCountForSamples(0), 0);
  t.equal(frameCountForSamples(399), 0);
  t.equal(frameCountForSamples(400), 1);
  t.equal(frameCountForSamples(559), 1);
  t.equal(frameCountForSamples(560), 2);
  t.equal(frameCountForSamples(15600), 96, 'YAMNet patch: 15600 samples = 96 frames');
  t.equal(frameCountForSamples(720000), 4498, '45 s');
});

t.test('melFilterbank (YAMNet defaults)', async (t) => {
  const bands = 64;
  const w = melFilterbank();
  t.equal(w.length, 257 * bands, '[257 bins][64 bands]');
  let dcZero = true;
  for (let b = 0; b < bands; b++) if (w[b] !== 0) dcZero = false;
  t.ok(dcZero, 'DC row is zero');
  let inRange = true;
  for (const x of w) if (!(x >= 0 && x <= 1)) inRange = false;
  t.ok(inRange, 'weights in [0, 1]');

  const step = (hzToMel(7500) - hzToMel(125)) / (bands + 1);
  for (let b = 0; b < bands; b++) {
    let sum = 0;
    let peakBin = -1;
    let peak = 0;
    for (let k = 0; k < 257; k++) {
      const x = w[k * bands + b]!;
      sum += x;
      if (x > peak) {
        peak = x;
        peakBin = k;
      }
    }
    // The triangle peaks at its centre, so the heaviest bin is one of the two around it.
    const centerHz = 700 * Math.expm1((hzToMel(125) + (b + 1) * step) / 1127);
    if (sum <= 0 || Math.abs(peakBin * 31.25 - centerHz) > 31.25) {
      t.fail(`band ${b}: sum ${sum}, peak bin ${peakBin}, centre ${centerHz.toFixed(1)} Hz`);
    }
  }
  // Nothing outside 125..7500 Hz: bins 0..4 (≤ 125 Hz) and 240.. (≥ 7500 Hz) have zero rows.
  let outside = 0;
  for (let k = 0; k < 257; k++) {
    if (k * 31.25 > 125 && k * 31.25 < 7500) continue;
    for (let b = 0; b < bands; b++) outside += w[k * bands + b]!;
  }
  t.equal(outside, 0, 'no weight at or outside the band edges');
});

t.test('melFilterbank options and validation', async (t) => {
  t.equal(melFilterbank({ melBands: 40, fMinHz: 0, fMaxHz: 8000 }).length, 257 * 40);
  t.equal(melFilterbank({ spectrumBins: 513, sampleRateHz: 32000 }).length, 513 * 64);
  t.throws(() => melFilterbank({ melBands: 0 }), RangeError);
  t.throws(() => melFilterbank({ fMaxHz: 8001 }), RangeError, 'above Nyquist');
  t.throws(() => melFilterbank({ fMinHz: 7500, fMaxHz: 125 }), RangeError);
  t.throws(() => melFilterbank({ fMinHz: -1 }), RangeError);
});

t.test('LogMelFrontEnd options', async (t) => {
  const defaults = new LogMelFrontEnd();
  t.equal(defaults.logOffset, 0.001);
  t.equal(defaults.melBands, 64);
  t.equal(defaults.fMinHz, 125);
  t.equal(defaults.fMaxHz, 7500);
  t.equal(new LogMelFrontEnd({ logOffset: null }).logOffset, null);
  for (const logOffset of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new LogMelFrontEnd({ logOffset }), RangeError, `logOffset ${logOffset}`);
  }
  t.throws(() => new LogMelFrontEnd({ melBands: 0 }), RangeError);
  t.throws(() => new LogMelFrontEnd({ fMaxHz: 9000 }), RangeError);
  const forty = new LogMelFrontEnd({ melBands: 40 }).push(new Float32Array(560));
  t.equal(forty.count, 2);
  t.equal(forty.data.length, 80);
});

t.test('push edge cases', async (t) => {
  const frontEnd = new LogMelFrontEnd();
  const empty = frontEnd.push(new Float32Array(0));
  t.same({ firstFrame: empty.firstFrame, count: empty.count, length: empty.data.length }, { firstFrame: 0, count: 0, length: 0 });
  t.equal(frontEnd.push(new Float32Array(399)).count, 0, '399 samples: no frame yet');
  const one = frontEnd.push(new Float32Array(1));
  t.equal(one.firstFrame, 0);
  t.equal(one.count, 1, 'the 400th sample completes frame 0');
  const none = frontEnd.push(new Float32Array(159));
  t.same([none.firstFrame, none.count], [1, 0], 'an empty batch names the next frame');
  t.throws(() => frontEnd.push([0.1, 0.2] as unknown as Float32Array), TypeError);

  // Digital silence: every value is exactly ln(offset).
  const silent = new LogMelFrontEnd({ logOffset: 1e-4 }).push(new Float32Array(16000));
  t.ok(
    silent.data.every((x) => x === Math.fround(Math.log(1e-4))),
    'silence = ln(1e-4)',
  );
});

t.test('batches are caller-owned', async (t) => {
  const frontEnd = new LogMelFrontEnd();
  const noise = new Float32Array(4000).map((_, i) => Math.sin(i * 0.37) * 0.5);
  const a = frontEnd.push(noise);
  const copy = a.data.slice();
  frontEnd.push(noise.map((x) => -x * 0.1));
  t.same(a.data, copy, 'a later push does not overwrite an earlier batch');
});

t.test('a tone lands in the band around its frequency', async (t) => {
  const bands = 64;
  const hz = 1000;
  const tone = new Float32Array(16000).map((_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / 16000));
  const linear = new LogMelFrontEnd({ logOffset: null }).push(tone);
  const frame = linear.data.subarray(10 * bands, 11 * bands);
  let best = 0;
  for (let b = 1; b < bands; b++) if (frame[b]! > frame[best]!) best = b;
  const step = (hzToMel(7500) - hzToMel(125)) / (bands + 1);
  const centerHz = (b: number): number => 700 * Math.expm1((hzToMel(125) + (b + 1) * step) / 1127);
  t.ok(centerHz(best - 1) < hz && hz < centerHz(best + 1), `strongest band ${best} is centred near ${hz} Hz`);
});

t.test('linear mel = naive DFT magnitudes × melFilterbank', async (t) => {
  // An independent O(N²) float64 path for one frame checks the FFT (fft.js realTransform) and
  // the sparse mel product together.
  const bands = 64;
  const signal = new Float32Array(2000).map((_, i) => Math.sin(i * 0.37) * 0.4 + Math.sin(i * i * 1e-3) * 0.3);
  const frame = 7;
  const got = new LogMelFrontEnd({ logOffset: null }).push(signal).data.subarray(frame * bands, (frame + 1) * bands);

  const x = new Float64Array(400);
  for (let n = 0; n < 400; n++) x[n] = signal[frame * 160 + n]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / 400));
  const magnitude = new Float64Array(257);
  for (let k = 0; k < 257; k++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < 400; n++) {
      re += x[n]! * Math.cos((2 * Math.PI * k * n) / 512);
      im -= x[n]! * Math.sin((2 * Math.PI * k * n) / 512);
    }
    magnitude[k] = Math.hypot(re, im);
  }
  const w = melFilterbank();
  let worst = 0;
  for (let b = 0; b < bands; b++) {
    let want = 0;
    for (let k = 0; k < 257; k++) want += magnitude[k]! * w[k * bands + b]!;
    worst = Math.max(worst, Math.abs(got[b]! - want) / Math.max(want, 1e-6));
  }
  t.ok(worst < 1e-6, `max relative difference ${worst.toExponential(2)}`);
});

t.test('applyLogOffset', async (t) => {
  const linear = new Float32Array([0, 1, 3]);
  t.same(
    Array.from(applyLogOffset(linear, 0.5)),
    [0.5, 1.5, 3.5].map((x) => Math.fround(Math.log(x))),
  );
  const inPlace = linear.slice();
  t.equal(applyLogOffset(inPlace, 0.5, inPlace), inPlace, 'in place, returns out');
  t.throws(() => applyLogOffset(linear, 0), RangeError);
  t.throws(() => applyLogOffset(linear, 0.1, new Float32Array(2)), RangeError);
});
