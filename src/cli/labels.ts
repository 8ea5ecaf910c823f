/**
 * `earshot labels import FILE.tsv --node URL`: sends labels made on pulled clips back to the node
 * they came from, one POST per clip (`POST /api/v1/clips/:id/labels`, source `import`).
 *
 * FILE.tsv is DCASE style (`filename onset offset event_label`, seconds within the clip, header
 * optional); `filename` is the pulled clip's file name (`<clip id>.wav`, any folder before it) or
 * the bare clip id. The whole file is checked before anything is sent. A re-import replaces the
 * clip's earlier imported labels (`replace: true`), so importing the same file twice stores each
 * label once; labels people entered on the node itself (source `human`) are never touched.
 *
 * It also takes what `earshot pull` wrote: the pulled folder (`--out DIR`, or `DIR/<node_id>`:
 * the clips of the node `--node` names, labels from each clip's Audacity track and `labels.tsv`,
 * whichever the person edited; src/learn/pulled-labels.ts), or that folder's `labels.tsv` (which
 * then wins over a track edited differently). From a pulled folder, an event clip whose labels were
 * all deleted is sent as `other` over the whole clip: "nothing of interest here" (a labelled false
 * alarm). Labels outside the configured label set (`--config`, default the built-in labels) and
 * `other` are sent as they are, with a warning: a head trains them as `other`.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { readAnnotations } from '../eval/annotations.js';
import { BACKGROUND_LABEL_NAME, isPulledFolder, PULLED_LABELS_FILE, readPulledFolder } from '../learn/pulled-labels.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import { NodeClient, nodeUrl, tokenFrom } from './api-client.js';

/** Labels of one clip, as parsed from the file. */
export interface ClipLabels {
  clipId: string;
  /** Seconds within the clip; without onset_s/offset_s the label covers the whole clip. */
  labels: { label: string; onset_s?: number; offset_s?: number }[];
}

const CLIP_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Reads a DCASE TSV and groups its rows by clip.
 * @returns the clips with labels, and how many filenames had no label row (nothing to send for them)
 * @throws EarshotError naming the file (and line, for malformed rows) or the filename that is not a clip
 */
export function readLabelFile(path: string): { clips: ClipLabels[]; withoutLabels: number } {
  const { events, files } = readAnnotations(path);
  const byClip = new Map<string, ClipLabels>();
  const clipIdOf = (filename: string): string => {
    const id = basename(filename.replaceAll('\\', '/'))
      .replace(/\.(wav|flac)$/i, '')
      .toUpperCase();
    if (!CLIP_ID.test(id)) throw new EarshotError(`${path}: "${filename}": not a pulled clip (expected <clip id>.wav or a 26-character clip id)`);
    return id;
  };
  for (const event of events) {
    if (!event.label) throw new EarshotError(`${path}: "${event.filename}" ${event.onset}–${event.offset} s: the event_label column is empty`);
    if (event.label.length > 64) throw new EarshotError(`${path}: "${event.filename}": label "${event.label.slice(0, 70)}" is longer than 64 characters`);
    const id = clipIdOf(event.filename);
    const entry = byClip.get(id) ?? { clipId: id, labels: [] };
    entry.labels.push({ label: event.label, onset_s: event.onset, offset_s: event.offset });
    byClip.set(id, entry);
  }
  const labelled = new Set(events.map((e) => e.filename));
  for (const file of files) clipIdOf(file);
  return { clips: [...byClip.values()], withoutLabels: files.filter((f) => !labelled.has(f)).length };
}

/**
 * The clips and labels of a pulled folder, for the node `nodeId`.
 * @param dir the folder given to `pull --out`, one node's folder in it, or that folder's labels.tsv
 * @returns the clips with labels to send, the number with nothing to send, the node folder read
 * @throws EarshotError when the folder has no clips of that node, or a clip's track and
 *   labels.tsv were edited differently (unless labels.tsv itself was given)
 */
export function readPulledLabels(path: string, nodeId: string): { clips: ClipLabels[]; withoutLabels: number; warnings: string[] } {
  const tsvGiven = basename(path) === PULLED_LABELS_FILE && existsSync(join(dirname(path), 'manifest.json'));
  const dir = tsvGiven ? dirname(path) : path;
  const folder = readPulledFolder(dir, tsvGiven ? { prefer: 'labels.tsv' } : {});
  const mine = folder.clips.filter((c) => c.nodeId === nodeId);
  if (mine.length === 0) {
    const nodes = [...new Set(folder.clips.map((c) => c.nodeId))];
    throw new EarshotError(`${path}: no clips pulled from node "${nodeId}" here${nodes.length ? ` (this folder has clips of ${nodes.join(', ')})` : ''}`);
  }
  const clips: ClipLabels[] = [];
  let withoutLabels = 0;
  for (const clip of mine) {
    if (clip.labels.length > 0) {
      clips.push({ clipId: clip.clipId, labels: clip.labels.map((l) => ({ label: l.label, onset_s: l.onset_s, offset_s: l.offset_s })) });
    } else if (clip.detectedLabel !== null) {
      // The person deleted the node's detection: a labelled false alarm.
      clips.push({ clipId: clip.clipId, labels: [{ label: BACKGROUND_LABEL_NAME }] });
    } else {
      withoutLabels += 1;
    }
  }
  return { clips, withoutLabels, warnings: folder.warnings };
}

