/**
 * Bad input gets a clear error naming the file or key, a non-zero exit, no stack trace, and an
 * existing database is left intact.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { earshot, hasStackTrace, SHARED } from './helpers/cli.js';
import { YAMNET_WAVEFORM as MODEL } from './helpers/fixtures.js';

function expectCleanFailure(t: Test, result: { code: number | null; stderr: string; stdout: string }, pattern: RegExp, what: string) {
  t.not(result.code, 0, `${what}: non-zero exit`);
  t.not(result.code, null, `${what}: exited, did not crash`);
  t.match(result.stderr, pattern, `${what}: says what is wrong`);
  t.notOk(hasStackTrace(result.stderr), `${what}: no stack trace`);
}

t.test('bad audio files', async (t) => {
  const cases: [string, RegExp][] = [
    ['empty.wav', /empty\.wav: empty file/],
    ['not_audio.wav', /not_audio\.wav: not a WAV file/],
    ['truncated.wav', /truncated\.wav: .*truncated/],
    ['unsupported_alaw.wav', /unsupported_alaw\.wav: unsupported WAV encoding: A-law/],
  ];
  for (const [file, pattern] of cases) {
    const result = await earshot(['analyze', '--model', MODEL, `${SHARED}audio/formats/${file}`]);
    expectCleanFailure(t, result, pattern, file);
    t.equal(result.code, 2, `${file}: exit code 2`);
  }
  const missing = await earshot(['analyze', '--model', MODEL, '/nonexistent/scene.wav']);
  expectCleanFailure(t, missing, /\/nonexistent\/scene\.wav: cannot read file: no such file/, 'missing audio file');
});

t.test('bad models: missing, not a model, truncated, and one that crashes the native runtime', async (t) => {
  const clip = `${SHARED}audio/clips/gunshot_1.wav`;
  const missing = await earshot(['analyze', '--model', '/nonexistent/model.tflite', clip]);
  expectCleanFailure(t, missing, /\/nonexistent\/model\.tflite: model file not found/, 'missing model');
  for (const file of ['not_a_model.tflite', 'truncated_yamnet.tflite', 'keyword_scrambled_8bit.tflite']) {
    for (const backend of ['tflite-node', 'litert-wasm']) {
      const result = await earshot(['analyze', '--model', `${SHARED}models/invalid/${file}`, '--backend', backend, clip]);
      expectCleanFailure(t, result, new RegExp(file.replace('.', '\\.')), `${file} (${backend})`);
    }
  }
  const noModel = await earshot(['analyze', clip], { env: { EARSHOT_MODEL_DIR: mkdtempSync(join(tmpdir(), 'earshot-empty-')) } });
  expectCleanFailure(t, noModel, /earshot model pull yamnet/, 'no model configured or pulled');
});

t.test('bad configs: unknown key, threshold out of range; an existing database is left intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-badcfg-'));
  const dbPath = join(dir, 'data', 'earshot.db');
  // A database with one event, as a previous run would leave it.
  const good = join(dir, 'good.yaml');
  writeFileSync(good, `data_dir: data\nsource:\n  path: ${SHARED}audio/clips/gunshot_1.wav\n  pacing: fast\nmodel:\n  path: ${MODEL}\n`);
  const first = await earshot(['run', '--config', good]);
  t.equal(first.code, 0, `a good run succeeds: ${first.stderr}`);
  const before = readFileSync(dbPath);
  const count = () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const eventsBefore = count();
  t.ok(eventsBefore > 0, 'the good run stored events');

  const cases: [string, RegExp][] = [
    ['detection:\n  treshold: 0.5\n', /bad\.yaml: detection\.treshold: unknown key/],
    ['detection:\n  labels:\n    gunshot:\n      threshold: 1.7\n', /bad\.yaml: detection\.labels\.gunshot\.threshold: must be <= 1/],
    ['detection:\n  labels:\n    gunshot:\n      threshold: -0.1\n', /bad\.yaml: detection\.labels\.gunshot\.threshold: must be >= 0/],
    [`model:\n  path: ${SHARED}models/invalid/keyword_scrambled_8bit.tflite\n`, /keyword_scrambled_8bit\.tflite/],
    [`source:\n  path: ${SHARED}audio/formats/unsupported_alaw.wav\n`, /unsupported WAV encoding: A-law/],
  ];
  for (const [yaml, pattern] of cases) {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(good, 'utf8'));
    // The case's keys override the good ones: YAML keeps the last duplicate key, so write them as a fresh document.
    const merged = mergeYaml(readFileSync(bad, 'utf8'), yaml);
    writeFileSync(bad, merged);
    const result = await earshot(['run', '--config', bad]);
    expectCleanFailure(t, result, pattern, yaml.trim().split('\n').join(' '));
    t.equal(count(), eventsBefore, 'no event lost');
  }
  const db = new Database(dbPath, { readonly: true });
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'database integrity ok');
  db.close();
  t.ok(before.length > 0);
});

/** Overrides top-level sections of a simple YAML document with those of another. */
function mergeYaml(base: string, override: string): string {
  const sections = (text: string) => {
    const out = new Map<string, string>();
    let key = '';
    for (const line of text.split('\n')) {
      if (/^\S/.test(line)) {
        key = line.split(':')[0];
        out.set(key, `${line}\n`);
      } else if (line && key) out.set(key, `${out.get(key)}${line}\n`);
    }
    return out;
  };
  const merged = sections(base);
  for (const [key, value] of sections(override)) merged.set(key, value);
  return [...merged.values()].join('');
}
