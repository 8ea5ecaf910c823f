/**
 * Reading a config file: YAML → one mapping → the schema (src/config/schema.ts, defaults filled in
 * by src/config/validate.ts) → the checks that span keys → absolute paths and the merged label
 * table (src/config/labels.ts). Errors name the file, the key and the problem, e.g.
 * `earshot.yaml: detection.labels.gunshot.threshold: must be <= 1`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Document } from 'yaml';
import { ALL_BACKEND_KINDS } from '../constants.js';
import { EarshotError } from '../errors.js';
import { yaml } from '../yaml.js';
import { describeSchemaErrors } from '../schema-errors.js';
import { mergeLabels } from './labels.js';
import { defaultModelDir } from './model-dir.js';
import type { ConfigFile, EarshotConfig, LabelConfig } from './schema.js';
import { validateConfig } from './validate.js';

/**
 * Validates a parsed YAML document and fills every default.
 * @param raw the parsed document (`undefined`/`null` = empty file = all defaults)
 * @param origin the file name to put in error messages
 * @param baseDir relative paths in the config (data_dir, model.path, source.path) resolve against this
 * @throws EarshotError naming `origin`, the key and the problem (all problems, one per line)
 */
export function parseConfig(raw: unknown, origin: string, baseDir: string): EarshotConfig {
  const doc = raw === undefined || raw === null ? {} : structuredClone(raw);
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new EarshotError(`${origin}: the configuration must be a YAML mapping (key: value), not ${Array.isArray(doc) ? 'a list' : typeof doc}`);
  }
  if (!validateConfig(doc)) {
    throw new EarshotError(describeSchemaErrors(validateConfig.errors, origin));
  }
  const config = doc as ConfigFile;
  const labels = mergeLabels(config.detection.labels ?? {}, origin);
  const detection = { ...config.detection, labels };
  if (detection.vote_k > detection.vote_n) {
    throw new EarshotError(`${origin}: detection.vote_k: must be <= detection.vote_n (${detection.vote_n})`);
  }
  if (config.mqtt.reconnect_min_seconds > config.mqtt.reconnect_max_seconds) {
    throw new EarshotError(`${origin}: mqtt.reconnect_min_seconds: must be <= mqtt.reconnect_max_seconds (${config.mqtt.reconnect_max_seconds})`);
  }
  if (Boolean(config.mqtt.tls.cert_file) !== Boolean(config.mqtt.tls.key_file)) {
    throw new EarshotError(
      `${origin}: mqtt.tls.${config.mqtt.tls.cert_file ? 'key_file' : 'cert_file'}: required with mqtt.tls.${config.mqtt.tls.cert_file ? 'cert_file' : 'key_file'} (a client certificate needs its key)`,
    );
  }
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.api.host);
  if (config.api.enabled && !loopback && !config.api.token && !config.api.token_file) {
    throw new EarshotError(`${origin}: api.token_file: required when api.host is not a loopback address (${config.api.host}): the API serves audio`);
  }
  if (config.clips.background_seconds > config.ring_buffer_seconds) {
    throw new EarshotError(`${origin}: clips.background_seconds: must be <= ring_buffer_seconds (${config.ring_buffer_seconds})`);
  }
  checkExtraModels(config.extra_models, labels, origin);
  if (config.inference.recover_lag_seconds >= config.inference.degrade_lag_seconds) {
    throw new EarshotError(`${origin}: inference.recover_lag_seconds: must be < inference.degrade_lag_seconds (${config.inference.degrade_lag_seconds})`);
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    node_id: config.node_id ?? sanitizeNodeId(hostname()),
    data_dir: abs(config.data_dir ?? 'earshot-data'),
    model_dir: config.model_dir ? abs(config.model_dir) : defaultModelDir(),
    log_level: config.log_level,
    source: { ...config.source, path: config.source.path ? abs(config.source.path) : undefined },
    ring_buffer_seconds: config.ring_buffer_seconds,
    model: {
      ...config.model,
      path: config.model.path ? abs(config.model.path) : undefined,
      ...(config.model.delegate?.includes('/') ? { delegate: abs(config.model.delegate) } : {}),
      ...(config.model.head && config.model.head !== 'auto' && config.model.head !== 'none' ? { head: abs(config.model.head) } : {}),
    },
    extra_models: config.extra_models.map((m) => ({ ...m, path: abs(m.path) })),
    inference: config.inference,
    frontend: config.frontend,
    detection,
    store: config.store,
    clips: config.clips,
    retention: config.retention,
    api: { ...config.api, token_file: config.api.token_file ? abs(config.api.token_file) : undefined },
    mqtt: {
      ...config.mqtt,
      password_file: config.mqtt.password_file ? abs(config.mqtt.password_file) : undefined,
      tls: {
        ...config.mqtt.tls,
        ca_file: config.mqtt.tls.ca_file ? abs(config.mqtt.tls.ca_file) : undefined,
        cert_file: config.mqtt.tls.cert_file ? abs(config.mqtt.tls.cert_file) : undefined,
        key_file: config.mqtt.tls.key_file ? abs(config.mqtt.tls.key_file) : undefined,
      },
    },
    microphone_health: config.microphone_health,
  };
}

