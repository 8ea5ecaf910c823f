/**
 * Each setting stated once (issue 25): the schema (src/config/schema.ts) is the source of the docs
 * table, of the reload classification and of the validator the build precompiles; these tests fail
 * when one of them drifts from it. The docs and dist checks read dist/ (`npm run build` first, as
 * `npm test` does).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { configKeySchema, type SchemaNode } from '../src/config/keys.js';
import { ConfigSchema } from '../src/config/schema.js';
import { isLiveKey } from '../src/service/reload.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Every key of the schema as a dotted path (`detection.labels.<label>.threshold`, `extra_models[].path`), with its schema. */
function keys(node: SchemaNode, prefix = ''): [string, SchemaNode][] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]): [string, SchemaNode][] => {
    const key = `${prefix}${name}`;
    if (child.properties) return keys(child, `${key}.`);
    const entries = child.items?.properties ? keys(child.items, `${key}[].`) : [];
    const free =
      typeof child.additionalProperties === 'object' && child.additionalProperties.properties ? keys(child.additionalProperties, `${key}.<label>.`) : [];
    return [[key, child], ...entries, ...free];
  });
}
const KEYS = keys(ConfigSchema as unknown as SchemaNode);
const ALL_KEYS = KEYS.map(([key]) => key);

t.test('docs/configuration.md holds the keys table the schema generates', async (t) => {
  const check = spawnSync(process.execPath, ['scripts/gen-config-docs.mjs', '--check'], { cwd: REPO, encoding: 'utf8' });
  t.equal(check.status, 0, `${check.stdout}${check.stderr}`);
});

t.test('every key has a description', async (t) => {
  t.ok(KEYS.length > 100, `${KEYS.length} keys`);
  for (const [key, node] of KEYS) t.ok(node.description, `${key}: described`);
  t.equal(configKeySchema('detection.labels.gunshot.threshold')?.maximum, 1, 'a label key is found through the labels mapping');
});

t.test('config/example.yaml states every key, set or commented out', async (t) => {
  const example = readFileSync(join(REPO, 'config/example.yaml'), 'utf8');
  // By the key's own name (`threshold:`), in block or flow style: example.yaml is for people, not parsed here.
  const missing = ALL_KEYS.filter((key) => !new RegExp(`(^|[\\s{,#-])${key.split('.').at(-1)!.replace('[]', '')}:`, 'm').test(example));
  t.same(missing, [], 'add them to config/example.yaml');
});

t.test('a reload applies exactly the keys the schema marks live', async (t) => {
  const live = ALL_KEYS.filter((key) => !key.includes('[]') && isLiveKey(key.replace('<label>', 'gunshot')));
  t.same(live, ['log_level', 'model.path', 'model.manifest', 'model.head', 'detection.labels.<label>.threshold', 'detection.labels.<label>.release']);
  t.ok(isLiveKey('detection.labels.my_new_label.threshold'), 'a label not in the default table too');
  t.notOk(isLiveKey('detection.labels.Bad-Name.threshold'), 'not a label name');
  t.notOk(isLiveKey('detection.labels.gunshot.threshold.x') || isLiveKey('(top level)') || isLiveKey('model'), 'not a key');
});

t.test('the validator the build precompiled (dist/) was compiled from this schema and reads files the same way', async (t) => {
  const generated = (await import('../dist/config/validate-config.js' as string)) as { SCHEMA_SHA256: string };
  t.equal(
    generated.SCHEMA_SHA256,
    createHash('sha256').update(JSON.stringify(ConfigSchema)).digest('hex'),
    'npm run build regenerates dist/config/validate-config.js',
  );
  const built = (await import('../dist/config/load.js' as string)) as { parseConfig: typeof parseConfig };
  const outcome = (parse: typeof parseConfig, raw: unknown) => {
    try {
      return parse(raw, 'e.yaml', '/base');
    } catch (error) {
      return (error as Error).message;
    }
  };
  const documents = [
    {},
    { detection: { labels: { gunshot: { threshold: 1.5 }, Bad: {} } }, detction: 1, source: { pacing: 'slow', rate: 'x' } },
    { mqtt: { tls: { verify: false }, qos: 3 }, api: { token: 'short' }, model: { execution_providers: ['cpu', 'cpu'] } },
    { extra_models: [{ path: 'm.tflite', weight: 0 }], microphone_health: { clip_level: 0 } },
  ];
  for (const raw of documents) t.same(outcome(built.parseConfig, raw), outcome(parseConfig, raw), JSON.stringify(raw));
});
