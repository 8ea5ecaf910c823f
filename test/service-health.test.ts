/**
 * The health verdict behind the watchdog, on its own: inference that falls behind real time and
 * a database that cannot take a write are unhealthy, with the reason a person reads in the log
 * and in `systemctl status`.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { databaseProblem, DEFAULT_HEALTH_OPTIONS, PipelineHealth } from '../src/monitor/health.js';
import { changedKeys, isLiveKey } from '../src/service/reload.js';

const chunk = (index: number) => ({ startSample: index * 1600, samples: new Float32Array(1600) });

t.test('audio and inference', async (t) => {
  const health = new PipelineHealth(DEFAULT_HEALTH_OPTIONS);
  t.same(health.check(0).problems, ['waiting for audio'], 'not healthy before the first chunk');
  for (let i = 0; i < 50; i++) health.chunk(chunk(i), 10, i * 100);
  t.same(health.check(5000), { healthy: true, problems: [] }, '10 ms per 100 ms chunk: healthy');
  t.match(health.check(11_000).problems, ['no audio for 6.1 s'], 'no chunk for 6 s: stalled');

  const slow = new PipelineHealth(DEFAULT_HEALTH_OPTIONS);
  for (let i = 0; i < 50; i++) slow.chunk(chunk(i), 150, i * 150);
  t.same(slow.check(50 * 150).problems, ['inference falling behind (real-time factor 1.50)'], '150 ms per 100 ms chunk: falling behind');

  const gappy = new PipelineHealth(DEFAULT_HEALTH_OPTIONS);
  gappy.chunk(chunk(0), 1, 0);
  t.equal(gappy.chunk(chunk(3), 1, 100), 3200, 'a chunk after a gap reports the samples lost');
  t.same(gappy.counts, { chunks: 2, samples: 3200, gaps: 1, lostSamples: 3200 });
});

t.test('database writable', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'earshot-health-')), 'earshot.db');
  const db = new Database(path, { timeout: 50 });
  t.teardown(() => db.close());
  db.exec('CREATE TABLE x (a)');
  t.equal(databaseProblem(db, path), null, 'a fresh database is writable');
  const other = new Database(path);
  other.exec('BEGIN IMMEDIATE');
  t.match(databaseProblem(db, path), /^database not writable \(database is locked\)$/, 'another writer holds the lock');
  other.exec('ROLLBACK');
  other.close();
  t.match(databaseProblem(db, path, Number.MAX_SAFE_INTEGER), /^disk nearly full \(\d+\.\d MiB free for /, 'too little free space');
});

t.test('which reloaded keys apply live', async (t) => {
  t.same(changedKeys({ a: 1, b: { c: 2, d: [1] } }, { a: 1, b: { c: 3, d: [1, 2] }, e: 'x' }), ['b.c', 'b.d', 'e']);
  t.ok(isLiveKey('detection.labels.gunshot.threshold') && isLiveKey('detection.labels.glass_break.release') && isLiveKey('log_level'));
  t.notOk(isLiveKey('detection.labels.gunshot.enabled') || isLiveKey('detection.vote_k') || isLiveKey('source.path') || isLiveKey('mqtt.url'));
});
