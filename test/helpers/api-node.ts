/**
 * A node's data directory as the API serves it, built by hand for the API and pull tests: a real
 * SQLite file (openDatabase, schema 4) with events, clips, scores and labels rows, and real 16 kHz
 * WAV clips cut from ../shared/audio/clips. Rows are written here directly, matching what the clip
 * recorder stores (clips.path relative to data_dir, sha256 and bytes of the file).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { monotonicFactory } from 'ulid';
import { parseConfig } from '../../src/config/load.js';
import type { EarshotConfig } from '../../src/config/schema.js';
import { encodeWav16 } from '../../src/store/clip-writer.js';
import { openDatabase } from '../../src/store/database.js';
import { readWav16, sharedPath } from './wav16.js';

/** One clip to store. */
export interface ClipSpec {
  /** Shared clip name (audio/clips/<name>.wav) the audio is cut from. */
  source: string;
  /** Omitted: a background clip (no event). */
  event?: {
    label: string;
    group: 'hostile' | 'non_hostile';
    peak: number;
    threshold: number;
    /** Score gap between the top two classes in the closest patch. */
    top2Gap: number;
    /** Event span within the clip, seconds. */
    onsetInClip: number;
    offsetInClip: number;
  };
  /** Seconds of the shared clip kept (from its start); default all. */
  seconds?: number;
}

/** A stored clip, with what a test checks against. */
export interface StoredClip {
  id: string;
  eventId: string | null;
  spec: ClipSpec;
  path: string;
  bytes: Buffer;
  sha256: string;
  durationS: number;
  startUtc: string;
}

/** A built node. */
export interface TestNode {
  dir: string;
  dataDir: string;
  db: Database.Database;
  config: EarshotConfig;
  clips: StoredClip[];
}

export { encodeWav16 };

const nextId = monotonicFactory();

/** The four event clips and one background clip most API tests use (uncertainty order: glass, speech, scream, gunshot). */
export const STANDARD_CLIPS: ClipSpec[] = [
  { source: 'gunshot_1', event: { label: 'gunshot', group: 'hostile', peak: 0.95, threshold: 0.2, top2Gap: 0.8, onsetInClip: 0.25, offsetInClip: 1.2 } },
  { source: 'glass_break_1', event: { label: 'glass_break', group: 'hostile', peak: 0.42, threshold: 0.4, top2Gap: 0.3, onsetInClip: 0.5, offsetInClip: 1.5 } },
  { source: 'scream_1', event: { label: 'scream', group: 'hostile', peak: 0.6, threshold: 0.1, top2Gap: 0.01, onsetInClip: 0.2, offsetInClip: 1.0 } },
  { source: 'speech_1', event: { label: 'speech', group: 'non_hostile', peak: 0.7, threshold: 0.5, top2Gap: 0.3, onsetInClip: 0.1, offsetInClip: 1.1 } },
  { source: 'keyboard_1', seconds: 1.5 },
];

/**
 * Builds a data directory with `specs` stored as clips (one event each, except background clips),
 * in order: clip i starts at 2024-05-01T12:00:00Z + 60·i s.
 */
export function buildNode(specs: ClipSpec[], options: { nodeId?: string; api?: Partial<EarshotConfig['api']> } = {}): TestNode {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-api-'));
  const dataDir = join(dir, 'data');
  const config = parseConfig({ node_id: options.nodeId ?? 'test-node', data_dir: dataDir, api: { port: 0, ...options.api } }, 'test.yaml', dir);
  const db = openDatabase(join(dataDir, 'earshot.db'));
  const stored = specs.map((spec, i) => storeClip(db, dataDir, spec, i, config.node_id));
  return { dir, dataDir, db, config, clips: stored };
}

const base = Date.parse('2024-05-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function storeClip(db: Database.Database, dataDir: string, spec: ClipSpec, index: number, nodeId: string): StoredClip {
  let samples = readWav16(sharedPath(`audio/clips/${spec.source}.wav`));
  if (spec.seconds) samples = samples.subarray(0, Math.round(spec.seconds * 16000));
  const bytes = encodeWav16(samples, 16000);
  const id = nextId();
  const rel = join('clips', '2024-05-01', `${id}.wav`);
  mkdirSync(join(dataDir, 'clips', '2024-05-01'), { recursive: true });
  writeFileSync(join(dataDir, rel), bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const streamStartSample = 1_000_000;
  const startSample = streamStartSample + index * 60 * 16000;
  const endSample = startSample + samples.length;
  const startMs = base + index * 60_000;
  const durationS = samples.length / 16000;
  let eventId: string | null = null;
  if (spec.event) {
    const e = spec.event;
    eventId = nextId();
    const onsetSample = startSample + Math.round(e.onsetInClip * 16000);
    const offsetSample = startSample + Math.round(e.offsetInClip * 16000);
    db.prepare(`INSERT INTO events (id, node_id, label, grp, onset_utc, offset_utc, onset_s, offset_s, peak_score, mean_score, peak_dbfs, patch_count,
        end_reason, model_id, model_sha256, source, stream_id, clock_synced, threshold, onset_sample, offset_sample)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      eventId,
      nodeId,
      e.label,
      e.group,
      iso(startMs + e.onsetInClip * 1000),
      iso(startMs + e.offsetInClip * 1000),
      onsetSample / 16000,
      offsetSample / 16000,
      e.peak,
      e.peak * 0.8,
      -12.5,
      2,
      'released',
      'yamnet',
      'a'.repeat(64),
      'file:/test.wav',
      'stream-1',
      1,
      e.threshold,
      onsetSample,
      offsetSample,
    );
    // Two patches; in the second the top two classes are top2Gap apart.
    const insertScore = db.prepare('INSERT INTO scores (event_id, patch_index, start_s, rank, model_id, class, score) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const classes = [`${e.label}_class`, 'Other', 'Silence'];
    for (const patch of [0, 1]) {
      const top = patch === 0 ? e.peak * 0.9 : e.peak;
      const second = patch === 0 ? Math.max(0, top - 0.9) : Math.max(0, top - e.top2Gap);
      const scores = [top, second, Math.max(0, second / 2)];
      scores.forEach((score, rank) => {
        insertScore.run(eventId, 100 + patch, onsetSample / 16000 + patch * 0.48 - 0.2, rank + 1, 'yamnet', classes[rank], score);
      });
    }
  }
  db.prepare(`INSERT INTO clips (id, event_id, kind, grp, path, format, stream_id, start_sample, end_sample, start_s, start_utc, end_utc, sample_rate,
      bytes, sha256, gap_samples, status, created_utc) VALUES (?, ?, ?, ?, ?, 'wav', 'stream-1', ?, ?, ?, ?, ?, 16000, ?, ?, 0, 'ok', ?)`).run(
    id,
    eventId,
    spec.event ? 'event' : 'background',
    spec.event?.group ?? null,
    rel,
    startSample,
    endSample,
    startSample / 16000,
    iso(startMs),
    iso(startMs + durationS * 1000),
    bytes.length,
    sha256,
    iso(startMs + durationS * 1000 + 500),
  );
  return { id, eventId, spec, path: rel, bytes, sha256, durationS, startUtc: iso(startMs) };
}

/** The JSON body of a response, typed loosely: the tests assert its shape. */
// biome-ignore lint/suspicious/noExplicitAny: the tests read any field of the body and assert it
export async function json(response: Response | Promise<Response>): Promise<any> {
  return (await response).json();
}
