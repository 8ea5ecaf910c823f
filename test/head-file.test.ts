import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { applyHead, assertHeadFitsModel, float32Text, loadHeadFile, parseHead, serializeHead, type HeadJson } from '../src/inference/head/head-file.js';
import { EarshotError } from '../src/errors.js';

const MODEL_SHA = 'a'.repeat(64);

/** A tiny logistic head: 2 embedding values + 2 scores (logit), labels gunshot / other. */
function tinyHead(): HeadJson {
  return {
    format: 'earshot-head',
    version: 1,
    kind: 'logistic',
    base_model: { sha256: MODEL_SHA, name: 'tiny.tflite' },
    labels: ['gunshot', 'other'],
    background_label: 'other',
    thresholds: { gunshot: { threshold: 0.6, release: 0.3 } },
    features: [
      { name: 'embedding', size: 2, transform: 'none' },
      { name: 'scores', size: 2, transform: 'logit' },
    ],
    normalisation: { mean: [0, 1, 0, 1], std: [1, 1, 2, 2] },
    layers: [
      {
        activation: 'softmax',
        weights: [
          [1, 0, 0, 2],
          [0, 1, 1, 0],
        ],
        bias: [0, -1],
      },
    ],
    training: {
      trained_at: '2026-12-02T07:00:00Z',
      seed: 1,
      clip_count: 3,
      clips_per_label: { gunshot: 2, other: 1 },
      clips_sha256: 'b'.repeat(64),
      window_count: 7,
      windows_per_label: { gunshot: 4, other: 3 },
      options: { l2: 0.001, note: 'tiny' },
      earshot_version: '0.1.0',
    },
    validation: {
      method: 'grouped-kfold',
      folds: 2,
      fa_budget_per_hour: 1,
      labels: { gunshot: { positives: 4, precision: 1, recall: 0.75, fa_per_hour: 0, threshold: 0.6 } },
    },
  };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

t.test('applyHead: logistic head checked by hand', async (t) => {
  const head = parseHead(serializeHead(tinyHead()), 'tiny.json');
  // scores 0.5 → logit 0; sigmoid(2) → logit 2. Raw input [1, 2, 0, 2]; normalised [1, 1, 0, 0.5].
  // z = [1·1 + 2·0.5 + 0, 1·1 + 1·0 − 1] = [2, 0]; softmax = [e²/(e²+1), 1/(e²+1)].
  const p = applyHead(head, Float32Array.of(1, 2), Float32Array.of(0.5, sigmoid(2)));
  t.equal(p.length, 2);
  t.ok(Math.abs(p[0]! - Math.exp(2) / (Math.exp(2) + 1)) < 1e-6, `gunshot ${p[0]}`);
  t.ok(Math.abs(p[1]! - 1 / (Math.exp(2) + 1)) < 1e-6, `other ${p[1]}`);
  // A score of exactly 0 or 1 is clamped, not ±Infinity.
  const q = applyHead(head, Float32Array.of(0, 0), Float32Array.of(0, 1));
  t.ok(q.every(Number.isFinite), 'clamped logit stays finite');
  t.ok(Math.abs(q[0]! + q[1]! - 1) < 1e-6);
  t.throws(() => applyHead(head, Float32Array.of(1, 2, 3), Float32Array.of(0.5, 0.5)), /model gives 3 embedding values, the head reads 2/);
});

t.test('applyHead: MLP head checked by hand', async (t) => {
  const json = tinyHead();
  json.kind = 'mlp';
  json.layers = [
    {
      activation: 'relu',
      weights: [
        [-1, 0, 0, 0],
        [0, 0, 0, 2],
      ],
      bias: [0, 0],
    },
    {
      activation: 'softmax',
      weights: [
        [0, 3],
        [0, 1],
      ],
      bias: [0, 0],
    },
  ];
  const head = parseHead(serializeHead(json), 'mlp.json');
  // normalised [1, 1, 0, 0.5] → hidden [relu(−1), relu(1)] = [0, 1] → z = [3, 1].
  const p = applyHead(head, Float32Array.of(1, 2), Float32Array.of(0.5, sigmoid(2)));
  t.ok(Math.abs(p[0]! - sigmoid(2)) < 1e-6, `gunshot ${p[0]}`);
  t.ok(Math.abs(p[1]! - (1 - sigmoid(2))) < 1e-6);
});

t.test('round trip: serialise → parse → serialise gives the same bytes; sha256 is of the bytes', async (t) => {
  const json = tinyHead();
  json.layers[0]!.weights[0]![1] = 0.1; // not a float32: written as its float32 shortest decimal
  const text = serializeHead(json);
  t.ok(text.startsWith('{\n  "format": "earshot-head",\n  "version": 1,\n  "kind": "logistic"'), 'format and version first');
  t.ok(text.endsWith('}\n'));
  const head = parseHead(text, 'x.json');
  t.equal(serializeHead(head.json), text, 'same bytes');
  t.equal(head.sha256, createHash('sha256').update(text).digest('hex'));
  t.equal(head.labels.join(), 'gunshot,other');
  t.equal(head.baseModelSha256, MODEL_SHA);
  t.equal(head.trainedAt, '2026-12-02T07:00:00Z');
  t.equal(head.clipCount, 3);
  t.same(head.thresholds, { gunshot: { threshold: 0.6, release: 0.3 } });
  t.equal(head.layers[0]!.weights[1], Math.fround(0.1));
  // Key order does not depend on how the object was built.
  const shuffled = JSON.parse(JSON.stringify(json), (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
  );
  t.equal(serializeHead(shuffled), text, 'same bytes from reversed key order');

  const dir = mkdtempSync(join(tmpdir(), 'earshot-head-'));
  writeFileSync(join(dir, 'h.json'), text);
  t.equal(loadHeadFile(join(dir, 'h.json')).sha256, head.sha256);
});

t.test('float32Text: shortest decimal that reads back as the same float32', async (t) => {
  for (const v of [0, 1, -2, 0.1, 1 / 3, -1e-8, 123456.789, 3.4e38]) {
    const text = float32Text(v);
    t.equal(Math.fround(Number(text)), Math.fround(v), `${v} → ${text}`);
  }
  t.equal(float32Text(0.1), '0.1');
  t.equal(float32Text(-0), '0');
  t.throws(() => float32Text(NaN));
});

/** Expects parseHead(text) to throw one EarshotError line naming the file and matching `pattern`. */
function refuses(t: Test, text: string, pattern: RegExp, what: string): void {
  try {
    parseHead(text, 'heads/bad.json');
    t.fail(`${what}: accepted`);
  } catch (error) {
    t.ok(error instanceof EarshotError, `${what}: EarshotError`);
    const message = (error as Error).message;
    t.equal((error as EarshotError).exitCode, 2);
    t.notOk(message.includes('\n'), `${what}: one line`);
    t.ok(message.startsWith('heads/bad.json: head file: '), `${what}: names the file: ${message}`);
    t.match(message, pattern, what);
  }
}

t.test('validation errors: one clear line naming the file', async (t) => {
  const good = serializeHead(tinyHead());
  const edit = (f: (j: HeadJson) => void) => {
    const j = tinyHead();
    f(j);
    return JSON.stringify(j);
  };
  refuses(t, good.slice(0, good.length / 2), /not valid JSON .*truncated/, 'truncated JSON');
  refuses(t, '', /not valid JSON/, 'empty file');
  refuses(t, '[1,2]', /not a JSON object/, 'an array');
  refuses(
    t,
    edit((j) => ((j as { format: string }).format = 'onnx')),
    /"format" is "onnx"/,
    'another format',
  );
  refuses(
    t,
    edit((j) => ((j as { version: number }).version = 2)),
    /version 2 is not supported \(this earshot reads version 1\)/,
    'wrong version',
  );
  refuses(
    t,
    edit((j) => ((j.layers[0]!.weights[0] as unknown[])[2] = null)),
    /layers\.0\.weights\.0\.2: must be number/,
    'null weight',
  );
  refuses(
    t,
    edit((j) => (j.layers[0]!.weights[0]![2] = NaN)),
    /must be number/,
    'NaN weight (JSON.stringify writes null)',
  );
  refuses(t, good.replace('"bias": [0,-1]', '"bias": [0,-1e999]'), /layers\.0\.bias\.1: must be number/, 'infinite bias (1e999)');
  refuses(
    t,
    edit((j) => j.layers[0]!.weights[1]!.pop()),
    /layers\[0\]\.weights\[1\]: 3 values, the layer has 4 inputs/,
    'short weight row',
  );
  refuses(
    t,
    edit((j) => j.layers[0]!.weights.pop()),
    /layers\[0\]\.weights: 1 rows, the head has 2 labels/,
    'missing label row',
  );
  refuses(
    t,
    edit((j) => j.layers[0]!.bias.push(1)),
    /layers\[0\]\.bias: 3 values, the layer has 2 outputs/,
    'long bias',
  );
  refuses(
    t,
    edit((j) => j.normalisation.mean.pop()),
    /normalisation\.mean: 3 values, the features give 4/,
    'short mean',
  );
  refuses(
    t,
    edit((j) => (j.normalisation.std[2] = 0)),
    /normalisation\.std\[2\]: must be > 0/,
    'zero std',
  );
  refuses(
    t,
    edit((j) => (j.kind = 'mlp')),
    /a mlp head has layers \[relu, softmax\]/,
    'kind and layers disagree',
  );
  refuses(
    t,
    edit((j) => (j.background_label = 'noise')),
    /background_label "noise" is not one of labels/,
    'unknown background',
  );
  refuses(
    t,
    edit((j) => (j.thresholds.scream = { threshold: 0.5, release: 0.2 })),
    /thresholds\.scream: not one of labels/,
    'threshold for an unknown label',
  );
  refuses(
    t,
    edit((j) => (j.thresholds.gunshot!.release = 0.9)),
    /release: 0\.9 is above its threshold 0\.6/,
    'release above threshold',
  );
  refuses(
    t,
    edit((j) => (j.base_model.sha256 = 'xyz')),
    /base_model\.sha256: must match pattern/,
    'bad sha256',
  );
  refuses(
    t,
    edit((j) => ((j as unknown as Record<string, unknown>).extra = 1)),
    /: extra: unknown key/,
    'unknown key (worded as in config errors, src/schema-errors.ts)',
  );
});

/**
 * The checks shared by the optional label lists (rule_labels, either_labels): absent = not written
 * (old heads keep their bytes) and read as empty; a list is read back, round-trips to the same
 * bytes and sits after thresholds; a label the head lacks, or its background label, is refused.
 */
function checkOptionalLabelList(t: Test, key: 'rule_labels' | 'either_labels', read: (head: ReturnType<typeof parseHead>) => readonly string[]) {
  const old = serializeHead(tinyHead());
  t.notMatch(old, new RegExp(key), 'a head without it is written without it (old heads keep their bytes)');
  t.same(read(parseHead(old, 'old.json')), [], 'an old head: none listed');
  const j = tinyHead();
  j[key] = ['gunshot'];
  const text = serializeHead(j);
  t.same(read(parseHead(text, 'listed.json')), ['gunshot'], 'read back');
  t.equal(serializeHead(parseHead(text, 'listed.json').json), text, 'round trip: same bytes');
  t.ok(text.indexOf(`"${key}"`) > text.indexOf('"thresholds"') && text.indexOf(`"${key}"`) < text.indexOf('"features"'), 'after thresholds');
  const bad = tinyHead();
  bad[key] = ['scream'];
  refuses(t, JSON.stringify(bad), new RegExp(`${key}: "scream" is not one of the head's labels \\(gunshot\\)`), 'a label the head lacks');
  bad[key] = ['other'];
  refuses(t, JSON.stringify(bad), new RegExp(`${key}: "other" is not one of the head's labels`), 'the background label');
}

t.test("rule_labels: optional; listed labels must be the head's own; absent keeps old heads' bytes", async (t) => {
  checkOptionalLabelList(t, 'rule_labels', (head) => head.ruleLabels);
});

t.test("either_labels: optional; the head's own labels, not also in rule_labels, with a threshold", async (t) => {
  checkOptionalLabelList(t, 'either_labels', (head) => head.eitherLabels);
  const bad = tinyHead();
  bad.either_labels = ['gunshot'];
  bad.rule_labels = ['gunshot'];
  refuses(t, JSON.stringify(bad), /either_labels: "gunshot" is in rule_labels too/, 'a label served two ways');
  const noThreshold = tinyHead();
  noThreshold.either_labels = ['gunshot'];
  noThreshold.thresholds = {};
  refuses(t, JSON.stringify(noThreshold), /either_labels: "gunshot" has no entry in thresholds/, "the pair needs the head's threshold");
});

t.test('assertHeadFitsModel names both sha256 values', async (t) => {
  const head = parseHead(serializeHead(tinyHead()), 'tiny.json');
  t.doesNotThrow(() => assertHeadFitsModel(head, MODEL_SHA, 'tiny.json'));
  t.doesNotThrow(() => assertHeadFitsModel(head, MODEL_SHA.toUpperCase(), 'tiny.json'));
  const other = 'c'.repeat(64);
  try {
    assertHeadFitsModel(head, other, 'tiny.json');
    t.fail('accepted a head for another model');
  } catch (e) {
    t.ok(
      e instanceof EarshotError &&
        e.message.startsWith('tiny.json: ') &&
        e.message.includes(MODEL_SHA) &&
        e.message.includes(other) &&
        !e.message.includes('\n'),
      (e as Error).message,
    );
  }
});

t.test('loadHeadFile: a missing file is one clear line', async (t) => {
  t.throws(() => loadHeadFile('/nonexistent/head.json'), /^\/nonexistent\/head\.json: head file: cannot be read \(ENOENT\)$/);
});
