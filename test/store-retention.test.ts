/**
 * Retention on real clips: every clip of ../shared/audio/clips plus background stretches of a dev
 * scene, written by the clip writer into a real data folder an hour apart, fill a 1 MiB quota;
 * a pass deletes the oldest unlabelled non-hostile and background clips first and keeps every
 * hostile and labelled one; only when those alone exceed the quota do the oldest of them go.
 * Then the age rules, and the pruning that keeps the database bounded.
 */
import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { readWav } from '../src/capture/wav.js';
import type { EarshotConfig } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import { ClipStore, type ClipRow } from '../src/store/clip-store.js';
import { writeClipFile, type ClipFileMetadata } from '../src/store/clip-writer.js';
import { openDatabase } from '../src/store/database.js';
import { runRetention } from '../src/store/retention.js';
import { SHARED } from './helpers/cli.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Date.parse('2024-03-01T00:00:00.000Z');
const MIB = 1048576;

interface Made {
  id: string;
  name: string;
  kept: boolean;
  bytes: number;
  created: number;
  path: string;
}

const HOSTILE = new Set(['gunshot_1', 'gunshot_2', 'gunshot_3', 'glass_break_1', 'glass_break_2', 'scream_1', 'scream_2', 'scream_3']);
const LABELLED = new Set(['dog_bark_1', 'door_knock_1']);
// Oldest first; hostile and labelled clips are spread through, some among the oldest.
const ORDER = [
  'gunshot_1',
  'speech_1',
  'dog_bark_1',
  'background_0',
  'car_horn_1',
  'glass_break_1',
  'speech_2',
  'keys_drop_1',
  'scream_1',
  'background_1',
  'siren_1',
  'door_knock_1',
  'door_slam_1',
  'gunshot_2',
  'speech_3',
  'keyboard_1',
  'glass_break_2',
  'background_2',
  'scream_2',
  'gunshot_3',
  'scream_3',
];

/** Writes the clips into `dataDir` as the recorder would (file, then row), one hour apart. */
async function fill(db: Database.Database, dataDir: string): Promise<Made[]> {
  const store = new ClipStore(db);
  const scene = readWav(`${SHARED}audio/scenes/dev/distractors_only_00.wav`).mono;
  const made: Made[] = [];
  for (const [i, name] of ORDER.entries()) {
    const background = name.startsWith('background_');
    const offset = background ? Number(name.slice(-1)) * 12 * 16000 : 0;
    const samples = background ? scene.slice(offset, offset + 5 * 16000) : readWav(`${SHARED}audio/clips/${name}.wav`).mono;
    const created = new Date(BASE + i * HOUR).toISOString();
    const id = `01HR${String(i).padStart(22, '0')}`;
    const metadata: ClipFileMetadata = {
      id,
      event_id: background ? null : `01HREVENT${String(i).padStart(17, '0')}`,
      kind: background ? 'background' : 'event',
      grp: background ? null : HOSTILE.has(name) ? 'hostile' : 'non_hostile',
      stream_id: 'stream',
      start_sample: offset,
      end_sample: offset + samples.length,
      start_s: offset / 16000,
      start_utc: created,
      end_utc: created,
      sample_rate: 16000,
      gap_samples: 0,
      created_utc: created,
    };
    const written = await writeClipFile({ dir: join(dataDir, 'clips', created.slice(0, 10)), name: id, samples, sampleRate: 16000, format: 'wav', metadata });
    const path = join('clips', created.slice(0, 10), `${id}.wav`);
    store.record({ ...metadata, path, format: 'wav', bytes: written.bytes, sha256: written.sha256, status: 'ok' }, []);
    if (LABELLED.has(name)) store.addLabel({ clip_id: id, label: name.replace(/_\d$/, ''), source: 'human', annotator: 'test' });
    made.push({ id, name, kept: HOSTILE.has(name) || LABELLED.has(name), bytes: written.bytes, created: Date.parse(created), path });
  }
  return made;
}

function retention(overrides: Partial<EarshotConfig['retention']> = {}): EarshotConfig['retention'] {
  return {
    max_clip_bytes: MIB,
    clip_max_age_days: 30,
    kept_clip_max_age_days: 365,
    event_max_age_days: 730,
    interval_seconds: 600,
    min_free_bytes: 0,
    ...overrides,
  };
}

const statusOf = (db: Database.Database) =>
  new Map((db.prepare('SELECT id, status FROM clips').all() as Pick<ClipRow, 'id' | 'status'>[]).map((r) => [r.id, r.status]));

