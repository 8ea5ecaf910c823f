/**
 * The `yaml` package, loaded on first use. It is about 70 modules: the inference worker and the
 * CLI's config loading import this instead of `yaml`, so that neither pays for them at start-up
 * before a YAML file is actually read (issue 23: `analyze` without --config reads none on the
 * main thread, and the worker reads its manifests while the LiteRT runtime compiles).
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

let loaded: typeof Yaml | undefined;

/** The `yaml` module (its CommonJS build, through require: synchronous, like the callers). */
export function yaml(): typeof Yaml {
  loaded ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return loaded;
}
