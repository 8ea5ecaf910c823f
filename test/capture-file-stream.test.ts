/**
 * Memory (issue 24, item 9): a file source reads its WAV block by block, so a long recording is
 * never held whole (a 30-minute file was 57.6 MB of bytes plus 115 MB of float32 samples, and
 * took the daemon past the unit's MemoryMax=512M at `pacing: fast`). Here a 10-minute file
 * (19.2 MB) plays through the file source while the memory held in ArrayBuffers is sampled: it
 * stays far below the 55 MB the whole decoded file took. Garbage is collected before each sample,
 * so what is measured is what the source holds, not what the collector has not reached yet.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { FileSource } from '../src/capture/file-source.js';
import { encodeWav16 } from '../src/store/clip-writer.js';

// A full collection on demand, without a node flag for the whole suite.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

t.test('a 10-minute WAV plays without being held in memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-stream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seconds = 600;
  const samples = new Float32Array(seconds * 16000);
  for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin(i / 7) * (i % 16000 < 8000 ? 1 : 0.1);
  const path = join(dir, 'long.wav');
  writeFileSync(path, encodeWav16(samples, 16000));
  collectGarbage();
  const baseline = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let delivered = 0;
  let checksum = 0;
  const source = new FileSource(path, { pacing: 'fast', chunkSamples: 1600 });
  const info = await source.open();
  for await (const chunk of source.chunks()) {
    delivered += chunk.samples.length;
    checksum += chunk.samples[0];
    if (delivered % (1600 * 200) === 0) {
      collectGarbage();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }
  }
  t.equal(delivered, info.samples, 'every sample delivered');
  t.equal(delivered, samples.length, 'as many as were written');
  t.ok(Number.isFinite(checksum), 'real samples');
  t.ok(
    peak < 24 * 1048576,
    `ArrayBuffer memory above the start stayed ${(peak / 1048576).toFixed(1)} MB while playing a ${((samples.length * 2) / 1048576).toFixed(1)} MB file (whole: ${((samples.length * 6) / 1048576).toFixed(0)} MB)`,
  );
});
