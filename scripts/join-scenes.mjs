#!/usr/bin/env node
/**
 * Joins 16 kHz mono 16-bit WAVs of a folder (in name order, repeated) into one WAV of SECONDS
 * seconds: the long file of the memory benchmark (docs/benchmarks.md, "Memory").
 *   node scripts/join-scenes.mjs ../shared/audio/scenes/dev /tmp/dev30.wav 1800
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
const [dir, out, seconds] = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.wav')).sort();
const parts = []; let total = 0; const want = Number(seconds) * 16000 * 2;
for (let i = 0; total < want; i++) {
  const b = readFileSync(`${dir}/${files[i % files.length]}`);
  let o = 12, data;
  while (o + 8 <= b.length) { const id = b.toString('latin1', o, o + 4), n = b.readUInt32LE(o + 4); if (id === 'fmt ') { if (b.readUInt32LE(o + 12) !== 16000 || b.readUInt16LE(o + 10) !== 1 || b.readUInt16LE(o + 22) !== 16) throw new Error(files[i % files.length] + ': not 16 kHz mono 16-bit'); } if (id === 'data') { data = b.subarray(o + 8, o + 8 + n); break; } o += 8 + n + (n % 2); }
  const take = data.subarray(0, Math.min(data.length, want - total)); parts.push(take); total += take.length;
}
const h = Buffer.alloc(44); h.write('RIFF', 0); h.writeUInt32LE(36 + total, 4); h.write('WAVEfmt ', 8); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(16000, 24); h.writeUInt32LE(32000, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write('data', 36); h.writeUInt32LE(total, 40);
writeFileSync(out, Buffer.concat([h, ...parts]));
