/**
 * The clip recorder's edge cases, on a real ring buffer fed with a real dev scene in 0.1 s chunks
 * and detector outputs placed by hand: an event longer than clips.max_seconds (the clip keeps its
 * beginning, cut while the event is still open; the scores come at its end), shutdown before the
 * post-roll was heard (the clip ends where the audio did), a capture gap inside a clip (counted,
 * zeros), and a ring buffer too short for the configured pre- and post-roll (shortened, warned).
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingBuffer } from '../src/capture/ring-buffer.js';
import { readWav } from '../src/capture/wav.js';
import { defaultConfig } from '../src/config/load.js';
import type { DetectedEvent } from '../src/detect/detector.js';
import { createLogger, type Logger } from '../src/log.js';
import type { PatchReport } from '../src/detect/patch-report.js';
import { ClipRecorder } from '../src/store/clip-recorder.js';
import { ClipStore } from '../src/store/clip-store.js';
import { openDatabase } from '../src/store/database.js';
import { SCENE_08 } from './helpers/fixtures.js';

const SR = 16000;
const scene = readWav(SCENE_08).mono;
const CLASSES = ['Speech', 'Gunshot, gunfire', 'Glass', 'Silence'];

function capturingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const base = createLogger({ level: 'silent', pretty: false, fd: 2 });
  const log = Object.assign(Object.create(base), { warn: (a: unknown, b?: string) => warnings.push(typeof a === 'string' ? a : (b ?? '')) }) as Logger;
  return { log, warnings };
}

function setup(t: Test, clipOverrides: Partial<ReturnType<typeof defaultConfig>['clips']> = {}, ringSeconds = 30) {
  const dataDir = mkdtempSync(join(tmpdir(), 'earshot-recorder-'));
  const db = openDatabase(join(dataDir, 'earshot.db'));
  t.teardown(() => db.close());
  const ring = new RingBuffer(ringSeconds * SR);
  const { log, warnings } = capturingLog();
  const clips = { ...defaultConfig().clips, background_per_hour: 0, ...clipOverrides };
  const context = {
    nodeId: 'n',
    modelId: 'yamnet',
    modelSha256: 'x',
    source: 'file:scene',
    streamId: '01HSTREAM0000000000000000',
    streamStartMs: Date.parse('2024-07-01T00:00:00Z'),
  };
  const recorder = new ClipRecorder({ db, dataDir, clips, ring, classNames: CLASSES, context, log, chunkSeconds: 0.1 });
  let next = 0;
  /** Feeds the scene up to `untilSeconds` (skipping `[skipFrom, skipTo)` seconds: a capture gap). */
  const feed = (untilSeconds: number, skip?: [number, number]) => {
    const until = Math.round(untilSeconds * SR);
    while (next < until) {
      const end = Math.min(next + 1600, until);
      if (!skip || end <= skip[0] * SR || next >= skip[1] * SR) ring.write({ startSample: next, samples: scene.subarray(next, end) });
      next = end;
      recorder.afterChunk();
    }
  };
  return { db, dataDir, ring, recorder, feed, warnings, store: new ClipStore(db) };
}

const event = (id: string, onsetSeconds: number, offsetSeconds: number): DetectedEvent => ({
  id,
  label: 'gunshot',
  group: 'hostile',
  onsetSample: onsetSeconds * SR,
  offsetSample: offsetSeconds * SR,
  peakScore: 0.9,
  meanScore: 0.8,
  peakDbfs: -3,
  patchCount: 1,
});

const patch = (index: number, startSample: number): PatchReport => ({
  patch: { index, firstFrame: 0, startSample, endSample: startSample + 15600, frames: new Float32Array(0) },
  rmsDbfs: -20,
  peakDbfs: -3,
  classScores: Float32Array.from([0.1, 0.9 - index * 0.01, 0.3, 0.05]),
  labelScores: null,
});

