/**
 * Config keys as dotted paths (`detection.labels.gunshot.threshold`) looked up in the schema, so
 * what the schema says about a key (its `x-live` flag, its description) is read in one place.
 */
import { ConfigSchema } from './schema.js';

/** A JSON Schema node as the config schema writes them (objects, arrays, leaves). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  propertyNames?: { pattern?: string };
  items?: SchemaNode;
  default?: unknown;
  description?: string;
  'x-live'?: boolean;
  'x-default'?: string;
  [keyword: string]: unknown;
}

/**
 * The schema of one key: `properties` by name; a mapping's free-form keys (`detection.labels.<label>`)
 * through `additionalProperties` when the name passes its `propertyNames` pattern.
 * @param key a dotted path, e.g. `detection.labels.gunshot.threshold` or `log_level`
 * @returns undefined when the schema has no such key
 */
export function configKeySchema(key: string, root: SchemaNode = ConfigSchema as unknown as SchemaNode): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const name of key.split('.')) {
    if (!node) return undefined;
    const named: SchemaNode | undefined = node.properties && Object.hasOwn(node.properties, name) ? node.properties[name] : undefined;
    if (named) {
      node = named;
      continue;
    }
    const pattern: string | undefined = node.propertyNames?.pattern;
    const free: SchemaNode | undefined = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
    node = free && (!pattern || new RegExp(pattern, 'u').test(name)) ? free : undefined;
  }
  return node;
}

/** True for a key the schema marks `x-live`: a SIGHUP reload applies it without a restart. */
export function isLiveConfigKey(key: string): boolean {
  return configKeySchema(key)?.['x-live'] === true;
}
