/**
 * A head at run time: which head file a node uses (`model.head`: a path, `auto` or `none`), how
 * it joins the model's outputs, and which labels it serves.
 *
 * A headed model is the backbone with the head's label probabilities appended to its class
 * scores: its class names are the backbone's (521 for YAMNet) followed by `head:<label>` for each
 * head label, and one invoke gives both (the embedding is the backbone's second output,
 * tflite/embedding-output.ts). The labels the head was trained for then read their `head:<label>`
 * class instead of the manifest's class map; every other label keeps the backbone's classes, so
 * a head for the hostile labels leaves speech, dog barks... as they were, and the pipeline's label
 * set (and the detector, hysteresis, voting, exclusive groups) does not change when a head comes
 * or goes. Thresholds of the head's labels are the head's own (chosen when it was trained) unless
 * the config gives the label a threshold other than earshot's default.
 *
 * In the daemon the head runs in the inference worker, right after the backbone (see
 * worker/worker-classifier.ts `withHead`); elsewhere (analyze, eval, tune, `inference.worker:
 * false`) in the thread that runs the model ({@link localHeadedModel}). Both compute
 * {@link headedScores}, so they give the same numbers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EarshotError, ExitCode } from '../../errors.js';
import type { LoadedModel } from '../load-model.js';
import { SHIPPED_MANIFEST_DIR } from '../manifest.js';
import { applyHead, assertHeadFitsModel, parseHead, type Head, type HeadOrigin, type LoadedHead } from './head-file.js';
import type { HeadIdentity } from './head-identity.js';

export type { HeadIdentity } from './head-identity.js';

/** Class names a headed model gives its head's labels: `head:gunshot`. */
export const HEAD_CLASS_PREFIX = 'head:';

/** The folder of shipped heads that `model.head: auto` picks from (models/heads/). */
export const SHIPPED_HEAD_DIR = join(SHIPPED_MANIFEST_DIR, 'heads');

/** The largest head file a node takes (a logistic head on YAMNet is ≈ 60 kB; an MLP a few MB). */
export const MAX_HEAD_BYTES = 8 * 1024 * 1024;

/**
 * What the API's head routes call (implemented by the daemon, src/service/head-deploy.ts).
 * Every method resolves or rejects with an EarshotError whose message is one line.
 */
export interface HeadControl {
  /** The head in use, or null. */
  current(): HeadIdentity | null;
  /** The head a rollback would restore (null = none: rolling back turns the head off). */
  previous(): HeadIdentity | null | undefined;
  /**
   * Validates a head file's text against the running model (in a child process), stores it, and
   * swaps it in between two patches.
   * @throws EarshotError exit 2 (a 4xx) when the file is not a valid head or was trained on another model
   */
  push(text: string): Promise<HeadIdentity>;
  /**
   * Goes back to the head used before the last push or rollback.
   * @throws EarshotError exit 2 when there is nothing to go back to
   */
  rollback(): Promise<HeadIdentity | null>;
}

/** The identity of a head as served in this pipeline. */
export function headIdentity(loaded: LoadedHead, servedLabels: readonly string[]): HeadIdentity {
  const { head } = loaded;
  return { sha256: head.sha256, trained_at: head.trainedAt, clip_count: head.clipCount, labels: servedLabels, origin: loaded.origin };
}

/** The compact form alerts carry: sha256, trained_at, clip_count. */
export function headSummary(identity: HeadIdentity | null): { sha256: string; trained_at: string; clip_count: number } | null {
  return identity ? { sha256: identity.sha256, trained_at: identity.trained_at, clip_count: identity.clip_count } : null;
}

/** The class names of a headed model: the backbone's, then `head:<label>` per head label. */
export function headedClassNames(classNames: readonly string[], head: Head): string[] {
  return [...classNames, ...head.labels.map((l) => `${HEAD_CLASS_PREFIX}${l}`)];
}

/** True when the head reads the embedding (else only the class scores). */
export function headNeedsEmbedding(head: Head): boolean {
  return head.features.some((f) => f.name === 'embedding');
}

/**
 * One patch's outputs of a headed model: the backbone's scores, then the head's probabilities.
 * @throws EarshotError when a backbone output's size differs from what the head reads
 */
export function headedScores(head: Head, scores: Float32Array, embedding: Float32Array | undefined): Float32Array {
  const probabilities = applyHead(head, embedding ?? new Float32Array(0), scores);
  const out = new Float32Array(scores.length + probabilities.length);
  out.set(scores);
  out.set(probabilities, scores.length);
  return out;
}

/**
 * Checks a head can run on a model: same base model (sha256 of the file), and the backbone gives
 * the features it reads, of the sizes it reads them.
 * @param source the head file, for messages
 * @throws EarshotError (exit 2) naming `source` and the problem
 */
export function assertHeadRunsOn(head: Head, model: Pick<LoadedModel, 'sha256' | 'classNames' | 'embeddingLength' | 'path'>, source: string): void {
  assertHeadFitsModel(head, model.sha256, source);
  for (const feature of head.features) {
    const size = feature.name === 'embedding' ? model.embeddingLength : model.classNames.length;
    if (size === undefined) throw new EarshotError(`${source}: head file: reads the embedding, but the model ${model.path} gives none`);
    if (size !== feature.size)
      throw new EarshotError(`${source}: head file: reads ${feature.size} ${feature.name} values, the model ${model.path} gives ${size}`);
  }
}

/**
 * Reads and parses a head file.
 * @param source what messages call it (default: the path; an upload is named as such)
 * @throws EarshotError (exit 2) naming `source`: unreadable, not a valid head
 */
export function readHead(path: string, origin: HeadOrigin, source = path): LoadedHead {
  const text = readHeadText(path, source);
  return { head: parseHead(text, source), text, path, origin };
}