t.test('an event longer than max_seconds: the clip keeps its beginning; scores cover the whole event', async (t) => {
  const { recorder, feed, store, dataDir } = setup(t, { max_seconds: 8, top_k: 2 });
  const long = event('01HEVENTLONG0000000000000A', 5, 25);
  feed(6.5);
  recorder.observe([{ kind: 'onset', event: long }]);
  // Patches every 0.48 s (7680 samples), 0.975 s (15600 samples) long, as YAMNet's.
  for (let i = 0, start = 5 * SR; start + 15600 <= 25 * SR; i++, start += 7680) {
    feed((start + 15600) / SR);
    recorder.observePatch(patch(i, start));
  }
  await recorder.idle();
  const early = store.forEvent(long.id);
  t.equal(early.length, 1, 'the clip is written while the event is still open (its beginning would leave the ring)');
  t.equal(early[0]?.start_sample, 3 * SR, 'from onset − 2 s');
  t.equal(early[0]?.end_sample, 11 * SR, 'for max_seconds (8 s)');
  t.same(store.scores(long.id), [], 'no scores yet: the event is not over');
  feed(26);
  recorder.observe([{ kind: 'offset', event: long, reason: 'released' }]);
  feed(28);
  await recorder.close();
  t.equal(store.forEvent(long.id).length, 1, 'still one clip');
  const scores = store.scores(long.id);
  const patches = new Set(scores.map((s) => s.patch_index));
  t.equal(patches.size, 40, 'scores of all 40 patches inside the event');
  t.equal(scores.length, 80, 'top 2 classes each');
  t.same(
    scores.slice(0, 2).map((s) => [s.rank, s.class]),
    [
      [1, 'Gunshot, gunfire'],
      [2, 'Glass'],
    ],
    'ranked by score',
  );
  const audio = readWav(join(dataDir, early[0]!.path)).mono;
  t.ok(
    audio.every((x, i) => x === scene[3 * SR + i]),
    "the clip is the scene's audio, sample for sample",
  );
});

t.test('shutdown before the post-roll was heard: the clip ends where the audio did', async (t) => {
  const { recorder, feed, store } = setup(t);
  const late = event('01HEVENTLATE0000000000000B', 30, 31);
  feed(31.5);
  recorder.observe([
    { kind: 'onset', event: late },
    { kind: 'offset', event: late, reason: 'shutdown' },
  ]);
  feed(32.2);
  await recorder.idle();
  t.same(store.forEvent(late.id), [], 'not cut yet: the post-roll is still coming');
  await recorder.close();
  const clip = store.forEvent(late.id)[0];
  t.equal(clip?.start_sample, 28 * SR, 'from onset − 2 s');
  t.equal(clip?.end_sample, Math.round(32.2 * SR), 'to the last sample heard (32.2 s, not 33 s)');
  await recorder.close();
  t.equal(store.list().length, 1, 'closing twice writes nothing more');
});

t.test('a capture gap inside a clip is counted and reads as zeros', async (t) => {
  const { recorder, feed, store, dataDir } = setup(t);
  const e = event('01HEVENTGAP00000000000000C', 10, 11);
  feed(12, [9.5, 9.8]);
  recorder.observe([
    { kind: 'onset', event: e },
    { kind: 'offset', event: e, reason: 'released' },
  ]);
  feed(14);
  await recorder.close();
  const clip = store.forEvent(e.id)[0]!;
  t.equal(clip.gap_samples, Math.round(0.3 * SR), '0.3 s of the clip was not heard');
  const audio = readWav(join(dataDir, clip.path)).mono;
  const gapAt = (9.5 - 8) * SR;
  t.ok(
    audio.subarray(gapAt, gapAt + 0.3 * SR).every((x) => x === 0),
    'zeros where capture lost audio',
  );
  t.ok(
    audio.subarray(0, gapAt).every((x, i) => x === scene[8 * SR + i]),
    'the real audio around it is intact',
  );
});

t.test('a ring buffer too short for the pre- and post-roll: both shortened, with a warning', async (t) => {
  const { recorder, warnings } = setup(t, { pre_roll_seconds: 4, post_roll_seconds: 4, max_seconds: 3 }, 5);
  t.ok(
    recorder.preRollSamples + recorder.postRollSamples + 15600 <= 5 * SR,
    `pre ${recorder.preRollSamples / SR} s + post ${recorder.postRollSamples / SR} s + one patch fit the 5 s ring`,
  );
  t.equal(recorder.preRollSamples, recorder.postRollSamples, 'shortened in proportion');
  t.equal(recorder.maxClipSamples, 3 * SR, 'max_seconds 3 fits, kept');
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0], /ring_buffer_seconds is too short/);
  await recorder.close();
});

t.test('format flac without the flac encoder on PATH: WAV, with one warning', async (t) => {
  // flacEncoder() looks PATH up once per process; this file asks nothing of it before.
  const path = process.env.PATH;
  process.env.PATH = mkdtempSync(join(tmpdir(), 'earshot-no-flac-'));
  t.teardown(() => {
    process.env.PATH = path;
  });
  const { recorder, warnings, feed, store } = setup(t, { format: 'flac' });
  t.equal(recorder.format, 'wav', 'writes WAV');
  t.same(warnings.filter((w) => /flac/.test(w)).length, 1, `one warning: ${warnings[0]}`);
  const e = event('01HEVENTFLAC0000000000000D', 3, 4);
  feed(4.5);
  recorder.observe([
    { kind: 'onset', event: e },
    { kind: 'offset', event: e, reason: 'released' },
  ]);
  feed(6.5);
  await recorder.close();
  t.match(store.forEvent(e.id)[0]?.path, /\.wav$/, 'the clip is a WAV file');
});