/** Adds `earshot labels import`; `wrap` is main.ts's error-printing action wrapper. */
export function registerLabels(program: Command, wrap: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>): void {
  const labels = program.command('labels').description('labels for clips on a node');
  labels
    .command('import')
    .description('send labels made on pulled clips back to their node: the folder `earshot pull` wrote, its labels.tsv, or any DCASE TSV')
    .argument(
      '<path>',
      'a pulled folder (labels from the Audacity tracks and labels.tsv), its labels.tsv, or a DCASE TSV (filename = <clip id>.wav or the clip id)',
    )
    .option('--config <file>', 'YAML config whose label set the labels are checked against (default: the built-in labels)')
    .requiredOption('--node <url>', 'the node the clips were pulled from, e.g. http://garage-pi:8466')
    .option('--token <token>', 'bearer token (prefer --token-file or EARSHOT_API_TOKEN)')
    .option('--token-file <file>', 'file whose first line is the bearer token')
    .option('--annotator <name>', 'who made the labels (stored with them)')
    .addHelpText('after', '\nExample:\n  $ earshot labels import labelling/labels.tsv --node http://garage-pi:8466 --token-file ~/.earshot-token\n')
    .action(
      wrap(async (file: string, options: { node: string; token?: string; tokenFile?: string; annotator?: string; config?: string }) => {
        if (options.annotator !== undefined && !/^[^\t\r\n]{1,64}$/.test(options.annotator))
          throw new EarshotError('--annotator: 1 to 64 characters, no tabs or line breaks');
        const { defaultConfig, loadConfigFile } = await import('../config/load.js');
        const configured = new Set(Object.keys((options.config ? loadConfigFile(options.config) : defaultConfig()).detection.labels));
        const client = new NodeClient(nodeUrl(options.node), tokenFrom(options));
        const pulled = isPulledFolder(file) || (basename(file) === PULLED_LABELS_FILE && existsSync(join(dirname(file), 'manifest.json')));
        if (!pulled && existsSync(file) && statSync(file).isDirectory())
          throw new EarshotError(`${file}: a folder, but not one written by earshot pull (no manifest.json); give a DCASE TSV file or a pulled folder`);
        let clips: ClipLabels[];
        let withoutLabels: number;
        if (pulled) {
          const node = await client.json<{ node_id: string }>('/api/v1/node');
          const read = readPulledLabels(file, node.node_id);
          for (const warning of read.warnings) process.stderr.write(`earshot: warning: ${warning}\n`);
          ({ clips, withoutLabels } = read);
        } else {
          ({ clips, withoutLabels } = readLabelFile(file));
        }
        const outside = new Map<string, number>();
        for (const clip of clips)
          for (const l of clip.labels) if (!configured.has(l.label) && l.label !== BACKGROUND_LABEL_NAME) outside.set(l.label, (outside.get(l.label) ?? 0) + 1);
        if (outside.size > 0) {
          const list = [...outside.entries()]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([label, n]) => `"${label}" ×${n}`)
            .join(', ');
          process.stderr.write(
            `earshot: warning: ${file}: labels outside the configured label set (sent as they are; a head trains them as "${BACKGROUND_LABEL_NAME}"): ${list}\n`,
          );
        }
        let sent = 0;
        let stored = 0;
        const problems: string[] = [];
        for (const clip of clips) {
          try {
            const answer = await client.json<{ labels: unknown[] }>(`/api/v1/clips/${clip.clipId}/labels`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ labels: clip.labels, source: 'import', replace: true, ...(options.annotator ? { annotator: options.annotator } : {}) }),
            });
            sent += 1;
            stored += answer.labels.length;
          } catch (error) {
            // A 401 or an unreachable node stops the import; a clip the node refuses does not.
            if (!isEarshotError(error) || /refused the request \(401\)|cannot reach the node/.test(error.message)) throw error;
            problems.push(error.message);
            process.stderr.write(`earshot: ${error.message}\n`);
          }
        }
        process.stdout.write(
          `${client.base}: ${stored} labels stored for ${sent} clips${withoutLabels ? `; ${withoutLabels} clips in the file have no label rows (nothing sent)` : ''}\n`,
        );
        if (problems.length) throw new EarshotError(`labels import: ${problems.length} of ${clips.length} clips were refused (see above)`, ExitCode.BadInput);
      }),
    );
}
