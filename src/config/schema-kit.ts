/**
 * Helpers for writing earshot's settings schemas with TypeBox (https://github.com/sinclairzx81/typebox)
 * so that each key is stated once: its JSON Schema (what ajv validates and defaults), its
 * TypeScript type (`Static<typeof Schema>`), its description and default (docs/configuration.md's
 * table is generated from them, scripts/gen-config-docs.mjs) and whether a reload applies it live.
 *
 * Custom annotation keywords (registered with ajv in src/config/compile.ts; they validate nothing):
 * - `x-live: true` — a SIGHUP reload applies the key at once (src/service/reload.ts); every other
 *   key needs a restart (like zigbee2mqtt's `requiresRestart`, inverted: most of earshot's keys need one).
 * - `x-default: '...'` — the default as the docs state it, for keys whose default is computed while
 *   parsing (the host name, a path) or lies elsewhere (the label table), not filled in by ajv.
 */
import { Type, type SchemaOptions, type TSchema, type TUnsafe } from '@sinclair/typebox';

/** Annotations earshot adds to a key's schema. */
export interface KeyAnnotations {
  /** What the key does, for the docs table (Markdown; `|` is escaped by the generator). */
  description?: string;
  /** A SIGHUP reload applies this key without a restart. */
  'x-live'?: true;
  /** The default as documented when ajv does not fill one in (computed while parsing). */
  'x-default'?: string;
}

/** The annotation keywords earshot's schemas use besides JSON Schema's own. */
export const ANNOTATION_KEYWORDS = ['x-live', 'x-default'] as const;

/**
 * A key the file may leave out because ajv fills in its `default`: optional in the JSON Schema (not
 * listed in its object's `required`), yet present in the type derived from it (`Static`), which
 * describes the configuration after defaults. The schema must carry a `default`.
 */
export function withDefault<T extends TSchema>(schema: T): T {
  if (schema.default === undefined) throw new Error(`withDefault: the schema has no default: ${JSON.stringify(schema)}`);
  return Type.Optional(schema) as unknown as T;
}

/**
 * `{ enum: values }`, typed as the union of the values (TypeBox's `Union` of literals would be
 * `anyOf` of `const`s, and its errors would not list the choices).
 */
export function OneOf<const V extends readonly (string | number)[]>(values: V, options: SchemaOptions & KeyAnnotations = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ enum: [...values], ...options });
}
