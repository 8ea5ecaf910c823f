/**
 * Labelled audio for `earshot train`, read from the folder shapes users have:
 *
 * 1. **A pool folder** (`../shared/audio/pool`, `pool2`): `<class>/*.wav`, optionally a `pool.tsv`
 *    (`path class kind source_group ...`). Labels are per clip (the class); `kind` `ambience`
 *    marks background recordings. A `source_group` is one group across every folder given (two
 *    pools that share a recording keep it on one side of a split); a clip without one (no
 *    pool.tsv, or an empty cell) is its own source group.
 * 2. **A pulled folder** (written by `earshot pull`, labelled by a person): `<node_id>/manifest.json`
 *    with `<clip>.wav`, `<clip>.txt` (Audacity track) and `labels.tsv` (src/learn/pulled-labels.ts
 *    decides which of the two the person edited). Labels are spans within each clip; a clip with no
 *    span holds nothing of interest (all its windows are background). Source group: node + event
 *    (node + clip for background clips).
 * 3. **A DCASE folder**: WAVs with an `annotations.tsv` (`filename onset offset event_label`):
 *    spans; every WAV is its own source group.
 *
 * Class names are mapped to the head's labels with {@link mapClassToLabel}: a class that is one
 * of the labels (or an alias) keeps it, anything else becomes the background label.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { EarshotError } from '../errors.js';
import { subfolderNames } from '../fs-checks.js';
import { readAnnotations } from '../eval/annotations.js';
import { BACKGROUND_LABEL_NAME, readPulledFolder } from './pulled-labels.js';

/** The background class of a head: "none of the labels". */
export const BACKGROUND_LABEL = BACKGROUND_LABEL_NAME;

/** A labelled span within a clip, seconds from the clip's first sample. */
export interface LabelledSpan {
  readonly onset: number;
  readonly offset: number;
  /** Already mapped to a head label (or the background label). */
  readonly label: string;
}

/** One audio file to train on. */
export interface TrainingClip {
  /** Absolute path. */
  readonly path: string;
  /** Shown in messages: the path relative to its data folder. */
  readonly name: string;
  /** sha256 (hex) of the file's bytes. */
  readonly sha256: string;
  /** Source recording group: clips of one group are never on both sides of a validation split. */
  readonly group: string;
  /**
   * `clip`: one label for the whole clip (`clipLabel`; its loud windows are positives);
   * `spans`: annotated spans (windows overlapping a span are positives, windows far from every span
   * are background); `ambience`: a background recording (every window is background, and it is
   * what events are mixed into for augmentation).
   */
  readonly labelling: 'clip' | 'spans' | 'ambience';
  readonly clipLabel?: string;
  readonly spans?: readonly LabelledSpan[];
  /** The class name as the data gave it (before mapping), for the summary. */
  readonly sourceClass: string;
  /** The data folder it came from (as given). */
  readonly dataDir: string;
}

/** What reading the data folders found. */
export interface Dataset {
  readonly clips: TrainingClip[];
  /** Class names that were mapped to the background label, with their clip counts. */
  readonly unmappedClasses: Record<string, number>;
  /** Problems that did not stop reading (e.g. a pulled clip whose file is missing). */
  readonly warnings: string[];
}

/** Class names of other datasets that mean one of earshot's labels. */
const CLASS_ALIASES: Readonly<Record<string, string>> = {
  gunfire: 'gunshot',
  gun_shot: 'gunshot',
  gunshot_and_gunfire: 'gunshot',
  glass: 'glass_break',
  glassbreak: 'glass_break',
  glass_breaking: 'glass_break',
  screaming: 'scream',
  screams: 'scream',
  dog: 'dog_bark',
  dogbark: 'dog_bark',
  bark: 'dog_bark',
  horn: 'car_horn',
  knock: 'door_knock',
  knocking: 'door_knock',
  speaking: 'speech',
  talking: 'speech',
  background: BACKGROUND_LABEL,
  none: BACKGROUND_LABEL,
  noise: BACKGROUND_LABEL,
  ambience: BACKGROUND_LABEL,
};

