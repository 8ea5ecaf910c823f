import t from 'tap';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EarshotError } from '../src/errors.js';
import { createResampler } from '../src/capture/resample.js';
import { decodeWav, readWav, readWavAsync } from '../src/capture/wav.js';

const shared = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');
const formatsDir = join(shared, 'audio', 'formats');
const reference = readWav(join(shared, 'audio', 'clips', 'speech_3.wav')).mono;

interface Tolerance {
  /** Minimum Pearson correlation with speech_3 at the best lag. */
  minCorrelation: number;
  /** Maximum RMS of (decoded − speech_3), full scale = 1 (speech_3's own RMS is 0.078). */
  maxRmsDifference: number;
}

interface GoodFile {
  sampleRate: number;
  channels: number;
  frames: number;
  encoding: string;
  /** Measured with the default ('best') resampler, then given headroom; see each comment. */
  tolerance: Tolerance;
}

// Every file in ../shared/audio/formats must be listed here, so a new one cannot go unchecked.
const goodFiles: Record<string, GoodFile> = {
  // 16 kHz, no resampling: the downmix of six identical channels is speech_3 bit for bit.
  'speech_16k_6ch_s16.wav': {
    sampleRate: 16000,
    channels: 6,
    frames: 44880,
    encoding: '16-bit signed PCM (extensible)',
    tolerance: { minCorrelation: 1 - 1e-12, maxRmsDifference: 0 },
  },
  // 8-bit quantisation: measured correlation 0.99874, RMS difference 3.9e-3 (−26 dB re speech).
  'speech_16k_mono_u8.wav': {
    sampleRate: 16000,
    channels: 1,
    frames: 44880,
    encoding: '8-bit unsigned PCM',
    tolerance: { minCorrelation: 0.998, maxRmsDifference: 5e-3 },
  },
  // Measured: correlation 0.99999997, RMS difference 7.0e-6 (resampler error, −81 dB re speech).
  'speech_22k05_mono_f32.wav': {
    sampleRate: 22050,
    channels: 1,
    frames: 61850,
    encoding: '32-bit float',
    tolerance: { minCorrelation: 0.9999, maxRmsDifference: 5e-5 },
  },
  // Measured: RMS difference 9.5e-6 (−78 dB).
  'speech_44k1_stereo_s16.wav': {
    sampleRate: 44100,
    channels: 2,
    frames: 123701,
    encoding: '16-bit signed PCM',
    tolerance: { minCorrelation: 0.9999, maxRmsDifference: 5e-5 },
  },
  // Measured: RMS difference 7.2e-6 (−81 dB).
  'speech_48k_mono_s24.wav': {
    sampleRate: 48000,
    channels: 1,
    frames: 134640,
    encoding: '24-bit signed PCM (extensible)',
    tolerance: { minCorrelation: 0.9999, maxRmsDifference: 5e-5 },
  },
  // An 8 kHz file has nothing above 4 kHz, which speech_3 has: measured correlation 0.99708,
  // RMS difference 5.9e-3 (−22 dB), all of it the missing 4–8 kHz band, not decoding error.
  'speech_8k_mono_s32.wav': {
    sampleRate: 8000,
    channels: 1,
    frames: 22440,
    encoding: '32-bit signed PCM (extensible)',
    tolerance: { minCorrelation: 0.996, maxRmsDifference: 7e-3 },
  },
};

const badFiles: Record<string, RegExp> = {
  'empty.wav': /^.*\/empty\.wav: empty file$/,
  'not_audio.wav': /^.*\/not_audio\.wav: not a WAV file \(no RIFF\/WAVE header\)$/,
  // speech_3 cut at 30000 bytes: its header still declares the whole data chunk.
  'truncated.wav': /^.*\/truncated\.wav: truncated: data chunk declares 89760 bytes, 29956 present$/,
  'unsupported_alaw.wav': /^.*\/unsupported_alaw\.wav: unsupported WAV encoding: A-law \(format 6\)$/,
};

