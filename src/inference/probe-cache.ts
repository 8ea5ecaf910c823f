/**
 * Remembers successful model probes (probe.ts), so a model already test-loaded is not test-loaded
 * again at every start: the probe (a child process that loads a runtime and the model and runs
 * one invoke) is most of `earshot analyze`'s start-up on a short clip.
 *
 * A result is kept under a key made of everything that decides the verdict: the model file's
 * sha256 (its content, not its name), the backend, the runtime package's version, Node's version
 * and architecture, earshot's version, and the probe options (threads, input length, delegate
 * library with its size and modification time, execution providers, require_accelerator). A
 * changed file has another sha256, so another key; a file that changes while it is probed is not
 * cached (its size and modification time are compared before and after). Failures are never
 * cached: a bad model is test-loaded (and refused) every time.
 *
 * Where: `$EARSHOT_CACHE_DIR/probe/`, else `$CACHE_DIRECTORY/probe/` (systemd's CacheDirectory=),
 * else `$XDG_CACHE_HOME/earshot/probe/`, else `~/.cache/earshot/probe/`; one small JSON file per
 * key, written atomically. A cache that cannot be read or written is simply not used.
 * `EARSHOT_PROBE_CACHE=off` turns it off.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BackendKind } from './backends/backend.js';
import { sha256File } from './model-store.js';
import type { ProbeOptions, ProbeResult } from './probe-types.js';

/** Bumped when what a probe checks changes, so older entries are not trusted. */
const CACHE_FORMAT = 1;

const RUNTIME_PACKAGE: Record<BackendKind, string> = {
  'tflite-node': 'tfjs-tflite-node',
  'litert-wasm': '@litertjs/core',
  onnx: 'onnxruntime-node',
};

const require = createRequire(import.meta.url);
const versions = new Map<string, string>();

/** The installed version of `pkg` (its package.json), or `unknown`. */
function packageVersion(pkg: string): string {
  let version = versions.get(pkg);
  if (version === undefined) {
    try {
      version = (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
    versions.set(pkg, version);
  }
  return version;
}

/** earshot's own version (src/ and dist/ are both two levels below package.json). */
function earshotVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The probe cache folder (see the module comment), or null when the cache is off. */
export function probeCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.EARSHOT_PROBE_CACHE === 'off' || env.EARSHOT_PROBE_CACHE === '0') return null;
  if (env.EARSHOT_CACHE_DIR) return join(env.EARSHOT_CACHE_DIR, 'probe');
  if (env.CACHE_DIRECTORY) return join(env.CACHE_DIRECTORY.split(':')[0], 'probe');
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'earshot', 'probe');
  try {
    return join(homedir(), '.cache', 'earshot', 'probe');
  } catch {
    return null;
  }
}

/** Size, modification time and inode of a file: compared before and after a probe. */
function signature(path: string): string | null {
  try {
    const s = statSync(path);
    return `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return null;
  }
}

/** A probe about to run, with what its result would be cached under. */
export interface ProbeCacheEntry {
  /** The cache file, or null when nothing can be cached (cache off, unreadable file). */
  readonly file: string | null;
  /** The key's fields, stored beside the result and compared on read. */
  readonly key: Record<string, unknown>;
  readonly signature: string | null;
}

/** Builds the key of a probe of `path` with `backend` and `options`. */
export async function probeCacheEntry(path: string, backend: BackendKind, options: ProbeOptions): Promise<ProbeCacheEntry> {
  const dir = probeCacheDir();
  const before = signature(path);
  if (!dir || !before) return { file: null, key: {}, signature: before };
  let sha256: string;
  try {
    sha256 = options.sha256 ?? (await sha256File(path));
  } catch {
    return { file: null, key: {}, signature: before };
  }
  const key = {
    format: CACHE_FORMAT,
    sha256,
    backend,
    runtime: `${RUNTIME_PACKAGE[backend]}@${packageVersion(RUNTIME_PACKAGE[backend])}`,
    node: `${process.version} ${process.platform}-${process.arch}`,
    earshot: earshotVersion(),
    threads: options.threads ?? null,
    inputLength: options.inputLength ?? null,
    delegate: options.delegatePath ? { path: options.delegatePath, file: signature(options.delegatePath) } : null,
    delegateOptions: options.delegateOptions ?? null,
    executionProviders: options.executionProviders ?? null,
    requireAccelerator: options.requireAccelerator ?? null,
  };
  const name = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 40);
  return { file: join(dir, `${name}.json`), key, signature: before };
}

/** The cached result of `entry`, with `path` as given now; null on a miss. */
export function readProbeCache(entry: ProbeCacheEntry, path: string): ProbeResult | null {
  if (!entry.file) return null;
  try {
    const stored = JSON.parse(readFileSync(entry.file, 'utf8')) as { key: unknown; result: ProbeResult };
    if (JSON.stringify(stored.key) !== JSON.stringify(entry.key) || stored.result?.ok !== true) return null;
    return { ...stored.result, path, cached: true } as ProbeResult;
  } catch {
    return null;
  }
}

/** Stores a successful probe, unless the file changed while it was probed. Never throws. */
export function writeProbeCache(entry: ProbeCacheEntry, path: string, result: ProbeResult): void {
  if (!entry.file || signature(path) !== entry.signature) return;
  try {
    mkdirSync(join(entry.file, '..'), { recursive: true });
    // Per thread as well as per process: `analyze --jobs` opens a model in two workers at once.
    const temporary = `${entry.file}.${process.pid}.${threadId}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ key: entry.key, stored_utc: new Date().toISOString(), result })}\n`);
    renameSync(temporary, entry.file);
  } catch {
    // A read-only home, a full disk: the next start probes again.
  }
}
