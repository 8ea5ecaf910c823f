/**
 * scripts/mix-scenes.mjs (the scenes behind the held-out checks and the learning-loop simulation):
 * the same seed gives the same bytes, annotations stay inside the scene and never overlap, a
 * distractors_only scene holds no hostile event, and --groups keeps to the groups asked for.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readWav16 } from './helpers/wav16.js';
import { REPO } from './helpers/cli.js';

const SCRIPT = join(REPO, 'scripts/mix-scenes.mjs');

function mix(out: string, ...extra: string[]) {
  const run = spawnSync(process.execPath, [SCRIPT, '--out', out, '--mixed', '1', '--distractors', '1', '--duration', '20', '--seed', '5', ...extra], {
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`mix-scenes exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as { scenes: number };
}

t.test('two short scenes: deterministic, annotated like the dev scenes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-mix-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mix(join(dir, 'a'));
  mix(join(dir, 'b'));
  const wavs = readdirSync(join(dir, 'a'))
    .filter((f) => f.endsWith('.wav'))
    .sort();
  t.same(wavs, ['distractors_only_00.wav', 'mixed_00.wav']);
  for (const f of [...wavs, 'annotations.tsv', 'scenes.json']) {
    t.ok(readFileSync(join(dir, 'a', f)).equals(readFileSync(join(dir, 'b', f))), `${f}: same bytes for the same seed`);
  }
  const description = JSON.parse(readFileSync(join(dir, 'a', 'scenes.json'), 'utf8')) as {
    hostile_labels: string[];
    scenes: { file: string; kind: string; events: { onset: number; offset: number; label: string; ebr_db: number }[] }[];
  };
  const hostile = new Set(description.hostile_labels);
  for (const scene of description.scenes) {
    const samples = readWav16(join(dir, 'a', scene.file));
    t.equal(samples.length, 20 * 16000, `${scene.file}: 20 s at 16 kHz`);
    t.ok(
      samples.some((x) => x !== 0),
      `${scene.file}: not silent`,
    );
    t.ok(scene.events.length >= 1, `${scene.file}: has events`);
    let previousOffset = 0;
    for (const e of scene.events) {
      t.ok(
        e.onset >= previousOffset && e.offset > e.onset && e.offset <= 20,
        `${scene.file} ${e.label} ${e.onset}–${e.offset}: inside the scene, after the previous event`,
      );
      t.ok(e.ebr_db >= 0 && e.ebr_db <= 20, `${scene.file} ${e.label}: event-to-background ratio ${e.ebr_db} dB in 0–20`);
      previousOffset = e.offset;
    }
    const hostileCount = scene.events.filter((e) => hostile.has(e.label)).length;
    if (scene.kind === 'distractors_only') t.equal(hostileCount, 0, `${scene.file}: no hostile event`);
    else t.ok(hostileCount >= 1, `${scene.file}: at least one hostile event`);
  }
  const tsv = readFileSync(join(dir, 'a', 'annotations.tsv'), 'utf8')
    .trim()
    .split('\n');
  t.equal(tsv[0], 'filename\tonset\toffset\tevent_label');
  t.equal(
    tsv.length - 1,
    description.scenes.reduce((n, s) => n + s.events.length, 0),
    'one TSV row per event',
  );
});

t.test('--groups keeps to the source groups asked for; another seed gives other scenes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-mix-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const groups = ['gunshot:110622', 'glass_break:ei_5s48hjtb', 'door_slam:doorslam', 'cough:451260', 'thunder:sesa_test_casual_006'];
  const pool = readFileSync(join(REPO, '../shared/audio/pool2/pool.tsv'), 'utf8');
  const known = groups.filter((g) => pool.includes(`\t${g}\t`));
  t.ok(known.length >= 2, 'pool2 has some of these groups');
  mix(join(dir, 'g'), '--groups', known.join(','));
  const description = JSON.parse(readFileSync(join(dir, 'g', 'scenes.json'), 'utf8')) as { scenes: { events: { source_group: string }[] }[] };
  for (const e of description.scenes.flatMap((s) => s.events)) t.ok(known.includes(e.source_group), `event from ${e.source_group}`);
  mix(join(dir, 'h'), '--seed', '6');
  t.notOk(readFileSync(join(dir, 'g', 'mixed_00.wav')).equals(readFileSync(join(dir, 'h', 'mixed_00.wav'))), 'another seed, another scene');
});
