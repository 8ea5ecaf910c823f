/**
 * WAV-header fuzz (issue 24, "Suites that stay"): 2,000 seeded mutations of the header fields of
 * small valid WAVs (sample rate, channels, bits, block align, byte rate, chunk sizes, format tag,
 * random bytes, truncation). Each file goes through what `analyze` and `run` do with a file — the
 * file source (decode, resample to 16 kHz, chunks) — and any error through the CLI's own
 * `errorOutcome`: every case must end as exit 0 or 2, with one line, no stack and no path but the
 * file's. A sample of 3 runs through the real CLI (`earshot run` on a file source: the file is read before
 * the model loads), killed after 30 s (a hang detector; the in-process cases take well under 10 s).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { errorOutcome } from '../src/cli/action.js';
import { FileSource } from '../src/capture/file-source.js';
import { mulberry32 } from '../src/random.js';
import { earshot, hasStackTrace } from './helpers/cli.js';
import { writeDaemonConfig } from './helpers/fixtures.js';

const CASES = 2000;
const PROCESS_SAMPLE = 3;

interface Base {
  name: string;
  tag: number;
  channels: number;
  rate: number;
  bits: number;
  extensible?: boolean;
}

const BASES: Base[] = [
  { name: 's16-mono-16k', tag: 1, channels: 1, rate: 16000, bits: 16 },
  { name: 's24-stereo-44k1', tag: 1, channels: 2, rate: 44100, bits: 24 },
  { name: 'f32-mono-48k', tag: 3, channels: 1, rate: 48000, bits: 32 },
  { name: 'u8-mono-8k', tag: 1, channels: 1, rate: 8000, bits: 8 },
  { name: 's16-6ch-16k-ext', tag: 1, channels: 6, rate: 16000, bits: 16, extensible: true },
];

/** A valid WAV of `seconds` of a 440 Hz tone; header offsets: fmt body at 20, data size at 40 (+24 extensible). */
function makeWav(base: Base, seconds = 0.05): Buffer {
  const frames = Math.round(base.rate * seconds);
  const block = (base.channels * base.bits) / 8;
  const data = Buffer.alloc(frames * block);
  for (let f = 0; f < frames; f++) {
    const x = 0.5 * Math.sin((2 * Math.PI * 440 * f) / base.rate);
    for (let c = 0; c < base.channels; c++) {
      const at = f * block + (c * base.bits) / 8;
      if (base.tag === 3) data.writeFloatLE(x, at);
      else if (base.bits === 8) data.writeUInt8(Math.round(128 + 127 * x), at);
      else if (base.bits === 16) data.writeInt16LE(Math.round(32767 * x), at);
      else data.writeIntLE(Math.round(8388607 * x), at, 3);
    }
  }
  const fmtSize = base.extensible ? 40 : 16;
  const fmt = Buffer.alloc(fmtSize);
  fmt.writeUInt16LE(base.extensible ? 0xfffe : base.tag, 0);
  fmt.writeUInt16LE(base.channels, 2);
  fmt.writeUInt32LE(base.rate, 4);
  fmt.writeUInt32LE(base.rate * block, 8);
  fmt.writeUInt16LE(block, 12);
  fmt.writeUInt16LE(base.bits, 14);
  if (base.extensible) {
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(base.bits, 18);
    fmt.writeUInt32LE(0x3f, 20);
    fmt.writeUInt16LE(base.tag, 24);
    Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]).copy(fmt, 26);
  }
  const header = Buffer.alloc(12);
  header.write('RIFF', 0);
  header.writeUInt32LE(4 + 8 + fmtSize + 8 + data.length, 4);
  header.write('WAVE', 8);
  const fmtHeader = Buffer.alloc(8);
  fmtHeader.write('fmt ', 0);
  fmtHeader.writeUInt32LE(fmtSize, 4);
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0);
  dataHeader.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, fmtHeader, fmt, dataHeader, data]);
}

const EDGE_U32 = [0, 1, 2, 7, 100, 999, 1000, 1001, 8000, 16000, 22050, 44100, 96000, 192000, 192001, 384000, 1375484000, 0x7fffffff, 0xffffffff];
const EDGE_U16 = [0, 1, 2, 3, 4, 6, 7, 8, 12, 16, 24, 32, 48, 64, 65, 255, 256, 0x7fff, 0xfffe, 0xffff];

