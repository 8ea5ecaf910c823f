#!/usr/bin/env node
/**
 * Writes docs/configuration.md's keys table from the config schema (src/config/schema.ts, built to
 * dist/config/schema.js): one row per key with its default, whether a SIGHUP reload applies it,
 * and its description. Only the lines between the two marker comments change; the prose around
 * them is hand-written.
 *
 * Usage: npm run build && node scripts/gen-config-docs.mjs [--check]
 *   --check  write nothing; exit 1 naming the first differing line when the docs are not what the
 *            schema generates (test/config-schema.test.ts runs this)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOC = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const START = '<!-- config-keys:start: generated from src/config/schema.ts by `node scripts/gen-config-docs.mjs`; edit the schema, not this table -->';
const END = '<!-- config-keys:end -->';

/** `2147483648` → `2 GiB` for byte counts that are whole KiB/MiB/GiB. */
function bytes(value) {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]]) {
    if (value >= size && value % size === 0) return `${value / size} ${unit}`;
  }
  return undefined;
}

/** A default as YAML would write it, in backticks. */
function formatDefault(key, value) {
  const yaml = (v) => (Array.isArray(v) ? `[${v.map(yaml).join(', ')}]` : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const human = typeof value === 'number' && key.endsWith('_bytes') ? bytes(value) : undefined;
  return `\`${yaml(value)}\`${human ? ` (${human})` : ''}`;
}

const cell = (text) => String(text).replaceAll('|', '\\|');

/**
 * Rows for every key under `schema`, in the schema's order: sections (objects with properties) are
 * walked, a list of objects gets a row and rows for its entries' keys (`key[].sub`), a mapping of
 * free-form names gets a row and rows for its entries' keys (`key.<label>.sub`).
 */
function rows(schema, prefix = '') {
  const out = [];
  for (const [name, node] of Object.entries(schema.properties ?? {})) {
    const key = `${prefix}${name}`;
    if (node.properties) {
      out.push(...rows(node, `${key}.`));
      continue;
    }
    out.push(row(key, node));
    if (node.items?.properties) out.push(...rows(node.items, `${key}[].`));
    if (typeof node.additionalProperties === 'object' && node.additionalProperties.properties) out.push(...rows(node.additionalProperties, `${key}.<label>.`));
  }
  return out;
}

function row(key, node) {
  if (!node.description) throw new Error(`${key}: the schema gives no description`);
  const fallback = node['x-default'] ?? (node.default === undefined ? 'none' : formatDefault(key, node.default));
  return `| \`${key}\` | ${cell(fallback)} | ${node['x-live'] ? 'live' : 'restart'} | ${cell(node.description)} |`;
}

/** The table between the markers, markers included. */
export function keysTable(schema) {
  return [START, '| key | default | on SIGHUP | meaning |', '|---|---|---|---|', ...rows(schema), END].join('\n');
}

/** The docs text with its table replaced by `table`. */
export function withTable(doc, table) {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${DOC}: the marker comments are missing (${START} … ${END})`);
  return doc.slice(0, start) + table + doc.slice(end + END.length);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ConfigSchema } = await import(new URL('../dist/config/schema.js', import.meta.url).href);
  const doc = readFileSync(DOC, 'utf8');
  const wanted = withTable(doc, keysTable(ConfigSchema));
  if (process.argv.includes('--check')) {
    if (wanted !== doc) {
      const have = doc.split('\n');
      const line = wanted.split('\n').findIndex((text, i) => text !== have[i]);
      console.error(`${DOC}:${line + 1}: the keys table differs from the schema (src/config/schema.ts); run: npm run build && node scripts/gen-config-docs.mjs\n  docs:   ${have[line]}\n  schema: ${wanted.split('\n')[line]}`);
      process.exit(1);
    }
    console.log(`${DOC}: the keys table matches the schema`);
  } else {
    writeFileSync(DOC, wanted);
    console.log(`${DOC}: keys table written (${rows(ConfigSchema).length} keys)`);
  }
}
