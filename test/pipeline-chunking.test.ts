/**
 * Chunking does not change results: the same scene fed to the pipeline in chunks of 1, 160, 1000
 * and 16000 samples gives identical patches and identical events.
 */
import t from 'tap';
import { readWav } from '../src/capture/wav.js';
import { defaultConfig } from '../src/config/load.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import { createLogger } from '../src/log.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import { SCENE_07, YAMNET_WAVEFORM } from './helpers/fixtures.js';

t.test('events and patch scores do not depend on chunk size', async (t) => {
  const config = defaultConfig();
  config.model.path = YAMNET_WAVEFORM;
  const { model, labels } = await openModelAndLabels(config, createLogger({ level: 'warn', pretty: false, fd: 2 }));
  t.teardown(() => model.close());
  const audio = readWav(SCENE_07).mono;

  const runWith = async (chunkSize: number) => {
    let n = 0;
    const pipeline = new Pipeline(model, labels, pipelineSettings(config), model.path, () => `event-${n++}`);
    const scores: number[] = [];
    pipeline.onPatch = (report) => scores.push(report.patch.startSample, report.rmsDbfs, ...(report.labelScores ?? []));
    const outputs: DetectorOutput[] = [];
    for (let start = 0; start < audio.length; start += chunkSize) {
      outputs.push(...(await pipeline.push({ startSample: start, samples: audio.slice(start, start + chunkSize) })));
    }
    outputs.push(...(await pipeline.finish()));
    const events = outputs.map(
      (o) => `${o.kind} ${o.event.id} ${o.event.label} ${o.event.onsetSample} ${o.event.offsetSample} ${o.event.peakScore} ${o.event.meanScore}`,
    );
    return { events, scores };
  };

  const reference = await runWith(16000);
  t.ok(
    reference.events.some((e) => e.includes('gunshot')),
    `the scene has a gunshot event (${reference.events.length / 2} events)`,
  );
  for (const size of [1, 160, 1000]) {
    const run = await runWith(size);
    t.same(run.events, reference.events, `chunks of ${size}: identical events`);
    t.same(run.scores, reference.scores, `chunks of ${size}: identical patch scores`);
  }
});
