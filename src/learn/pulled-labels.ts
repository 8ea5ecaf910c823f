/**
 * The labels of a folder written by `earshot pull` (src/cli/pull.ts), as a person left them.
 *
 * `pull` writes, per node folder, each clip's Audacity track (`<clip id>.txt`) and one `labels.tsv`
 * (DCASE: `filename onset offset event_label`, a row with only a filename for a clip without
 * events), both pre-filled with the node's detection. A person edits either (Audacity, or a text
 * editor / spreadsheet). Per clip, the labels are decided by a three-way comparison with what
 * pull wrote (rebuilt from manifest.json):
 * - track and labels.tsv agree: those;
 * - only one of them differs from what pull wrote: that one (the edit);
 * - both differ and disagree: an error naming the clip (we cannot know which edit is meant), unless
 *   the caller prefers labels.tsv (the user gave that file).
 * Spans are compared to the millisecond. An empty result means "nothing of interest in this
 * clip": for an event clip, the person deleted a false alarm.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EarshotError } from '../errors.js';
import { subfolderNames } from '../fs-checks.js';
import { parseAnnotations, parseAudacityLabels } from '../eval/annotations.js';

/** The label meaning "nothing of interest" (a head's background class; `BACKGROUND_LABEL` in dataset.ts). */
export const BACKGROUND_LABEL_NAME = 'other';

/** Name of the DCASE TSV `pull` writes in each node folder. */
export const PULLED_LABELS_FILE = 'labels.tsv';

/** One label of a clip: seconds from the clip's first sample. */
export interface PulledLabel {
  label: string;
  onset_s: number;
  offset_s: number;
}

/** A manifest entry, as far as this module reads it (see PulledClip in src/cli/pull.ts). */
export interface PulledManifestEntry {
  clip_id: string;
  file: string;
  track: string;
  sha256: string;
  kind: string;
  event_id: string | null;
  label: string | null;
  event_in_clip_s: [number, number] | null;
  duration_s?: number;
}

/** A pulled clip with the labels a person gave it. */
export interface LabelledPulledClip {
  clipId: string;
  nodeId: string;
  eventId: string | null;
  kind: string;
  /** Absolute path of the audio file. */
  path: string;
  format: string;
  sha256: string;
  /** The labels, sorted by onset. Empty: nothing of interest in the clip. */
  labels: PulledLabel[];
  /** Where they came from: `unchanged` = as pull wrote them (the node's detection). */
  from: 'unchanged' | 'track' | 'labels.tsv' | 'both';
  /** The node's detection label (null for background clips). */
  detectedLabel: string | null;
}

/** What a pulled folder holds. */
export interface PulledFolder {
  clips: LabelledPulledClip[];
  /** Node folders read. */
  nodeDirs: string[];
  warnings: string[];
}

/** The label rows pull writes for a clip: its event's span, or none for a background clip. */
export function originalLabels(entry: Pick<PulledManifestEntry, 'label' | 'event_in_clip_s'>): PulledLabel[] {
  if (!entry.label || !entry.event_in_clip_s) return [];
  return [{ label: entry.label, onset_s: entry.event_in_clip_s[0], offset_s: entry.event_in_clip_s[1] }];
}

/**
 * The `labels.tsv` rows of one clip (no trailing newline on the last): `file onset offset label`,
 * seconds with 6 decimals (as the Audacity track), or the file name alone when there is no label.
 */
export function labelsTsvRows(file: string, labels: readonly PulledLabel[]): string[] {
  if (labels.length === 0) return [file];
  return labels.map((l) => `${file}\t${l.onset_s.toFixed(6)}\t${l.offset_s.toFixed(6)}\t${l.label}`);
}

/** A canonical text of a label list, to the millisecond. */
function canonical(labels: readonly PulledLabel[]): string {
  return labels
    .map((l) => `${l.onset_s.toFixed(3)}|${l.offset_s.toFixed(3)}|${l.label.trim()}`)
    .sort()
    .join('\n');
}

const sortLabels = (labels: PulledLabel[]) => labels.sort((a, b) => a.onset_s - b.onset_s || a.offset_s - b.offset_s || a.label.localeCompare(b.label));

/** True when `dir` is (or holds) a pulled folder: a manifest.json in it or in a subfolder. */
export function isPulledFolder(dir: string): boolean {
  if (existsSync(join(dir, 'manifest.json'))) return true;
  try {
    return subfolderNames(dir).some((name) => existsSync(join(dir, name, 'manifest.json')));
  } catch {
    return false;
  }
}