/**
 * The head label a class name stands for: itself when it is one of `labels`, an alias of one, else
 * the background label (a confuser the head must learn to ignore).
 */
export function mapClassToLabel(className: string, labels: readonly string[]): string {
  const name = className
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  if (labels.includes(name)) return name;
  const alias = CLASS_ALIASES[name];
  if (alias && (alias === BACKGROUND_LABEL || labels.includes(alias))) return alias;
  return BACKGROUND_LABEL;
}

/** sha256 (hex) of a file's bytes. */
export function sha256OfFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Which shape a data folder has. */
export function dataFolderShape(dir: string): 'pool' | 'pulled' | 'dcase' {
  if (existsSync(join(dir, 'annotations.tsv'))) return 'dcase';
  if (existsSync(join(dir, 'manifest.json'))) return 'pulled';
  if (subfolderNames(dir).some((name) => existsSync(join(dir, name, 'manifest.json')))) return 'pulled';
  return 'pool';
}

/**
 * Reads labelled clips from data folders of any of the three shapes.
 * @param dirs folders as the user gave them
 * @param labels the head's labels (without the background label): class names are mapped onto them
 * @throws EarshotError naming the folder or file: missing folder, unreadable or malformed
 *   pool.tsv / annotations.tsv / manifest.json, no audio at all
 */
