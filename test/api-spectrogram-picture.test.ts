/**
 * The clip picture (issue 23 item 3): only classes mapped to an enabled label are drawn, each with
 * its own label's threshold; an event of one patch shows its scores as points (the panel was
 * empty); the spectrogram has frequency ticks. The PNG is read back pixel by pixel.
 */
import { loadImage, createCanvas } from '@napi-rs/canvas';
import t from 'tap';
import { scoreCurves } from '../src/api/spectrogram.js';
import type { PatchScore } from '../src/api/queries.js';
import { defaultConfig } from '../src/config/load.js';
import { drawFilePlot } from '../src/eval/plot.js';

const labels = defaultConfig().detection.labels;
const row = (patch: number, rank: number, cls: string, score: number): PatchScore => ({
  patch_index: patch,
  start_s: patch * 0.48,
  rank,
  model_id: 'yamnet_waveform',
  class: cls,
  score,
});

t.test("curves: mapped classes only, each with its label's threshold", async (t) => {
  const scores = [
    row(5, 1, 'Gunshot, gunfire', 0.75),
    row(5, 2, 'Inside, small room', 0.7),
    row(5, 3, 'Explosion', 0.67),
    row(5, 4, 'Speech', 0.3),
    row(5, 5, 'Silence', 0.2),
  ];
  const curves = scoreCurves(scores, labels);
  t.same(
    curves.map((c) => c.name),
    ['Gunshot, gunfire', 'Explosion', 'Speech'],
    'unmapped classes (Inside, small room; Silence) are left out',
  );
  t.same(
    curves.map((c) => [c.label, c.threshold]),
    [
      ['gunshot', labels.gunshot.threshold],
      ['explosion', labels.explosion.threshold],
      ['speech', labels.speech.threshold],
    ],
    "each with its own label and that label's threshold",
  );
  t.not(labels.gunshot.threshold, labels.explosion.threshold, '(the two thresholds differ, so the test tells them apart)');
  const disabled = { ...labels, speech: { ...labels.speech, enabled: false } };
  t.same(
    scoreCurves(scores, disabled).map((c) => c.name),
    ['Gunshot, gunfire', 'Explosion'],
    "a disabled label's classes are not drawn",
  );
});

t.test('a one-patch event: its scores are drawn as points', async (t) => {
  const melBands = 64;
  const frames = new Float32Array(500 * melBands).map((_, i) => Math.sin(i));
  const width = 1000;
  const png = drawFilePlot(
    {
      title: 'one patch',
      durationSeconds: 5,
      frames,
      melBands,
      patches: [{ timeSeconds: 2.5, scores: [0.75, 0.3] }],
      labels: [
        { name: 'Gunshot, gunfire', label: 'gunshot', threshold: 0.2 },
        { name: 'Speech', label: 'speech', threshold: 0.5 },
      ],
      reference: [],
      detected: [{ filename: 'x', onset: 2, offset: 3, label: 'gunshot' }],
    },
    width,
  );
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const x = Math.round(110 + (2.5 / 5) * (width - 130));
  const column = ctx.getImageData(x, 0, 1, image.height).data;
  const rgb = (y: number) => [column[4 * y], column[4 * y + 1], column[4 * y + 2]];
  const coloured = (y: number) => {
    const [r, g, b] = rgb(y);
    return Math.max(r, g, b) - Math.min(r, g, b) > 80;
  };
  // Down the column through the patch: runs of coloured pixels. Points are discs 8 px across;
  // threshold lines are 1 px; the detected span at the bottom is 18 px.
  const runs: { top: number; height: number }[] = [];
  // From below the spectrogram (rows 40..232).
  for (let y = 240; y < image.height; y++) {
    if (!coloured(y)) continue;
    const last = runs.at(-1);
    if (last && last.top + last.height === y) last.height += 1;
    else runs.push({ top: y, height: 1 });
  }
  const points = runs.filter((r) => r.height >= 5 && r.height <= 11);
  t.equal(points.length, 2, `two points in the column (runs: ${JSON.stringify(runs)})`);
  const distance = points.length === 2 ? points[1].top - points[0].top : 0;
  // The scores panel is 200 px tall: 0.75 and 0.3 are 90 px apart.
  t.ok(Math.abs(distance - 90) <= 3, `the points are 0.45 of the panel apart (${distance} px)`);
  // Frequency ticks: short dark marks left of the spectrogram.
  const ticks = ctx.getImageData(107, 40, 1, 192).data;
  const marks = [...Array(192).keys()].filter((y) => ticks[4 * y] < 0x60).length;
  t.ok(marks >= 5, `frequency tick marks beside the spectrogram (${marks})`);
});
