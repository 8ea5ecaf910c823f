/**
 * The shipped default head (models/heads/): `model.head: auto` (the default) finds it for the
 * official YAMNet file, the detector reads the head's probabilities for the labels it serves and
 * keeps the YAMNet rule for its `rule_labels`, and it was trained on pool + pool2 only.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { defaultConfig } from '../src/config/load.js';
import { analyzeFile } from '../src/analyze.js';
import { HEAD_CLASS_PREFIX, SHIPPED_HEAD_DIR, resolveHeadSetting } from '../src/inference/head/head-runtime.js';
import { createLogger } from '../src/log.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { SHARED } from './helpers/cli.js';
import { fileSha256, YAMNET_OFFICIAL, YAMNET_WAVEFORM } from './helpers/heads.js';

const log = createLogger({ level: 'silent', pretty: false, fd: 2 });
/** What resolveHeadSetting needs of the official YAMNet (its sha256 and output sizes). */
const OFFICIAL = { sha256: fileSha256(YAMNET_OFFICIAL), classNames: new Array<string>(521).fill('x'), embeddingLength: 1024, path: YAMNET_OFFICIAL };

t.test('a head ships for the official YAMNet, trained on pool + pool2 only, and auto picks it', async (t) => {
  const files = readdirSync(SHIPPED_HEAD_DIR).filter((f) => f.endsWith('.json'));
  t.ok(files.length >= 1, `models/heads holds ${files.join(', ')}`);
  const official = OFFICIAL;
  const { head, skipped } = resolveHeadSetting('auto', official);
  t.same(skipped, [], 'every shipped head file is valid');
  t.ok(head, 'auto: a head for the official YAMNet');
  t.equal(head!.origin, 'auto');
  t.same(head!.head.json.training.options.data, ['pool', 'pool2'], 'trained on ../shared/audio/pool and pool2, never the dev scenes');
  t.equal(head!.head.json.validation.fa_budget, 'rule', 'thresholds under the rule budget');
  t.equal(head!.head.json.validation.repeats, 3, 'thresholds and who serves each label from 3 repeats of the cross-validation (--cv-repeats 3)');
  // Where cross-validation found the rule better, the head leaves the label to it.
  for (const label of head!.head.ruleLabels)
    t.equal((head!.head.json.validation.labels[label] as unknown as { served_by: string }).served_by, 'rule', `${label}: left to the rule`);
  t.equal(
    resolveHeadSetting('auto', { ...official, sha256: fileSha256(YAMNET_WAVEFORM), path: YAMNET_WAVEFORM }).head,
    null,
    'no shipped head for another YAMNet file',
  );
});

t.test('default config + official YAMNet: the head serves its labels, the rule keeps the others', async (t) => {
  const config = defaultConfig();
  config.model.path = YAMNET_OFFICIAL;
  t.equal(config.model.head, 'auto', 'auto is the default');
  const opened = await openModelAndLabels(config, log);
  t.teardown(() => opened.models.close());
  const { head } = resolveHeadSetting('auto', OFFICIAL);
  const served = head!.head.labels.filter((l) => l !== head!.head.backgroundLabel && !head!.head.ruleLabels.includes(l));
  t.ok(served.length > 0, `the head serves ${served.join(', ')}`);
  for (const spec of opened.labels) {
    if (served.includes(spec.name)) {
      t.same(spec.classes, [`${HEAD_CLASS_PREFIX}${spec.name}`], `${spec.name}: reads the head`);
      t.equal(spec.threshold, head!.head.thresholds[spec.name]!.threshold, `${spec.name}: at the head's threshold`);
    } else if (head!.head.ruleLabels.includes(spec.name)) {
      t.notOk(
        spec.classes.some((c) => c.startsWith(HEAD_CLASS_PREFIX)),
        `${spec.name}: the YAMNet rule (${spec.classes.join(', ')}, threshold ${spec.threshold})`,
      );
    }
  }
  // Real clips: a gunshot still fires (the rule serves it), speech is found (the head serves it).
  const clip = (name: string) => join(SHARED, 'audio/clips', `${name}.wav`);
  const gunshot = await analyzeFile(clip('gunshot_1'), opened.model, opened.labels, pipelineSettings(config), 'test');
  t.ok(
    gunshot.events.some((e) => e.label === 'gunshot'),
    `gunshot_1: a gunshot event (got ${gunshot.events.map((e) => e.label).join(', ')})`,
  );
  const speech = await analyzeFile(clip('speech_1'), opened.model, opened.labels, pipelineSettings(config), 'test');
  t.ok(
    speech.events.some((e) => e.label === 'speech'),
    `speech_1: a speech event (got ${speech.events.map((e) => e.label).join(', ')})`,
  );
  t.notOk(
    speech.events.some((e) => e.group === 'hostile'),
    'speech_1: no hostile event',
  );
});
