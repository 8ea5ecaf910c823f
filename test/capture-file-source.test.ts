import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSource } from '../src/capture/file-source.js';
import { createResampler } from '../src/capture/resample.js';
import { readWav } from '../src/capture/wav.js';
import type { AudioChunk } from '../src/types.js';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');
const speechPath = join(shared, 'audio', 'clips', 'speech_3.wav'); // 16 kHz mono, 44880 samples
const stereo44kPath = join(shared, 'audio', 'formats', 'speech_44k1_stereo_s16.wav');

async function collect(source: FileSource): Promise<AudioChunk[]> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of source.chunks()) chunks.push(chunk);
  return chunks;
}

function checkContiguous(t: Test, chunks: AudioChunk[], chunkSamples: number, total: number): Float32Array {
  let expectedStart = 0;
  const joined = new Float32Array(total);
  let sizesOk = true;
  for (const [i, chunk] of chunks.entries()) {
    if (chunk.startSample !== expectedStart) t.fail(`chunk ${i} starts at ${chunk.startSample}, expected ${expectedStart}`);
    const isLast = i === chunks.length - 1;
    if (isLast ? chunk.samples.length < 1 || chunk.samples.length > chunkSamples : chunk.samples.length !== chunkSamples) sizesOk = false;
    joined.set(chunk.samples, chunk.startSample);
    expectedStart += chunk.samples.length;
  }
  t.ok(sizesOk, `every chunk but the last has ${chunkSamples} samples`);
  t.equal(expectedStart, total, 'total samples');
  return joined;
}

t.test('fast pacing delivers a 16 kHz file sample for sample, contiguously, for several chunk sizes', async (t) => {
  const expected = readWav(speechPath).mono;
  for (const chunkSamples of [1, 7, 160, 1600, 4096, 44880, 100000]) {
    const source = new FileSource(speechPath, { chunkSamples });
    const chunks = await collect(source);
    t.equal(chunks.length, Math.ceil(expected.length / chunkSamples), `${chunkSamples}: chunk count`);
    const joined = checkContiguous(t, chunks, chunkSamples, expected.length);
    t.ok(
      joined.every((v, i) => v === expected[i]),
      `${chunkSamples}: identical samples`,
    );
  }
});

t.test('fast pacing of a 44.1 kHz stereo file delivers the resampled downmix exactly once', async (t) => {
  const decoded = readWav(stereo44kPath);
  const resampler = await createResampler(decoded.sampleRate);
  const body = resampler.process(decoded.mono);
  const tail = resampler.flush();
  const expected = new Float32Array(body.length + tail.length);
  expected.set(body);
  expected.set(tail, body.length);
  t.equal(expected.length, 44881);
  for (const chunkSamples of [160, 1600, 5000]) {
    const source = new FileSource(stereo44kPath, { chunkSamples });
    const info = await source.open();
    t.equal(info.samples, expected.length);
    const joined = checkContiguous(t, await collect(source), chunkSamples, expected.length);
    t.ok(
      joined.every((v, i) => v === expected[i]),
      `${chunkSamples}: same samples as one-shot resampling`,
    );
  }
});

t.test('info gives the duration and original format', async (t) => {
  const source = new FileSource(stereo44kPath);
  t.equal(source.info, undefined);
  const info = await source.open();
  t.same(info, {
    path: stereo44kPath,
    durationSeconds: 123701 / 44100,
    originalSampleRate: 44100,
    originalChannels: 2,
    originalEncoding: '16-bit signed PCM',
    samples: 44881,
  });
  t.equal(source.info, info);
  t.equal(await source.open(), info, 'open() is idempotent');
  // Opened but never played: stop() closes the file (else Node closes it on garbage collection, with a DEP0137 warning).
  source.stop();
});

t.test('fast pacing lets timers run between chunks', async (t) => {
  // Armed once delivery is under way, so the file read's own wait cannot be what lets it fire.
  let timerFiredAtChunk = -1;
  let delivered = 0;
  for await (const _chunk of new FileSource(speechPath, { chunkSamples: 16 }).chunks()) {
    if (delivered === 0) setTimeout(() => (timerFiredAtChunk = delivered), 1);
    delivered++;
  }
  t.equal(delivered, 2805);
  t.ok(timerFiredAtChunk > 0 && timerFiredAtChunk < delivered, `timer ran after chunk ${timerFiredAtChunk} of ${delivered}`);
});

t.test('stop() mid-stream ends the iteration', async (t) => {
  const source = new FileSource(speechPath, { chunkSamples: 1600 });
  const chunks: AudioChunk[] = [];
  for await (const chunk of source.chunks()) {
    chunks.push(chunk);
    if (chunks.length === 3) source.stop();
  }
  t.equal(chunks.length, 3);
  t.ok(source.stopped);
  await t.rejects(collect(source), /only be iterated once/);

  const stoppedEarly = new FileSource(speechPath);
  stoppedEarly.stop();
  t.same(await collect(stoppedEarly), [], 'stop() before iterating delivers nothing');
});

t.test('realtime pacing of a 1 s excerpt takes about 1 s', async (t) => {
  const source = new FileSource(speechPath, { pacing: 'realtime', chunkSamples: 1600 });
  await source.open();
  const started = performance.now();
  let samples = 0;
  const arrivals: number[] = [];
  for await (const chunk of source.chunks()) {
    samples += chunk.samples.length;
    arrivals.push((performance.now() - started) / 1000);
    if (samples >= 16000) break;
  }
  const elapsed = (performance.now() - started) / 1000;
  t.equal(samples, 16000);
  t.ok(elapsed >= 0.8 && elapsed <= 3, `1 s of audio took ${elapsed.toFixed(3)} s`);
  t.ok(arrivals[0]! >= 0.08, `first chunk after ${arrivals[0]!.toFixed(3)} s, when its 0.1 s would have been captured`);
});

t.test('realtime speed multiplier', async (t) => {
  // 2.8 s of audio at 4× ≈ 0.7 s.
  const source = new FileSource(speechPath, { pacing: 'realtime', speed: 4 });
  await source.open();
  const started = performance.now();
  const chunks = await collect(source);
  const elapsed = (performance.now() - started) / 1000;
  checkContiguous(t, chunks, 1600, 44880);
  t.ok(elapsed >= 0.6 && elapsed <= 2.5, `took ${elapsed.toFixed(3)} s`);
});

t.test('stop() cuts a realtime wait short', async (t) => {
  const source = new FileSource(speechPath, { pacing: 'realtime', chunkSamples: 16000 }); // 1 s per chunk
  await source.open();
  const started = performance.now();
  setTimeout(() => source.stop(), 100);
  t.same(await collect(source), []);
  const elapsed = performance.now() - started;
  t.ok(elapsed < 600, `ended ${elapsed.toFixed(0)} ms after start`);
});

t.test('bad files and options are refused', async (t) => {
  const truncated = join(shared, 'audio', 'formats', 'truncated.wav');
  await t.rejects(new FileSource(truncated).open(), { name: 'EarshotError', message: /truncated\.wav: truncated/ });
  await t.rejects(collect(new FileSource(truncated)), { name: 'EarshotError' });
  t.throws(() => new FileSource(speechPath, { chunkSamples: 0 }), RangeError);
  t.throws(() => new FileSource(speechPath, { chunkSamples: 1.5 }), RangeError);
  t.throws(() => new FileSource(speechPath, { speed: 0 }), RangeError);
  t.throws(() => new FileSource(speechPath, { pacing: 'slow' as 'fast' }), RangeError);
});
