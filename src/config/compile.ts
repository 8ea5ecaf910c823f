/**
 * What the config validator is compiled from: the schema and ajv's options. Used at build time
 * (scripts/build-validators.mjs writes dist/config/validate-config.js) and at run time only when
 * that module is missing (tests run from src/): src/config/validate.ts.
 */
import type { ValidatorSpec } from '../schema-validator.js';
import { ConfigSchema } from './schema.js';
import { ANNOTATION_KEYWORDS } from './schema-kit.js';

/**
 * The config's schema with ajv's options: every problem at once (`allErrors`), defaults filled in
 * (`useDefaults`), unknown keywords refused (`strict`) except earshot's annotations (`x-live`,
 * `x-default`: they validate nothing).
 */
export const CONFIG_VALIDATOR: ValidatorSpec = {
  schema: ConfigSchema,
  options: { allErrors: true, useDefaults: true, strict: true, keywords: [...ANNOTATION_KEYWORDS] },
};
