/**
 * The microphone health maths on synthetic signals, to the value: a sine at a known dBFS, a
 * clipped sine, a DC offset, zeros and a stuck value, constant runs at the bound, the noise-floor
 * percentile, the log-mel tilt, gaps and chunking; then the judge (baseline, raise, clear) and the
 * baseline's round trip through SQLite.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/load.js';
import { LogMelFrontEnd } from '../src/frontend/logmel.js';
import { MicrophoneJudge } from '../src/monitor/microphone-judge.js';
import { MicrophoneMeter, nearestRank, SILENT_DBFS, tiltSplitBand, type MinuteMeasures } from '../src/monitor/microphone-meter.js';
import { openDatabase } from '../src/store/database.js';
import { MicrophoneStore } from '../src/store/microphone-store.js';

const MINUTE = 960_000;

/** `amplitude · sin(2π f n / 16000)` for n in [start, start + length), float32. */
function sine(length: number, amplitude: number, hz = 1000, start = 0): Float32Array {
  const out = new Float32Array(length);
  for (let n = 0; n < length; n++) out[n] = amplitude * Math.sin((2 * Math.PI * hz * (start + n)) / 16000);
  return out;
}

/** Feeds `samples` from sample 0 in chunks of `chunk` and flushes. */
function measure(samples: Float32Array, chunk = 1600, options: ConstructorParameters<typeof MicrophoneMeter>[0] = {}): MinuteMeasures[] {
  const meter = new MicrophoneMeter(options);
  const out: MinuteMeasures[] = [];
  for (let s = 0; s < samples.length; s += chunk) out.push(...meter.addSamples(s, samples.subarray(s, Math.min(samples.length, s + chunk))));
  out.push(...meter.flush());
  return out;
}

t.test('a 1 kHz sine at −23.01 dBFS: noise floor to the value, no clipping, no DC, no digital silence', async (t) => {
  const [m] = measure(sine(MINUTE, 0.1));
  t.equal(m.heardSamples, MINUTE);
  // 400 samples hold 25 whole periods: every 25 ms frame has RMS 0.1/√2 → 20·log10(0.0707107) = −23.0103 dBFS.
  t.ok(Math.abs(m.noiseFloorDbfs! - 20 * Math.log10(0.1 / Math.SQRT2)) < 1e-4, `noise floor ${m.noiseFloorDbfs} dBFS`);
  t.ok(Math.abs(m.noiseFloorDbfs! - -23.0103) < 1e-3);
  t.equal(m.clippingRatio, 0);
  t.ok(Math.abs(m.dcOffset) < 1e-7, `dc ${m.dcOffset}`);
  t.equal(m.constantRatio, 0);
  t.equal(m.zeroRatio, 0);
  t.equal(m.tiltDb, null, 'no frames given: no tilt');
  const full = measure(sine(MINUTE, 1))[0];
  t.ok(Math.abs(full.noiseFloorDbfs! - -3.0103) < 1e-3, 'a full-scale sine is −3.01 dBFS');
});

t.test('a clipped sine: the share of samples at full scale', async (t) => {
  // 2·sin clipped to ±1: per 16-sample period, |sin| takes 0, .383, .707, .924, 1, .924, .707, .383 twice;
  // |2 sin| ≥ 0.999 for .707, .924, 1, .924, .707: 10 of 16 samples.
  const clipped = sine(MINUTE, 2).map((x) => Math.max(-1, Math.min(1, x)));
  const [m] = measure(clipped);
  t.equal(m.clippingRatio, 10 / 16);
  t.equal(measure(sine(MINUTE, 0.998))[0].clippingRatio, 0, 'a sine peaking below the clip level never clips');
});

t.test('DC offset, zeros and a stuck value', async (t) => {
  const offset = sine(MINUTE, 0.1).map((x) => x + 0.25);
  t.ok(Math.abs(measure(offset)[0].dcOffset - 0.25) < 1e-6, 'a sine on +0.25 has DC 0.25');
  const zeros = measure(new Float32Array(MINUTE))[0];
  t.same(
    { floor: zeros.noiseFloorDbfs, constant: zeros.constantRatio, zero: zeros.zeroRatio, dc: zeros.dcOffset },
    { floor: SILENT_DBFS, constant: 1, zero: 1, dc: 0 },
  );
  const stuck = measure(new Float32Array(MINUTE).fill(0.3))[0];
  t.equal(stuck.constantRatio, 1);
  t.equal(stuck.zeroRatio, 0);
  t.ok(Math.abs(stuck.dcOffset - 0.3) < 1e-6);
});