/** A head file's text. @throws EarshotError (exit 2) naming `source` when it cannot be read */
function readHeadText(path: string, source: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read (${code ?? (error as Error).message})`;
    throw new EarshotError(`${source}: head file: ${why}`, ExitCode.BadInput, { cause: error });
  }
}

/** `base_model.sha256` as a head file writes it near its start (head-file.ts), read without parsing the weights. */
const DECLARED_BASE_SHA256 = /"base_model"\s*:\s*\{[^{}]*"sha256"\s*:\s*"([0-9a-fA-F]{64})"/;

/** A shipped head that could not be read (for a warning). */
export interface SkippedHead {
  readonly path: string;
  readonly problem: string;
}

/**
 * The head a `model.head` setting names for a model.
 * - `none`: no head;
 * - `auto`: the shipped head (models/heads/*.json, or `shippedDir`) trained on this model file
 *   (base sha256 = the model's), the most recently trained if several; none when none is;
 * - anything else: a head file path (relative to `baseDir`), which must fit the model.
 * @returns the head (null for none) and the shipped files `auto` had to skip (unreadable, or invalid
 *   without declaring another base model: one that does is passed over unparsed)
 * @throws EarshotError (exit 2) naming the file when an explicit head cannot be read, is invalid,
 *   or does not fit the model
 */
export function resolveHeadSetting(
  setting: string | undefined,
  model: Pick<LoadedModel, 'sha256' | 'classNames' | 'embeddingLength' | 'path'>,
  options: { baseDir?: string; shippedDir?: string } = {},
): { head: LoadedHead | null; skipped: SkippedHead[] } {
  const value = setting ?? 'auto';
  if (value === 'none') return { head: null, skipped: [] };
  if (value !== 'auto') {
    const loaded = readHead(resolve(options.baseDir ?? process.cwd(), value), 'config');
    assertHeadRunsOn(loaded.head, model, loaded.path);
    return { head: loaded, skipped: [] };
  }
  const dir = options.shippedDir ?? SHIPPED_HEAD_DIR;
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    return { head: null, skipped: [] };
  }
  const skipped: SkippedHead[] = [];
  let best: LoadedHead | null = null;
  for (const file of files) {
    const path = join(dir, file);
    try {
      const text = readHeadText(path, path);
      // A head declaring another base model is passed over before its weights are parsed and
      // validated: that is most of what `auto` costs at start-up (≈ 30 ms for the shipped head).
      const declared = DECLARED_BASE_SHA256.exec(text.slice(0, 4096))?.[1];
      if (declared !== undefined && declared.toLowerCase() !== model.sha256.toLowerCase()) continue;
      const loaded: LoadedHead = { head: parseHead(text, path), text, path, origin: 'auto' };
      if (loaded.head.baseModelSha256 !== model.sha256.toLowerCase()) continue;
      assertHeadRunsOn(loaded.head, model, path);
      if (!best || loaded.head.trainedAt > best.head.trainedAt) best = loaded;
    } catch (error) {
      if (!(error instanceof EarshotError)) throw error;
      skipped.push({ path, problem: error.message });
    }
  }
  return { head: best, skipped };
}

/**
 * A model with a head, run in this thread: classify() gives the backbone's scores and then the
 * head's probabilities ({@link headedScores}); everything else is the backbone's.
 * @throws EarshotError when the head does not run on the model ({@link assertHeadRunsOn})
 */
export function localHeadedModel(base: LoadedModel, loaded: LoadedHead): LoadedModel {
  const { head } = loaded;
  assertHeadRunsOn(head, base, loaded.path);
  const withEmbedding = headNeedsEmbedding(head) ? base.classifyWithEmbedding?.bind(base) : undefined;
  const classify = async (modelInput: Float32Array): Promise<Float32Array> => {
    if (withEmbedding) {
      const { scores, embedding } = await withEmbedding(modelInput);
      return headedScores(head, scores, embedding);
    }
    return headedScores(head, await base.classify(modelInput), undefined);
  };
  return headedView(base, loaded, classify);
}

/**
 * A LoadedModel that is `base` with a head: the backbone's facts, the headed class names, and
 * the given classify. Closing it closes the backbone.
 */
export function headedView(base: LoadedModel, loaded: LoadedHead, classify: (modelInput: Float32Array) => Promise<Float32Array>): LoadedModel {
  const view: LoadedModel & { readonly stats?: unknown } = {
    path: base.path,
    sha256: base.sha256,
    manifest: base.manifest,
    ...(base.format ? { format: base.format } : {}),
    info: base.info,
    backend: base.backend,
    ...(base.accelerator ? { accelerator: base.accelerator } : {}),
    ...(base.warnings ? { warnings: base.warnings } : {}),
    ...(base.embeddingLength ? { embeddingLength: base.embeddingLength } : {}),
    classNames: headedClassNames(base.classNames, loaded.head),
    input: base.input,
    classify,
    head: loaded,
    backbone: base,
    close: () => base.close(),
  };
  // A worker's counters (restarts) stay readable through the view (the scheduler reads them).
  if ('stats' in base) Object.defineProperty(view, 'stats', { get: () => (base as { stats: unknown }).stats, enumerable: false });
  return view;
}

/**
 * `model` with `loaded` as its head (null: without a head): in its inference worker when it runs
 * in one (the worker parses and checks the head again), else in this thread.
 * @throws EarshotError when the head does not run on the model
 */
export async function attachHead(model: LoadedModel, loaded: LoadedHead | null): Promise<LoadedModel> {
  const base = model.backbone ?? model;
  if (!loaded) return base;
  if (base.withHead) return base.withHead(loaded);
  return localHeadedModel(base, loaded);
}
