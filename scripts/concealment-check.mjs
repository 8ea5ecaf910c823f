#!/usr/bin/env node
// What filling a lost serial packet does to detection (docs/capture.md, "Why not conceal"); not
// part of `npm test`: node scripts/concealment-check.mjs [--seed 42] [--drop 0.01] [--bit-errors 0.001]
// 1. joins the dev scenes mixed_01.. into 630 s (as scripts/soak-serial.mjs does) and replays
//    simulate-serial's seeded fault generator offline: which 256-frame packets are lost;
// 2. fills the lost samples several ways (zeros, as the pipeline does; autoregressive
//    interpolation, Etter 1996; AR-shaped noise; two-sided waveform substitution) and, as
//    oracles that no receiver has, the true audio scaled by 0.9 or delayed by 1 ms;
// 3. scores every variant with the default config's YAMNet (yamnet_waveform) and reports, over
//    the patches that contain a lost packet, how far the hostile label scores move from the
//    clean file's, how many threshold decisions flip, and the hostile events missed and extra
//    (label, onset within 0.5 s) against the clean file.
// Needs `npm run build` and ../shared beside the repository. About 3 minutes on 2 cores.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { joinDevScenes, SHARED } from './lib/scenes.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const dist = (p) => import(join(REPO, 'dist', p));
const { readWav } = await dist('capture/wav.js');
const { mulberry32 } = await dist('random.js');
const { encodeAudioPacket, frameForWire } = await dist('capture/serial/serial-protocol.js');
const { injectFault } = await dist('capture/serial/serial-simulator.js');
const { encodeWav16 } = await dist('store/clip-writer.js');
const { defaultConfig } = await dist('config/load.js');
const { openModelAndLabels, pipelineSettings } = await dist('setup.js');
const { analyzeFile } = await dist('analyze.js');
const { createLogger } = await dist('log.js');

const { values } = parseArgs({ options: { seed: { type: 'string', default: '42' }, drop: { type: 'string', default: '0.01' }, 'bit-errors': { type: 'string', default: '0.001' } } });
const PACKET = 256;

/** The packets simulate-serial loses for these rates and seed (same draws, same order). */
function lostPackets(mono, seed, drop, flip) {
  const random = mulberry32(seed);
  const s16 = new Int16Array(mono.length);
  for (let i = 0; i < mono.length; i++) s16[i] = Math.round(mono[i] * 32768);
  const bytes = new Uint8Array(s16.buffer);
  const lost = [];
  for (let first = 0, sequence = 0; first < mono.length; first += PACKET, sequence++) {
    const frames = Math.min(PACKET, mono.length - first);
    const wire = frameForWire(encodeAudioPacket({ sequence, sampleRate: 16000, format: 's16le', channels: 1, payload: bytes.subarray(first * 2, (first + frames) * 2) }));
    const faults = { dropped: 0, corrupted: 0 };
    // The simulator's own fault draw (one roll, then the flipped bit's position): same draws, same order.
    injectFault(wire, random(), random, { drop, flip }, faults);
    if (faults.dropped + faults.corrupted > 0) lost.push([first, first + frames]);
  }
  return lost;
}

/** Levinson–Durbin on autocorrelation r: AR coefficients a (a[0] = 1) of order p. */
function levinson(r, p) {
  const a = new Float64Array(p + 1);
  a[0] = 1;
  let err = r[0];
  const prev = new Float64Array(p + 1);
  for (let i = 1; i <= p && err > 1e-12; i++) {
    let acc = r[i];
    for (let j = 1; j < i; j++) acc += a[j] * r[i - j];
    const k = -acc / err;
    prev.set(a);
    for (let j = 1; j < i; j++) a[j] = prev[j] + k * prev[i - j];
    a[i] = k;
    err *= 1 - k * k;
  }
  return a;
}

/** AR(p) fit of a segment (Hann-windowed autocorrelation) and its residual RMS. */
function arModel(segment, p) {
  const n = segment.length;
  const w = Float64Array.from(segment, (x, i) => x * (0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n)));
  const r = new Float64Array(p + 1);
  for (let k = 0; k <= p; k++) for (let i = k; i < n; i++) r[k] += w[i] * w[i - k];
  r[0] *= 1 + 1e-9;
  const a = levinson(r, p);
  let e = 0;
  for (let i = p; i < n; i++) {
    let s = segment[i];
    for (let j = 1; j <= p; j++) s += a[j] * segment[i - j];
    e += s * s;
  }
  return { a, sigma: Math.sqrt(e / Math.max(1, n - p)) };
}

/** Continues `history` (newest last) by `count` samples of the AR model, driven by `excite()`. */
function continueAr(history, a, count, excite) {
  const p = a.length - 1;
  const buf = new Float64Array(p + count);
  buf.set(history.subarray(history.length - p), 0);
  for (let t = 0; t < count; t++) {
    let s = excite();
    for (let j = 1; j <= p; j++) s -= a[j] * buf[p + t - j];
    buf[p + t] = s;
  }
  return buf.subarray(p);
}

