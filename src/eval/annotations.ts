/**
 * DCASE-style annotation files: tab-separated `filename onset offset event_label` (seconds), with
 * or without that header line, the format of `../shared/audio/scenes/dev/annotations.tsv` and of
 * `earshot analyze --tsv`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EarshotError } from '../errors.js';
import type { ScoredEvent } from './metrics.js';

/** The header line `earshot analyze --tsv` prints. */
export const TSV_HEADER = 'filename\tonset\toffset\tevent_label';

/**
 * Parses DCASE TSV text. Blank lines are skipped; a row with only a filename lists a file with no events.
 * @returns the events and every filename seen (files with no events included)
 * @throws EarshotError naming `origin`, the line and the problem
 */
export function parseAnnotations(text: string, origin: string): { events: ScoredEvent[]; files: string[] } {
  const events: ScoredEvent[] = [];
  const files = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim() || (i === 0 && line.startsWith('filename'))) return;
    const cells = line.split('\t');
    const filename = cells[0].trim();
    files.add(filename);
    if (cells.length === 1) return;
    if (cells.length < 4)
      throw new EarshotError(`${origin}:${i + 1}: expected 4 tab-separated columns (filename onset offset event_label), got ${cells.length}`);
    const onset = Number(cells[1]);
    const offset = Number(cells[2]);
    if (!Number.isFinite(onset) || !Number.isFinite(offset) || offset < onset) {
      throw new EarshotError(`${origin}:${i + 1}: onset and offset must be seconds with offset >= onset`);
    }
    events.push({ filename, onset, offset, label: cells[3].trim() });
  });
  return { events, files: [...files] };
}

/** Reads a DCASE TSV file. @throws EarshotError when unreadable or malformed. */
export function readAnnotations(path: string): { events: ScoredEvent[]; files: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EarshotError(`${path}: cannot read the annotations (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  return parseAnnotations(text, path);
}

/** One TSV row: seconds with 3 decimals. */
export function formatTsvRow(event: ScoredEvent): string {
  return `${event.filename}\t${event.onset.toFixed(3)}\t${event.offset.toFixed(3)}\t${event.label}`;
}

/**
 * Parses an Audacity label track export (`start\tend\tlabel` per line, seconds; lines starting
 * with `\` carry a spectral selection and are skipped) as the events of one audio file.
 * @throws EarshotError naming `origin` and the line
 */
export function parseAudacityLabels(text: string, filename: string, origin: string): ScoredEvent[] {
  const events: ScoredEvent[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || line.startsWith('\\')) return;
    const cells = line.split('\t');
    const onset = Number(cells[0]);
    const offset = Number(cells[1]);
    if (cells.length < 3 || !Number.isFinite(onset) || !Number.isFinite(offset) || offset < onset) {
      throw new EarshotError(`${origin}:${i + 1}: expected an Audacity label line: start<TAB>end<TAB>label (seconds)`);
    }
    events.push({ filename, onset, offset, label: cells.slice(2).join('\t').trim() });
  });
  return events;
}

/**
 * Reads references for `audioFiles` (matched by file name):
 * - a DCASE TSV file (`filename onset offset event_label`);
 * - a folder of Audacity label tracks, `<audio name without extension>.txt` per audio file
 *   (a file without a track has no reference events);
 * - one Audacity `.txt` track, when exactly one audio file is evaluated.
 * @throws EarshotError when the path cannot be read or is malformed
 */
export function readReference(path: string, audioFiles: readonly string[]): { events: ScoredEvent[]; files: string[] } {
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    throw new EarshotError(`${path}: cannot read the references (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const names = audioFiles.map((f) => basename(f));
  if (stats.isDirectory()) {
    const events: ScoredEvent[] = [];
    for (const name of names) {
      const track = join(path, `${name.replace(/\.[^.]+$/, '')}.txt`);
      if (existsSync(track)) events.push(...parseAudacityLabels(readFileSync(track, 'utf8'), name, track));
    }
    return { events, files: names };
  }
  if (path.endsWith('.txt') && names.length === 1) {
    return { events: parseAudacityLabels(readFileSync(path, 'utf8'), names[0], path), files: names };
  }
  return readAnnotations(path);
}
