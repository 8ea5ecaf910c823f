/**
 * When inference falls behind real time (docs/service.md): a real dev scene replayed in real time
 * through the built `earshot run`, with a model slowed down in its worker thread
 * (EARSHOT_TEST_MODEL_FAULT=delay_ms:...), makes the daemon say how far behind it is, degrade to
 * every other patch, catch up once the model is fast again, and still process every captured
 * sample and find events. Beyond the ring buffer the backlog is a real loss, stored as a gap.
 * Also, in-process: the patch scheduler on a file read as fast as possible finds exactly what
 * Pipeline.push finds, and skipped patches do not break k-of-n voting.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FileSource } from '../src/capture/file-source.js';
import { defaultConfig } from '../src/config/load.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import { resolveLabelSpecs } from '../src/detect/label-map.js';
import { loadModel } from '../src/inference/load-model.js';
import { PatchScheduler } from '../src/pipeline/scheduler.js';
import { WorkerClassifier } from '../src/inference/worker/worker-classifier.js';
import { createLogger } from '../src/log.js';
import type { PatchClassifier } from '../src/inference/types.js';
import { Pipeline, type PipelineSettings } from '../src/pipeline/pipeline.js';
import { pipelineSettings } from '../src/setup.js';
import { startDaemon } from './helpers/service-daemon.js';
import { DEV_SCENES, SCENE_07 as SCENE, YAMNET_WAVEFORM as YAMNET } from './helpers/fixtures.js';

function writeConfig(dir: string, speed: number, lines: string[]): string {
  const path = join(dir, 'earshot.yaml');
  writeFileSync(
    path,
    [
      'node_id: degrade-node',
      'data_dir: data',
      'api:',
      '  enabled: false',
      'source:',
      `  path: ${SCENE}`,
      '  pacing: realtime',
      `  speed: ${speed}`,
      'model:',
      `  path: ${YAMNET}`,
      ...lines,
      '',
    ].join('\n'),
  );
  return path;
}

interface EventRow {
  label: string;
  grp: string;
  onset_s: number;
  end_reason: string | null;
}

function storedEvents(dir: string): { events: EventRow[]; gaps: { reason: string; duration_s: number; handling: string | null }[] } {
  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  try {
    return {
      events: db.prepare('SELECT label, grp, onset_s, end_reason FROM events ORDER BY onset_s').all() as EventRow[],
      gaps: db.prepare('SELECT reason, duration_s, handling FROM gaps ORDER BY start_s').all() as {
        reason: string;
        duration_s: number;
        handling: string | null;
      }[],
    };
  } finally {
    db.close();
  }
}

t.test('a model slower than real time: lag warning, every other patch, catch-up, no capture lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-degrade-'));
  // Speed 2: a hop of audio (0.48 s) arrives every 0.24 s of wall time; the first 24 model calls
  // take 0.4 s more each, so inference falls behind, and about keeps up at every other patch; then
  // the model is fast again (≈ 0.05 s a patch) and it catches up. A 60 s ring buffer holds the
  // backlog however loaded the test machine is.
  const config = writeConfig(dir, 2, ['ring_buffer_seconds: 60', 'clips:', '  enabled: false']);
  const daemon = startDaemon(config, { EARSHOT_TEST_MODEL_FAULT: 'delay_ms:400,calls:24' });
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the run ends normally (${daemon.stderr()})`);
  const lines = daemon.log.items;
  t.ok(
    lines.some((l) => l.msg.startsWith('test hook: the inference worker injects model faults')),
    'the test hook says so at start',
  );
  const behind = lines.find((l) => /behind real time.*: degraded, classifying every other patch/.test(l.msg));
  t.ok(behind, `the lag warning: ${behind?.msg}`);
  t.equal(behind?.level, 40, 'at warn level');
  t.ok(
    (behind?.lag_s as number) > 2 || behind?.queued_patches === 8,
    `it names the lag (${behind?.lag_s} s) and the queue (${behind?.queued_patches} patches)`,
  );
  const caughtUp = lines.find((l) => l.msg === 'inference caught up: classifying every patch again');
  t.ok(
    caughtUp && caughtUp.readAtMs >= behind!.readAtMs,
    `then it catches up: lag ${caughtUp?.lag_s} s at ${caughtUp?.at_s} s of audio, after skipping ${caughtUp?.skipped} patches`,
  );

  const end = lines.find((l) => l.msg === 'source ended');
  t.ok(end, 'the closing summary');
  t.equal(end?.audio_s, 45, 'every captured sample went through the front end: 45 s of audio');
  t.equal(end?.patches, 93, 'all 93 patches of the scene were dealt with (classified, gated or skipped)');
  const skipped = end?.skipped as number;
  t.ok(skipped > 0 && skipped <= 47, `skipped ${skipped} patches: some, and at most every other one`);
  t.equal(end?.failed, 0, 'none failed');
  t.ok((end?.max_lag_s as number) > 2, `the largest lag: ${end?.max_lag_s} s`);
  t.equal(end?.gaps, undefined, 'no capture gap');
  t.notOk(
    lines.some((l) => l.msg === 'capture gap'),
    'no capture gap logged',
  );

  const { events, gaps } = storedEvents(dir);
  t.same(gaps, [], 'no gap stored');
  t.ok(
    events.some((e) => e.grp === 'hostile'),
    `events are still found: ${events.map((e) => `${e.label} ${e.onset_s} s`).join(', ')}`,
  );
  t.ok(
    events.every((e) => e.end_reason !== null),
    'and all of them closed',
  );
});

t.test('a backlog longer than the ring buffer is a real loss: stored and logged as a backlog gap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-backlog-'));
  // A 2 s ring buffer and three model calls of 2 s each at speed 8: about 45 s of audio arrive
  // while the first patches are scored.
  const config = writeConfig(dir, 8, ['ring_buffer_seconds: 2', 'clips:', '  enabled: false', '  background_seconds: 1']);
  const daemon = startDaemon(config, { EARSHOT_TEST_MODEL_FAULT: 'delay_ms:2000,calls:3' });
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const exit = await daemon.exited;
  t.equal(exit.code, 0, `the run ends normally (${daemon.stderr()})`);
  const gapLines = daemon.log.items.filter((l) => l.msg === 'capture gap');
  t.ok(
    gapLines.length >= 1 && gapLines.every((l) => l.reason === 'backlog' && l.level === 40),
    `logged as capture gaps with reason backlog: ${gapLines.map((l) => `${l.start_s} s +${l.lost_s} s`).join(', ')}`,
  );
  const { gaps } = storedEvents(dir);
  t.ok(gaps.length === gapLines.length && gaps.every((g) => g.reason === 'backlog' && g.duration_s > 0), `stored in the gaps table: ${JSON.stringify(gaps)}`);
  const end = daemon.log.items.find((l) => l.msg === 'source ended');
  const lost = gaps.reduce((sum, g) => sum + g.duration_s, 0);
  t.equal(end?.audio_s, 45, 'the stream still reaches its end');
  t.ok(Math.abs((end?.lost_s as number) - lost) < 1e-3, `the summary counts the loss (${end?.lost_s} s)`);
});

/** The detector outputs of a scene pushed through `pipeline` with Pipeline.push (the analyze path). */
async function pushAll(pipeline: Pipeline, path: string): Promise<DetectorOutput[]> {
  const source = new FileSource(path, { pacing: 'fast', chunkSamples: 1600 });
  await source.open();
  const outputs: DetectorOutput[] = [];
  for await (const chunk of source.chunks()) outputs.push(...(await pipeline.push(chunk)));
  outputs.push(...(await pipeline.finish('stream_end')));
  return outputs;
}

