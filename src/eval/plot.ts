/**
 * Pictures of what the model heard, drawn with `@napi-rs/canvas` (Skia): per file, the log-mel
 * spectrogram, the mapped label scores over time with their thresholds, and the detected and
 * reference events as coloured spans; for `earshot tune`, the precision/recall/false-alarm
 * trade-off against each label's threshold.
 */
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import type { ScoredEvent } from './metrics.js';

/** A score curve to draw: a label (eval), or a model class and the label it is mapped to (clip pictures). */
export interface PlotLabel {
  /** The curve's name: an earshot label, or a model class. */
  name: string;
  /** For a model class: the earshot label it is mapped to (the legend names it; its events take the curve's colour). */
  label?: string;
  /** The threshold of the label (of `label` for a model class). */
  threshold: number;
}

/** Mel scale (HTK): 1127 · ln(1 + f / 700), as the front end's band edges (src/frontend/logmel.ts). */
const mel = (hz: number) => 1127 * Math.log(1 + hz / 700);
/** The spectrogram's frequency range (the front end's band edges). */
const MEL_LOW_HZ = 125;
const MEL_HIGH_HZ = 7500;
/** Frequency ticks on the spectrogram (Hz). */
const FREQUENCY_TICKS = [250, 500, 1000, 2000, 4000, 7500];

/** Everything the per-file picture shows. */
export interface FilePlotData {
  title: string;
  durationSeconds: number;
  /** Log-mel frames, `frameCount × melBands`, frame i starting at i · 10 ms. */
  frames: Float32Array;
  melBands: number;
  /** Per patch: its centre time (s) and one score per label (null = gated by the silence gate). */
  patches: { timeSeconds: number; scores: ArrayLike<number> | null }[];
  labels: PlotLabel[];
  reference: ScoredEvent[];
  detected: ScoredEvent[];
}

const PALETTE = ['#d62728', '#ff7f0e', '#1f77b4', '#9467bd', '#2ca02c', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = '13px "DejaVu Sans", sans-serif';

/** A fixed colour per label name (stable across pictures). */
export function labelColour(name: string, names: readonly string[]): string {
  const index = names.indexOf(name);
  return index >= 0 ? PALETTE[index % PALETTE.length] : '#aaaaaa';
}

/** Viridis-like colour ramp for 0..1 (5 stops of matplotlib's viridis, linearly interpolated). */
function ramp(x: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const t = Math.min(1, Math.max(0, x)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t));
  const f = t - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))) as [number, number, number];
}

function timeAxis(ctx: SKRSContext2D, x0: number, width: number, y: number, duration: number): void {
  ctx.fillStyle = '#333';
  ctx.font = FONT;
  const step = duration > 120 ? 30 : duration > 40 ? 5 : duration > 10 ? 2 : 0.5;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const x = x0 + (t / duration) * width;
    ctx.fillRect(x, y, 1, 5);
    ctx.fillText(`${Number(t.toFixed(1))}`, x - 8, y + 18);
  }
  ctx.fillText('time (s)', x0 + width - 50, y + 34);
}

/**
 * Draws one file's picture.
 * @returns a PNG
 */
