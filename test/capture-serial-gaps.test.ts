/**
 * The gap path of the pipeline with the real YAMNet model and real clips: a short hole (lost
 * serial packets) is bridged with zeros on the same patch grid; a long one (device unplugged)
 * ends open events with reason `gap` and restarts the front end at the new position, so no
 * event claims time that was not heard.
 */
import t from 'tap';
import { defaultConfig } from '../src/config/load.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import { createLogger } from '../src/log.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { openModelAndLabels, pipelineSettings } from '../src/setup.js';
import type { AudioChunk } from '../src/types.js';
import { readWav16, sharedPath } from './helpers/wav16.js';
import { YAMNET_WAVEFORM } from './helpers/fixtures.js';

const log = createLogger({ level: 'warn', pretty: false, fd: 2 });
const scream = readWav16(sharedPath('audio/clips/scream_1.wav'));
const gunshot = readWav16(sharedPath('audio/clips/gunshot_1.wav'));

async function run(chunks: AudioChunk[]) {
  const config = defaultConfig();
  config.model.path = YAMNET_WAVEFORM;
  const { model, labels } = await openModelAndLabels(config, log);
  let n = 0;
  const pipeline = new Pipeline(model, labels, pipelineSettings(config), model.path, () => `e${n++}`);
  const outputs: DetectorOutput[] = [];
  try {
    for (const chunk of chunks) outputs.push(...(await pipeline.push(chunk)));
    outputs.push(...(await pipeline.finish()));
  } finally {
    model.close();
  }
  return { outputs, pipeline };
}

/** `samples` cut into 1600-sample chunks starting at absolute index `at`, minus `[holeStart, holeEnd)`. */
function chunked(samples: Float32Array, at: number, hole?: [number, number]): AudioChunk[] {
  const out: AudioChunk[] = [];
  for (let i = 0; i < samples.length; i += 256) {
    const start = at + i;
    if (hole && start >= hole[0] && start < hole[1]) continue;
    out.push({ startSample: start, samples: samples.subarray(i, i + 256) });
  }
  return out;
}

t.test('a 16 ms hole is bridged: same patch grid, the event keeps its onset', async (t) => {
  const clean = await run(chunked(gunshot, 0));
  const holed = await run(chunked(gunshot, 0, [4096, 4352]));
  const onsets = (o: DetectorOutput[]) => o.filter((x) => x.kind === 'onset' && x.event.group === 'hostile').map((x) => [x.event.label, x.event.onsetSample]);
  t.ok(onsets(clean.outputs).length >= 1, 'the clean clip has a hostile event');
  t.same(onsets(holed.outputs), onsets(clean.outputs), 'same hostile onsets');
  t.match(holed.pipeline.lastGap, { startSample: 4096, endSample: 4352, handling: 'zero_fill' });
  t.same(holed.pipeline.ring.gaps(), [{ start: 4096, end: 4352 }], 'the ring buffer knows which samples were not heard');
});

t.test('a 3 s gap inside a scream ends the event at the gap (reason gap) and restarts aligned after it', async (t) => {
  const cut = 16000; // one second into the scream
  const gapEnd = cut + 48000;
  const chunks = [...chunked(scream.subarray(0, cut), 0), ...chunked(scream.subarray(cut), gapEnd)];
  const { outputs, pipeline } = await run(chunks);
  const closedByGap = outputs.filter((o) => o.kind === 'offset' && o.reason === 'gap');
  t.ok(closedByGap.length >= 1, 'an open event was ended by the gap');
  for (const o of closedByGap) t.ok(o.event.offsetSample <= cut, `offset ${o.event.offsetSample} not after the last heard sample ${cut}`);
  const later = outputs.filter((o) => o.kind === 'onset' && o.event.onsetSample >= gapEnd);
  t.ok(later.length >= 1, 'events after the gap');
  for (const o of outputs) {
    if (o.kind !== 'onset') continue;
    const e = o.event;
    t.ok(e.offsetSample <= cut || e.onsetSample >= gapEnd, `${e.label} [${e.onsetSample}, ${e.offsetSample}) does not span the gap`);
  }
  for (const o of later) t.equal((o.event.onsetSample - gapEnd) % 7680, 0, 'patches after the gap start on a grid from the gap end');
  t.match(pipeline.lastGap, { startSample: cut, endSample: gapEnd, handling: 'restart' });
});
