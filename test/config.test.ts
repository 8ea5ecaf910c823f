import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig, loadConfigFile, parseConfig } from '../src/config/load.js';

t.test('an empty config gives every default', async (t) => {
  const config = defaultConfig('/srv');
  t.equal(config.source.pacing, 'realtime');
  t.equal(config.frontend.hop_frames, 48);
  t.equal(config.ring_buffer_seconds, 30);
  t.equal(config.model.backend, 'litert-wasm', 'the faster backend here (docs/benchmarks.md)');
  t.equal(config.data_dir, '/srv/earshot-data');
  t.equal(config.detection.labels.gunshot.group, 'hostile');
  t.equal(config.mqtt.topic_prefix, 'earshot');
  t.equal(config.mqtt.url, undefined, 'no broker unless configured');
});

t.test('relative paths resolve against the config file folder', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-config-'));
  const file = join(dir, 'earshot.yaml');
  writeFileSync(file, 'source:\n  path: scene.wav\nmodel:\n  path: models/yamnet.tflite\n');
  const config = loadConfigFile(file);
  t.equal(config.source.path, join(dir, 'scene.wav'));
  t.equal(config.model.path, join(dir, 'models/yamnet.tflite'));
});

t.test('errors name the file, the key and the problem', async (t) => {
  t.throws(() => parseConfig({ detection: { labels: { gunshot: { threshold: 1.5 } } } }, 'e.yaml', '/'), {
    message: /e\.yaml: detection\.labels\.gunshot\.threshold: must be <= 1/,
  });
  t.throws(() => parseConfig({ detction: {} }, 'e.yaml', '/'), { message: /e\.yaml: detction: unknown key/ });
  t.throws(() => parseConfig({ source: { pacing: 'slow' } }, 'e.yaml', '/'), { message: /e\.yaml: source\.pacing: must be one of "realtime", "fast"/ });
  t.throws(() => parseConfig({ detection: { vote_k: 3, vote_n: 2 } }, 'e.yaml', '/'), { message: /detection\.vote_k: must be <= detection\.vote_n/ });
  t.throws(() => parseConfig({ detection: { labels: { gunshot: { threshold: 0.3, release: 0.5 } } } }, 'e.yaml', '/'), {
    message: /gunshot\.release: must be <= its threshold/,
  });
  t.throws(() => parseConfig({ detection: { labels: { thunder: { threshold: 0.3 } } } }, 'e.yaml', '/'), {
    message: /detection\.labels\.thunder\.group: required/,
  });
  t.throws(() => parseConfig([1, 2], 'e.yaml', '/'), { message: /e\.yaml: the configuration must be a YAML mapping/ });
});

t.test('a label override keeps the defaults it does not touch', async (t) => {
  const config = parseConfig({ detection: { labels: { scream: { threshold: 0.8 } } } }, 'e.yaml', '/');
  t.equal(config.detection.labels.scream.threshold, 0.8);
  t.equal(config.detection.labels.scream.group, 'hostile');
  t.equal(config.detection.labels.gunshot.threshold, defaultConfig().detection.labels.gunshot.threshold);
});

t.test('unreadable and non-YAML files are named', async (t) => {
  t.throws(() => loadConfigFile('/nonexistent/earshot.yaml'), { message: /\/nonexistent\/earshot\.yaml: cannot read the config file \(not found\)/ });
  const dir = mkdtempSync(join(tmpdir(), 'earshot-config-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'source: [unclosed\n');
  t.throws(() => loadConfigFile(file), { message: /bad\.yaml: not valid YAML/ });
});

t.test('every shipped config (config/*.yaml) is valid, and the models it names exist', async (t) => {
  const dir = fileURLToPath(new URL('../config/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  t.ok(files.includes('tuned-yamnet.yaml') && files.includes('tuned-yamnet-st.yaml'), `presets shipped: ${files.join(', ')}`);
  for (const file of files) {
    const config = loadConfigFile(`${dir}${file}`);
    for (const path of [config.model.path, ...config.extra_models.map((m) => m.path)]) {
      if (path) t.ok(existsSync(path), `${file}: ${path} exists`);
    }
  }
});
