/**
 * Start-up reconcile on a real data folder with real clips, after each kind of damage a crash or
 * a hand can leave: a row whose file is gone, a leftover temporary file, a complete file whose row
 * was never committed, a half-written file under a clip name, a retention pass cut short, a file
 * that came back, and a file that is not earshot's.
 */
import t from 'tap';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav } from '../src/capture/wav.js';
import { createLogger } from '../src/log.js';
import { ClipStore } from '../src/store/clip-store.js';
import { writeClipFile, type ClipFileMetadata } from '../src/store/clip-writer.js';
import { openDatabase } from '../src/store/database.js';
import { reconcileClips } from '../src/store/reconcile.js';
import { SHARED } from './helpers/cli.js';

t.test('reconcile repairs each kind of damage and reports it in one line', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'earshot-reconcile-'));
  const db = openDatabase(join(dataDir, 'earshot.db'));
  t.teardown(() => db.close());
  const store = new ClipStore(db);
  const day = join(dataDir, 'clips', '2024-06-01');
  const names = ['gunshot_1', 'speech_1', 'glass_break_1', 'dog_bark_1', 'siren_1', 'scream_1'];
  const rows = [];
  for (const [i, name] of names.entries()) {
    const samples = readWav(`${SHARED}audio/clips/${name}.wav`).mono;
    const id = `01HZ${String(i).padStart(22, '0')}`;
    const metadata: ClipFileMetadata = {
      id,
      event_id: `01HZEVENT${String(i).padStart(17, '0')}`,
      kind: 'event',
      grp: 'hostile',
      stream_id: 's',
      start_sample: 0,
      end_sample: samples.length,
      start_s: 0,
      start_utc: '2024-06-01T10:00:00.000Z',
      end_utc: '2024-06-01T10:00:05.000Z',
      sample_rate: 16000,
      gap_samples: 0,
      created_utc: '2024-06-01T10:00:06.000Z',
    };
    const written = await writeClipFile({ dir: day, name: id, samples, sampleRate: 16000, format: 'wav', metadata });
    rows.push({
      ...metadata,
      path: join('clips', '2024-06-01', `${id}.wav`),
      format: 'wav' as const,
      bytes: written.bytes,
      sha256: written.sha256,
      status: 'ok' as const,
    });
  }
  const [gone, kept, unrecorded, retentionCut, cameBack, resized] = rows;
  for (const row of [gone, kept, retentionCut, cameBack, resized]) store.record(row, []);
  const silent = createLogger({ level: 'silent', pretty: false, fd: 2 });
  const clean = reconcileClips(db, dataDir, 'clips', silent);
  t.equal(clean.adopted, 1, 'the clip whose row was never committed is adopted');

  // The damage:
  rmSync(join(dataDir, gone.path)); // a row whose file is gone
  writeFileSync(join(day, `${kept.id}.wav.tmp`), readFileSync(join(dataDir, kept.path)).subarray(0, 5000)); // a write cut short
  db.prepare('DELETE FROM clips WHERE id = ?').run(unrecorded.id); // the row lost again
  const halfId = '01HZ9999999999999999999999';
  writeFileSync(join(day, `${halfId}.wav`), readFileSync(join(dataDir, kept.path)).subarray(0, 30)); // a half file under a clip name
  store.setStatus(retentionCut.id, 'deleted'); // retention marked the row, then the process died
  store.setStatus(cameBack.id, 'missing'); // a file once gone, now back
  writeFileSync(join(dataDir, resized.path), Buffer.concat([readFileSync(join(dataDir, resized.path)), Buffer.alloc(10)])); // edited by hand
  writeFileSync(join(dataDir, 'clips', 'README.txt'), 'not a clip'); // not earshot's

  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const capture = createLogger({ level: 'info', pretty: false, fd: 2 });
  const logged = Object.assign(Object.create(capture), {
    info: (fields: object, msg: string) => lines.push({ level: 30, msg, ...fields }),
    warn: (fields: object, msg: string) => lines.push({ level: 40, msg, ...fields }),
  });
  const report = reconcileClips(db, dataDir, 'clips', logged);
  t.same(
    {
      missing: report.missing,
      tempDeleted: report.tempDeleted,
      adopted: report.adopted,
      unreadableDeleted: report.unreadableDeleted,
      deletionsFinished: report.deletionsFinished,
      restored: report.restored,
      mismatched: report.mismatched,
      foreign: report.foreign,
    },
    { missing: 1, tempDeleted: 1, adopted: 1, unreadableDeleted: 1, deletionsFinished: 1, restored: 1, mismatched: 1, foreign: 1 },
    'every kind of damage counted once',
  );
  t.equal(lines.length, 1, 'one log line');
  t.equal(lines[0].level, 40, 'a warning, since something was repaired');
  t.match(lines[0].msg, /^clips reconciled: 7 repaired \(1 missing, 1 adopted, 1 temporary files deleted\), 1 foreign files left alone$/);

  const status = (id: string) => store.byId(id)?.status;
  t.equal(status(gone.id), 'missing', 'row without file: missing');
  t.equal(status(kept.id), 'ok', 'intact clip untouched');
  t.same(store.byId(unrecorded.id), { ...unrecorded }, 'adopted row rebuilt exactly from the file (size and sha256 from its bytes)');
  t.equal(status(retentionCut.id), 'deleted', 'cut-short deletion: row stays deleted');
  t.notOk(existsSync(join(dataDir, retentionCut.path)), 'and its file is gone now');
  t.equal(status(cameBack.id), 'ok', 'file back: ok again');
  t.equal(status(resized.id), 'missing', 'file of the wrong size: not the recorded evidence');
  t.ok(existsSync(join(dataDir, resized.path)), 'but left in place for a human');
  t.same(
    readdirSync(day).filter((f) => f.endsWith('.tmp') || f.startsWith(halfId)),
    [],
    'temporary and half-written files deleted',
  );
  t.ok(existsSync(join(dataDir, 'clips', 'README.txt')), 'the foreign file is left alone');

  const again = reconcileClips(db, dataDir, 'clips', silent);
  t.equal(
    again.missing + again.adopted + again.tempDeleted + again.unreadableDeleted + again.deletionsFinished + again.restored + again.mismatched,
    0,
    'a second run finds nothing to repair',
  );

  // A clip row that moved out of the clip folder (clips.dir changed since): checked where it points.
  copyFileSync(join(dataDir, kept.path), join(dataDir, 'old-clip.wav'));
  db.prepare('UPDATE clips SET path = ? WHERE id = ?').run('old-clip.wav', kept.id);
  rmSync(join(dataDir, kept.path));
  const moved = reconcileClips(db, dataDir, 'clips', silent);
  t.equal(moved.missing, 0, 'a row pointing outside the clip folder at an existing file stays ok');
});
