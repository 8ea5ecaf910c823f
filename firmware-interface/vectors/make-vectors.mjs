#!/usr/bin/env node
// Regenerates the shared test vectors from the TypeScript encoder (needs `npm run build`):
//   node firmware-interface/vectors/make-vectors.mjs
// vectors.txt lists each vector's fields; NAME.bin is its exact wire frame (0x00 COBS 0x00).
// The C host test (test/test_encoder.c) and test/firmware-vectors.test.ts both check every
// .bin byte for byte. Never edit a .bin by hand: a change here is a protocol change.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeAudioPacket, encodeResendRequest, encodeStatusPacket, frameForWire, FORMAT_CODES } from '../../dist/capture/serial/serial-protocol.js';

const dir = fileURLToPath(new URL('./', import.meta.url));
const width = { s16le: 2, s24le32: 4, f32le: 4 };

/** Deterministic sample bytes: a sine-ish integer pattern, so the vectors need no random source. */
function pattern(format, channels, frames, seed, nonzero = false) {
  const bytes = new Uint8Array(frames * channels * width[format]);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < frames * channels; i++) {
    const x = Math.sin((i + seed) * 0.37) * 0.8;
    if (format === 's16le') view.setInt16(i * 2, Math.round(x * 32767), true);
    else if (format === 's24le32') view.setInt32(i * 4, Math.round(x * 8388607), true);
    else view.setFloat32(i * 4, x, true);
  }
  if (nonzero) for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0) bytes[i] = 1;
  return bytes;
}

const vectors = [];
function audio(name, sequence, sampleRate, format, channels, payload) {
  vectors.push({ name, line: `${name} audio ${sequence} ${sampleRate} ${FORMAT_CODES[format]} ${channels} ${Buffer.from(payload).toString('hex')}`, wire: frameForWire(encodeAudioPacket({ sequence, sampleRate, format, channels, payload })) });
}
function status(name, sequence, flags, droppedFrames, gainCentiDb) {
  vectors.push({ name, line: `${name} status ${sequence} ${flags} ${droppedFrames} ${gainCentiDb}`, wire: frameForWire(encodeStatusPacket({ sequence, flags, droppedFrames, gainCentiDb })) });
}
function resend(name, first, count) {
  vectors.push({ name, line: `${name} resend ${first} ${count}`, wire: frameForWire(encodeResendRequest(first, count)) });
}

audio('s16_mono_8', 0, 16000, 's16le', 1, new Uint8Array([0, 0, 1, 0, 0xff, 0x7f, 0x00, 0x80, 0x34, 0x12, 0, 1, 2, 0, 0, 0]));
audio('s16_mono_256', 1, 16000, 's16le', 1, pattern('s16le', 1, 256, 1));
audio('s24_stereo_16', 7, 48000, 's24le32', 2, pattern('s24le32', 2, 16, 2));
audio('f32_mono_10', 0x12345678, 44100, 'f32le', 1, pattern('f32le', 1, 10, 3));
audio('s16_mono_1024', 1000, 16000, 's16le', 1, pattern('s16le', 1, 1024, 4));
audio('s16_nonzero_run_600', 2, 16000, 's16le', 1, pattern('s16le', 1, 300, 5, true));
audio('sequence_wrap', 0xffffffff, 16000, 's16le', 1, pattern('s16le', 1, 4, 6));
// COBS edge: the packet ends exactly with a full block of 254 non-zero bytes (no trailing code byte).
for (let seed = 0; ; seed++) {
  const payload = pattern('s16le', 1, 125, 100 + seed, true);
  const packet = encodeAudioPacket({ sequence: 3, sampleRate: 16000, format: 's16le', channels: 1, payload });
  if (packet.subarray(16).every((b) => b !== 0)) {
    audio('cobs_full_block_at_end', 3, 16000, 's16le', 1, payload);
    break;
  }
}
status('status_clip_overflow', 41, 3, 1234, -350);
status('status_end_of_stream', 0, 4, 0, 0);
// Resend requests (host -> device): zeros in the sequence field, a full-width one, and the wrap past 2^32 - 1 at the largest count.
resend('resend_first3', 3, 1);
resend('resend_mid_32', 0x12345678, 32);
resend('resend_wrap_64', 0xfffffffa, 64);

writeFileSync(`${dir}vectors.txt`, `# name audio sequence sample_rate format_code channels payload_hex\n# name status sequence flags dropped_frames gain_centi_db\n# name resend first count\n${vectors.map((v) => v.line).join('\n')}\n`);
for (const v of vectors) writeFileSync(`${dir}${v.name}.bin`, v.wire);
console.log(`${vectors.length} vectors written to ${dir}`);
