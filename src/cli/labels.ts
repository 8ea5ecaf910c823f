/**
 * `earshot labels import FILE.tsv --node URL`: sends labels made on pulled clips back to the node
 * they came from, one POST per clip (`POST /api/v1/clips/:id/labels`, source `import`).
 *
 * FILE.tsv is DCASE style (`filename onset offset event_label`, seconds within the clip, header
 * optional); `filename` is the pulled clip's file name (`<clip id>.wav`, any folder before it) or
 * the bare clip id. The whole file is checked before anything is sent. A re-import replaces the
 * clip's earlier imported labels (`replace: true`), so importing the same file twice stores each
 * label once; labels people entered on the node itself (source `human`) are never touched.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { readAnnotations } from '../eval/annotations.js';
import { EarshotError, isEarshotError } from '../errors.js';
import { NodeClient, nodeUrl, tokenFrom } from './api-client.js';

/** Labels of one clip, as parsed from the file. */
export interface ClipLabels {
  clipId: string;
  labels: { label: string; onset_s: number; offset_s: number }[];
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
    const id = basename(filename.replaceAll('\\', '/')).replace(/\.(wav|flac)$/i, '').toUpperCase();
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

/** Adds `earshot labels import`; `wrap` is main.ts's error-printing action wrapper. */
export function registerLabels(program: Command, wrap: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>): void {
  const labels = program.command('labels').description('labels for clips on a node');
  labels
    .command('import')
    .description('send labels made on pulled clips (DCASE TSV: filename onset offset event_label) back to their node')
    .argument('<file>', 'DCASE TSV; filename = the pulled clip file (<clip id>.wav) or the clip id')
    .requiredOption('--node <url>', 'the node the clips were pulled from, e.g. http://garage-pi:8466')
    .option('--token <token>', 'bearer token (prefer --token-file or EARSHOT_API_TOKEN)')
    .option('--token-file <file>', 'file whose first line is the bearer token')
    .option('--annotator <name>', 'who made the labels (stored with them)')
    .action(
      wrap(async (file: string, options: { node: string; token?: string; tokenFile?: string; annotator?: string }) => {
        if (options.annotator !== undefined && !/^[^\t\r\n]{1,64}$/.test(options.annotator)) throw new EarshotError('--annotator: 1 to 64 characters, no tabs or line breaks');
        const { clips, withoutLabels } = readLabelFile(file);
        const client = new NodeClient(nodeUrl(options.node), tokenFrom(options));
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
        process.stdout.write(`${client.base}: ${stored} labels stored for ${sent} clips${withoutLabels ? `; ${withoutLabels} clips in the file have no label rows (nothing sent)` : ''}\n`);
        if (problems.length) throw new EarshotError(`labels import: ${problems.length} of ${clips.length} clips were refused (see above)`, 2);
      }),
    );
}