const otherFiles = new Set(['silence_16k_mono_s16.wav']);

t.test('every file in shared/audio/formats is covered by this test', async (t) => {
  const listed = new Set([...Object.keys(goodFiles), ...Object.keys(badFiles), ...otherFiles]);
  t.same(readdirSync(formatsDir).sort(), [...listed].sort());
});

for (const [name, expected] of Object.entries(goodFiles)) {
  t.test(`${name} decodes and matches speech_3 after resampling to 16 kHz`, async (t) => {
    const decoded = readWav(join(formatsDir, name));
    t.equal(decoded.sampleRate, expected.sampleRate);
    t.equal(decoded.channels, expected.channels);
    t.equal(decoded.frames, expected.frames);
    t.equal(decoded.mono.length, expected.frames);
    t.equal(decoded.encoding, expected.encoding);
    t.ok(Math.abs(decoded.durationSeconds - 2.805) < 1e-3, `duration ${decoded.durationSeconds} s`);

    const resampled = await resampleWhole(decoded.mono, decoded.sampleRate);
    t.ok(Math.abs(resampled.length - reference.length) <= 1, `16 kHz length ${resampled.length} vs ${reference.length}`);
    const match = bestAlignment(reference, resampled, 10);
    t.equal(match.lag, 0, 'aligned with speech_3 to the sample');
    t.ok(match.correlation >= expected.tolerance.minCorrelation, `correlation ${match.correlation}`);
    t.ok(match.rmsDifference <= expected.tolerance.maxRmsDifference, `RMS difference ${match.rmsDifference}`);
  });
}

for (const [name, message] of Object.entries(badFiles)) {
  t.test(`${name} is refused with a clear error`, async (t) => {
    const path = join(formatsDir, name);
    t.throws(() => readWav(path), { name: 'EarshotError', message, exitCode: 2 });
    await t.rejects(readWavAsync(path), { name: 'EarshotError', message });
  });
}

t.test('digital silence decodes to exact zeros', async (t) => {
  const decoded = readWav(join(formatsDir, 'silence_16k_mono_s16.wav'));
  t.equal(decoded.sampleRate, 16000);
  t.equal(decoded.frames, 32000);
  t.equal(decoded.durationSeconds, 2);
  t.ok(decoded.mono.every((sample) => sample === 0));
});

t.test('the 16-bit stereo file downmixes to the average of its two channels', async (t) => {
  const path = join(formatsDir, 'speech_44k1_stereo_s16.wav');
  const decoded = readWav(path);
  const bytes = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(path)));
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const dataStart = 44; // canonical 44-byte header, checked in the hex dump of this file
  for (const frame of [0, 1000, 60000, decoded.frames - 1]) {
    const left = view.getInt16(dataStart + frame * 4, true);
    const right = view.getInt16(dataStart + frame * 4 + 2, true);
    t.equal(decoded.mono[frame], Math.fround((left / 32768 + right / 32768) / 2), `frame ${frame}`);
  }
});

t.test('a missing file is reported by name', async (t) => {
  t.throws(() => readWav('/nonexistent/x.wav'), { name: 'EarshotError', message: '/nonexistent/x.wav: cannot read file: no such file' });
  await t.rejects(readWavAsync('/nonexistent/x.wav'), EarshotError);
});