/** Fills each hole from both sides: `side(context, L)` extends a context by L samples; crossfaded. */
function twoSided(x, lost, side, power) {
  const y = Float32Array.from(x);
  for (const [s, e] of lost) y.fill(0, s, e);
  const starts = new Set(lost.map(([s]) => s));
  for (const [s, e] of lost) {
    const L = e - s;
    const left = y.subarray(Math.max(0, s - 1024), s);
    let end = e;
    while (end < y.length && end - e < 1024 && !starts.has(end)) end++;
    const right = Float32Array.from(y.subarray(e, end)).reverse();
    const fwd = left.length > 64 ? side(left, L) : null;
    const bwd = right.length > 64 ? Float64Array.from(side(right, L)).reverse() : null;
    for (let t = 0; t < L; t++) {
      const u = (t + 0.5) / L;
      const [wf, wb] = power ? [Math.cos((Math.PI / 2) * u), Math.sin((Math.PI / 2) * u)] : [1 - u, u];
      y[s + t] = fwd && bwd ? wf * fwd[t] + wb * bwd[t] : fwd ? fwd[t] : bwd ? bwd[t] : 0;
    }
  }
  return y;
}

function gaussian(random) {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const fills = {
  zeros: (x, lost) => {
    const y = Float32Array.from(x);
    for (const [s, e] of lost) y.fill(0, s, e);
    return y;
  },
  // Etter, "Restoration of a discrete-time signal segment by interpolation based on the left-sided
  // and right-sided autoregressive parameters", IEEE Trans. Signal Processing 44(5), 1996.
  'AR interpolation (Etter), p=32': (x, lost) => twoSided(x, lost, (h, L) => continueAr(h, arModel(h, 32).a, L, () => 0), false),
  'AR-shaped noise, p=24': (x, lost) => {
    const random = mulberry32(1);
    return twoSided(x, lost, (h, L) => {
      const { a, sigma } = arModel(h, 24);
      return continueAr(h, a, L, () => sigma * gaussian(random));
    }, true);
  },
  // The best-matching earlier (later) segment at a lag of at least the hole, as G.711 Appendix I
  // repeats a pitch period, from both sides.
  'two-sided substitution': (x, lost) => twoSided(x, lost, (h, L) => {
    const W = 64;
    let best = -2;
    let lag = L;
    for (let P = L; P <= 2 * L && P + W <= h.length; P++) {
      let xy = 0, xx = 0, yy = 0;
      for (let k = 1; k <= W; k++) {
        const u = h[h.length - k], v = h[h.length - P - k] ?? 0;
        xy += u * v; xx += u * u; yy += v * v;
      }
      const c = xy / Math.sqrt(xx * yy + 1e-20);
      if (c > best) [best, lag] = [c, P];
    }
    return Float64Array.from({ length: L }, (_, t) => h[h.length - lag + t] ?? 0);
  }, true),
  'oracle: true audio x 0.9': (x, lost) => {
    const y = Float32Array.from(x);
    for (const [s, e] of lost) for (let i = s; i < e; i++) y[i] *= 0.9;
    return y;
  },
  'oracle: true audio 1 ms late': (x, lost) => {
    const y = Float32Array.from(x);
    for (const [s, e] of lost) for (let i = s; i < e; i++) y[i] = x[i - 16];
    return y;
  },
};

const dir = mkdtempSync(join(tmpdir(), 'earshot-conceal-'));
const wavPath = join(dir, 'clean.wav');
await joinDevScenes(wavPath, 600, 1);
const clean = readWav(wavPath).mono;
const lost = lostPackets(clean, Number(values.seed), Number(values.drop), Number(values['bit-errors']));
console.error(`${(clean.length / 16000).toFixed(1)} s, ${lost.length} packets lost (seed ${values.seed})`);

const config = defaultConfig(dir);
config.model.path = join(SHARED, 'models/yamnet/yamnet_waveform.tflite');
const { labels, models } = await openModelAndLabels(config, createLogger({ level: 'warn', pretty: false, fd: 2 }));
const hostile = labels.map((l, i) => ({ ...l, i })).filter((l) => l.group === 'hostile');
async function score(path) {
  const patches = [];
  const analysis = await analyzeFile(path, models, labels, pipelineSettings(config), 'check', (r) => patches.push({ start: r.patch.startSample, scores: r.labelScores && Float32Array.from(r.labelScores) }));
  return { patches, events: analysis.events.filter((e) => e.group === 'hostile') };
}
const reference = await score(wavPath);
const rows = [];
for (const [name, fill] of Object.entries(fills)) {
  const path = join(dir, 'filled.wav');
  writeFileSync(path, encodeWav16(fill(clean, lost), 16000));
  const run = await score(path);
  let n = 0, sum = 0, max = 0, flips = 0;
  reference.patches.forEach((r, k) => {
    const q = run.patches[k];
    if (!r.scores || !q?.scores || !lost.some(([a, b]) => a < r.start + 15600 && b > r.start)) return;
    n += 1;
    for (const l of hostile) {
      const d = Math.abs(q.scores[l.i] - r.scores[l.i]);
      sum += d;
      max = Math.max(max, d);
      if (q.scores[l.i] >= l.threshold !== r.scores[l.i] >= l.threshold) flips += 1;
    }
  });
  const used = new Set();
  let missed = 0;
  for (const e of reference.events) {
    const k = run.events.findIndex((x, j) => !used.has(j) && x.label === e.label && Math.abs(x.onset_s - e.onset_s) <= 0.5);
    if (k < 0) missed += 1;
    else used.add(k);
  }
  rows.push({ fill: name, patches_with_loss: n, mean_abs_change: +(sum / n / hostile.length).toFixed(4), max_abs_change: +max.toFixed(3), threshold_flips: flips, missed, extra: run.events.length - used.size });
  console.error(JSON.stringify(rows.at(-1)));
}
models.close();
console.log(JSON.stringify({ seconds: clean.length / 16000, lost_packets: lost.length, clean_hostile_events: reference.events.length, rows }, null, 2));