const describe = (outputs: DetectorOutput[]) =>
  outputs.map((o) => `${o.kind} ${o.event.label} ${o.event.onsetSample}-${o.event.offsetSample} ${o.event.peakScore.toFixed(6)}`);

t.test('the scheduler on a file read as fast as possible finds exactly what Pipeline.push finds', async (t) => {
  const config = defaultConfig();
  const request = { path: YAMNET, backend: config.model.backend, threads: 1, modelDir: config.model_dir };
  const inProcess = await loadModel(request);
  t.teardown(() => inProcess.close());
  const worker = await WorkerClassifier.open(request);
  t.teardown(() => worker.close());
  const { specs } = resolveLabelSpecs(config.detection.labels, inProcess.manifest.class_map);
  const settings = pipelineSettings(config);
  const ids = () => {
    let n = 0;
    return () => `event-${n++}`;
  };
  const expected = await pushAll(new Pipeline(inProcess, specs, settings, YAMNET, ids()), SCENE);

  const pipeline = new Pipeline(worker, structuredClone(specs), settings, YAMNET, ids());
  const source = new FileSource(SCENE, { pacing: 'fast', chunkSamples: 1600 });
  await source.open();
  const outputs: DetectorOutput[] = [];
  const capture = { newestSample: -1, backlogSeconds: 0 };
  const scheduler = new PatchScheduler(
    pipeline,
    { queuePatches: 4, degradeLagSeconds: 2, recoverLagSeconds: 1, realtime: false },
    capture,
    createLogger({ level: 'silent', pretty: false, fd: 2 }),
    (o) => outputs.push(...o),
  );
  for await (const chunk of source.chunks()) {
    // As far ahead as a fast reader gets: a lag that would degrade a real-time source.
    capture.newestSample = chunk.startSample + 10 * 16000;
    await scheduler.push(chunk);
  }
  await scheduler.finish('stream_end');
  t.ok(expected.length > 0, `the scene has events: ${expected.length} onsets and offsets`);
  t.same(describe(outputs), describe(expected), 'the same onsets and offsets, in the same order, with the same scores');
  t.equal(pipeline.counts.skipped, 0, 'nothing skipped: the degrade policy is for real-time sources only');
  t.ok(scheduler.maxLagSeconds > 2, `although the lag reached ${scheduler.maxLagSeconds} s`);
});

