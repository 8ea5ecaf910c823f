// The dev scenes joined into one long WAV, for the soak, benchmark and pull checks in scripts/
// (not part of `npm test`). Needs `npm run build` (it reads and writes WAV with earshot's own code).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SHARED = join(REPO, '../shared');
const DEV = join(SHARED, 'audio/scenes/dev');

/**
 * Joins `mixed_00.wav`, `mixed_01.wav`, ... (45 s each, 16 kHz mono s16) until `minSeconds`, from
 * scene `first` on, and writes them to `outPath` as 16 kHz mono s16 (the samples unchanged).
 * @returns the scene file names, the audio length (s), and the DCASE annotations of the joined
 *   file (onsets and offsets shifted by each scene's start)
 */
export async function joinDevScenes(outPath, minSeconds, first = 0) {
  const { readWav } = await import(join(REPO, 'dist/capture/wav.js'));
  const { encodeWav16 } = await import(join(REPO, 'dist/store/clip-writer.js'));
  const annotations = readFileSync(join(DEV, 'annotations.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .map(([filename, onset, offset, label]) => ({ filename, onset: Number(onset), offset: Number(offset), label }));
  const parts = [];
  const scenes = [];
  const references = [];
  let samples = 0;
  for (let n = first; samples < minSeconds * 16000; n++) {
    const name = `mixed_${String(n).padStart(2, '0')}.wav`;
    let mono;
    try {
      mono = readWav(join(DEV, name)).mono;
    } catch (error) {
      throw new Error(`not enough dev scenes for ${minSeconds} s (${name}: ${error.message})`);
    }
    for (const a of annotations) if (a.filename === name) references.push({ ...a, filename: undefined, onset: a.onset + samples / 16000, offset: a.offset + samples / 16000 });
    scenes.push(name);
    parts.push(mono);
    samples += mono.length;
  }
  const joined = new Float32Array(samples);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  writeFileSync(outPath, encodeWav16(joined, 16000));
  return { scenes, seconds: samples / 16000, references };
}
