/**
 * One wording for JSON Schema (ajv) errors, wherever earshot validates a document: the config
 * file (src/config/), model manifests and refusals (src/inference/manifest.ts), head files
 * (src/inference/head/head-file.ts) and API request bodies (src/api/hardening.ts). Each error
 * becomes one line `key.path: problem`, e.g. `detection.labels.gunshot.threshold: must be <= 1`,
 * `detction: unknown key`, `source.pacing: must be one of "realtime", "fast"`.
 */
import type { ErrorObject } from 'ajv';

/** The dotted key an ajv `instancePath` points at (`/detection/labels/gunshot` → `detection.labels.gunshot`; the root → ''). */
export function schemaKeyPath(instancePath: string): string {
  return instancePath.replace(/^\//, '').replaceAll('/', '.');
}

/**
 * One ajv error as `key.path: problem`.
 * @param error an error from a validate function's `errors`
 * @param root how the document itself is named when the error is about the root (a config file:
 *   `(top level)`; a request body: `body`, which then also prefixes every key)
 * @returns the line, without the file name
 */
export function describeSchemaError(error: ErrorObject, root = '(top level)'): string {
  const path = schemaKeyPath(error.instancePath);
  const inDocument = root === '(top level)' ? path : path ? `${root}.${path}` : root;
  const key = inDocument || root;
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return `${inDocument ? `${inDocument}.` : ''}${extra}: unknown key`;
    }
    case 'enum':
      return `${key}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${key}: must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'propertyNames':
      // Every `propertyNames` in earshot's schemas constrains label names (config labels, manifest class maps).
      return `${key}: label names must be lower_snake_case`;
    default:
      return `${key}: ${error.message ?? 'invalid'}`;
  }
}

/**
 * Every error of one validation, one line each (`SOURCE: key.path: problem`), duplicates dropped.
 * @param errors a validate function's `errors` (null/undefined: none)
 * @param source the file name (or URL) each line starts with
 * @param keep errors to report (default: all); e.g. drop ajv's `if` errors, which repeat their `then` branch's
 */
export function describeSchemaErrors(
  errors: readonly ErrorObject[] | null | undefined,
  source: string,
  keep: (error: ErrorObject) => boolean = () => true,
): string {
  const lines = (errors ?? []).filter(keep).map((error) => `${source}: ${describeSchemaError(error)}`);
  return [...new Set(lines)].join('\n');
}