export function drawFilePlot(data: FilePlotData, width = 1600): Buffer {
  const left = 110;
  const right = 20;
  const plotWidth = width - left - right;
  const specTop = 40;
  const specHeight = 192;
  // The legend has its own rows between the spectrogram and the scores (points near 1.0 stay visible).
  const legendColumns = data.labels.some((x) => x.label) ? 2 : 6;
  const legendTop = specTop + specHeight + 8;
  const legendRows = Math.max(1, Math.ceil(data.labels.length / legendColumns));
  const scoreTop = legendTop + 16 * legendRows + 6;
  const scoreHeight = 200;
  const spanTop = scoreTop + scoreHeight + 20;
  const spanRow = 22;
  const height = spanTop + 2 * spanRow + 60;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#000';
  ctx.font = 'bold 15px "DejaVu Sans", sans-serif';
  ctx.fillText(data.title, left, 24);
  const duration = Math.max(data.durationSeconds, 0.01);
  const xOf = (t: number) => left + (t / duration) * plotWidth;

  // Log-mel spectrogram, scaled to the file's own 1st..99.5th percentile.
  const frameCount = Math.floor(data.frames.length / data.melBands);
  if (frameCount > 0) {
    const sorted = Float32Array.from(data.frames).sort();
    const lo = sorted[Math.floor(0.01 * (sorted.length - 1))];
    const hi = sorted[Math.floor(0.995 * (sorted.length - 1))];
    const image = ctx.createImageData(frameCount, data.melBands);
    for (let f = 0; f < frameCount; f++) {
      for (let m = 0; m < data.melBands; m++) {
        const [r, g, b] = ramp((data.frames[f * data.melBands + m] - lo) / Math.max(1e-6, hi - lo));
        const o = 4 * ((data.melBands - 1 - m) * frameCount + f);
        image.data[o] = r;
        image.data[o + 1] = g;
        image.data[o + 2] = b;
        image.data[o + 3] = 255;
      }
    }
    const tile = createCanvas(frameCount, data.melBands);
    tile.getContext('2d').putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tile, left, specTop, Math.min(plotWidth, ((frameCount * 0.01 + 0.015) / duration) * plotWidth), specHeight);
  }
  ctx.fillStyle = '#333';
  ctx.font = FONT;
  ctx.fillText('log-mel', 10, specTop + 20);
  ctx.fillText('(Hz)', 10, specTop + 38);
  // Frequency ticks, placed on the mel scale the bands are spaced on.
  for (const hz of FREQUENCY_TICKS) {
    const y = specTop + specHeight - ((mel(hz) - mel(MEL_LOW_HZ)) / (mel(MEL_HIGH_HZ) - mel(MEL_LOW_HZ))) * specHeight;
    const text = hz >= 1000 ? `${hz / 1000}k` : `${hz}`;
    ctx.fillRect(left - 5, Math.round(y), 5, 1);
    ctx.fillText(text, left - 9 - ctx.measureText(text).width, Math.min(specTop + specHeight, Math.max(specTop + 9, y + 4)));
  }

  // Scores and thresholds.
  const names = data.labels.map((l) => l.name);
  ctx.strokeStyle = '#ccc';
  ctx.strokeRect(left, scoreTop, plotWidth, scoreHeight);
  const yOf = (score: number) => scoreTop + scoreHeight - score * scoreHeight;
  ctx.fillStyle = '#333';
  for (const s of [0, 0.5, 1]) ctx.fillText(s.toFixed(1), left - 30, yOf(s) + 4);
  ctx.fillText('scores', 10, scoreTop + 20);
  data.labels.forEach((label, l) => {
    const colour = labelColour(label.name, names);
    ctx.strokeStyle = colour;
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, yOf(label.threshold));
    ctx.lineTo(left + plotWidth, yOf(label.threshold));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    // A patch with no scored neighbour (an event of one patch) has no line: it is drawn as a point.
    const isolated: { x: number; y: number }[] = [];
    data.patches.forEach((patch, i) => {
      if (!patch.scores) {
        drawing = false;
        return;
      }
      const x = xOf(patch.timeSeconds);
      const y = yOf(patch.scores[l]);
      if (drawing) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      if (!drawing && !data.patches[i + 1]?.scores) isolated.push({ x, y });
      drawing = true;
    });
    ctx.stroke();
    ctx.fillStyle = colour;
    for (const { x, y } of isolated) {
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    const legend = `${label.name}${label.label && label.label !== label.name ? ` → ${label.label}` : ''} (threshold ${label.threshold})`;
    ctx.fillText(legend, left + (plotWidth / legendColumns) * (l % legendColumns), legendTop + 13 + 16 * Math.floor(l / legendColumns));
  });
  ctx.lineWidth = 1;

  // Event spans: reference above, detected below, in the colour of their label's (first) curve;
  // labels with no curve in grey.
  const spanNames = data.labels.map((l) => l.label ?? l.name);
  const rows: [string, ScoredEvent[]][] = [
    ['reference', data.reference],
    ['detected', data.detected],
  ];
  rows.forEach(([title, events], row) => {
    const y = spanTop + row * spanRow;
    ctx.fillStyle = '#333';
    ctx.fillText(title, 10, y + 15);
    ctx.strokeStyle = '#ddd';
    ctx.strokeRect(left, y, plotWidth, spanRow - 4);
    for (const e of events) {
      ctx.fillStyle = labelColour(e.label, spanNames);
      const x = xOf(e.onset);
      const w = Math.max(2, xOf(Math.min(e.offset, duration)) - x);
      ctx.fillRect(x, y, w, spanRow - 4);
      ctx.fillStyle = '#000';
      ctx.fillText(e.label, x + 2, y + 14);
    }
  });
  timeAxis(ctx, left, plotWidth, spanTop + 2 * spanRow, duration);
  return canvas.toBuffer('image/png');
}

