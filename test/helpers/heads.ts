/**
 * Small valid head files for tests, in H2's format (src/inference/head/head-file.ts): a logistic
 * head on YAMNet's 521 scores whose `gunshot` probability equals YAMNet's "Gunshot, gunfire" score
 * (softmax of [logit(p), 0] is p), so a test knows what the head will say on real audio.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { serializeHead, type HeadJson } from '../../src/inference/head/head-file.js';
import { YAMNET_OFFICIAL } from './fixtures.js';

/** The official YAMNet (manifest `yamnet`) and the waveform model. */
export { YAMNET_OFFICIAL, YAMNET_WAVEFORM } from './fixtures.js';

export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** YAMNet's class index of "Gunshot, gunfire" (yamnet_class_map.csv). */
export const GUNSHOT_CLASS = 421;

/** Options of {@link copyGunshotHead}. */
export interface TestHeadOptions {
  /** The base model's sha256 (default: the official YAMNet's). */
  baseSha256?: string;
  /** The gunshot threshold / release the head carries (default 0.5 / 0.25). */
  threshold?: number;
  release?: number;
  /** Multiplies the gunshot weight (1 = copy YAMNet's score; 0 = the head never fires). */
  gain?: number;
  /** trained_at (default 2026-12-01T00:00:00Z) and clip_count (default 42): they make the sha256 differ. */
  trainedAt?: string;
  clipCount?: number;
  /** Also read the embedding (1024 zero weights), so the embedding path runs. */
  withEmbedding?: boolean;
}

/** A head JSON whose gunshot probability copies YAMNet's gunshot score (times `gain` in the logit). */
export function copyGunshotHead(options: TestHeadOptions = {}): HeadJson {
  const withEmbedding = options.withEmbedding ?? true;
  const inputs = (withEmbedding ? 1024 : 0) + 521;
  const gunshot = new Array<number>(inputs).fill(0);
  gunshot[(withEmbedding ? 1024 : 0) + GUNSHOT_CLASS] = options.gain ?? 1;
  return {
    format: 'earshot-head',
    version: 1,
    kind: 'logistic',
    base_model: { sha256: options.baseSha256 ?? fileSha256(YAMNET_OFFICIAL), name: 'yamnet' },
    labels: ['gunshot', 'other'],
    background_label: 'other',
    thresholds: { gunshot: { threshold: options.threshold ?? 0.5, release: options.release ?? 0.25 } },
    features: [
      ...(withEmbedding ? [{ name: 'embedding' as const, size: 1024, transform: 'none' as const }] : []),
      { name: 'scores', size: 521, transform: 'logit' },
    ],
    normalisation: { mean: new Array<number>(inputs).fill(0), std: new Array<number>(inputs).fill(1) },
    layers: [{ activation: 'softmax', weights: [gunshot, new Array<number>(inputs).fill(0)], bias: [0, 0] }],
    training: {
      trained_at: options.trainedAt ?? '2026-12-01T00:00:00Z',
      seed: 1,
      clip_count: options.clipCount ?? 42,
      clips_per_label: { gunshot: 21, other: 21 },
      clips_sha256: '0'.repeat(64),
      window_count: 100,
      windows_per_label: { gunshot: 50, other: 50 },
      options: { test: true },
      earshot_version: 'test',
    },
    validation: { method: 'none', folds: 0, fa_budget_per_hour: 0, labels: {} },
  };
}

/** {@link copyGunshotHead} as file text. */
export function copyGunshotHeadText(options: TestHeadOptions = {}): string {
  return serializeHead(copyGunshotHead(options));
}