t.test('skipped patches are not "no" votes: k-of-n voting still opens events while degraded', async (t) => {
  const config = defaultConfig();
  const model = await loadModel({ path: YAMNET, backend: config.model.backend, threads: 1, modelDir: config.model_dir });
  t.teardown(() => model.close());
  const { specs } = resolveLabelSpecs(config.detection.labels, model.manifest.class_map);
  // Two votes in a row needed: with every other patch a "no", no event could ever open.
  const settings: PipelineSettings = { ...pipelineSettings(config), voteK: 2, voteN: 2 };
  const run = async (unscored: 'skipped' | 'gated') => {
    const pipeline = new Pipeline(model as PatchClassifier, structuredClone(specs), settings, YAMNET);
    const source = new FileSource(`${DEV_SCENES}mixed_04.wav`, { pacing: 'fast', chunkSamples: 16000 });
    await source.open();
    const onsets: string[] = [];
    let audible = 0;
    const take = async (steps: ReturnType<Pipeline['cut']>) => {
      for (const step of steps) {
        const skip = step.kind === 'patch' && step.audible && audible++ % 2 === 1;
        const outcome = step.kind === 'gap_end' || !step.audible ? 'gated' : skip ? unscored : [await model.classify(pipeline.modelInput(step, 0))];
        for (const o of pipeline.complete(step, outcome)) if (o.kind === 'onset') onsets.push(o.event.label);
      }
    };
    for await (const chunk of source.chunks()) await take(pipeline.cut(chunk));
    await take(pipeline.cutEnd('stream_end'));
    pipeline.end('stream_end');
    return { onsets, counts: { ...pipeline.counts } };
  };
  const skipped = await run('skipped');
  const asNo = await run('gated');
  t.ok(skipped.counts.skipped > 10, `${skipped.counts.skipped} patches skipped`);
  t.ok(skipped.onsets.length > 0, `events open with every other patch skipped: ${skipped.onsets.join(', ')}`);
  t.equal(asNo.onsets.length, 0, 'whereas counting the same patches as "no" votes would open none');
});
