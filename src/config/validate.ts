/**
 * The config validator: the standalone module the build generated (dist/config/validate-config.js,
 * scripts/build-validators.mjs), else the schema compiled now (src/schema-validator.ts). Loading the
 * generated module imports neither ajv's compiler nor TypeBox: what config validation cost a CLI
 * start (issue 23). test/config-schema.test.ts checks that the built one was compiled from the
 * current schema.
 */
import { precompiledValidator, type Validator } from '../schema-validator.js';

/** Validates a parsed config document in place: fills every default; `validateConfig.errors` says why it fails. */
export const validateConfig: Validator = await precompiledValidator(
  new URL('./validate-config.js', import.meta.url),
  async () => (await import('./compile.js')).CONFIG_VALIDATOR,
);
