/**
 * JSON Schema validators that the build precompiles: `npm run build` runs
 * scripts/build-validators.mjs, which compiles each schema with ajv and writes the validator as a
 * standalone ES module next to the module that uses it (e.g. dist/config/validate-config.js).
 * Loading that imports neither ajv's compiler (~0.1–0.2 s of CPU per schema) nor the schema's
 * builder; without it (tests run from src/) the schema is compiled at load, with the same options.
 * ajv standalone code: https://ajv.js.org/standalone.html
 */
import { existsSync } from 'node:fs';
import type { ErrorObject, Options } from 'ajv';

/** What a validator is compiled from: the schema and ajv's options (the build and the fallback use both). */
export interface ValidatorSpec {
  schema: object;
  options: Options;
}

/** An ajv validate function: true when `data` is valid (with `useDefaults`, defaults are then filled in); else `errors`. */
export interface Validator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/**
 * The generated validator at `generated` when the build wrote it, else `spec()` compiled now.
 * @param generated the standalone module's URL, `new URL('./validate-x.js', import.meta.url)`
 * @param spec the schema and options (a function: loading the schema may cost what the generated module saves)
 */
export async function precompiledValidator(generated: URL, spec: () => ValidatorSpec | Promise<ValidatorSpec>): Promise<Validator> {
  if (existsSync(generated)) return ((await import(generated.href)) as { validate: Validator }).validate;
  const [{ Ajv }, { schema, options }] = await Promise.all([import('ajv'), spec()]);
  return new Ajv(options).compile(schema);
}
