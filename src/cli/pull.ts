/**
 * `earshot pull`: copies clips chosen for labelling from one or more nodes into a folder, with an
 * Audacity label track beside each clip, so a person can listen, correct the track, and send the
 * labels back (`earshot labels import`).
 *
 * Layout of DIR (docs/api.md):
 *
 *     DIR/<node_id>/<clip id>.wav        the clip, sha256-verified
 *     DIR/<node_id>/<clip id>.txt        Audacity label track: start<TAB>end<TAB>label (seconds in the clip)
 *     DIR/<node_id>/labels.tsv           the same labels for every clip, DCASE TSV (filename onset offset event_label)
 *     DIR/<node_id>/manifest.json        every clip pulled from that node, with its event and sha256
 *     DIR/.earshot-pull/<host_port>.json the node's cursor (for --strategy all) and id
 *
 * Incremental and resumable: a clip is downloaded to `<clip>.part` (continued with an HTTP Range
 * request if a previous run was cut short), verified against its sha256, fsynced, then renamed;
 * its track is written next, and only then is it added to the manifest and the cursor advanced.
 * A run killed at any point leaves no file that passes for a clip: on the next run a clip already
 * present with the right sha256 is kept, a `.part` is continued, and nothing is fetched twice.
 */
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  openSync,
  fsyncSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Option, type Command } from 'commander';
import type { ClipView, QueueStrategy } from '../api/queries.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import { NodeClient, nodeUrl, tokenFrom } from './api-client.js';
import { TSV_HEADER } from '../eval/annotations.js';
import { labelsTsvRows, originalLabels, PULLED_LABELS_FILE, type PulledLabel } from '../learn/pulled-labels.js';

/** What `pull` fetches: a queue strategy (unlabelled clips, best first), or `all` clips since the cursor. */
export type PullStrategy = QueueStrategy | 'all';

/** Clips fetched per node and run when --limit is not given, for the queue strategies. */
export const DEFAULT_QUEUE_LIMIT = 50;

/** A clip as `manifest.json` lists it. */
export interface PulledClip {
  clip_id: string;
  /** File names within the node's folder. */
  file: string;
  track: string;
  sha256: string;
  bytes: number;
  kind: ClipView['kind'];
  event_id: string | null;
  label: string | null;
  group: string | null;
  peak_score: number | null;
  threshold: number | null;
  start_utc: string;
  end_utc: string;
  duration_s: number;
  /** The event's span in the clip, seconds (as in the track); null for background clips. */
  event_in_clip_s: [number, number] | null;
  strategy: PullStrategy;
  pulled_utc: string;
}

/** manifest.json of one node's folder. */
export interface PullManifest {
  node_id: string;
  node_url: string;
  updated_utc: string;
  clips: PulledClip[];
}

/** The per-node cursor file. */
interface PullState {
  node_url: string;
  node_id: string;
  /** `seq` of the last clip handled by --strategy all. */
  after: number;
  updated_utc: string;
}

/** Options of {@link pullFromNode}. */
export interface PullOptions {
  out: string;
  strategy: PullStrategy;
  /** New clips at most (undefined: 50 for queue strategies, no limit for `all`). */
  limit?: number;
  token?: string;
  /** Progress, one call per clip handled; `done` counts new and already-present clips. */
  onProgress?: (progress: { nodeId: string; done: number; total: number | null; bytes: number; file: string }) => void;
}

/** What one node gave. */
export interface NodePullResult {
  url: string;
  nodeId: string;
  dir: string;
  /** Clips downloaded (or completed) in this run. */
  fetched: number;
  /** Clips the node offered (queue or `all` pages) that were already here with the right sha256. */
  present: number;
  /** Clips that vanished on the node (404/410) or failed verification twice. */
  failed: number;
  bytes: number;
}

const CLIP_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Pulls from one node into `options.out`.
 * @throws EarshotError when the node cannot be reached, refuses the token, or answers nonsense
 */
