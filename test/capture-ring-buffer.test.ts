import t from 'tap';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '../src/capture/ring-buffer.js';
import { readWav } from '../src/capture/wav.js';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');
const speech = readWav(join(shared, 'audio', 'clips', 'speech_3.wav')).mono; // 44880 samples, 2.8 s

function writeInChunks(buffer: RingBuffer, samples: Float32Array, chunkSamples: number, firstIndex = 0): void {
  for (let offset = 0; offset < samples.length; offset += chunkSamples) {
    buffer.write({ startSample: firstIndex + offset, samples: samples.subarray(offset, offset + chunkSamples) });
  }
}

function sameSamples(actual: Float32Array, expected: Float32Array): boolean {
  return actual.length === expected.length && actual.every((v, i) => v === expected[i]);
}

t.test('holds the last N samples of a real clip across many wrap-arounds', async (t) => {
  const buffer = new RingBuffer(16000);
  t.equal(buffer.startSample, 0);
  t.equal(buffer.endSample, 0);
  writeInChunks(buffer, speech, 1237); // a chunk size that does not divide the capacity
  t.equal(buffer.endSample, speech.length);
  t.equal(buffer.startSample, speech.length - 16000);
  t.ok(sameSamples(buffer.read(buffer.startSample, buffer.endSample), speech.subarray(speech.length - 16000)), 'whole window');
  t.ok(sameSamples(buffer.read(30000, 30010), speech.subarray(30000, 30010)), 'a slice by absolute index');
  const straddling = buffer.read(31990, 32010); // absolute 32000 is storage index 0
  t.ok(sameSamples(straddling, speech.subarray(31990, 32010)), 'a slice across the wrap point');
  t.equal(buffer.read(40000, 40000).length, 0);
});

t.test('reads return copies', async (t) => {
  const buffer = new RingBuffer(1000);
  writeInChunks(buffer, speech.subarray(0, 3000), 100);
  const copy = buffer.read(2500, 2600);
  writeInChunks(buffer, speech.subarray(3000, 4000), 100, 3000);
  t.ok(sameSamples(copy, speech.subarray(2500, 2600)), 'unchanged after the storage was overwritten');
});

t.test('reads outside the held range throw RangeError', async (t) => {
  const buffer = new RingBuffer(16000);
  writeInChunks(buffer, speech, 1600);
  const { startSample, endSample } = buffer;
  t.throws(() => buffer.read(startSample - 1, startSample + 10), { name: 'RangeError', message: /no longer|not held/ });
  t.throws(() => buffer.read(endSample - 10, endSample + 1), RangeError, 'not yet written');
  t.throws(() => buffer.read(100, 50), RangeError, 'reversed');
  t.throws(() => buffer.read(startSample + 0.5, endSample), RangeError, 'fractional');
  t.throws(() => buffer.gaps(0, 10), RangeError);
  t.throws(() => new RingBuffer(0), RangeError);
  t.throws(() => new RingBuffer(1.5), RangeError);
});

t.test('a chunk larger than the capacity keeps only its end', async (t) => {
  const buffer = new RingBuffer(1000);
  buffer.write({ startSample: 0, samples: speech });
  t.equal(buffer.startSample, speech.length - 1000);
  t.ok(sameSamples(buffer.read(buffer.startSample, buffer.endSample), speech.subarray(speech.length - 1000)));
});

t.test('a skipped stretch reads as zeros and is reported as a gap', async (t) => {
  const buffer = new RingBuffer(16000);
  buffer.write({ startSample: 0, samples: speech.subarray(0, 4000) });
  buffer.write({ startSample: 6000, samples: speech.subarray(6000, 9000) }); // 2000 samples lost
  buffer.write({ startSample: 9000, samples: speech.subarray(9000, 10000) });
  t.same(buffer.gaps(), [{ start: 4000, end: 6000 }]);
  t.same(buffer.gaps(5000, 9500), [{ start: 5000, end: 6000 }]);
  t.same(buffer.gaps(6000, 9500), []);
  const clip = buffer.read(3990, 6010);
  t.ok(sameSamples(clip.subarray(0, 10), speech.subarray(3990, 4000)), 'audio before the gap');
  t.ok(
    clip.subarray(10, 2010).every((v) => v === 0),
    'zeros in the gap',
  );
  t.ok(sameSamples(clip.subarray(2010), speech.subarray(6000, 6010)), 'audio after the gap');
});

t.test('gap zeros replace older audio at the same storage positions, and gaps expire', async (t) => {
  const buffer = new RingBuffer(1000);
  writeInChunks(buffer, speech.subarray(0, 2000), 250);
  buffer.write({ startSample: 2300, samples: speech.subarray(2300, 2500) });
  t.equal(buffer.startSample, 1500);
  t.ok(
    buffer.read(2000, 2300).every((v) => v === 0),
    'old audio at those positions is not leaked into the gap',
  );
  buffer.write({ startSample: 2500, samples: speech.subarray(2500, 3400) });
  t.equal(buffer.startSample, 2400);
  t.same(buffer.gaps(), [], 'the gap scrolled out');
});

t.test('a gap longer than the capacity leaves only zeros then the new audio', async (t) => {
  const buffer = new RingBuffer(1000);
  buffer.write({ startSample: 0, samples: speech.subarray(0, 1000) });
  buffer.write({ startSample: 50000, samples: speech.subarray(0, 100) });
  t.equal(buffer.startSample, 49100);
  t.same(buffer.gaps(), [{ start: 49100, end: 50000 }]);
  const window = buffer.read(49100, 50100);
  t.ok(window.subarray(0, 900).every((v) => v === 0));
  t.ok(sameSamples(window.subarray(900), speech.subarray(0, 100)));
});

t.test('the first chunk sets the origin; indices never go back', async (t) => {
  const buffer = new RingBuffer(1000);
  buffer.write({ startSample: 480000, samples: speech.subarray(0, 100) });
  t.equal(buffer.startSample, 480000);
  t.same(buffer.gaps(), []);
  t.throws(() => buffer.write({ startSample: 480050, samples: speech.subarray(0, 10) }), RangeError);
  t.throws(() => buffer.write({ startSample: -1, samples: new Float32Array(1) }), RangeError);
});