/** One point of a threshold sweep. */
export interface TradeoffPoint {
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  falseAlarmsPerHour: number;
}

/**
 * Draws, per label, precision, recall and F1 (left axis, 0..1) and false alarms per hour (right
 * axis) against the label's threshold, with the chosen threshold marked.
 * @returns a PNG
 */
export function drawTradeoff(curves: { label: string; chosen: number; points: TradeoffPoint[] }[], budget: number, width = 1400): Buffer {
  const panelWidth = width / Math.max(1, curves.length);
  const height = 420;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = FONT;
  const maxFa = Math.max(budget * 2, ...curves.flatMap((c) => c.points.map((p) => p.falseAlarmsPerHour)));
  curves.forEach((curve, i) => {
    const x0 = i * panelWidth + 50;
    const w = panelWidth - 100;
    const top = 40;
    const h = height - 110;
    const xOf = (t: number) => x0 + t * w;
    const yOf = (v: number) => top + h - v * h;
    ctx.strokeStyle = '#999';
    ctx.strokeRect(x0, top, w, h);
    ctx.fillStyle = '#000';
    ctx.font = 'bold 14px "DejaVu Sans", sans-serif';
    ctx.fillText(`${curve.label}`, x0, top - 12);
    ctx.font = FONT;
    const series: [keyof TradeoffPoint, string, number][] = [
      ['precision', '#1f77b4', 1],
      ['recall', '#2ca02c', 1],
      ['f1', '#000000', 1],
      ['falseAlarmsPerHour', '#d62728', maxFa],
    ];
    series.forEach(([key, colour, scale], s) => {
      ctx.strokeStyle = colour;
      ctx.lineWidth = key === 'f1' ? 2.5 : 1.5;
      ctx.beginPath();
      curve.points.forEach((p, j) => {
        const x = xOf(p.threshold);
        const y = yOf((p[key] as number) / scale);
        if (j) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      ctx.stroke();
      ctx.fillStyle = colour;
      ctx.fillText(
        key === 'falseAlarmsPerHour' ? `false alarms/h (0–${maxFa.toFixed(0)})` : key,
        x0 + 5 + 110 * (s % 2),
        top + h + 52 + 16 * Math.floor(s / 2),
      );
    });
    ctx.strokeStyle = '#d62728';
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x0, yOf(budget / maxFa));
    ctx.lineTo(x0 + w, yOf(budget / maxFa));
    ctx.stroke();
    ctx.strokeStyle = '#555';
    ctx.beginPath();
    ctx.moveTo(xOf(curve.chosen), top);
    ctx.lineTo(xOf(curve.chosen), top + h);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    ctx.fillStyle = '#333';
    for (const t of [0, 0.25, 0.5, 0.75, 1]) ctx.fillText(t.toFixed(2), xOf(t) - 12, top + h + 16);
    for (const v of [0, 0.5, 1]) {
      ctx.fillStyle = '#333';
      ctx.fillText(v.toFixed(1), x0 - 28, yOf(v) + 4);
      ctx.fillStyle = '#d62728';
      ctx.fillText(`${(v * maxFa).toFixed(0)}/h`, x0 + w + 4, yOf(v) + 4);
    }
    ctx.fillStyle = '#333';
    ctx.fillText(`threshold (chosen ${curve.chosen})`, x0 + w / 2 - 60, top + h + 34);
  });
  return canvas.toBuffer('image/png');
}
