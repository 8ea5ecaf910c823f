/**
 * `earshot serve --pulled DIR`: the HTTP API and the review page over a folder written by
 * `earshot pull` from one or more nodes, so a person labels clips from several nodes in one page.
 *
 * The folder keeps the truth; the API needs a database, so one is built from it at every start
 * (`DIR/.earshot-pull/review.db`, rebuilt, never the source of anything):
 * - every clip of every `<node>/manifest.json` whose file is present becomes a clip row (path
 *   `<node>/<file>` relative to DIR), with its event (label, group, peak, threshold, span);
 * - the labels a person already gave (src/learn/pulled-labels.ts: an edited Audacity track or
 *   labels.tsv) become labels (source `import`); an empty list is stored as the negative label;
 * - after each label the page stores or removes, the clip's Audacity track and its node's
 *   `labels.tsv` are written again (atomically), in the form `earshot train --data DIR` reads:
 *   the page's labels, a filename-only row for a false alarm (nothing of interest), and what pull
 *   wrote for a clip without labels.
 * Events keep the node they came from (`node_id`): the page's node filter tells them apart.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type Database from 'better-sqlite3';
import { EarshotError } from '../errors.js';
import { TSV_HEADER } from '../eval/annotations.js';
import { labelsTsvRows, originalLabels, PULLED_LABELS_FILE, readPulledFolder, type PulledLabel } from '../learn/pulled-labels.js';
import { openDatabase } from '../store/database.js';
import type { PulledClip, PullManifest } from './pull.js';
import { NEGATIVE_LABEL } from '../api/routes/review.js';
import { SAMPLE_RATE } from '../constants.js';

/** A pulled folder opened for the API. */
export interface PulledReview {
  db: Database.Database;
  /** The folder (the API's data dir: clip paths are relative to it). */
  dataDir: string;
  nodeIds: string[];
  clips: number;
  /** Labels found already given in the folder (imported). */
  imported: number;
  /** Writes the clip's Audacity track and its node's labels.tsv from the database (call after its labels change). */
  writeLabels(clipId: string): void;
}

interface NodeFolder {
  nodeId: string;
  /** Folder name under DIR. */
  name: string;
  manifest: PullManifest;
}

/**
 * Builds the review database of a pulled folder.
 * @param dir the folder given to `earshot pull --out` (one subfolder per node)
 * @throws EarshotError when `dir` holds no node folder, or a manifest, track or labels.tsv cannot be read
 */
