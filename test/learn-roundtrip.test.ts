/**
 * The learning round trip on its own output, with the built CLI against a real node over HTTP
 * (real SQLite, real WAV clips, the real YAMNet): `earshot pull` writes labels.tsv beside the
 * Audacity tracks → a person edits a track and labels.tsv → `earshot labels import` the pulled
 * folder (the node stores the labels; a label outside the set warns; a deleted detection becomes
 * `other`) → `earshot train --data` the pulled folder gives a head file that parses.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createApiServer } from '../src/api/server.js';
import { parseHead } from '../src/inference/head/head-file.js';
import { createLogger } from '../src/log.js';
import { buildNode, json, STANDARD_CLIPS } from './helpers/api-node.js';
import { earshot, hasStackTrace } from './helpers/cli.js';
import { YAMNET_WAVEFORM } from './helpers/fixtures.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });

t.test('pull → label → import → train', async (t) => {
  const node = buildNode(STANDARD_CLIPS);
  const app = createApiServer({ db: node.db, dataDir: node.dataDir, config: node.config, log });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    node.db.close();
  });
  const out = mkdtempSync(join(tmpdir(), 'earshot-roundtrip-'));
  const pulled = await earshot(['pull', '--node', url, '--out', out, '--strategy', 'all']);
  t.equal(pulled.code, 0, pulled.stderr);
  const dir = join(out, 'test-node');
  const [gunshot, glass, scream, speech, background] = node.clips;
  const tsvPath = join(dir, 'labels.tsv');
  const tsv = readFileSync(tsvPath, 'utf8');
  t.equal(tsv.split('\n')[0], 'filename\tonset\toffset\tevent_label', 'labels.tsv: DCASE header');
  t.match(tsv, new RegExp(`${gunshot!.id}\\.wav\\t0\\.250000\\t1\\.200000\\tgunshot\\n`), "labels.tsv: the node's detection, pre-filled");
  t.match(tsv, new RegExp(`\\n${background!.id}\\.wav\\n`), 'labels.tsv: a background clip is its file name alone');

  // A person labels: the speech "event" was nothing (deleted in Audacity), the scream is called
  // "fireworks" in labels.tsv (not a label earshot knows), the glass span moves; gunshot confirmed.
  writeFileSync(join(dir, `${speech!.id}.txt`), '');
  writeFileSync(join(dir, `${glass!.id}.txt`), '0.400000\t1.400000\tglass_break\n');
  writeFileSync(tsvPath, tsv.replace(/(\t0\.200000\t1\.000000\t)scream/, '$1fireworks'));
  // A second pull keeps what the person wrote.
  const again = await earshot(['pull', '--node', url, '--out', out, '--strategy', 'random']);
  t.equal(again.code, 0, again.stderr);
  t.match(readFileSync(tsvPath, 'utf8'), /fireworks/, 'a re-pull leaves labels.tsv edits alone');
  t.equal(readFileSync(join(dir, `${speech!.id}.txt`), 'utf8'), '', 'a re-pull leaves an edited track alone');

  const imported = await earshot(['labels', 'import', out, '--node', url]);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stderr, /warning: .*labels outside the configured label set .*"fireworks" ×1/);
  t.match(imported.stdout, /4 labels stored for 4 clips; 1 clips in the file have no label rows/);
  t.notOk(hasStackTrace(imported.stderr));
  const labelsOf = async (id: string) => (await json(fetch(`${url}/api/v1/clips/${id}/labels`))).labels;
  t.match(
    await labelsOf(speech!.id),
    [{ label: 'other', onset_s: null, offset_s: null, source: 'import' }],
    'a deleted detection: "other" over the whole clip',
  );
  t.match(await labelsOf(glass!.id), [{ label: 'glass_break', onset_s: 0.4, offset_s: 1.4 }]);
  t.match(await labelsOf(scream!.id), [{ label: 'fireworks' }]);
  t.match(await labelsOf(gunshot!.id), [{ label: 'gunshot', onset_s: 0.25, offset_s: 1.2 }]);
  t.same(await labelsOf(background!.id), []);
  // labels.tsv given by itself, and a re-import: replaced, not duplicated.
  const byFile = await earshot(['labels', 'import', tsvPath, '--node', url]);
  t.equal(byFile.code, 0, byFile.stderr);
  t.equal((await labelsOf(glass!.id)).length, 1);
  const queue = await json(fetch(`${url}/api/v1/active-learning/queue`));
  t.same(queue.clips, [], 'every labelled clip left the queue');

  const head = join(out, 'head.json');
  const trained = await earshot([
    'train',
    '--data',
    out,
    '--model',
    YAMNET_WAVEFORM,
    '--out',
    head,
    '--folds',
    '0',
    '--cache',
    join(out, 'cache'),
    '--max-iterations',
    '30',
  ]);
  t.equal(trained.code, 0, trained.stderr);
  t.match(trained.stdout, /5 clips, \d+ windows/);
  t.match(trained.stdout, /no cross-validation/);
  t.match(trained.stdout, /wrote .*head\.json \(logistic, 3 labels, base model sha256 [0-9a-f]{12}…\) in \d+\.\d s/);
  const parsed = parseHead(readFileSync(head, 'utf8'), head);
  t.same(parsed.labels, ['gunshot', 'glass_break', 'other'], 'fireworks and the deleted speech train as other');
  t.equal(parsed.clipCount, 5);

  const bad = await earshot(['train', '--data', join(out, 'missing'), '--model', YAMNET_WAVEFORM]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^earshot: .*missing: cannot read the data folder \(ENOENT\)\n$/);
  const badRepeats = await earshot(['train', '--data', out, '--model', YAMNET_WAVEFORM, '--cv-repeats', '0']);
  t.equal(badRepeats.code, 2, 'a bad --cv-repeats: the usage exit code');
  t.match(badRepeats.stderr, /^earshot: --cv-repeats: must be a whole number 1\.\.20, got 0\n$/);
});