// Hand-built files for the chunk-walking rules the shared files do not exercise.
t.test('chunk walking', async (t) => {
  const pcm16 = fmtChunk({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16 });
  const samples = chunk('data', int16Bytes([0, 16384, -32768, 32767]));

  t.test('skips unknown chunks, including odd-sized ones and their pad byte', async (t) => {
    const oddList = chunk('LIST', new Uint8Array([1, 2, 3])); // 3 bytes + 1 pad
    const decoded = decodeWav(riff(oddList, pcm16, chunk('junk', new Uint8Array(5)), samples), 'x.wav');
    t.same(Array.from(decoded.mono), [0, 0.5, -1, 32767 / 32768]);
  });

  t.test('ignores what follows the data chunk', async (t) => {
    const decoded = decodeWav(riff(pcm16, samples, new Uint8Array([0x4c, 0x49])), 'x.wav');
    t.equal(decoded.frames, 4);
  });

  t.test('drops a partial last frame', async (t) => {
    const decoded = decodeWav(riff(pcm16, chunk('data', new Uint8Array([0, 64, 7]))), 'x.wav');
    t.same(Array.from(decoded.mono), [0.5]);
  });

  t.test('refuses data before fmt, files without fmt or data, and a cut chunk before the data', async (t) => {
    t.throws(() => decodeWav(riff(samples, pcm16), 'x.wav'), { message: 'x.wav: malformed WAV: data chunk comes before the fmt chunk' });
    t.throws(() => decodeWav(riff(chunk('LIST', new Uint8Array(4))), 'x.wav'), { message: 'x.wav: malformed WAV: no fmt chunk' });
    t.throws(() => decodeWav(riff(pcm16), 'x.wav'), { message: 'x.wav: malformed WAV: no data chunk' });
    const cutList = riff(pcm16, chunk('LIST', new Uint8Array(10))).subarray(0, 12 + 24 + 8 + 4);
    t.throws(() => decodeWav(cutList, 'x.wav'), { message: 'x.wav: truncated: LIST chunk declares 10 bytes, 4 present' });
  });

  t.test('decodes 8-bit unsigned, 24-bit signed and 64-bit float exactly', async (t) => {
    const u8 = decodeWav(
      riff(fmtChunk({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 8 }), chunk('data', new Uint8Array([0, 128, 255]))),
      'u8.wav',
    );
    t.same(Array.from(u8.mono), [-1, 0, 127 / 128]);
    const s24 = decodeWav(
      riff(
        fmtChunk({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 24 }),
        chunk('data', new Uint8Array([0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0x00, 0x00, 0x40])),
      ),
      's24.wav',
    );
    t.same(Array.from(s24.mono), [-1, Math.fround(-1 / 8388608), 0.5]);
    const f64 = new DataView(new ArrayBuffer(16));
    f64.setFloat64(0, -0.25, true);
    f64.setFloat64(8, 0.75, true);
    const float64 = decodeWav(
      riff(fmtChunk({ formatTag: 3, channels: 2, sampleRate: 8000, bitsPerSample: 64 }), chunk('data', new Uint8Array(f64.buffer))),
      'f64.wav',
    );
    t.same(Array.from(float64.mono), [0.25]);
  });

  t.test('refuses an extensible file whose subformat is not a plain format tag', async (t) => {
    const fmt = fmtChunk({ formatTag: 0xfffe, channels: 1, sampleRate: 8000, bitsPerSample: 16, subformatTag: 1 });
    fmt[8 + 24 + 15] = 0x72; // break the KSDATAFORMAT GUID tail
    t.throws(() => decodeWav(riff(fmt, samples), 'x.wav'), {
      message: /^x\.wav: unsupported WAV encoding: extensible subformat GUID 00000001-0000-0010-8000-00aa00389b72$/,
    });
  });

  t.test('refuses big-endian and 64-bit containers by name', async (t) => {
    const rifx = riff(pcm16, samples);
    rifx.set([0x52, 0x49, 0x46, 0x58], 0);
    t.throws(() => decodeWav(rifx, 'x.wav'), { message: 'x.wav: unsupported WAV container: RIFX (big-endian)' });
    const rf64 = riff(pcm16, samples);
    rf64.set([0x52, 0x46, 0x36, 0x34], 0);
    t.throws(() => decodeWav(rf64, 'x.wav'), { message: 'x.wav: unsupported WAV container: RF64' });
  });

  t.test('refuses an inconsistent block align', async (t) => {
    const fmt = fmtChunk({ formatTag: 1, channels: 2, sampleRate: 8000, bitsPerSample: 16 });
    new DataView(fmt.buffer).setUint16(8 + 12, 2, true);
    t.throws(() => decodeWav(riff(fmt, samples), 'x.wav'), { message: 'x.wav: malformed WAV: block align is 2 bytes, 4 expected for 2 × 16-bit' });
  });
});

