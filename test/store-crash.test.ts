/**
 * Crash safety of the evidence store: `earshot run` on a real dev scene (mixed_08: speech, glass,
 * two gunshot bursts), with background clips every 5 s of audio so that clips are written all
 * the time, is killed with SIGKILL at a random moment after its first clip, 20 times on the same
 * data folder. After each kill:
 * - `PRAGMA integrity_check` is `ok` (before any repair);
 * - reconcile (the start-up repair, run directly) leaves no `*.tmp` file and no clip file without
 *   a row; every `ok` row's file exists, hashes to the stored sha256 and decodes completely
 *   (no partial WAV can be served), and no row had to be marked `missing`;
 * - every event has at most one clip, and an event without a clip is one the kill interrupted:
 *   still open, or its clip (offset + 2 s post-roll) would have ended no earlier than the last
 *   event clip that run wrote (clips are written in the order their audio completes).
 * Then one clean run on the same folder: its own reconcile finds nothing to repair.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { decodeWav } from '../src/capture/wav.js';
import { createLogger } from '../src/log.js';
import type { ClipRow } from '../src/store/clip-store.js';
import { reconcileClips } from '../src/store/reconcile.js';
import { SCENE_08, writeDaemonConfig } from './helpers/fixtures.js';
import { startDaemon } from './helpers/service-daemon.js';

const KILLS = 20;
const POST = 2 * 16000;

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(d, entry.name));
      else out.push(join(d, entry.name));
    }
  };
  try {
    walk(dir);
  } catch {
    // no clip folder yet
  }
  return out;
}

t.test(`SIGKILL while clips are written, ${KILLS} times: the database and the clip folder stay consistent`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-store-crash-'));
  const dataDir = join(dir, 'data');
  const clipsDir = join(dataDir, 'clips');
  const config = writeDaemonConfig(dir, {
    node_id: 'crash-node',
    source: { path: SCENE_08, pacing: 'fast' },
    model: { backend: 'tflite-node' },
    clips: { background_per_hour: 720, background_seconds: 2 },
    api: { enabled: false },
  });
  const silent = createLogger({ level: 'silent', pretty: false, fd: 2 });
  const seen = { kills: 0, cleanExits: 0, tmpFound: 0, orphansFound: 0, adopted: 0, clips: 0, interruptedEvents: 0 };
  const started = performance.now();

  for (let round = 0; seen.kills < KILLS && round < KILLS + 10; round++) {
    const daemon = startDaemon(config);
    t.teardown(() => daemon.child.kill('SIGKILL'));
    await daemon.log.waitFor((l) => /^clip written/.test(l.msg), 'the first clip of the run', 60_000);
    await new Promise((r) => setTimeout(r, Math.random() * 500));
    const killed = daemon.child.kill('SIGKILL');
    const exit = await daemon.exited;
    if (exit.signal === 'SIGKILL' && killed) seen.kills += 1;
    else seen.cleanExits += 1;

    const db = new Database(join(dataDir, 'earshot.db'));
    try {
      const integrity = db.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') t.fail(`round ${round}: integrity_check says ${integrity}`);
      const before = files(clipsDir);
      const rowPaths = new Set((db.prepare('SELECT path FROM clips').all() as { path: string }[]).map((r) => r.path));
      seen.tmpFound += before.filter((f) => f.endsWith('.tmp')).length;
      seen.orphansFound += before.filter((f) => !f.endsWith('.tmp') && !rowPaths.has(relative(dataDir, f))).length;

      const report = reconcileClips(db, dataDir, 'clips', silent);
      seen.adopted += report.adopted;
      if (report.missing + report.mismatched > 0) t.fail(`round ${round}: ${report.missing} rows without file, ${report.mismatched} with the wrong size`);

      const after = files(clipsDir);
      const rows = db.prepare('SELECT * FROM clips').all() as ClipRow[];
      const byPath = new Map(rows.map((r) => [r.path, r]));
      const leftovers = after.filter((f) => f.endsWith('.tmp'));
      if (leftovers.length) t.fail(`round ${round}: temporary files left after reconcile: ${leftovers.join(', ')}`);
      const unrecorded = after.filter((f) => !byPath.has(relative(dataDir, f)));
      if (unrecorded.length) t.fail(`round ${round}: files without a row after reconcile: ${unrecorded.join(', ')}`);
      for (const row of rows) {
        if (row.status !== 'ok') {
          t.fail(`round ${round}: clip ${row.id} has status ${row.status}`);
          continue;
        }
        const bytes = readFileSync(join(dataDir, row.path));
        const hash = createHash('sha256').update(bytes).digest('hex');
        if (hash !== row.sha256 || bytes.length !== row.bytes) t.fail(`round ${round}: ${row.path} differs from its row`);
        if (decodeWav(bytes, row.path).frames !== row.end_sample - row.start_sample) t.fail(`round ${round}: ${row.path} is not complete`);
      }
      seen.clips = rows.length;

      const events = db.prepare('SELECT id, stream_id, offset_sample FROM events').all() as { id: string; stream_id: string; offset_sample: number | null }[];
      const lastClipEnd = new Map<string, number>();
      for (const row of rows) if (row.kind === 'event') lastClipEnd.set(row.stream_id, Math.max(lastClipEnd.get(row.stream_id) ?? -1, row.end_sample));
      let interrupted = 0;
      for (const event of events) {
        const own = rows.filter((r) => r.event_id === event.id);
        if (own.length > 1) t.fail(`event ${event.id} has ${own.length} clips`);
        if (own.length === 1) continue;
        interrupted += 1;
        const ok = event.offset_sample === null || event.offset_sample + POST >= (lastClipEnd.get(event.stream_id) ?? -1);
        if (!ok) t.fail(`round ${round}: event ${event.id} (offset ${event.offset_sample}) has no clip, though a later clip of its run was written`);
      }
      seen.interruptedEvents = interrupted;
    } finally {
      db.close();
    }
  }
  t.ok(seen.kills >= KILLS, `${seen.kills} kills (and ${seen.cleanExits} runs that ended before the kill)`);
  t.pass(
    `measured: ${seen.clips} clip rows in the end; over all kills ${seen.tmpFound} temporary files and ${seen.orphansFound} files without a row found, ${seen.adopted} adopted; ${seen.interruptedEvents} events without a clip because a kill interrupted them; ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  // One clean run: its own start-up reconcile has nothing left to repair, and every event of it has its clip.
  const clean = startDaemon(config);
  t.teardown(() => clean.child.kill('SIGKILL'));
  const exit = await clean.exited;
  t.equal(exit.code, 0, `the clean run exits 0 (${clean.stderr().slice(-300)})`);
  const line = clean.log.items.find((l) => /^clips reconciled/.test(l.msg));
  t.equal(line?.msg, 'clips reconciled: files and rows agree', "the daemon's own reconcile finds nothing to repair");
  const db = new Database(join(dataDir, 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const streamId = (db.prepare('SELECT stream_id FROM events ORDER BY rowid DESC LIMIT 1').get() as { stream_id: string }).stream_id;
  const orphans = db
    .prepare('SELECT COUNT(*) AS n FROM events e WHERE e.stream_id = ? AND NOT EXISTS (SELECT 1 FROM clips c WHERE c.event_id = e.id)')
    .get(streamId) as { n: number };
  t.equal(orphans.n, 0, 'every event of the clean run has its clip');
});
