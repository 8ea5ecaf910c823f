#!/usr/bin/env node
/**
 * Build step (after tsc): parses the shipped model manifests (`models/**\/*.yaml`) once and writes
 * them to `dist/parsed-yaml.json`, keyed by the sha256 of each file's text, for src/yaml.ts's
 * parseYaml(): the inference worker then reads its manifests without loading the YAML parser
 * (issue 23, start-up). A file whose value does not survive JSON unchanged (dates, say) is left
 * out, and parsed as YAML at run time.
 *
 * Usage: node scripts/build-parsed-yaml.mjs   (part of `npm run build`)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import YAML from 'yaml';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const { yamlTextSha256, PARSED_YAML_URL } = await import(pathToFileURL(join(REPO, 'dist/yaml.js')).href);

const parsed = {};
const files = readdirSync(join(REPO, 'models'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
  .sort();
for (const file of files) {
  const text = readFileSync(join(REPO, 'models', file), 'utf8');
  const value = YAML.parse(text);
  if (!isDeepStrictEqual(JSON.parse(JSON.stringify(value)), value)) {
    console.error(`build-parsed-yaml: models/${file} does not survive JSON unchanged; left to the YAML parser`);
    continue;
  }
  parsed[yamlTextSha256(text)] = value;
}
writeFileSync(PARSED_YAML_URL, `${JSON.stringify(parsed)}\n`);