/** One seeded mutation of one base file: field edits, byte flips, truncation or junk. */
function mutate(random: () => number, base: Base): { bytes: Buffer; what: string } {
  const bytes = makeWav(base);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const dataSizeAt = base.extensible ? 64 : 40;
  const fields: [string, number, 'u16' | 'u32'][] = [
    ['riff size', 4, 'u32'],
    ['fmt size', 16, 'u32'],
    ['format tag', 20, 'u16'],
    ['channels', 22, 'u16'],
    ['sample rate', 24, 'u32'],
    ['byte rate', 28, 'u32'],
    ['block align', 32, 'u16'],
    ['bits', 34, 'u16'],
    ['data size', dataSizeAt, 'u32'],
  ];
  const edits: string[] = [];
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) {
    const kind = random();
    if (kind < 0.6) {
      const [name, at, width] = pick(fields);
      const value = random() < 0.7 ? pick(width === 'u16' ? EDGE_U16 : EDGE_U32) : Math.floor(random() * (width === 'u16' ? 0x10000 : 0x100000000));
      if (width === 'u16') bytes.writeUInt16LE(value, at);
      else bytes.writeUInt32LE(value >>> 0, at);
      // Keep byte rate consistent half the time, so the later checks are reached too.
      if (name === 'sample rate' && random() < 0.5) bytes.writeUInt32LE((value * bytes.readUInt16LE(32)) >>> 0, 28);
      edits.push(`${name}=${value}`);
    } else if (kind < 0.8) {
      const at = Math.floor(random() * Math.min(bytes.length, dataSizeAt + 8));
      bytes[at] = Math.floor(random() * 256);
      edits.push(`byte ${at}`);
    } else if (kind < 0.9) {
      const keep = Math.floor(random() * bytes.length);
      edits.push(`truncate ${keep}`);
      return { bytes: bytes.subarray(0, keep), what: edits.join(', ') };
    } else {
      edits.push('junk chunk');
      const junk = Buffer.alloc(8 + 6);
      junk.write(String.fromCharCode(...Array.from({ length: 4 }, () => 32 + Math.floor(random() * 95))), 0, 'latin1');
      junk.writeUInt32LE(random() < 0.5 ? 6 : Math.floor(random() * 0xffffffff), 4);
      return { bytes: Buffer.concat([bytes.subarray(0, 12), junk, bytes.subarray(12)]), what: edits.join(', ') };
    }
  }
  return { bytes, what: edits.join(', ') };
}

