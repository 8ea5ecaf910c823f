/**
 * FLAC read back (issue 23 item 12): evidence clips written as FLAC (`clips.format: flac`, encoded
 * by the `flac` tool as the clip recorder does) are read by `analyze` with the same events as the
 * WAV they came from, decode to the very same samples, and the spectrogram route draws them
 * (200, not 415). A truncated or damaged FLAC is refused like a damaged WAV.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decodeFlac } from '../src/capture/flac.js';
import { readWav, readWavAsync } from '../src/capture/wav.js';
import { createApiServer } from '../src/api/server.js';
import { createLogger } from '../src/log.js';
import { buildNode, STANDARD_CLIPS } from './helpers/api-node.js';
import { earshot, SHARED } from './helpers/cli.js';
import { SCENE_08, YAMNET_WAVEFORM } from './helpers/fixtures.js';

const hasFlac = spawnSync('flac', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'earshot-flac-'));
/** Encodes a WAV as FLAC with the `flac` tool (what the clip recorder runs). */
function toFlac(wav: string, out: string): string {
  const r = spawnSync('flac', ['--silent', '--force', '-o', out, wav]);
  if (r.status !== 0) throw new Error(`flac: ${r.stderr}`);
  return out;
}

t.test(
  "FLAC decodes to the WAV's samples; damaged and truncated files are refused",
  { skip: hasFlac ? false : 'no `flac` on PATH (Debian package flac)' },
  async (t) => {
    for (const name of ['gunshot_1', 'speech_3']) {
      const wav = `${SHARED}audio/clips/${name}.wav`;
      const flac = toFlac(wav, join(dir, `${name}.flac`));
      const expected = readWav(wav);
      const decoded = await readWavAsync(flac);
      t.match(decoded, { sampleRate: expected.sampleRate, channels: 1, frames: expected.frames, encoding: '16-bit FLAC' }, `${name}: format`);
      let same = true;
      for (let i = 0; i < expected.frames && same; i++) same = decoded.mono[i] === expected.mono[i];
      t.ok(same, `${name}: every sample identical (lossless)`);
    }
    const bytes = readFileSync(join(dir, 'gunshot_1.flac'));
    await t.rejects(decodeFlac(bytes.subarray(0, 20000), 'cut.flac'), {
      message: /^cut\.flac: truncated or damaged: STREAMINFO declares 30281 samples, \d+ decoded$/,
      exitCode: 2,
    });
    const damaged = Buffer.from(bytes);
    for (let i = 30000; i < 30100; i++) damaged[i] ^= 0x5a; // audio frames (the first 8 kB after STREAMINFO are padding)
    await t.rejects(decodeFlac(damaged, 'bad.flac'), { message: /^bad\.flac: (damaged FLAC|truncated)/, exitCode: 2 });
  },
);

t.test('analyze reads FLAC with the same events as the WAV', { skip: hasFlac ? false : 'no `flac` on PATH' }, async (t) => {
  const wav = SCENE_08;
  const flac = toFlac(wav, join(dir, 'mixed_08.flac'));
  const model = YAMNET_WAVEFORM;
  const result = await earshot(['analyze', '--tsv', '--model', model, wav, flac]);
  t.equal(result.code, 0, result.stderr);
  const rows = result.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'));
  const fromWav = rows.filter((r) => r[0] === 'mixed_08.wav').map((r) => r.slice(1).join(' '));
  const fromFlac = rows.filter((r) => r[0] === 'mixed_08.flac').map((r) => r.slice(1).join(' '));
  t.ok(fromWav.length >= 3, `events in the WAV (${fromWav.length})`);
  t.same(fromFlac, fromWav, 'the FLAC gives the same events');
});

t.test('the spectrogram route draws a FLAC clip', { skip: hasFlac ? false : 'no `flac` on PATH' }, async (t) => {
  const node = buildNode(STANDARD_CLIPS.slice(0, 1));
  const clip = node.clips[0];
  const flacPath = join(node.dataDir, clip.path.replace(/\.wav$/, '.flac'));
  toFlac(join(node.dataDir, clip.path), `${flacPath}.tmp`);
  renameSync(`${flacPath}.tmp`, flacPath);
  const bytes = readFileSync(flacPath);
  node.db
    .prepare('UPDATE clips SET path = ?, format = ?, bytes = ?, sha256 = ? WHERE id = ?')
    .run(clip.path.replace(/\.wav$/, '.flac'), 'flac', statSync(flacPath).size, createHash('sha256').update(bytes).digest('hex'), clip.id);
  const app = createApiServer({
    db: node.db,
    dataDir: node.dataDir,
    config: node.config,
    log: createLogger({ level: 'silent', pretty: false, fd: 2 }),
    model: null,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    node.db.close();
  });
  const response = await fetch(`${url}/api/v1/clips/${clip.id}/spectrogram.png`);
  t.equal(response.status, 200, 'drawn, not 415');
  t.equal(response.headers.get('content-type'), 'image/png');
  const png = Buffer.from(await response.arrayBuffer());
  t.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  writeFileSync(join(dir, 'flac-clip.png'), png);
});
