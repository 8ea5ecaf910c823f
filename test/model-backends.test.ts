// Tests of the two inference backends (tflite-node, litert-wasm) and of int8 (de)quantization.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

import { BACKEND_KINDS, type InferenceBackend } from '../src/inference/backends/backend.js';
import { openBackend } from '../src/inference/backends/create-backend.js';
import { loadTfliteModelFile, readLabelsFile } from '../src/inference/tflite/model-file.js';
import { dequantizeInto, quantizeInto, quantizeValue, roundHalfAwayFromZero } from '../src/inference/tflite/quantize.js';
import { runSync, SHARED } from './helpers/fixtures.js';

const shared = (rel: string) => join(SHARED, rel);

/** The samples of a 16 kHz mono 16-bit PCM WAV as floats in −1..1 (int16 / 32768). */
function readWav16k(path: string): Float32Array {
  const b = readFileSync(path);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${path}: not a WAV file`);
  let fmtOk = false;
  for (let o = 12; o + 8 <= b.length; ) {
    const id = b.toString('latin1', o, o + 4);
    const n = v.getUint32(o + 4, true);
    if (id === 'fmt ') {
      const [format, channels, rate, bits] = [v.getUint16(o + 8, true), v.getUint16(o + 10, true), v.getUint32(o + 12, true), v.getUint16(o + 22, true)];
      if (format !== 1 || channels !== 1 || rate !== 16000 || bits !== 16) throw new Error(`${path}: not 16 kHz mono s16 PCM`);
      fmtOk = true;
    } else if (id === 'data' && fmtOk) {
      const out = new Float32Array(Math.floor(Math.min(n, b.length - o - 8) / 2));
      for (let i = 0; i < out.length; i++) out[i] = v.getInt16(o + 8 + 2 * i, true) / 32768;
      return out;
    }
    o += 8 + n + (n & 1);
  }
  throw new Error(`${path}: no fmt/data chunk`);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function openBoth(rel: string): Promise<InferenceBackend[]> {
  const { bytes, info } = await loadTfliteModelFile(shared(rel));
  return Promise.all(BACKEND_KINDS.map((kind) => openBackend(kind, bytes, info, { threads: 1 })));
}

t.test('quantization rounds half away from zero and clamps, as TFLite', async (t) => {
  t.equal(roundHalfAwayFromZero(2.5), 3);
  t.equal(roundHalfAwayFromZero(-2.5), -3);
  t.equal(roundHalfAwayFromZero(-2.4), -2);
  t.equal(roundHalfAwayFromZero(0.5), 1);
  t.equal(roundHalfAwayFromZero(-0.5), -1);
  const q = { scale: 0.5, zeroPoint: 10 };
  t.equal(quantizeValue(1.25, q, -128, 127), 13, '2.5 → 3, + 10');
  t.equal(quantizeValue(-1.25, q, -128, 127), 7, '−2.5 → −3, + 10');
  t.equal(quantizeValue(1000, q, -128, 127), 127, 'clamped high');
  t.equal(quantizeValue(-1000, q, -128, 127), -128, 'clamped low');
  t.equal(quantizeValue(Number.NaN, q, -128, 127), 10, 'NaN → zero point');
  const dst = new Int8Array(4);
  quantizeInto(Float32Array.from([1.25, -1.25, 1000, -1000]), dst, q, -128, 127);
  t.same(Array.from(dst), [13, 7, 127, -128]);
  const u = new Uint8Array(2);
  quantizeInto(Float32Array.from([-100, 100]), u, { scale: 1, zeroPoint: 128 }, 0, 255);
  t.same(Array.from(u), [28, 228]);
  const back = new Float32Array(4);
  dequantizeInto(dst, back, q);
  t.same(Array.from(back), [1.5, -1.5, 58.5, -69]);
  // The ST model's own parameters: log-mel values round-trip within half a step.
  const st = { scale: 0.057255, zeroPoint: 33 };
  for (const x of [-9.2, -4.6, 0, 0.0286, 1.5, 5.3]) {
    const one = new Float32Array(1);
    dequantizeInto(Int8Array.of(quantizeValue(x, st, -128, 127)), one, st);
    t.ok(Math.abs(one[0]! - x) <= st.scale / 2 + 1e-6, `${x} round-trips`);
  }
});

t.test('both backends agree on yamnet_waveform.tflite with real audio', async (t) => {
  const backends = await openBoth('models/yamnet/yamnet_waveform.tflite');
  const labels = readLabelsFile(shared('models/yamnet/yamnet_class_map.csv'));
  for (const b of backends) {
    t.equal(b.inputLength, 15600);
    t.equal(b.outputLength, 521, 'output [1,521]: one window in, one row of scores out');
    t.same(b.output.shape, [1, 521]);
  }
  const diffs: string[] = [];
  for (const [clip, expected] of [
    ['gunshot_1', ['Gunshot, gunfire', 'Machine gun', 'Explosion']],
    ['speech_1', ['Speech']],
    ['scream_1', ['Screaming']],
  ] as const) {
    const x = readWav16k(shared(`audio/clips/${clip}.wav`)).slice(0, 15600);
    const [a, b] = backends.map((be) => runSync(be, x)) as [Float32Array, Float32Array];
    t.equal(labels[argmax(a)], labels[argmax(b)], `${clip}: same top class (${labels[argmax(a)]})`);
    t.ok((expected as readonly string[]).includes(labels[argmax(a)]!), `${clip}: top class ${labels[argmax(a)]} is one of ${expected.join(' / ')}`);
    const d = maxAbsDiff(a, b);
    diffs.push(`${clip} ${d.toExponential(2)}`);
    // The model has int8 weights with float activations (dynamic-range quantized): the two
    // runtimes' hybrid kernels differ slightly.
    t.ok(d < 0.05, `${clip}: scores agree (max abs difference ${d.toExponential(2)})`);
    if (clip === 'gunshot_1') {
      const gunshot = labels.indexOf('Gunshot, gunfire');
      t.ok(a[gunshot]! > 0.9 && b[gunshot]! > 0.9, 'Gunshot, gunfire > 0.9 in both');
    }
  }
  t.comment(`yamnet_waveform max |tflite-node − litert-wasm|: ${diffs.join(', ')}`);
  for (const b of backends) b.close();
});

/** Frames start..start+95 of a golden log-mel file ([frames][64]) as a mels × frames patch. */
function goldenPatches(clip: string): Float32Array[] {
  const buf = readFileSync(shared(`golden/logmel/${clip}.off0.0001.f32`));
  const frames = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const count = frames.length / 64;
  const patches: Float32Array[] = [];
  for (let start = 0; start + 96 <= count; start += 48) {
    const patch = new Float32Array(64 * 96);
    for (let f = 0; f < 96; f++) for (let m = 0; m < 64; m++) patch[m * 96 + f] = frames[(start + f) * 64 + m]!;
    patches.push(patch);
  }
  return patches;
}

t.test('ST int8 model classifies golden log-mel patches right on both backends', async (t) => {
  const classes = ['Crying_and_sobbing', 'Glass', 'Gunshot_and_gunfire', 'Knock', 'Speech'];
  const backends = await openBoth('models/st/st_yamnet256_fsd50k_int8.tflite');
  for (const b of backends) {
    t.equal(b.input.dtype, 'int8');
    t.same(b.input.shape, [1, 64, 96, 1]);
    t.equal(b.outputLength, 5);
  }
  // Patches every 48 frames. The patch used is the one whose top score is highest (the most
  // confident one, whatever its class): the first patch of speech_1 is ambiguous (Crying 0.54,
  // Speech 0.45 — it starts on a pause), the best one is clear.
  for (const [clip, expected] of [
    ['gunshot_1', 'Gunshot_and_gunfire'],
    ['glass_break_1', 'Glass'],
    ['speech_1', 'Speech'],
  ] as const) {
    const patches = goldenPatches(clip);
    for (const b of backends) {
      const scores = patches.map((p) => runSync(b, p));
      const best = scores.reduce((bi, s, i) => (Math.max(...s) > Math.max(...scores[bi]!) ? i : bi), 0);
      const s = scores[best]!;
      t.equal(classes[argmax(s)], expected, `${b.kind}: ${clip} → ${classes[argmax(s)]} ${Math.max(...s).toFixed(3)} (patch at frame ${best * 48})`);
      t.ok(Math.abs(s.reduce((a, v) => a + v, 0) - 1) < 0.05, 'softmax output sums to ≈1');
      if (clip !== 'speech_1') t.equal(classes[argmax(scores[0]!)], expected, `${b.kind}: ${clip} first patch is right too`);
    }
  }
  for (const b of backends) b.close();
});

t.test('int8 outputs are dequantized (micro_speech) and both backends agree', async (t) => {
  const backends = await openBoth('models/micro/micro_speech_int8.tflite');
  const outs = backends.map((b) => runSync(b, new Float32Array(1960)));
  for (const [i, out] of outs.entries()) {
    t.equal(out.length, 4);
    t.ok(
      out.every((v) => v >= 0 && v < 1),
      `${backends[i]!.kind}: probabilities in [0,1)`,
    );
    t.ok(Math.abs(out.reduce((a, v) => a + v, 0) - 1) < 0.02, 'sum ≈ 1');
  }
  t.same(Array.from(outs[0]!), Array.from(outs[1]!), 'identical int8 results');
  for (const b of backends) b.close();
});

t.test('run() checks the input length, run() after close() throws', async (t) => {
  for (const b of await openBoth('models/st/st_yamnet256_fsd50k_int8.tflite')) {
    t.throws(() => b.run(new Float32Array(10)), /st_yamnet256_fsd50k_int8\.tflite: run\(\) got 10 input values; the model takes 6144/);
    const first = b.run(new Float32Array(6144));
    const again = b.run(new Float32Array(6144));
    t.not(first, again, 'each run returns a new array');
    t.same(first, again, 'deterministic');
    b.close();
    b.close();
    t.throws(() => b.run(new Float32Array(6144)), /closed/, `${b.kind}: closed`);
  }
});

t.test('litert-wasm refuses the bad keyword model cleanly, in process', async (t) => {
  // (tflite-node must never open this one in process: it corrupts memory and segfaults.)
  const path = shared('models/invalid/keyword_scrambled_8bit.tflite');
  const { bytes, info } = await loadTfliteModelFile(path);
  await t.rejects(openBackend('litert-wasm', bytes, info), {
    name: 'EarshotError',
    message: /keyword_scrambled_8bit\.tflite: LiteRT\.js refused the model at load \(.*Variable tensors not yet supported/,
  });
  // The runtime still works afterwards.
  const [, litert] = await openBoth('models/micro/micro_speech_int8.tflite');
  t.equal(runSync(litert!, new Float32Array(1960)).length, 4);
});

t.test('unsupported model layouts are refused with the file named', async (t) => {
  const { bytes, info } = await loadTfliteModelFile(shared('models/yamnet/yamnet_waveform.tflite'));
  await t.rejects(openBackend('tflite-node', bytes, { ...info, inputs: [...info.inputs, ...info.inputs] }), {
    name: 'EarshotError',
    message: /yamnet_waveform\.tflite: model has 2 inputs; earshot needs a model with exactly one/,
  });
  await t.rejects(openBackend('litert-wasm', bytes, info, { delegatePath: '/usr/lib/libedgetpu.so.1' }), {
    message: /cannot load a TFLite delegate/,
  });
  // (A missing or non-delegate library segfaults the native runtime: the path is checked first.)
  await t.rejects(openBackend('tflite-node', bytes, info, { delegatePath: '/nonexistent/libedgetpu.so.1' }), {
    name: 'EarshotError',
    message: /^\/nonexistent\/libedgetpu\.so\.1: TFLite delegate library not found \(delegate for .*yamnet_waveform\.tflite\)/,
  });
});