export function openPulledFolder(dir: string): PulledReview {
  const given = readPulledFolder(dir);
  const nodes = readNodeFolders(dir, given.nodeDirs);
  const stateDir = join(dir, '.earshot-pull');
  mkdirSync(stateDir, { recursive: true });
  const dbPath = join(stateDir, 'review.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbPath}${suffix}`, { force: true });
  const db = openDatabase(dbPath);
  const insertEvent = db.prepare(`INSERT OR IGNORE INTO events (id, node_id, label, grp, onset_utc, offset_utc, onset_s, offset_s, peak_score, mean_score,
      peak_dbfs, patch_count, end_reason, model_id, model_sha256, source, stream_id, clock_synced, threshold, onset_sample, offset_sample)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 'pulled', 'unknown', '', ?, ?, NULL, ?, ?, ?)`);
  const insertClip = db.prepare(`INSERT OR IGNORE INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc,
      end_utc, sample_rate, bytes, sha256, gap_samples, status, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, ${SAMPLE_RATE}, ?, ?, 0, 'ok', ?)`);
  const insertLabel = db.prepare(
    "INSERT INTO labels (clip_id, label, onset_s, offset_s, source, annotator, created_utc) VALUES (?, ?, ?, ?, 'import', NULL, ?)",
  );
  const at = (utc: string, seconds: number) => new Date(Date.parse(utc) + Math.round(seconds * 1000)).toISOString();
  let clips = 0;
  let imported = 0;
  db.transaction(() => {
    for (const node of nodes) {
      for (const clip of node.manifest.clips) {
        const file = join(dir, node.name, clip.file);
        if (!existsSync(file)) continue;
        const stream = `pull:${node.nodeId}:${clip.clip_id}`;
        if (clip.event_id && clip.label && clip.event_in_clip_s) {
          const [on, off] = clip.event_in_clip_s;
          insertEvent.run(
            clip.event_id,
            node.nodeId,
            clip.label,
            clip.group === 'hostile' ? 'hostile' : 'non_hostile',
            at(clip.start_utc, on),
            at(clip.start_utc, off),
            on,
            off,
            clip.peak_score ?? 0,
            clip.peak_score ?? 0,
            `pull:${node.manifest.node_url}`,
            stream,
            clip.threshold,
            Math.round(on * SAMPLE_RATE),
            Math.round(off * SAMPLE_RATE),
          );
        }
        insertClip.run(
          clip.clip_id,
          clip.event_id && clip.event_in_clip_s ? clip.event_id : null,
          clip.kind,
          clip.group,
          `${node.name}/${clip.file}`,
          clip.file.toLowerCase().endsWith('.flac') ? 'flac' : 'wav',
          stream,
          Math.round(clip.duration_s * SAMPLE_RATE),
          clip.start_utc,
          clip.end_utc,
          statSync(file).size,
          clip.sha256,
          clip.pulled_utc,
        );
        clips += 1;
      }
    }
    const now = new Date().toISOString();
    for (const clip of given.clips) {
      if (clip.from === 'unchanged') continue;
      const labels = clip.labels.length ? clip.labels : [{ label: NEGATIVE_LABEL, onset_s: null, offset_s: null }];
      for (const l of labels) insertLabel.run(clip.clipId, l.label, l.onset_s, l.offset_s, now);
      imported += 1;
    }
  })();
  const labelsOf = db.prepare('SELECT label, onset_s, offset_s FROM labels WHERE clip_id = ? ORDER BY id');
  return {
    db,
    dataDir: dir,
    nodeIds: nodes.map((n) => n.nodeId),
    clips,
    imported,
    writeLabels: (clipId) => {
      const node = nodes.find((n) => n.manifest.clips.some((c) => c.clip_id === clipId));
      if (!node) return;
      const labelsFor = (clip: PulledClip) => {
        const stored = labelsOf.all(clip.clip_id) as { label: string; onset_s: number | null; offset_s: number | null }[];
        return stored.length ? fromStored(stored, clip) : originalLabels(clip);
      };
      const rows = [TSV_HEADER];
      for (const clip of node.manifest.clips) {
        const labels = labelsFor(clip);
        rows.push(...labelsTsvRows(clip.file, labels));
        // The track must agree with labels.tsv, or train cannot tell which edit is meant.
        if (clip.clip_id === clipId)
          writeAtomically(join(dir, node.name, clip.track), labels.map((l) => `${l.onset_s.toFixed(6)}\t${l.offset_s.toFixed(6)}\t${l.label}\n`).join(''));
      }
      writeAtomically(join(dir, node.name, PULLED_LABELS_FILE), `${rows.join('\n')}\n`);
    },
  };
}

/** Stored labels as spans: a whole-clip label spans the clip; the negative label means none. */
function fromStored(stored: { label: string; onset_s: number | null; offset_s: number | null }[], clip: PulledClip): PulledLabel[] {
  return stored.filter((l) => l.label !== NEGATIVE_LABEL).map((l) => ({ label: l.label, onset_s: l.onset_s ?? 0, offset_s: l.offset_s ?? clip.duration_s }));
}

function readNodeFolders(dir: string, nodeDirs: string[]): NodeFolder[] {
  return nodeDirs.map((nodeDir) => {
    const path = join(nodeDir, 'manifest.json');
    let manifest: PullManifest;
    try {
      manifest = JSON.parse(readFileSync(path, 'utf8')) as PullManifest;
    } catch (error) {
      throw new EarshotError(`${path}: cannot read the pull manifest (${(error as Error).message.split('\n')[0]})`);
    }
    if (nodeDir === dir) throw new EarshotError(`${dir}: give the folder \`earshot pull --out\` wrote (with one folder per node), not a node's folder`);
    return { nodeId: manifest.node_id ?? basename(nodeDir), name: basename(nodeDir), manifest };
  });
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}
