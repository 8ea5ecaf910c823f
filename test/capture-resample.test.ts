import t from 'tap';
import { join } from 'node:path';
import { createResampler, type Resampler } from '../src/capture/resample.js';
import { readWav } from '../src/capture/wav.js';
import { clipPath, concatSamples as concat, SHARED } from './helpers/fixtures.js';

const formatsDir = join(SHARED, 'audio', 'formats');

/** Feeds `input` in irregular pieces (1..4999 frames) then flushes. */
function resampleInPieces(resampler: Resampler, input: Float32Array): Float32Array {
  const pieces: Float32Array[] = [];
  for (let offset = 0, step = 1; offset < input.length; step++) {
    const size = (((step * 7919) % 4999) + 1) * resampler.channels;
    pieces.push(resampler.process(input.subarray(offset, offset + size)));
    offset += size;
  }
  pieces.push(resampler.flush());
  return concat(pieces);
}

function sine(frequency: number, sampleRate: number, frames: number, amplitude = 0.5): Float32Array {
  return Float32Array.from({ length: frames }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
}

/** Amplitude of the `frequency` component of `x` (direct DFT at one frequency). */
function amplitudeAt(x: Float32Array, frequency: number, sampleRate: number): number {
  let re = 0,
    im = 0;
  for (let i = 0; i < x.length; i++) {
    const phase = (2 * Math.PI * frequency * i) / sampleRate;
    re += x[i]! * Math.cos(phase);
    im -= x[i]! * Math.sin(phase);
  }
  return (2 * Math.hypot(re, im)) / x.length;
}

function rms(x: Float32Array): number {
  return Math.sqrt(x.reduce((sum, v) => sum + v * v, 0) / x.length);
}

t.test('output length is ceil(input × 16000 / rate) for streamed input of any piece sizes', async (t) => {
  for (const rate of [8000, 11025, 22050, 44100, 48000, 96000]) {
    for (const frames of [1, 999, rate, rate + 37]) {
      const resampler = await createResampler(rate);
      const output = resampleInPieces(resampler, new Float32Array(frames).fill(0.1));
      t.equal(output.length, Math.ceil((frames * 16000) / rate), `${frames} frames at ${rate} Hz`);
      resampler.destroy();
    }
  }
});

t.test('streaming gives the same samples as one call, and keeps the tail until flush', async (t) => {
  const { mono, sampleRate } = readWav(join(formatsDir, 'speech_44k1_stereo_s16.wav'));
  const whole = await createResampler(sampleRate);
  const body = whole.process(mono);
  t.ok(body.length < Math.ceil((mono.length * 16000) / sampleRate), 'the filter holds back the last samples');
  const oneCall = concat([body, whole.flush()]);
  const streamed = resampleInPieces(await createResampler(sampleRate), mono);
  t.equal(streamed.length, oneCall.length);
  t.ok(
    streamed.every((v, i) => v === oneCall[i]),
    'bit-identical',
  );
});

t.test('the flushed tail carries the end of the signal (no lost tail)', async (t) => {
  // A tone that stops at the very end: its last 5 ms at 16 kHz must still be a full-level tone.
  const resampler = await createResampler(44100);
  const output = resampleInPieces(resampler, sine(440, 44100, 44100));
  const lastFiveMs = output.subarray(output.length - 80);
  t.ok(Math.max(...lastFiveMs.map(Math.abs)) > 0.4, 'tone present up to the end');
});

t.test('a 1 kHz tone at 44.1 kHz stays at 1 kHz and keeps its level', async (t) => {
  const resampler = await createResampler(44100);
  const output = resampleInPieces(resampler, sine(1000, 44100, 44100));
  const steady = output.subarray(1600, 14400);
  let peakFrequency = 0,
    peakAmplitude = 0;
  for (let f = 500; f <= 1500; f += 10) {
    const a = amplitudeAt(steady, f, 16000);
    if (a > peakAmplitude) [peakFrequency, peakAmplitude] = [f, a];
  }
  t.equal(peakFrequency, 1000);
  t.ok(Math.abs(peakAmplitude - 0.5) < 0.005, `amplitude ${peakAmplitude}`);
});

t.test('a 10 kHz tone (above the 8 kHz Nyquist) is suppressed, not aliased to 6 kHz', async (t) => {
  for (const quality of ['best', 'medium'] as const) {
    const resampler = await createResampler(44100, 1, { quality });
    const output = resampleInPieces(resampler, sine(10000, 44100, 44100));
    const steady = output.subarray(1600, 14400);
    // Measured here: −154 dB (best), −132 dB (medium) re the 0.5 input amplitude.
    const aliasDb = 20 * Math.log10(amplitudeAt(steady, 6000, 16000) / 0.5);
    const residualDb = 20 * Math.log10((rms(steady) * Math.SQRT2) / 0.5);
    t.ok(aliasDb < -100, `${quality}: 6 kHz alias at ${aliasDb.toFixed(1)} dB`);
    t.ok(residualDb < -100, `${quality}: residual at ${residualDb.toFixed(1)} dB`);
  }
});

t.test('the best converter is flat up to 7.5 kHz (the top mel band edge)', async (t) => {
  const resampler = await createResampler(48000);
  const output = resampleInPieces(resampler, sine(7500, 48000, 48000));
  const gainDb = 20 * Math.log10(amplitudeAt(output.subarray(1600, 14400), 7500, 16000) / 0.5);
  t.ok(Math.abs(gainDb) < 0.1, `gain at 7.5 kHz ${gainDb.toFixed(2)} dB`);
});

t.test('interleaved stereo keeps its channels apart', async (t) => {
  const left = sine(500, 22050, 22050),
    right = sine(2000, 22050, 22050);
  const interleaved = new Float32Array(left.length * 2);
  left.forEach((v, i) => {
    interleaved[2 * i] = v;
    interleaved[2 * i + 1] = right[i]!;
  });
  const output = resampleInPieces(await createResampler(22050, 2), interleaved);
  t.equal(output.length, 2 * 16000);
  const outLeft = output.filter((_, i) => i % 2 === 0).subarray(1600, 14400);
  const outRight = output.filter((_, i) => i % 2 === 1).subarray(1600, 14400);
  t.ok(amplitudeAt(outLeft, 500, 16000) > 0.49 && amplitudeAt(outLeft, 2000, 16000) < 1e-3, 'left is 500 Hz');
  t.ok(amplitudeAt(outRight, 2000, 16000) > 0.49 && amplitudeAt(outRight, 500, 16000) < 1e-3, 'right is 2 kHz');
});

t.test('16 kHz input passes through exactly, as copies', async (t) => {
  const { mono } = readWav(clipPath('speech_3'));
  const resampler = await createResampler(16000);
  const first = resampler.process(mono.subarray(0, 1000));
  const rest = resampler.process(mono.subarray(1000));
  t.equal(resampler.flush().length, 0);
  const output = concat([first, rest]);
  t.ok(output.every((v, i) => v === mono[i]) && output.length === mono.length, 'identical samples');
  t.not(first.buffer, mono.buffer, 'not a view of the input');
});

t.test('misuse is refused', async (t) => {
  await t.rejects(createResampler(0), RangeError);
  await t.rejects(createResampler(44100.5), RangeError);
  await t.rejects(createResampler(384000), RangeError);
  await t.rejects(createResampler(44100, 0), RangeError);
  const stereo = await createResampler(44100, 2);
  t.throws(() => stereo.process(new Float32Array(3)), RangeError);
  stereo.flush();
  t.throws(() => stereo.process(new Float32Array(2)), /after flush/);
  stereo.destroy();
  stereo.destroy();
  t.throws(() => stereo.flush(), /after destroy/);
});
