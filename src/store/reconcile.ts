/**
 * Start-up repair of the clip folder against the `clips` table, for whatever a crash, a power cut
 * or a hand in the folder left behind. A clip's file is written completely (temporary name,
 * fsync, rename) before its row (clip-writer.ts), so after a crash there can be:
 *
 * - `*.tmp` files: a write cut short. Never served (no row points at them): deleted.
 * - a complete file without a row: the crash fell between the rename and the row's commit.
 *   Adopted: the file describes itself (clip-writer.ts), so its row is rebuilt (size and sha256
 *   from the file) and the evidence is kept. Its event's scores, which would have been committed
 *   with the row, are lost. A file with earshot's clip name (`<ULID>.wav|flac`) that carries no
 *   readable description is not a clip earshot finished: deleted.
 * - a row with status `deleted` whose file is still there: a retention pass stopped between
 *   marking the row and unlinking the file. The file is deleted.
 * - a row with status `ok` whose file is gone (deleted by hand, a card swapped): marked `missing`
 *   with a warning, so the API answers "gone" instead of failing. A `missing` row whose file is
 *   back with the recorded size is marked `ok` again.
 * - a file whose size differs from its row: marked `missing` (it is not the recorded evidence);
 *   the file is left in place for a human.
 * - files that are none of earshot's (other names): counted and left alone.
 *
 * The whole repair is one log line (info when nothing was wrong, warn otherwise).
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { EarshotError, ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import { ClipStore, type ClipRow } from './clip-store.js';
import { TEMP_SUFFIX, inspectClipFile } from './clip-writer.js';

/** Counts of one reconcile run. */
export interface ReconcileReport {
  /** Clip rows and clip-folder files looked at. */
  rows: number;
  files: number;
  /** `ok` rows whose file is gone, now `missing`. */
  missing: number;
  /** `missing` rows whose file is back, now `ok`. */
  restored: number;
  /** Rows whose file size differs from the recorded one, now `missing`. */
  mismatched: number;
  /** Complete files without a row, now rows again. */
  adopted: number;
  /** Leftover `*.tmp` files deleted. */
  tempDeleted: number;
  /** Files with earshot's clip name but no readable description, deleted. */
  unreadableDeleted: number;
  /** Files of `deleted` rows that retention had not unlinked yet, deleted. */
  deletionsFinished: number;
  /** Files that are not earshot's, left alone. */
  foreign: number;
}

/** earshot's clip file names: the clip's ULID (Crockford base32, 26 characters) and the format. */
const CLIP_FILE = /^[0-9A-HJKMNP-TV-Z]{26}\.(wav|flac)$/;

function walk(dir: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new EarshotError(`${dir}: cannot list the clip folder: ${(error as Error).message}`, ExitCode.BadInput, { cause: error });
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
}

/**
 * Repairs the clip folder and the `clips` rows against each other (see the module notes).
 * Synchronous: run at start-up, before the recorder writes.
 * @param dataDir config.data_dir (row paths are relative to it)
 * @param clipsDir config.clips.dir (relative to dataDir, or absolute)
 * @returns the counts (also logged as one line)
 * @throws EarshotError when the clip folder (or a folder in it) exists but cannot be listed
 */
export function reconcileClips(db: Database.Database, dataDir: string, clipsDir: string, log: Logger): ReconcileReport {
  const root = resolve(dataDir, clipsDir);
  const report: ReconcileReport = {
    rows: 0,
    files: 0,
    missing: 0,
    restored: 0,
    mismatched: 0,
    adopted: 0,
    tempDeleted: 0,
    unreadableDeleted: 0,
    deletionsFinished: 0,
    foreign: 0,
  };
  const rows = db.prepare('SELECT id, path, status, bytes FROM clips').all() as Pick<ClipRow, 'id' | 'path' | 'status' | 'bytes'>[];
  report.rows = rows.length;
  const byPath = new Map(rows.map((row) => [row.path, row]));
  const files: string[] = [];
  walk(root, files);
  report.files = files.length;
  const statusChanges: { id: string; status: ClipRow['status'] }[] = [];
  const adoptions: ClipRow[] = [];
  const foreign: string[] = [];
  const seen = new Set<string>();
  const remove = (path: string) => rmSync(path, { force: true });

  for (const file of files) {
    const rel = relative(dataDir, file);
    const name = basename(file);
    if (name.endsWith(TEMP_SUFFIX)) {
      remove(file);
      report.tempDeleted += 1;
      continue;
    }
    const row = byPath.get(rel);
    if (row) {
      seen.add(rel);
      if (row.status === 'deleted') {
        remove(file);
        report.deletionsFinished += 1;
        continue;
      }
      const sizeMatches = statSync(file).size === row.bytes;
      if (row.status === 'ok' && !sizeMatches) {
        statusChanges.push({ id: row.id, status: 'missing' });
        report.mismatched += 1;
      } else if (row.status === 'missing' && sizeMatches) {
        statusChanges.push({ id: row.id, status: 'ok' });
        report.restored += 1;
      }
      continue;
    }
    if (!CLIP_FILE.test(name)) {
      foreign.push(rel);
      continue;
    }
    const inspection = inspectClipFile(file);
    const meta = inspection.metadata;
    if (!meta || !inspection.complete || !inspection.format || `${meta.id}.${inspection.format}` !== name) {
      remove(file);
      report.unreadableDeleted += 1;
      continue;
    }
    adoptions.push({ ...meta, path: rel, format: inspection.format, bytes: inspection.bytes, sha256: inspection.sha256, status: 'ok' });
  }
  for (const row of rows) {
    if (seen.has(row.path) || row.status !== 'ok') continue;
    // A row outside the clip folder (clips.dir changed since) is checked where it points.
    if (!existsSync(join(dataDir, row.path))) {
      statusChanges.push({ id: row.id, status: 'missing' });
      report.missing += 1;
    }
  }

  const store = new ClipStore(db);
  const known = db.prepare('SELECT 1 FROM clips WHERE id = ?');
  db.transaction(() => {
    for (const change of statusChanges) store.setStatus(change.id, change.status);
    for (const row of adoptions) {
      // The same id under another path: a copy, not a lost row; leave it to a human.
      if (known.get(row.id)) {
        foreign.push(row.path);
        continue;
      }
      store.record(row, []);
      report.adopted += 1;
    }
  })();
  report.foreign = foreign.length;

  const repaired =
    report.missing + report.restored + report.mismatched + report.adopted + report.tempDeleted + report.unreadableDeleted + report.deletionsFinished;
  const fields = {
    dir: root,
    rows: report.rows,
    files: report.files,
    missing: report.missing,
    restored: report.restored,
    size_mismatch: report.mismatched,
    adopted: report.adopted,
    tmp_deleted: report.tempDeleted,
    unreadable_deleted: report.unreadableDeleted,
    deletions_finished: report.deletionsFinished,
    foreign: report.foreign,
    foreign_examples: foreign.length ? foreign.slice(0, 5) : undefined,
  };
  if (repaired > 0 || report.foreign > 0)
    log.warn(
      fields,
      `clips reconciled: ${repaired} repaired (${report.missing} missing, ${report.adopted} adopted, ${report.tempDeleted} temporary files deleted), ${report.foreign} foreign files left alone`,
    );
  else log.info(fields, 'clips reconciled: files and rows agree');
  return report;
}
