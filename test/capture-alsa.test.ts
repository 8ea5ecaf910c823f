import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AlsaSource, classifyArecordLine } from '../src/capture/alsa-source.js';
import { createLogger } from '../src/log.js';
import type { AudioChunk } from '../src/types.js';
import { earshot } from './helpers/cli.js';
import { concatSamples } from './helpers/fixtures.js';
import { readWav16, sharedPath } from './helpers/wav16.js';

const dir = mkdtempSync(join(tmpdir(), 'earshot-alsa-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const clip = readWav16(sharedPath('audio/clips/gunshot_2.wav'));

/** Raw s16le PCM of the clip, as the ALSA file plugin's `infile` reads it. */
function rawPcm(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => {
    out.writeInt16LE(Math.round(v * 32768), i * 2);
  });
  return out;
}

/**
 * An ALSA configuration (ALSA_CONFIG_PATH replaces the system one) with one capture PCM: the
 * `file` plugin over a `null` slave, reading its samples from `infile`. The null slave does not
 * pace, so arecord reads as fast as it can.
 */
function alsaConfig(name: string, infile: string): string {
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, `pcm.earshot_test {\n  type file\n  slave.pcm { type null }\n  file "/dev/null"\n  infile "${infile}"\n  format "raw"\n}\n`);
  return path;
}

async function collect(source: AlsaSource, until: (chunks: AudioChunk[]) => boolean, onChunk?: (chunks: AudioChunk[]) => void): Promise<AudioChunk[]> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of source.chunks()) {
    chunks.push(chunk);
    onChunk?.(chunks);
    if (until(chunks)) source.stop();
  }
  return chunks;
}

function joined(chunks: AudioChunk[]): Float32Array {
  return concatSamples(chunks.map((c) => c.samples));
}

/** The ALSA file-plugin device the tests read through (see alsaConfig), as 16 kHz mono S16_LE in 0.1 s chunks. */
const TEST_DEVICE = { device: 'earshot_test', rate: 16000, channels: 1, format: 'S16_LE', chunkSamples: 1600 } as const;

t.test('arecord through the ALSA file plugin: the frames earshot produces equal the file samples', async (t) => {
  const infile = join(dir, 'gunshot.raw');
  writeFileSync(infile, rawPcm(clip));
  const source = new AlsaSource({
    ...TEST_DEVICE,
    durationSeconds: 3,
    env: { ALSA_CONFIG_PATH: alsaConfig('a', infile) },
  });
  t.match(await source.open(), { uri: 'alsa:earshot_test' });
  const chunks = await collect(source, () => false);
  const audio = joined(chunks);
  t.equal(audio.length, 48000, 'arecord -d 3 at 16 kHz');
  t.ok(
    chunks.every((c, i) => i === 0 || c.startSample === chunks[i - 1].startSample + chunks[i - 1].samples.length),
    'contiguous absolute indices from 0',
  );
  t.ok(
    clip.every((v, i) => audio[i] === v),
    `the first ${clip.length} samples are the clip's, exactly`,
  );
  t.same(source.takeGaps(), []);
});

t.test('device missing at start: retried with backoff and a log line, then capture starts; gap none (nothing was ever heard)', async (t) => {
  const infile = join(dir, 'late.raw');
  const lines: string[] = [];
  const log = createLogger({ level: 'info', pretty: false, fd: 2 });
  const logged = log.child({});
  const warn = logged.warn.bind(logged);
  logged.warn = ((obj: unknown, msg?: string) => {
    lines.push(String(msg));
    return warn(obj as object, msg);
  }) as typeof logged.warn;
  const source = new AlsaSource({
    ...TEST_DEVICE,
    durationSeconds: 1,
    env: { ALSA_CONFIG_PATH: alsaConfig('b', infile) },
    log: logged,
  });
  const started = Date.now();
  setTimeout(() => writeFileSync(infile, rawPcm(clip)), 1200); // the USB microphone enumerates late
  const chunks = await collect(source, (c) => joined(c).length >= 16000);
  t.ok(Date.now() - started >= 1000, 'waited for the device');
  t.ok(source.restarts >= 1, `arecord retried (${source.restarts}×)`);
  t.equal(lines.filter((l) => l.includes('not available')).length, 1, 'one log line, not one per retry');
  t.ok(
    clip.subarray(0, 16000).every((v, i) => joined(chunks)[i] === v),
    'then the real samples',
  );
});