t.test('constant runs count from 160 identical samples, within the minute', async (t) => {
  // Blocks of 200: a run of `run` zeros, then alternating ±0.1.
  const blocks = (run: number) => {
    const out = new Float32Array(MINUTE);
    for (let b = 0; b < MINUTE; b += 200) for (let i = run; i < 200; i++) out[b + i] = i % 2 ? 0.1 : -0.1;
    return out;
  };
  t.equal(measure(blocks(160))[0].constantRatio, 0.8, '160-sample runs: 4800 × 160 of 960 000 samples');
  t.equal(measure(blocks(160))[0].zeroRatio, 0.8);
  t.equal(measure(blocks(159))[0].constantRatio, 0, '159-sample runs are not digital silence');
  // A run across a minute boundary is cut there: 100 + 100 samples count in neither minute.
  const across = sine(2 * MINUTE, 0.1, 1003);
  across.fill(0, MINUTE - 100, MINUTE + 100);
  const [a, b] = measure(across);
  t.equal(a.constantRatio, 0);
  t.equal(b.constantRatio, 0);
});

t.test('noise floor: the 10th percentile (nearest rank) of 25 ms frame levels', async (t) => {
  t.equal(nearestRank(Float64Array.from([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), 10), 1);
  t.equal(nearestRank(Float64Array.from([5, 1, 4, 2, 3, 6, 7, 8, 9, 10, 11]), 10), 2, '⌈1.1⌉ = 2nd smallest');
  // 240 quiet frames (−63.01 dBFS) and 2160 loud ones: the 240th smallest of 2400 is quiet.
  const signal = sine(MINUTE, 0.1);
  for (let f = 0; f < 240; f++) signal.set(sine(400, 0.001), f * 10 * 400);
  const [m] = measure(signal);
  t.ok(Math.abs(m.noiseFloorDbfs! - 20 * Math.log10(0.001 / Math.SQRT2)) < 1e-3, `floor ${m.noiseFloorDbfs}`);
  signal.set(sine(400, 0.1), 0); // 239 quiet frames: the 240th smallest is loud
  t.ok(Math.abs(measure(signal)[0].noiseFloorDbfs! - -23.0103) < 1e-3);
});

t.test('chunking does not change a minute; gaps are not heard', async (t) => {
  const signal = sine(MINUTE + 5000, 0.05, 440).map((x, n) => (n % 997 === 0 ? 1 : x));
  const whole = measure(signal, signal.length);
  t.same(measure(signal, 7), whole, 'chunks of 7 samples: the same figures');
  t.same(measure(signal, 1600), whole);
  t.equal(whole.length, 2, 'a partial second minute at the end');
  t.equal(whole[1].heardSamples, 5000);
  // A gap of 1000 samples from sample 1200: frames 3..5 (1200..2400) are cut and dropped.
  const meter = new MicrophoneMeter();
  meter.addSamples(0, sine(1200, 0.1));
  const [m] = meter.addSamples(2200, sine(MINUTE - 2200, 0.1, 1000, 2200));
  t.same(meter.flush(), [], 'a chunk ending on the boundary closes the minute');
  t.equal(m.heardSamples, MINUTE - 1000);
  t.throws(() => meter.addSamples(0, new Float32Array(1)), RangeError, 'samples out of order');
});

t.test('spectral tilt from log-mel frames', async (t) => {
  const split = tiltSplitBand();
  t.equal(split, 20, '20 of the 64 YAMNet bands are centred below 1 kHz');
  const mel = (hz: number) => 1127 * Math.log1p(hz / 700);
  const step = (mel(7500) - mel(125)) / 65;
  t.ok(mel(125) + 20 * step < mel(1000) && mel(125) + 21 * step >= mel(1000), 'band 19 centre < 1 kHz ≤ band 20 centre');
  // Frames whose linear mel is 1 in every band: E_high / E_low = 44 / 20.
  const meter = new MicrophoneMeter({ minuteSamples: 16000, frames: { logOffset: 0.001, melBands: 64, splitBand: split } });
  meter.addSamples(0, sine(32000, 0.1));
  const frames = new Float32Array(10 * 64).fill(Math.log(1 + 0.001));
  t.same(meter.addFrames(0, frames, 10), [], 'the minute waits for its frames');
  const out = meter.addFrames(16000, frames, 1);
  t.equal(out.length, 1, 'a frame of the next minute closes it');
  t.ok(Math.abs(out[0].tiltDb! - 10 * Math.log10(44 / 20)) < 1e-4, `tilt ${out[0].tiltDb} dB`);
  // The real front end: a 500 Hz sine tilts low, a 4 kHz sine tilts high.
  const tiltOf = (hz: number) => {
    const m = new MicrophoneMeter({ minuteSamples: 16000, frames: { logOffset: 0.001, melBands: 64, splitBand: split } });
    const x = sine(16000, 0.1, hz);
    const frontEnd = new LogMelFrontEnd();
    m.addSamples(0, x);
    const batch = frontEnd.push(x);
    m.addFrames(0, batch.data, batch.count);
    return m.flush()[0].tiltDb!;
  };
  t.ok(tiltOf(500) < -40, `500 Hz: ${tiltOf(500).toFixed(1)} dB`);
  t.ok(tiltOf(4000) > 40, `4 kHz: ${tiltOf(4000).toFixed(1)} dB`);
});

/** A normal minute with the given floor and tilt. */
const minute = (index: number, floor: number, tilt: number, extra: Partial<MinuteMeasures> = {}): MinuteMeasures => ({
  minute: index,
  startSample: index * MINUTE,
  heardSamples: MINUTE,
  noiseFloorDbfs: floor,
  tiltDb: tilt,
  clippingRatio: 0,
  dcOffset: 0,
  constantRatio: 0,
  zeroRatio: 0,
  ...extra,
});

t.test('the judge: baseline, raise after the window median leaves it, clear when it is back', async (t) => {
  const settings = { ...defaultConfig().microphone_health, baseline_min_minutes: 20, raise_after_minutes: 4, clear_after_minutes: 3 };
  const judge = new MicrophoneJudge(settings);
  let i = 0;
  for (; i < 30; i++) t.same(judge.observe(minute(i, -50 + (i % 5), 10 - (i % 3)), MINUTE).raised, [], 'normal minutes raise nothing');
  t.equal(judge.baseline.noise_floor.minutes, 30);
  t.equal(judge.baseline.noise_floor.median, -48);
  const raisedAt: number[] = [];
  // A covered microphone: tilt −10 dB. Minute 1 and 2 out, then one ordinary minute, then out again.
  for (const tilt of [-10, -10, 9, -10, -10]) {
    const v = judge.observe(minute(i++, -50, tilt), MINUTE);
    if (v.raised.length) raisedAt.push(i - 30);
    t.equal(v.inBaseline, tilt === 9, 'only in-bounds minutes join the baseline');
  }
  t.same(raisedAt, [4], 'raised when 3 of the last 4 minutes are out (their median)');
  t.match(judge.raised, [{ measure: 'tilt', detail: /^spectral tilt -10\.0 dB, 19\.0 dB below its baseline \(9\.0 dB, bound ±10\.0 dB\)/ }]);
  t.equal(judge.baseline.noise_floor.minutes, 31);
  const cleared: number[] = [];
  for (let k = 0; k < 4; k++) if (judge.observe(minute(i++, -50, 9), MINUTE).cleared.length) cleared.push(k + 1);
  t.same(cleared, [2], 'cleared when 2 of the last 3 are back (median)');
  // Absolute bounds need no baseline.
  const fresh = new MicrophoneJudge(settings);
  const kinds = new Set<string>();
  for (let k = 0; k < 4; k++)
    for (const r of fresh.observe(minute(k, -120, 0, { constantRatio: 1, zeroRatio: 1, clippingRatio: 0.2, dcOffset: 0.2 }), MINUTE).raised)
      kinds.add(r.detail);
  t.same([...kinds].sort(), [
    'DC offset 0.2000 of full scale (bound ±0.05) (median of the last 4 min)',
    'clipping on 20.0% of samples (bound 0.100%) (median of the last 4 min)',
    'digital silence: zeros on 100% of samples (median of the last 4 min)',
  ]);
  t.equal(fresh.observe(minute(9, -50, 0, { heardSamples: MINUTE / 2 - 1 }), MINUTE).judged, false, 'a minute with less than half its audio is not judged');
});

t.test('the baseline survives a restart (SQLite)', async (t) => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'earshot-mic-')), 'earshot.db'));
  t.teardown(() => db.close());
  const store = new MicrophoneStore(db);
  const settings = { ...defaultConfig().microphone_health, baseline_days: 100 / 1440 };
  const judge = new MicrophoneJudge(settings);
  t.equal(judge.windowMinutes, 100);
  for (let i = 0; i < 130; i++) {
    const m = minute(i, -60 + (i % 7), 5 + (i % 4));
    const v = judge.observe(m, MINUTE);
    store.add(
      m,
      { minuteUtc: new Date(i * 60000).toISOString(), streamId: 's', startSeconds: i * 60, inBaseline: v.inBaseline, out: Object.keys(v.out) },
      judge.windowMinutes,
    );
  }
  store.prune(judge.windowMinutes);
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM microphone_minutes').get() as { n: number }).n, 100, 'pruned to the window');
  const again = new MicrophoneJudge(settings);
  again.seed(store.baseline(again.windowMinutes));
  t.same(again.baseline, judge.baseline, 'the same median and σ̂ after a restart');
});