export async function pullFromNode(address: string, options: PullOptions): Promise<NodePullResult> {
  const url = nodeUrl(address);
  const client = new NodeClient(url, options.token);
  const node = await client.json<{ node_id: string }>('/api/v1/node');
  // The folder name comes from the node: accept only what earshot's config allows for node_id.
  if (!NODE_ID.test(node.node_id ?? ''))
    throw new EarshotError(`${client.base}: the node id ${JSON.stringify(node.node_id)} is not a valid node id`, ExitCode.Environment);
  const dir = join(options.out, node.node_id);
  const stateDir = join(options.out, '.earshot-pull');
  mkdirSync(dir, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const statePath = join(stateDir, `${url.host.replace(/[^A-Za-z0-9.-]/g, '_')}.json`);
  const manifestPath = join(dir, 'manifest.json');
  const state: PullState = readJson<PullState>(statePath) ?? { node_url: client.base, node_id: node.node_id, after: 0, updated_utc: '' };
  const manifest: PullManifest = readJson<PullManifest>(manifestPath) ?? { node_id: node.node_id, node_url: client.base, updated_utc: '', clips: [] };
  const pulled = new Map(manifest.clips.map((c) => [c.clip_id, c]));
  const result: NodePullResult = { url: client.base, nodeId: node.node_id, dir, fetched: 0, present: 0, failed: 0, bytes: 0 };
  const limit = options.limit ?? (options.strategy === 'all' ? Number.POSITIVE_INFINITY : DEFAULT_QUEUE_LIMIT);

  // labels.tsv lists every clip of the manifest (clips pulled before it existed are added now).
  const labelsTsv = labelsTsvWriter(dir);
  for (const entry of manifest.clips) labelsTsv.add(entry);

  /** Fetches (or adopts) one clip; true when it is now in the manifest. */
  const take = async (clip: ClipView, total: number | null): Promise<void> => {
    if (!CLIP_ID.test(clip.id) || (clip.format !== 'wav' && clip.format !== 'flac') || !/^[0-9a-f]{64}$/.test(clip.sha256)) {
      throw new EarshotError(`${client.base}: the node listed a clip with an invalid id, format or sha256 (${JSON.stringify(clip.id)})`, ExitCode.Environment);
    }
    const file = `${clip.id}.${clip.format}`;
    const path = join(dir, file);
    let fetchedBytes = 0;
    if (existsSync(path) && (await sha256File(path)) === clip.sha256) {
      result.present += 1;
    } else {
      const outcome = await download(client, clip, path);
      if (outcome === 'gone') {
        result.failed += 1;
        process.stderr.write(`earshot: ${client.base}: clip ${clip.id} is no longer on the node (skipped)\n`);
        return;
      }
      fetchedBytes = outcome;
      result.fetched += 1;
      result.bytes += outcome;
    }
    const track = `${clip.id}.txt`;
    // Labels a person already gave on the node (its review page, docs/web.md) pre-fill the track and
    // labels.tsv instead of the detection, so `earshot train` learns them.
    const given = clip.labels > 0 ? await nodeLabels(client, clip) : undefined;
    // A track already here may hold a person's corrections: never overwrite it.
    if (!existsSync(join(dir, track)))
      writeAtomically(
        join(dir, track),
        given ? given.map((l) => `${l.onset_s.toFixed(6)}\t${l.offset_s.toFixed(6)}\t${l.label}\n`).join('') : audacityTrack(clip),
      );
    const entry: PulledClip = {
      clip_id: clip.id,
      file,
      track,
      sha256: clip.sha256,
      bytes: clip.bytes,
      kind: clip.kind,
      event_id: clip.event_id,
      label: clip.event?.label ?? null,
      group: clip.event?.group ?? clip.group,
      peak_score: clip.event?.peak_score ?? null,
      threshold: clip.event?.threshold ?? null,
      start_utc: clip.start_utc,
      end_utc: clip.end_utc,
      duration_s: clip.duration_s,
      event_in_clip_s: clip.event ? [clip.event.onset_in_clip_s, clip.event.offset_in_clip_s] : null,
      strategy: options.strategy,
      pulled_utc: new Date().toISOString(),
    };
    if (!pulled.has(clip.id)) manifest.clips.push(entry);
    else manifest.clips[manifest.clips.findIndex((c) => c.clip_id === clip.id)] = entry;
    pulled.set(clip.id, entry);
    manifest.updated_utc = entry.pulled_utc;
    writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    labelsTsv.add(entry, given);
    options.onProgress?.({ nodeId: node.node_id, done: result.fetched + result.present, total, bytes: fetchedBytes, file });
  };

  /** True when the clip is here already, as the manifest says (size checked; the hash was checked when it came). */
  const alreadyHere = (clip: ClipView) => {
    const known = pulled.get(clip.id);
    if (!known || known.sha256 !== clip.sha256) return false;
    try {
      return statSync(join(dir, known.file)).size === known.bytes;
    } catch {
      return false;
    }
  };

  if (options.strategy === 'all') {
    let taken = 0;
    while (taken < limit) {
      const page = await client.json<{ clips: ClipView[]; next_after: number }>(
        `/api/v1/clips?after=${state.after}&limit=${Math.min(200, Math.max(1, limit - taken))}`,
      );
      if (page.clips.length === 0) break;
      for (const clip of page.clips) {
        if (taken >= limit) break;
        if (clip.status === 'ok' && alreadyHere(clip)) {
          result.present += 1;
        } else if (clip.status === 'ok') {
          await take(clip, null);
          taken += 1;
        }
        // The cursor moves only once the clip, its track and the manifest are on disk.
        state.after = clip.seq;
        state.updated_utc = new Date().toISOString();
        writeAtomically(statePath, `${JSON.stringify(state, null, 2)}\n`);
      }
    }
  } else {
    const chosen: ClipView[] = [];
    const here = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    const pageSize = Math.min(1000, Math.max(50, Number.isFinite(limit) ? limit : 1000));
    do {
      const query = `strategy=${options.strategy}&limit=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page: { clips: ClipView[]; next_cursor: string | null } = await client.json(`/api/v1/active-learning/queue?${query}`);
      for (const clip of page.clips) {
        if (chosen.length >= limit) break;
        if (alreadyHere(clip)) here.add(clip.id);
        else if (!chosen.some((c) => c.id === clip.id)) chosen.push(clip);
      }
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && chosen.length < limit && pages < 1000);
    result.present += here.size;
    for (const clip of chosen) await take(clip, chosen.length);
    state.updated_utc = new Date().toISOString();
    writeAtomically(statePath, `${JSON.stringify(state, null, 2)}\n`);
  }
  // Leftover partial downloads are of clips no longer offered (labelled or deleted meanwhile).
  if (result.failed === 0) {
    for (const name of readdirSync(dir)) if (name.endsWith('.part')) rmSync(join(dir, name), { force: true });
  }
  return result;
}

/**
 * Downloads a clip to `<path>.part` (continuing a partial one with `Range` + `If-Range`), checks
 * its sha256, fsyncs and renames it to `path`.
 * @returns bytes received, or `gone` when the node no longer has the clip (404/410)
 * @throws EarshotError when the file is wrong twice (sha256) or the node answers an error
 */
async function download(client: NodeClient, clip: ClipView, path: string): Promise<number | 'gone'> {
  const part = `${path}.part`;
  for (let attempt = 0; attempt < 2; attempt++) {
    let have = 0;
    try {
      have = statSync(part).size;
    } catch {
      have = 0;
    }
    if (have >= clip.bytes || attempt > 0) {
      rmSync(part, { force: true });
      have = 0;
    }
    const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-`, 'If-Range': `"${clip.sha256}"` } : {};
    const response = await client.request(`/api/v1/clips/${clip.id}`, { headers });
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      rmSync(part, { force: true });
      return 'gone';
    }
    const resumed = response.status === 206 && (response.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`);
    if (!(response.ok && (response.status === 200 || resumed)) || !response.body) {
      await response.body?.cancel();
      throw new EarshotError(`${client.base}/api/v1/clips/${clip.id}: HTTP ${response.status} while downloading`, ExitCode.Environment);
    }
    const out = createWriteStream(part, { flags: resumed ? 'a' : 'w' });
    await pipeline(Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>), out);
    const received = statSync(part).size - (resumed ? have : 0);
    if ((await sha256File(part)) === clip.sha256) {
      const fd = openSync(part, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(part, path);
      return received;
    }
    // A stale or damaged .part: the second attempt starts from byte 0.
  }
  rmSync(part, { force: true });
  throw new EarshotError(
    `${client.base}: clip ${clip.id}: the download does not match its sha256 ${clip.sha256.slice(0, 12)}… (twice); nothing kept`,
    ExitCode.Environment,
  );
}

/**
 * The Audacity label track of a clip: one line `start<TAB>end<TAB>label` (seconds within the
 * clip, 6 decimals) for its event; empty for a background clip.
 */
export function audacityTrack(clip: ClipView): string {
  if (!clip.event) return '';
  return `${clip.event.onset_in_clip_s.toFixed(6)}\t${clip.event.offset_in_clip_s.toFixed(6)}\t${clip.event.label}\n`;
}

/**
 * The labels stored on the node for a clip, as spans in the clip: a whole-clip label spans the
 * clip; `none` (the review page's "nothing of interest here") is no label at all.
 */
async function nodeLabels(client: NodeClient, clip: ClipView): Promise<PulledLabel[]> {
  const answer = await client.json<{ labels: { label: string; onset_s: number | null; offset_s: number | null }[] }>(`/api/v1/clips/${clip.id}/labels`);
  return answer.labels
    .filter((l) => l.label !== 'none')
    .map((l) => ({ label: l.label, onset_s: l.onset_s ?? 0, offset_s: l.offset_s ?? clip.duration_s }))
    .sort((a, b) => a.onset_s - b.onset_s || a.label.localeCompare(b.label));
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * `labels.tsv` of a node folder (DCASE: filename onset offset event_label): one row per clip and
 * label, pre-filled with the node's detection (a background clip: its file name alone), for people
 * who label in a text editor or spreadsheet rather than in Audacity. Rows are only ever added, for
 * clips the file does not list yet: a person's edits stay. `earshot labels import` and
 * `earshot train` read it together with the Audacity tracks (src/learn/pulled-labels.ts).
 */
function labelsTsvWriter(dir: string): { add(entry: PulledClip, labels?: PulledLabel[]): void } {
  const path = join(dir, PULLED_LABELS_FILE);
  let text = existsSync(path) ? readFileSync(path, 'utf8') : `${TSV_HEADER}\n`;
  const listed = new Set(
    text
      .split(/\r?\n/)
      .map((line) => line.split('\t')[0]!.trim())
      .filter(Boolean),
  );
  return {
    add(entry, labels = originalLabels(entry)) {
      if (listed.has(entry.file)) return;
      if (!text.endsWith('\n')) text += '\n';
      text += `${labelsTsvRows(entry.file, labels).join('\n')}\n`;
      listed.add(entry.file);
      writeAtomically(path, text);
    },
  };
}

/** Writes via a temporary file and a rename, so a reader (or a killed run) never sees half a file. */
function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new EarshotError(`${path}: not valid JSON (written by another program?); move it away to start this node's pull afresh`);
  }
}

const formatMb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Adds `earshot pull`; `wrap` is main.ts's error-printing action wrapper. */
export function registerPull(program: Command, wrap: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>): void {
  program
    .command('pull')
    .description('copy clips chosen for labelling from nodes (sha256-verified, resumable), each with an Audacity label track')
    .option('--node <url>', 'node API address, e.g. http://garage-pi:8466 (repeat for several nodes)', (value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      value,
    ])
    .option('--token <token>', 'bearer token (prefer --token-file or EARSHOT_API_TOKEN: a command line is visible to other users)')
    .option('--token-file <file>', 'file whose first line is the bearer token')
    .requiredOption('--out <dir>', 'folder to pull into (one subfolder per node)')
    .addOption(
      new Option('--strategy <name>', 'which clips: the active-learning queue (uncertainty, margin, random, top) or all clips since the last pull')
        .choices(['uncertainty', 'margin', 'random', 'top', 'all'])
        .default('uncertainty'),
    )
    .option('--limit <n>', `new clips per node at most (default ${DEFAULT_QUEUE_LIMIT} for the queue strategies, no limit for all)`)
    .addHelpText(
      'after',
      '\nExamples:\n  $ earshot pull --node http://garage-pi:8466 --out labelling/\n  $ earshot pull --node http://garage-pi:8466 --node http://shed-pi:8466 --strategy all --out labelling/\n',
    )
    .action(
      wrap(async (options: { node?: string[]; token?: string; tokenFile?: string; out: string; strategy: PullStrategy; limit?: string }) => {
        const nodes = options.node ?? [];
        if (nodes.length === 0) throw new EarshotError('pull: --node URL is required (repeat it for several nodes)');
        const limit = options.limit === undefined ? undefined : Number(options.limit);
        if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1))
          throw new EarshotError(`--limit: must be a whole number >= 1, got ${options.limit}`);
        const token = tokenFrom(options);
        const tty = Boolean(process.stderr.isTTY);
        const failures: EarshotError[] = [];
        for (const address of nodes) {
          let received = 0;
          try {
            const result = await pullFromNode(address, {
              out: options.out,
              strategy: options.strategy,
              limit,
              token,
              onProgress: ({ nodeId, done, total, bytes, file }) => {
                received += bytes;
                const count = `${done}${total === null ? '' : `/${total}`}`;
                if (tty) process.stderr.write(`\r${nodeId}: ${count} clips, ${formatMb(received)}   `);
                else process.stderr.write(`${nodeId}: ${count} ${file} (${(bytes / 1000).toFixed(0)} kB)\n`);
              },
            });
            if (tty) process.stderr.write('\n');
            process.stdout.write(
              `${result.nodeId} (${result.url}): ${result.fetched} new clips (${formatMb(result.bytes)}), ${result.present} already here${result.failed ? `, ${result.failed} gone from the node` : ''} → ${result.dir}\n`,
            );
          } catch (error) {
            if (tty) process.stderr.write('\n');
            if (!isEarshotError(error)) throw error;
            // One unreachable node does not stop the others.
            process.stderr.write(`earshot: ${error.message}\n`);
            failures.push(error);
          }
        }
        if (failures.length) throw new EarshotError(`pull: ${failures.length} of ${nodes.length} nodes failed (see above)`, failures[0].exitCode);
      }),
    );
}
