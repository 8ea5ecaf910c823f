/**
 * The build's parsed copy of the shipped manifests (scripts/build-parsed-yaml.mjs, src/yaml.ts;
 * issue 23: the inference worker starts without the YAML parser): every shipped YAML file is in
 * it, gives what the YAML parser gives, and comes back as a fresh copy; an edited file is not
 * found there and is parsed as YAML.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { REPO } from './helpers/fixtures.js';

// The build's module (dist/), whose parsed copy the build wrote beside it; under src/ there is none.
const built = (await import(join(REPO, 'dist/yaml.js'))) as typeof import('../src/yaml.js');
const parsed = JSON.parse(readFileSync(built.PARSED_YAML_URL, 'utf8')) as Record<string, unknown>;
const shipped = readdirSync(join(REPO, 'models'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

t.test('every shipped manifest is in the parsed copy and parses as the YAML parser does', async (t) => {
  t.ok(shipped.length >= 7, `${shipped.length} shipped YAML files`);
  t.equal(Object.keys(parsed).length, shipped.length, 'one entry each');
  for (const file of shipped) {
    const text = readFileSync(join(REPO, 'models', file), 'utf8');
    t.ok(Object.hasOwn(parsed, built.yamlTextSha256(text)), `${file}: in the parsed copy`);
    t.same(built.parseYaml(text), YAML.parse(text), `${file}: the same value`);
  }
});

t.test('each call gets its own copy; an edited text is parsed as YAML', async (t) => {
  const text = readFileSync(join(REPO, 'models/yamnet.yaml'), 'utf8');
  const first = built.parseYaml(text) as { id: string };
  first.id = 'changed by a caller';
  t.equal((built.parseYaml(text) as { id: string }).id, 'yamnet', 'a caller changing its value does not change the next');
  const edited = text.replace(/^id: yamnet$/m, 'id: yamnet_edited');
  t.not(edited, text, 'the edit took');
  t.notOk(Object.hasOwn(parsed, built.yamlTextSha256(edited)), 'the edited text is not in the copy');
  t.equal((built.parseYaml(edited) as { id: string }).id, 'yamnet_edited', 'and is parsed as YAML');
  t.throws(() => built.parseYaml('id: [unclosed'), 'text that is not YAML still throws');
});
