/**
 * A file source that loops (issue 23 item 15, `source.loop: true`): at its end the file plays
 * again as one continuous stream (start indices go on), until stopped; the audio of each pass is
 * the file's. `earshot run` on a looping file keeps finding the file's events until SIGTERM.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileSource } from '../src/capture/file-source.js';
import { parseConfig } from '../src/config/load.js';
import { clipPath, SCENE_07, writeDaemonConfig } from './helpers/fixtures.js';
import { startDaemon } from './helpers/service-daemon.js';

const CLIP = clipPath('gunshot_1');

t.test('FileSource with loop: continuous passes of the same audio, until stop()', async (t) => {
  const once = new FileSource(CLIP, { chunkSamples: 1600 });
  const first: number[] = [];
  for await (const chunk of once.chunks()) first.push(...chunk.samples);
  const looping = new FileSource(CLIP, { chunkSamples: 1600, loop: true });
  t.equal((await looping.open()).samples, first.length, 'open() describes one pass');
  const all: number[] = [];
  let expectedStart = 0;
  let contiguous = true;
  for await (const chunk of looping.chunks()) {
    contiguous &&= chunk.startSample === expectedStart;
    expectedStart = chunk.startSample + chunk.samples.length;
    all.push(...chunk.samples);
    if (all.length >= 3.5 * first.length) looping.stop();
  }
  t.ok(contiguous, 'start indices go on across passes');
  t.ok(all.length >= 3.5 * first.length && all.length < 3.5 * first.length + 1600, `stopped at once (${(all.length / first.length).toFixed(2)} passes)`);
  for (const pass of [1, 2, 3]) {
    const slice = all.slice(pass * first.length, Math.min(all.length, (pass + 1) * first.length));
    t.ok(
      slice.every((v, i) => v === first[i]),
      `pass ${pass + 1} is the file again`,
    );
  }
  t.equal(parseConfig({ source: { path: CLIP, loop: true } }, 'x.yaml', '/').source.loop, true, 'source.loop in the config');
  t.equal(parseConfig({}, 'x.yaml', '/').source.loop, false, 'off by default');
});

t.test('earshot run on a looping file goes on past the end until SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-loop-'));
  const config = writeDaemonConfig(dir, { node_id: 'loop', source: { path: SCENE_07, pacing: 'fast', loop: true }, api: { enabled: false } });
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  // mixed_07 (45 s) has gunshots near 24 s and 31 s: the second pass hears them again near 69 s and 76 s.
  const second = await daemon.log.waitFor(
    (l) => l.group === 'hostile' && /event:/.test(l.msg) && (l.onset_s as number) > 45,
    'a hostile event in the second pass',
    120_000,
  );
  const first = daemon.log.items.filter((l) => l.group === 'hostile' && /event:/.test(l.msg) && (l.onset_s as number) < 45).map((l) => l.onset_s as number);
  t.ok(
    first.some((onset) => Math.abs(onset + 45 - (second.onset_s as number)) < 0.5),
    `the second pass hears a gunshot of the first again, 45 s later (${first.join(', ')} → ${second.onset_s})`,
  );
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  t.equal(exit.code, 0, daemon.stderr());
  t.ok(
    daemon.log.items.some((l) => l.msg === 'stopped by signal'),
    'stopped by the signal, not the end of the file',
  );
});