async function resampleWhole(samples: Float32Array, sampleRate: number): Promise<Float32Array> {
  const resampler = await createResampler(sampleRate);
  const body = resampler.process(samples);
  const tail = resampler.flush();
  resampler.destroy();
  const result = new Float32Array(body.length + tail.length);
  result.set(body);
  result.set(tail, body.length);
  return result;
}

/** The lag (in samples, of `candidate` against `reference`) within ±maxLag with the highest correlation. */
function bestAlignment(reference: Float32Array, candidate: Float32Array, maxLag: number) {
  let best = { lag: 0, correlation: -Infinity, rmsDifference: Infinity };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sumProducts = 0,
      sumReference = 0,
      sumCandidate = 0,
      sumSquaredDifference = 0,
      count = 0;
    for (let i = Math.max(0, -lag); i < reference.length && i + lag < candidate.length; i++) {
      const x = reference[i]!,
        y = candidate[i + lag]!;
      sumProducts += x * y;
      sumReference += x * x;
      sumCandidate += y * y;
      sumSquaredDifference += (x - y) ** 2;
      count++;
    }
    const correlation = sumProducts / Math.sqrt(sumReference * sumCandidate);
    if (correlation > best.correlation) best = { lag, correlation, rmsDifference: Math.sqrt(sumSquaredDifference / count) };
  }
  return best;
}

function chunk(id: string, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(8 + body.length + (body.length % 2));
  bytes.set(
    Array.from(id, (c) => c.charCodeAt(0)),
    0,
  );
  new DataView(bytes.buffer).setUint32(4, body.length, true);
  bytes.set(body, 8);
  return bytes;
}

function fmtChunk(f: { formatTag: number; channels: number; sampleRate: number; bitsPerSample: number; subformatTag?: number }): Uint8Array {
  const extensible = f.subformatTag !== undefined;
  const body = new DataView(new ArrayBuffer(extensible ? 40 : 16));
  const blockAlign = (f.channels * f.bitsPerSample) / 8;
  body.setUint16(0, f.formatTag, true);
  body.setUint16(2, f.channels, true);
  body.setUint32(4, f.sampleRate, true);
  body.setUint32(8, f.sampleRate * blockAlign, true);
  body.setUint16(12, blockAlign, true);
  body.setUint16(14, f.bitsPerSample, true);
  if (extensible) {
    body.setUint16(16, 22, true);
    body.setUint16(18, f.bitsPerSample, true);
    body.setUint16(24, f.subformatTag!, true);
    [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71].forEach((b, i) => {
      body.setUint8(26 + i, b);
    });
  }
  return chunk('fmt ', new Uint8Array(body.buffer));
}

function int16Bytes(values: number[]): Uint8Array {
  const view = new DataView(new ArrayBuffer(values.length * 2));
  values.forEach((v, i) => {
    view.setInt16(i * 2, v, true);
  });
  return new Uint8Array(view.buffer);
}

function riff(...chunks: Uint8Array[]): Uint8Array {
  const length = chunks.reduce((sum, c) => sum + c.length, 12);
  const bytes = new Uint8Array(length);
  bytes.set([0x52, 0x49, 0x46, 0x46], 0);
  new DataView(bytes.buffer).setUint32(4, length - 8, true);
  bytes.set([0x57, 0x41, 0x56, 0x45], 8);
  let offset = 12;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return bytes;
}
