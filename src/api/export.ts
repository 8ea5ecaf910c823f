/**
 * `GET /api/v1/export`: a training set as one streamed `.tar.gz` (tar-stream + zlib), never held
 * in memory or written to disk first:
 *
 *     clips/<clip id>.wav   every stored clip (status ok) whose start is in [since, until)
 *     labels.tsv            DCASE: filename onset offset event_label (seconds within the clip;
 *                           filename = the clip's file name under clips/; whole-clip labels span 0..duration)
 *     manifest.json         node id, model id and sha256, config hash, and per clip its event,
 *                           sha256 and top-k class scores
 *
 * Clips are written first and the two text files last, so they list exactly what the archive
 * holds (a clip whose file vanished mid-export is listed under `skipped`). The database is read
 * in batches between file copies, never through an iterator held across an await.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import type { EarshotConfig } from '../config/schema.js';
import { TSV_HEADER, formatTsvRow } from '../eval/annotations.js';
import type { Logger } from '../log.js';
import { isClipFileProblem, openClipFile } from './clip-file.js';
import { toClipView, type ApiQueries, type ClassScore, type ClipView } from './queries.js';

/** What an export contains. */
export interface ExportRequest {
  /** ISO-8601 UTC bounds on the clips' start (toISOString form); defaults: everything. */
  since?: string;
  until?: string;
  /** Only clips with at least one label. */
  labelledOnly: boolean;
}

/** Where the export reads from. */
export interface ExportSource {
  queries: ApiQueries;
  /** The data directory, symbolic links resolved (clip-file.ts). */
  dataRoot: string;
  config: EarshotConfig;
  /** The model the daemon runs, when known. */
  model: { id: string; sha256: string } | null;
  log: Logger;
  /** Aborted when the server closes: the archive stops between files. */
  signal: AbortSignal;
}

/** One clip as manifest.json lists it. */
export interface ManifestClip extends Omit<ClipView, 'url' | 'spectrogram_url'> {
  /** Path inside the archive, e.g. `clips/01J….wav`. */
  file: string;
  /** The event's classes with the highest score over its patches, at most `clips.top_k`. */
  top_k: ClassScore[];
}

/** manifest.json. */
export interface ExportManifest {
  format: 'earshot-export/1';
  node_id: string;
  created_utc: string;
  since: string | null;
  until: string | null;
  labelled_only: boolean;
  model: { id: string; sha256: string } | null;
  /** sha256 of the node's configuration (see {@link configHash}). */
  config_hash: string;
  clips: ManifestClip[];
  /** Clips listed in the database whose file could not be read, with the reason. */
  skipped: { clip_id: string; reason: string }[];
}

/** Rows read from the database per batch. */
const BATCH = 50;

/**
 * sha256 (hex) of the configuration as canonical JSON (keys sorted at every level), without
 * `api.token`: two nodes with the same settings share a hash, and the hash reveals no secret.
 */
export function configHash(config: EarshotConfig): string {
  const { token: _token, ...api } = config.api;
  return createHash('sha256')
    .update(canonicalJson({ ...config, api }))
    .digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Starts an export.
 * @returns the gzip stream to send; it errors (and the download stops short, so a client's gunzip
 *   fails rather than accepting a partial archive) when a read fails or the server closes
 */
export function streamExport(source: ExportSource, request: ExportRequest): Readable {
  const pack = tar.pack();
  // PCM audio barely compresses (about 30 % at any level): the fastest level spares the CPU the
  // model needs, on the same small board.
  const gzip = createGzip({ level: zlibConstants.Z_BEST_SPEED });
  pipeline(pack, gzip).catch(() => {
    // The consumer went away or writing failed: fill() below sees the destroyed pack and stops.
  });
  fill(pack, source, request).catch((error: Error) => {
    if (pack.destroyed || gzip.destroyed) {
      source.log.debug({ err: error }, 'export stopped: the client went away');
    } else {
      source.log.warn({ err: error }, 'export stopped');
    }
    pack.destroy(error);
    gzip.destroy(error);
  });
  return gzip;
}

async function fill(pack: tar.Pack, source: ExportSource, request: ExportRequest): Promise<void> {
  const { queries, config } = source;
  const manifest: ExportManifest = {
    format: 'earshot-export/1',
    node_id: config.node_id,
    created_utc: new Date().toISOString(),
    since: request.since ?? null,
    until: request.until ?? null,
    labelled_only: request.labelledOnly,
    model: source.model,
    config_hash: configHash(config),
    clips: [],
    skipped: [],
  };
  const tsv: string[] = [TSV_HEADER];
  let after = 0;
  for (;;) {
    const batch = queries.exportBatch(after, request.since ?? '', request.until ?? '~', request.labelledOnly, BATCH);
    if (batch.length === 0) break;
    for (const clip of batch) {
      after = clip.seq;
      if (source.signal.aborted) throw new Error('the API server is closing');
      if (pack.destroyed) return;
      const file = await openClipFile(source.dataRoot, clip.path);
      if (isClipFileProblem(file)) {
        manifest.skipped.push({ clip_id: clip.id, reason: file.reason });
        continue;
      }
      const name = `${clip.id}.${clip.format}`;
      try {
        // The header carries the size: the file is read through its open handle, so a file
        // replaced meanwhile cannot change what is copied.
        const entry = pack.entry({ name: `clips/${name}`, size: file.size, mtime: new Date(clip.created_utc), mode: 0o644 });
        await pipeline(file.handle.createReadStream({ autoClose: false }), entry as unknown as Writable);
      } finally {
        await file.handle.close();
      }
      const { url: _url, spectrogram_url: _spectrogram, ...view } = toClipView(clip);
      manifest.clips.push({ ...view, file: `clips/${name}`, top_k: clip.event_id ? queries.topClasses(clip.event_id, config.clips.top_k) : [] });
      for (const label of queries.labels(clip.id)) {
        const onset = label.onset_s ?? 0;
        const offset = label.offset_s ?? clip.duration_s;
        tsv.push(formatTsvRow({ filename: name, onset, offset, label: label.label }));
      }
    }
  }
  if (pack.destroyed) return;
  addText(pack, 'labels.tsv', `${tsv.join('\n')}\n`);
  addText(pack, 'manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  pack.finalize();
}

function addText(pack: tar.Pack, name: string, text: string): void {
  pack.entry({ name, mode: 0o644, mtime: new Date() }, Buffer.from(text, 'utf8'));
}
