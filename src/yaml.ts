/**
 * The `yaml` package, loaded on first use. It is about 70 modules: the inference worker and the
 * CLI's config loading import this instead of `yaml`, so that neither pays for them at start-up
 * before a YAML file is actually read (issue 23: `analyze` without --config reads none on the
 * main thread).
 *
 * The shipped model manifests (`models/**\/*.yaml`) are parsed once, by the build
 * (scripts/build-parsed-yaml.mjs), into `dist/parsed-yaml.json`, keyed by the sha256 of their
 * text: {@link parseYaml} of a text found there is a JSON parse, so the inference worker, which
 * reads every shipped manifest to find its model's, loads no YAML parser at all (about 70 ms of
 * its start). An edited file has another hash and is parsed as YAML; under the TypeScript
 * sources (tests) the file is absent and everything is parsed as YAML.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let loaded: typeof Yaml | undefined;

/** The `yaml` module (its CommonJS build, through require: synchronous, like the callers). */
export function yaml(): typeof Yaml {
  loaded ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return loaded;
}

/** Where the build writes the shipped YAML files, parsed (beside this module in dist/). */
export const PARSED_YAML_URL = new URL('./parsed-yaml.json', import.meta.url);

/** sha256 of a YAML text (hex) → its parsed value; null when the build wrote none. */
let parsedByHash: Record<string, unknown> | null | undefined;

/** The sha256 (hex) of a YAML text, the key of {@link PARSED_YAML_URL}'s entries. */
export function yamlTextSha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Parses one YAML document (`yaml().parse(text)`): from the build's parsed copy when the text is
 * a shipped file's, unchanged (a fresh copy each call: validators fill in defaults).
 * @throws what `yaml().parse` throws for text that is not YAML
 */
export function parseYaml(text: string): unknown {
  if (parsedByHash === undefined) {
    try {
      parsedByHash = JSON.parse(readFileSync(PARSED_YAML_URL, 'utf8')) as Record<string, unknown>;
    } catch {
      parsedByHash = null;
    }
  }
  const hash = parsedByHash ? yamlTextSha256(text) : '';
  if (parsedByHash && Object.hasOwn(parsedByHash, hash)) return structuredClone(parsedByHash[hash]);
  return yaml().parse(text);
}