t.test('device lost mid-run (arecord dies): the stream keeps its timeline, the gap is recorded, capture resumes', async (t) => {
  const infile = join(dir, 'long.raw');
  writeFileSync(infile, rawPcm(clip));
  const source = new AlsaSource({
    ...TEST_DEVICE,
    env: { ALSA_CONFIG_PATH: alsaConfig('c', infile) },
  });
  let killedAt = -1;
  let gapSeenAt = -1;
  const chunks = await collect(
    source,
    (c) => {
      if (gapSeenAt < 0 && source.lostSamples > 0) gapSeenAt = c.length;
      return gapSeenAt >= 0 && c.length >= gapSeenAt + 3;
    },
    (c) => {
      if (killedAt < 0 && joined(c).length >= 32000) {
        killedAt = c.at(-1)!.startSample + c.at(-1)!.samples.length;
        // As a driver does on unplug: arecord ends with a read error.
        process.kill(source.pid!, 'SIGKILL');
      }
    },
  );
  const gaps = source.takeGaps();
  t.ok(gaps.length >= 1, 'a gap was recorded');
  t.equal(gaps[0].reason, 'device_lost');
  t.ok(gaps[0].endSample > gaps[0].startSample, `gap of ${(gaps[0].endSample - gaps[0].startSample) / 16000} s`);
  const afterGap = chunks.find((c) => c.startSample >= gaps[0].endSample);
  t.ok(afterGap, 'audio after the gap');
  t.equal(afterGap!.startSample, gaps[0].endSample, 'the first chunk after the gap starts where the gap ends');
  // The restarted arecord reads infile from its start again: the clip, at the new position.
  t.ok(
    clip.subarray(0, 1600).every((v, i) => afterGap!.samples[i] === v),
    'the device’s audio again',
  );
  t.ok(
    chunks.every((c, i) => i === 0 || c.startSample >= chunks[i - 1].startSample + chunks[i - 1].samples.length),
    'indices only grow',
  );
  t.ok(source.restarts >= 1);
});

t.test("arecord's fault messages are classified (busy names the holder; overrun gives the lost time)", async (t) => {
  // Verbatim arecord lines (alsa-utils aplay.c).
  t.match(classifyArecordLine('arecord: main:831: audio open error: Device or resource busy'), { kind: 'busy' });
  t.match(classifyArecordLine('arecord: main:831: audio open error: No such file or directory'), { kind: 'missing' });
  t.match(classifyArecordLine('ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM hw:7,0'), { kind: 'missing' });
  t.match(classifyArecordLine('overrun!!! (at least 42.125 ms long)'), { kind: 'overrun', milliseconds: 42.125 });
  t.equal(classifyArecordLine("Recording raw data 'stdin' : Signed 16 bit Little Endian, Rate 16000 Hz, Mono"), null);
});

t.test('`earshot devices` lists what there is (no sound card here) without failing', async (t) => {
  const result = await earshot(['devices'], { timeoutMs: 30_000 });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /ALSA capture cards/);
  t.match(result.stdout, /ALSA PCM names/);
  t.match(result.stdout, /Serial ports/);
  const json = await earshot(['devices', '--json'], { timeoutMs: 30_000 });
  t.match(JSON.parse(json.stdout), { alsa: { hardware: Array, pcms: Array }, serial: Array });
  await sleep(0);
});

t.test('config: source.type alsa and serial, with defaults and clear errors', async (t) => {
  const { parseConfig } = await import('../src/config/load.js');
  const { createSource } = await import('../src/capture/create-source.js');
  const alsa = parseConfig({ source: { type: 'alsa', device: 'hw:1,0', rate: 48000 } }, 'earshot.yaml', dir);
  t.match(alsa.source, { type: 'alsa', device: 'hw:1,0', rate: 48000, channels: 1, format: 'S16_LE' });
  t.match(await createSource(alsa).open(), { uri: 'alsa:hw:1,0' });
  t.throws(
    () => parseConfig({ source: { type: 'alsa', format: 'S8' } }, 'earshot.yaml', dir),
    /earshot.yaml: source.format: must be one of "S16_LE", "S32_LE", "FLOAT_LE"/,
  );
  t.throws(() => parseConfig({ source: { type: 'serial', baud: 10 } }, 'earshot.yaml', dir), /earshot.yaml: source.baud: must be >= 1200/);
  const serial = parseConfig({ source: { type: 'serial' } }, 'earshot.yaml', dir);
  t.throws(() => createSource(serial), /source.path: required for a serial source/);
  const withPort = parseConfig({ source: { type: 'serial', path: '/dev/ttyACM0' } }, 'earshot.yaml', dir);
  t.match(await createSource(withPort).open(), { uri: 'serial:/dev/ttyACM0', details: { baud: 921600 } });
});