/**
 * Reads a pulled folder: `DIR` as given to `pull --out` (one subfolder per node) or one node's
 * folder (`DIR/<node_id>`).
 * @throws EarshotError naming the file: unreadable or malformed manifest.json / labels.tsv / track,
 *   a clip whose track and labels.tsv were both edited and disagree
 */
export function readPulledFolder(dir: string, options: { prefer?: 'labels.tsv' } = {}): PulledFolder {
  const nodeDirs = existsSync(join(dir, 'manifest.json'))
    ? [dir]
    : subfolderNames(dir)
        .filter((name) => existsSync(join(dir, name, 'manifest.json')))
        .map((name) => join(dir, name))
        .sort();
  if (nodeDirs.length === 0) throw new EarshotError(`${dir}: not a pulled folder (no manifest.json in it or in a subfolder)`);
  const result: PulledFolder = { clips: [], nodeDirs, warnings: [] };
  for (const nodeDir of nodeDirs) result.clips.push(...readNodeFolder(nodeDir, result.warnings, options.prefer));
  return result;
}

function readNodeFolder(nodeDir: string, warnings: string[], prefer?: 'labels.tsv'): LabelledPulledClip[] {
  const manifestPath = join(nodeDir, 'manifest.json');
  let manifest: { node_id?: string; clips?: PulledManifestEntry[] };
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new EarshotError(
      `${manifestPath}: cannot read the pull manifest (${(error as NodeJS.ErrnoException).code ?? (error as Error).message.split('\n')[0]})`,
    );
  }
  if (!Array.isArray(manifest.clips)) throw new EarshotError(`${manifestPath}: not a pull manifest (no "clips" list)`);
  const nodeId = manifest.node_id ?? basename(nodeDir);
  const tsvPath = join(nodeDir, PULLED_LABELS_FILE);
  const tsv = new Map<string, PulledLabel[]>();
  if (existsSync(tsvPath)) {
    const { events, files } = parseAnnotations(readFileSync(tsvPath, 'utf8'), tsvPath);
    for (const file of files) tsv.set(basename(file), []);
    for (const e of events) tsv.get(basename(e.filename))!.push({ label: e.label, onset_s: e.onset, offset_s: e.offset });
  }
  const conflicts: string[] = [];
  const clips: LabelledPulledClip[] = [];
  for (const entry of manifest.clips) {
    const original = originalLabels(entry);
    const trackPath = join(nodeDir, entry.track ?? `${entry.clip_id}.txt`);
    const track = existsSync(trackPath)
      ? parseAudacityLabels(readFileSync(trackPath, 'utf8'), entry.file, trackPath).map((e) => ({ label: e.label, onset_s: e.onset, offset_s: e.offset }))
      : original;
    const fromTsv = tsv.get(entry.file) ?? original;
    const [o, t, s] = [canonical(original), canonical(track), canonical(fromTsv)];
    let labels: PulledLabel[];
    let from: LabelledPulledClip['from'];
    if (t === s) [labels, from] = [track, t === o ? 'unchanged' : 'both'];
    else if (t === o) [labels, from] = [fromTsv, 'labels.tsv'];
    else if (s === o) [labels, from] = [track, 'track'];
    else if (prefer === 'labels.tsv') [labels, from] = [fromTsv, 'labels.tsv'];
    else {
      conflicts.push(entry.clip_id);
      continue;
    }
    for (const l of labels) {
      if (!l.label.trim()) throw new EarshotError(`${from === 'labels.tsv' ? tsvPath : trackPath}: clip ${entry.clip_id}: a label at ${l.onset_s} s is empty`);
    }
    const path = join(nodeDir, entry.file);
    clips.push({
      clipId: entry.clip_id,
      nodeId,
      eventId: entry.event_id,
      kind: entry.kind,
      path,
      format: entry.file.replace(/^.*\./, '').toLowerCase(),
      sha256: entry.sha256,
      labels: sortLabels(labels.map((l) => ({ ...l, label: l.label.trim() }))),
      from,
      detectedLabel: entry.label,
    });
  }
  if (conflicts.length > 0) {
    throw new EarshotError(
      `${nodeDir}: ${conflicts.length} clips were edited both in their Audacity track and in ${PULLED_LABELS_FILE}, differently (${conflicts.slice(0, 3).join(', ')}${conflicts.length > 3 ? ', ...' : ''}): make the two agree, or undo one of the edits`,
    );
  }
  const listed = new Set(manifest.clips.map((c) => c.file));
  const strays = [...tsv.keys()].filter((f) => !listed.has(f));
  if (strays.length) warnings.push(`${tsvPath}: ${strays.length} files are not in manifest.json (ignored): ${strays.slice(0, 3).join(', ')}`);
  return clips;
}