export function readDataset(dirs: readonly string[], labels: readonly string[]): Dataset {
  const clips: TrainingClip[] = [];
  const unmapped: Record<string, number> = {};
  const warnings: string[] = [];
  for (const given of dirs) {
    const dir = resolve(given);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (error) {
      throw new EarshotError(`${given}: cannot read the data folder (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
    if (!isDir) throw new EarshotError(`${given}: not a folder (--data takes a pool folder, a pulled folder or a folder with annotations.tsv)`);
    const shape = dataFolderShape(dir);
    const found =
      shape === 'pool'
        ? readPoolFolder(dir, given, labels)
        : shape === 'dcase'
          ? readDcaseFolder(dir, given, labels)
          : readPulled(dir, given, labels, warnings);
    if (found.length === 0) throw new EarshotError(`${given}: no labelled audio found (${shape} folder)`);
    for (const clip of found) {
      clips.push(clip);
      const mapped = clip.labelling === 'clip' ? clip.clipLabel : undefined;
      if (mapped === BACKGROUND_LABEL && clip.sourceClass && mapClassToLabel(clip.sourceClass, labels) === BACKGROUND_LABEL) {
        unmapped[clip.sourceClass] = (unmapped[clip.sourceClass] ?? 0) + 1;
      }
    }
  }
  // The same file given twice (two --data folders overlapping) is read once.
  const seen = new Set<string>();
  const unique = clips.filter((c) => {
    if (seen.has(c.sha256)) return false;
    seen.add(c.sha256);
    return true;
  });
  if (unique.length < clips.length) warnings.push(`${clips.length - unique.length} clips appear twice (same sha256) and were read once`);
  return { clips: unique, unmappedClasses: unmapped, warnings };
}

/** Parses a TSV with a header line into rows keyed by column name. */
function readTsv(path: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  if (!header) return [];
  const cols = header.split('\t').map((c) => c.trim());
  return lines.map((line) => {
    const cells = line.split('\t');
    return Object.fromEntries(cols.map((c, i) => [c, (cells[i] ?? '').trim()]));
  });
}

function readPoolFolder(dir: string, given: string, labels: readonly string[]): TrainingClip[] {
  const tsvPath = join(dir, 'pool.tsv');
  const rows = new Map<string, Record<string, string>>();
  if (existsSync(tsvPath)) {
    const parsed = readTsv(tsvPath);
    if (parsed.length > 0 && !('path' in parsed[0]!)) throw new EarshotError(`${tsvPath}: no "path" column (expected path class kind source_group ...)`);
    for (const row of parsed) rows.set(row.path!.replaceAll('\\', '/'), row);
  }
  const clips: TrainingClip[] = [];
  const classDirs = subfolderNames(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
  for (const classDir of classDirs) {
    const files = readdirSync(join(dir, classDir))
      .filter((f) => /\.wav$/i.test(f))
      .sort();
    for (const file of files) {
      const rel = `${classDir}/${file}`;
      const row = rows.get(rel);
      const sourceClass = row?.class || classDir;
      const path = join(dir, rel);
      const ambience = row?.kind === 'ambience' || (!row?.kind && mapClassToLabel(sourceClass, labels) === BACKGROUND_LABEL && /^ambien/i.test(sourceClass));
      const clipLabel = ambience ? BACKGROUND_LABEL : mapClassToLabel(sourceClass, labels);
      clips.push({
        path,
        name: rel,
        sha256: sha256OfFile(path),
        // A source_group names one recording session wherever it appears: pool and pool2 share
        // some (the same DCASE knocks in both), so it is not prefixed with the folder's name.
        group: row?.source_group ? `source:${row.source_group}` : `${basename(dir)}:${rel}`,
        labelling: ambience ? 'ambience' : 'clip',
        clipLabel,
        sourceClass,
        dataDir: given,
      });
    }
  }
  return clips;
}

function readDcaseFolder(dir: string, given: string, labels: readonly string[]): TrainingClip[] {
  const tsvPath = join(dir, 'annotations.tsv');
  const { events, files } = readAnnotations(tsvPath);
  const byFile = new Map<string, LabelledSpan[]>();
  for (const file of files) byFile.set(file, []);
  for (const e of events) byFile.get(e.filename)!.push({ onset: e.onset, offset: e.offset, label: mapClassToLabel(e.label, labels) });
  // WAVs in the folder that the TSV does not list have no events: background recordings.
  for (const file of readdirSync(dir).filter((f) => /\.wav$/i.test(f))) if (!byFile.has(file)) byFile.set(file, []);
  const clips: TrainingClip[] = [];
  for (const file of [...byFile.keys()].sort()) {
    const path = resolve(dir, file);
    if (!existsSync(path)) throw new EarshotError(`${tsvPath}: "${file}" is listed but not in ${given}`);
    clips.push({
      path,
      name: relative(dir, path),
      sha256: sha256OfFile(path),
      group: `${basename(dir)}:${file}`,
      labelling: 'spans',
      spans: byFile.get(file)!.sort((a, b) => a.onset - b.onset || a.offset - b.offset || a.label.localeCompare(b.label)),
      sourceClass: '',
      dataDir: given,
    });
  }
  return clips;
}

function readPulled(dir: string, given: string, labels: readonly string[], warnings: string[]): TrainingClip[] {
  const folder = readPulledFolder(dir);
  warnings.push(...folder.warnings);
  const clips: TrainingClip[] = [];
  for (const clip of folder.clips) {
    if (!existsSync(clip.path)) {
      warnings.push(`${clip.path}: listed in the manifest but missing (skipped)`);
      continue;
    }
    if (clip.format !== 'wav') {
      warnings.push(`${clip.path}: only WAV clips are read for training (skipped)`);
      continue;
    }
    const sha256 = sha256OfFile(clip.path);
    if (sha256 !== clip.sha256) warnings.push(`${clip.path}: its sha256 differs from the manifest's (changed since it was pulled?); read as it is now`);
    clips.push({
      path: clip.path,
      name: relative(dir, clip.path),
      sha256,
      group: `${clip.nodeId}:${clip.eventId ?? clip.clipId}`,
      labelling: 'spans',
      spans: clip.labels
        .map((l) => ({ onset: l.onset_s, offset: l.offset_s, label: mapClassToLabel(l.label, labels) }))
        .sort((a, b) => a.onset - b.onset || a.offset - b.offset || a.label.localeCompare(b.label)),
      sourceClass: '',
      dataDir: given,
    });
  }
  return clips;
}