/** What `analyze`/`run` do with a file source, as the CLI would end: exit code and stderr. */
async function asTheCliWould(path: string): Promise<{ exitCode: number; stderr: string; seconds: number }> {
  const started = performance.now();
  try {
    const source = new FileSource(path, { pacing: 'fast', resamplerQuality: 'medium' });
    await source.open();
    let samples = 0;
    for await (const chunk of source.chunks()) samples += chunk.samples.length;
    if (samples < 0) throw new Error('unreachable');
    return { exitCode: 0, stderr: '', seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    const outcome = errorOutcome(error);
    return { ...outcome, seconds: (performance.now() - started) / 1000 };
  }
}

/** True when `stderr` shows a path other than the case's own file (a source path, a module). */
function leaksPath(stderr: string, own: string): boolean {
  const text = stderr.split(own).join('<file>');
  return /(^|[\s(])\/(work|home|root|usr|tmp|opt|var)\/|node_modules|file:\/\//.test(text);
}

const dir = mkdtempSync(join(tmpdir(), 'earshot-fuzz-wav-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test(`${CASES} mutated WAV headers end as exit 0 or 2, one line, no stack, no foreign path`, async (t) => {
  const random = mulberry32(24);
  const outcomes = new Map<number, number>();
  let slowest = 0;
  const failures: string[] = [];
  for (let i = 0; i < CASES; i++) {
    const base = BASES[i % BASES.length];
    const { bytes, what } = mutate(random, base);
    const path = join(dir, `case-${i}.wav`);
    writeFileSync(path, bytes);
    const result = await asTheCliWould(path);
    rmSync(path);
    outcomes.set(result.exitCode, (outcomes.get(result.exitCode) ?? 0) + 1);
    slowest = Math.max(slowest, result.seconds);
    const lines = result.stderr.trimEnd().split('\n').filter(Boolean);
    if (![0, 2].includes(result.exitCode) || lines.length > 1 || hasStackTrace(result.stderr) || leaksPath(result.stderr, path)) {
      failures.push(`case ${i} (${base.name}: ${what}): exit ${result.exitCode}: ${result.stderr.slice(0, 300)}`);
    }
  }
  t.same(failures, [], 'every case failed safe');
  t.ok((outcomes.get(2) ?? 0) > CASES / 3, `most mutations are refused (exit 0: ${outcomes.get(0) ?? 0}, exit 2: ${outcomes.get(2) ?? 0})`);
  t.ok((outcomes.get(0) ?? 0) > 50, 'and some still decode');
  t.comment(`tried ${CASES}: exit 0 ${outcomes.get(0) ?? 0}, exit 2 ${outcomes.get(2) ?? 0}; slowest ${slowest.toFixed(2)} s`);
});

t.test('the fields the issue named are refused by name', async (t) => {
  const base = makeWav(BASES[0]);
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    [
      '384 kHz',
      (b) => {
        b.writeUInt32LE(384000, 24);
        b.writeUInt32LE(768000, 28);
      },
      /fmt sample rate is 384000 Hz, earshot accepts 1000–192000 Hz$/,
    ],
    [
      '100 Hz',
      (b) => {
        b.writeUInt32LE(100, 24);
        b.writeUInt32LE(200, 28);
      },
      /fmt sample rate is 100 Hz/,
    ],
    ['byte rate', (b) => b.writeUInt32LE(12345, 28), /fmt byte rate is 12345 bytes\/s, 32000 expected/],
    ['block align', (b) => b.writeUInt16LE(3, 32), /block align is 3 bytes, 2 expected/],
    [
      'channels',
      (b) => {
        b.writeUInt16LE(300, 22);
        b.writeUInt16LE(600, 32);
        b.writeUInt32LE(16000 * 600, 28);
      },
      /fmt channels is 300, at most 64/,
    ],
    ['data size', (b) => b.writeUInt32LE(1, 40), /data chunk holds 1 bytes, less than one 2-byte frame/],
  ];
  for (const [name, edit, expected] of cases) {
    const bytes = Buffer.from(base);
    edit(bytes);
    const path = join(dir, `named-${name.replace(/\W/g, '_')}.wav`);
    writeFileSync(path, bytes);
    const result = await asTheCliWould(path);
    t.equal(result.exitCode, 2, `${name}: exit 2`);
    t.match(result.stderr.trim(), expected, `${name}: names the field`);
  }
});

t.test(`a sample of ${PROCESS_SAMPLE} mutated WAVs through the real CLI`, async (t) => {
  const random = mulberry32(2024);
  const failures: string[] = [];
  let refused = 0;
  let tried = 0;
  for (let i = 0; tried < PROCESS_SAMPLE && i < 200; i++) {
    const base = BASES[i % BASES.length];
    const { bytes, what } = mutate(random, base);
    const path = join(dir, `process-${i}.wav`);
    writeFileSync(path, bytes);
    const inProcess = await asTheCliWould(path);
    // Files that decode would run the whole daemon: one of them is enough.
    if (inProcess.exitCode === 0 && tried > 0) continue;
    tried += 1;
    const config = writeDaemonConfig(
      dir,
      {
        node_id: null,
        data_dir: join(dir, `data-${i}`),
        log_level: 'warn',
        source: { type: 'file', path, pacing: 'fast' },
        api: { enabled: false },
        clips: { enabled: false },
      },
      `process-${i}.yaml`,
    );
    const result = await earshot(['run', '--config', config], { timeoutMs: 30_000 });
    if (result.code === 2) refused += 1;
    if (result.code === null || result.code !== inProcess.exitCode || hasStackTrace(result.stderr) || leaksPath(result.stderr, path)) {
      failures.push(`process case ${i} (${what}): code ${result.code} signal ${result.signal}: ${result.stderr.slice(0, 300)}`);
    }
    if (inProcess.exitCode === 2)
      t.ok(result.stderr.includes(inProcess.stderr.trim()), `case ${i}: the CLI prints what errorOutcome gives (${inProcess.stderr.trim().slice(-70)})`);
  }
  t.same(failures, [], 'every process case failed safe, with the in-process exit code');
  t.comment(`tried ${tried} through processes: ${refused} refused (exit 2)`);
});
