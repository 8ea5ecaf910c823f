/**
 * The clip writer on real audio: a WAV written from a real clip reads back sample for sample;
 * the final name only ever holds complete files (a child process writing clips in a loop is
 * killed with SIGKILL at random moments); a failed write leaves nothing under the final name;
 * FLAC (when the `flac` encoder is installed) decodes back to the same samples. Also the clock
 * state that events carry (timedatectl's answer: yes, no, or unknown).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, readWav } from '../src/capture/wav.js';
import { ClockSync, parseNtpSynchronized } from '../src/service/clock.js';
import { encodeWav16, flacEncoder, inspectClipFile, toPcm16, writeClipFile, type ClipFileMetadata } from '../src/store/clip-writer.js';
import { REPO, SHARED } from './helpers/cli.js';

const clip = (name: string) => readWav(`${SHARED}audio/clips/${name}.wav`).mono;

function metadata(id: string, samples: number): ClipFileMetadata {
  return {
    id,
    event_id: '01J0000000000000000000EVNT',
    kind: 'event',
    grp: 'hostile',
    stream_id: '01J0000000000000000000STRM',
    start_sample: 1000,
    end_sample: 1000 + samples,
    start_s: 1000 / 16000,
    start_utc: '2024-05-01T12:00:00.062Z',
    end_utc: new Date(Date.parse('2024-05-01T12:00:00.062Z') + (samples / 16000) * 1000).toISOString(),
    sample_rate: 16000,
    gap_samples: 0,
    created_utc: '2024-05-01T12:00:10.000Z',
  };
}

t.test('a WAV clip of a real recording reads back sample for sample, with its description', async (t) => {
  const samples = clip('gunshot_1');
  const dir = mkdtempSync(join(tmpdir(), 'earshot-writer-'));
  const meta = metadata('01J00000000000000000000001', samples.length);
  const written = await writeClipFile({ dir: join(dir, 'clips', '2024-05-01'), name: meta.id, samples, sampleRate: 16000, format: 'wav', metadata: meta });
  t.equal(written.path, join(dir, 'clips', '2024-05-01', `${meta.id}.wav`), 'final name: <id>.wav in the day folder');
  t.same(readdirSync(join(dir, 'clips', '2024-05-01')), [`${meta.id}.wav`], 'no temporary file left');
  const bytes = readFileSync(written.path);
  t.equal(written.bytes, bytes.length, 'reported size is the file size');
  t.equal(written.sha256, createHash('sha256').update(bytes).digest('hex'), 'reported sha256 is the file hash');
  const decoded = decodeWav(bytes, written.path);
  t.equal(decoded.sampleRate, 16000);
  t.equal(decoded.channels, 1);
  t.equal(decoded.encoding, '16-bit signed PCM');
  t.equal(decoded.frames, samples.length, 'every sample is there');
  let differing = 0;
  for (let i = 0; i < samples.length; i++) if (decoded.mono[i] !== samples[i]) differing++;
  t.equal(differing, 0, 'int16 / 32768 samples go back to the same integers');
  const inspection = inspectClipFile(written.path);
  t.equal(inspection.format, 'wav');
  t.ok(inspection.complete, 'complete');
  t.same(inspection.metadata, meta, 'the file describes itself (for reconcile)');
  t.equal(inspection.sha256, written.sha256);
});

t.test('full scale and beyond clamp to the int16 range', async (t) => {
  const pcm = toPcm16(Float32Array.from([1, -1, 1.5, -1.5, 0.5, -32768 / 32768, 32767 / 32768]));
  const values = Array.from({ length: 7 }, (_, i) => pcm.readInt16LE(i * 2));
  t.same(values, [32767, -32768, 32767, -32768, 16384, -32768, 32767]);
  const header = encodeWav16(new Float32Array(3), 16000);
  t.equal(header.length, 44 + 6, 'a plain 44-byte header without a description');
});

t.test('a failed write leaves nothing under the final name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-writer-fail-'));
  const meta = metadata('01J00000000000000000000002', 16000);
  // The temporary name is taken by a folder: opening it for writing fails (EISDIR), even for root.
  mkdirSync(join(dir, `${meta.id}.wav.tmp`));
  await t.rejects(writeClipFile({ dir, name: meta.id, samples: new Float32Array(16000), sampleRate: 16000, format: 'wav', metadata: meta }), {
    code: 'EISDIR',
  });
  t.notOk(existsSync(join(dir, `${meta.id}.wav`)), 'no file under the final name');
});

t.test('SIGKILL while writing clips: every file under a final name is complete', async (t) => {
  const dist = join(REPO, 'dist', 'store', 'clip-writer.js');
  if (!existsSync(dist)) {
    t.skip('dist/ not built: run `npx tsc -p tsconfig.json` first', () => {});
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'earshot-writer-kill-'));
  // A child writing 10 s clips of a real recording (320 kB each) back to back, as fast as it can.
  const script = `
    import { writeClipFile } from ${JSON.stringify(dist)};
    import { readWav } from ${JSON.stringify(join(REPO, 'dist', 'capture', 'wav.js'))};
    const speech = readWav(${JSON.stringify(`${SHARED}audio/clips/speech_1.wav`)}).mono;
    const samples = new Float32Array(160000);
    for (let i = 0; i < samples.length; i++) samples[i] = speech[i % speech.length];
    let n = 0;
    process.stdout.write('ready\\n');
    for (;;) {
      const id = String(n++).padStart(26, '0');
      await writeClipFile({ dir: ${JSON.stringify(dir)}, name: id, samples, sampleRate: 16000, format: 'wav',
        metadata: { id, event_id: null, kind: 'background', grp: null, stream_id: 's', start_sample: 0, end_sample: samples.length,
          start_s: 0, start_utc: '2024-01-01T00:00:00.000Z', end_utc: '2024-01-01T00:00:10.000Z', sample_rate: 16000, gap_samples: 0,
          created_utc: new Date().toISOString() } });
    }`;
  const complete = new Set<string>();
  const temporary = new Set<string>();
  for (let round = 0; round < 10; round++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.tmp')) {
        temporary.add(name);
        continue;
      }
      if (complete.has(name)) continue;
      const inspection = inspectClipFile(join(dir, name));
      const decoded = decodeWav(readFileSync(join(dir, name)), name);
      if (inspection.complete && inspection.metadata?.id === name.slice(0, 26) && decoded.frames === 160000) complete.add(name);
      else t.fail(`${name}: incomplete file under a final name`);
    }
  }
  t.ok(
    complete.size > 0,
    `${complete.size} complete files checked over 10 kills (${temporary.size} temporary files left by kills mid-write, never under a final name)`,
  );
});

t.test('FLAC clips decode back to the same samples', async (t) => {
  if (!flacEncoder()) {
    t.skip('no `flac` on PATH (Debian package flac): FLAC clips are not tested here; earshot writes WAV without it', () => {});
    return;
  }
  const samples = clip('glass_break_1');
  const dir = mkdtempSync(join(tmpdir(), 'earshot-writer-flac-'));
  const meta = metadata('01J00000000000000000000003', samples.length);
  const written = await writeClipFile({ dir, name: meta.id, samples, sampleRate: 16000, format: 'flac', metadata: meta });
  t.equal(written.format, 'flac');
  t.match(written.path, /\.flac$/);
  t.same(readdirSync(dir), [`${meta.id}.flac`], 'no temporary file left');
  const raw = spawnSync(flacEncoder()!, ['-d', '-c', '--silent', '--force-raw-format', '--endian=little', '--sign=signed', written.path]);
  t.equal(raw.status, 0, 'flac decodes it');
  t.ok(Buffer.compare(raw.stdout, toPcm16(samples)) === 0, 'the decoded PCM is the input, bit for bit');
  t.ok(written.bytes < toPcm16(samples).length, `smaller than PCM (${written.bytes} vs ${toPcm16(samples).length} bytes)`);
  const inspection = inspectClipFile(written.path);
  t.same(inspection.metadata, meta, 'the description survives as a Vorbis comment');
});

t.test('clock state: NTPSynchronized yes / no / unknown', async (t) => {
  t.equal(parseNtpSynchronized('yes\n'), true);
  t.equal(parseNtpSynchronized('no\n'), false);
  t.equal(parseNtpSynchronized(''), null);
  t.equal(parseNtpSynchronized(null), null);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-clock-'));
  const fake = (answer: string) => {
    const path = join(dir, `timedatectl-${answer}`);
    // Prints the answer only when asked the question earshot asks.
    writeFileSync(path, `#!/bin/sh\n[ "$1 $2 $3 $4" = "show -p NTPSynchronized --value" ] && echo ${answer}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  t.equal(new ClockSync({ command: fake('yes'), useTimesyncdFlag: false }).checkSync(), true, 'yes → synchronised');
  t.equal(new ClockSync({ command: fake('no'), useTimesyncdFlag: false }).checkSync(), false, 'no → not synchronised');
  t.equal(new ClockSync({ command: join(dir, 'missing'), useTimesyncdFlag: false }).checkSync(), null, 'no timedatectl → unknown');
  const real = new ClockSync().checkSync();
  t.pass(`this machine: ${real === null ? 'unknown (no systemd / D-Bus)' : real ? 'synchronised' : 'not synchronised'}`);
});