/**
 * What the schema cannot say about `extra_models`: backends come from `model.backend`'s list, and
 * listed labels must exist. (Whether a model has a class for a label needs its manifest: checked
 * when the models are opened, src/pipeline/model-set.ts.)
 * @throws EarshotError naming `origin` and the key
 */
function checkExtraModels(extras: EarshotConfig['extra_models'], labels: Record<string, LabelConfig>, origin: string): void {
  const backends: readonly string[] = ALL_BACKEND_KINDS;
  extras.forEach((extra, i) => {
    if (extra.backend !== undefined && !backends.includes(extra.backend)) {
      throw new EarshotError(`${origin}: extra_models[${i}].backend: must be one of ${backends.map((b) => JSON.stringify(b)).join(', ')}`);
    }
    for (const name of extra.labels ?? []) {
      if (!labels[name])
        throw new EarshotError(`${origin}: extra_models[${i}].labels: "${name}" is not a label (detection.labels has ${Object.keys(labels).join(', ')})`);
    }
  });
}

function sanitizeNodeId(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return cleaned || 'earshot';
}

/**
 * Reads and validates a YAML config file; relative paths inside it resolve against its folder.
 * @throws EarshotError when the file is missing, is not YAML, or fails the schema.
 */
export function loadConfigFile(path: string): EarshotConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EarshotError(`${path}: cannot read the config file (${code === 'ENOENT' ? 'not found' : (code ?? String(error))})`);
  }
  return parseConfigText(text, path, dirname(resolve(path)));
}

/** How deep a config may nest (earshot's own keys go 5 deep); deeper is refused before the schema runs. */
const MAX_CONFIG_DEPTH = 32;

/**
 * Parses the text of a config file (see {@link loadConfigFile}): one YAML document, a mapping,
 * not empty, nesting at most {@link MAX_CONFIG_DEPTH} levels; every error is one line naming `path`.
 * @throws EarshotError (exit 2)
 */
export function parseConfigText(text: string, path: string, baseDir: string): EarshotConfig {
  let documents: Document.Parsed[];
  try {
    documents = yaml().parseAllDocuments(text, { prettyErrors: true }) as Document.Parsed[];
  } catch (error) {
    throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(error)}`);
  }
  if (!Array.isArray(documents)) documents = [documents as unknown as Document.Parsed];
  if (documents.length > 1) throw new EarshotError(`${path}: holds ${documents.length} YAML documents (separated by ---); a config file is one document`);
  const document = documents[0];
  if (!document || document.contents === null)
    throw new EarshotError(
      `${path}: the config file is empty (no keys); write the keys you change (see config/example.yaml), or leave out --config for the defaults`,
    );
  const problem = document.errors[0];
  if (problem) throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(problem)}`);
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new EarshotError(`${path}: not valid YAML: ${yamlProblem(error)}`);
  }
  if (nestingDepth(raw, MAX_CONFIG_DEPTH + 1) > MAX_CONFIG_DEPTH)
    throw new EarshotError(`${path}: nests more than ${MAX_CONFIG_DEPTH} levels deep; earshot's keys go 5 deep`);
  return parseConfig(raw, path, baseDir);
}

/** A YAML error as one line: its message without the code frame, with its line and column. */
function yamlProblem(error: unknown): string {
  if (error instanceof RangeError || /Maximum call stack/.test(String((error as Error)?.message))) return 'nests too deeply';
  const e = error as { message?: string; linePos?: { line: number; col: number }[] };
  const message = String(e.message ?? error)
    .split('\n')[0]
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/:$/, '');
  const at = e.linePos?.[0];
  return at ? `${message} (line ${at.line}, column ${at.col})` : message;
}

/** Depth of nested lists and mappings in `value`, counted up to `limit` (no recursion: safe on any input). */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length) {
    const { value: v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest >= limit) return deepest;
    for (const child of Object.values(v as object)) stack.push({ value: child, depth: depth + 1 });
  }
  return deepest;
}

/** All defaults, as if from an empty file; relative paths resolve against `baseDir` (default: cwd). */
export function defaultConfig(baseDir = process.cwd()): EarshotConfig {
  return parseConfig({}, '(defaults)', baseDir);
}