t.test('over the quota: the oldest unlabelled non-hostile clips go first; hostile and labelled stay', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'earshot-retention-'));
  const db = openDatabase(join(dataDir, 'earshot.db'));
  t.teardown(() => db.close());
  const made = await fill(db, dataDir);
  const total = made.reduce((s, m) => s + m.bytes, 0);
  const keptBytes = made.filter((m) => m.kept).reduce((s, m) => s + m.bytes, 0);
  t.ok(total > MIB && keptBytes < MIB, `${made.length} real clips, ${total} bytes over a ${MIB}-byte quota; hostile + labelled ${keptBytes} bytes fit`);

  // What the rule says: plain clips oldest first until the rest fits.
  const expected: string[] = [];
  let left = total;
  for (const m of made)
    if (!m.kept && left > MIB) {
      expected.push(m.name);
      left -= m.bytes;
    }
  const now = new Date(BASE + made.length * HOUR);
  const report = runRetention(db, dataDir, retention(), log, now);
  const status = statusOf(db);
  const deleted = made.filter((m) => status.get(m.id) === 'deleted').map((m) => m.name);
  t.same(deleted, expected, `deleted, oldest first: ${deleted.join(', ')}`);
  t.equal(report.deletedByQuota, expected.length);
  t.equal(report.deletedByAge, 0, 'nothing is old enough for the age rules');
  t.equal(report.bytesFreed, total - left, `${report.bytesFreed} bytes freed`);
  t.ok(report.storedBytes <= MIB, `${report.storedBytes} bytes left, within the quota`);
  t.same(
    made.filter((m) => m.kept && status.get(m.id) !== 'ok').map((m) => m.name),
    [],
    'every hostile and labelled clip is kept',
  );
  const newestDeleted = Math.max(...made.filter((m) => deleted.includes(m.name)).map((m) => m.created));
  t.ok(
    made.filter((m) => !m.kept && status.get(m.id) === 'ok').every((m) => m.created > newestDeleted),
    'every plain clip left is newer than every plain clip deleted',
  );
  for (const m of made)
    t.equal(existsSync(join(dataDir, m.path)), status.get(m.id) === 'ok', `${m.name}: file ${status.get(m.id) === 'ok' ? 'kept' : 'deleted'}`);

  const again = runRetention(db, dataDir, retention(), log, now);
  t.equal(again.bytesFreed, 0, 'a second pass has nothing to do');

  // A quota that even the kept clips exceed: they go too, oldest first, plain ones all gone before.
  const tight = Math.floor(keptBytes / 2);
  const squeezed = runRetention(db, dataDir, retention({ max_clip_bytes: tight }), log, now);
  const after = statusOf(db);
  t.ok(
    made.filter((m) => !m.kept).every((m) => after.get(m.id) === 'deleted'),
    'every plain clip is gone first',
  );
  const keptLeft = made.filter((m) => m.kept && after.get(m.id) === 'ok');
  const keptGone = made.filter((m) => m.kept && after.get(m.id) === 'deleted');
  t.ok(
    keptGone.length > 0 && keptGone.every((g) => keptLeft.every((k) => k.created > g.created)),
    `then the oldest hostile/labelled: ${keptGone.map((m) => m.name).join(', ')}`,
  );
  t.ok(squeezed.storedBytes <= tight, `${squeezed.storedBytes} bytes left ≤ ${tight}`);
});

t.test('age rules, then the database is pruned', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'earshot-retention-age-'));
  const db = openDatabase(join(dataDir, 'earshot.db'));
  t.teardown(() => db.close());
  const made = await fill(db, dataDir);
  // An event and its scores for each event clip, heard when the clip was written.
  const insertEvent =
    db.prepare(`INSERT INTO events (id, node_id, label, grp, onset_utc, onset_s, peak_score, mean_score, patch_count, model_id, model_sha256, source, stream_id)
    VALUES (?, 'n', 'x', 'hostile', ?, 0, 1, 1, 1, 'm', 's', 'file:x', 'stream')`);
  const insertScore = db.prepare(
    "INSERT INTO scores (event_id, patch_index, start_s, rank, model_id, class, score) VALUES (?, 0, 0, 1, 'm', 'Gunshot, gunfire', 0.9)",
  );
  for (const row of db.prepare("SELECT event_id, created_utc FROM clips WHERE kind = 'event'").all() as { event_id: string; created_utc: string }[]) {
    insertEvent.run(row.event_id, row.created_utc);
    insertScore.run(row.event_id);
  }
  const large = retention({ max_clip_bytes: 1 << 30 });

  const month = runRetention(db, dataDir, large, log, new Date(BASE + 31 * DAY));
  let status = statusOf(db);
  t.same(
    made.filter((m) => status.get(m.id) === 'deleted').map((m) => m.name),
    made.filter((m) => !m.kept).map((m) => m.name),
    'after 31 days: every unlabelled non-hostile and background clip is deleted',
  );
  t.equal(month.deletedByAge, made.filter((m) => !m.kept).length);
  t.equal(month.eventsPruned, 0, 'events are kept');

  runRetention(db, dataDir, large, log, new Date(BASE + 366 * DAY));
  status = statusOf(db);
  t.ok(
    made.every((m) => status.get(m.id) === 'deleted'),
    'after 366 days: the hostile and labelled clips too',
  );
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM labels').get() as { n: number }).n, 2, 'the deleted clips keep their rows and labels (the API answers 410)');

  const years = runRetention(db, dataDir, large, log, new Date(BASE + 731 * DAY));
  const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  t.equal(years.eventsPruned, made.filter((m) => !m.name.startsWith('background')).length, `after 731 days: ${years.eventsPruned} events pruned`);
  t.equal(count('events'), 0, 'no events left');
  t.equal(count('scores'), 0, 'their scores went with them');
  t.equal(count('clips'), 0, 'deleted clip rows pruned');
  t.equal(count('labels'), 0, 'and their labels');
});
