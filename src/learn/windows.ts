/**
 * Which windows (patches) of a labelled clip teach the head what, and as which label.
 *
 * A window is the model's input span: 15600 samples (0.975 s) from the patch's first sample.
 *
 * - **Clip-level labels** (pool folders: the class of the whole clip): the windows within 10 dB of
 *   the clip's loudest window (RMS) carry the label; quieter ones may hold only the tail or the
 *   silence around the event, so they are left out (neither positive nor negative). For the
 *   background label every window counts: any part of a background recording or confuser is a
 *   valid negative.
 * - **Spans** (DCASE annotations, pulled clips): a window carries a span's label when their overlap
 *   is at least half of the shorter of the two (a 0.3 s gunshot inside the window counts; 0.2 s of
 *   a 3 s scream does not). A window that overlaps no span at all is background. Anything between
 *   (a small overlap) is ambiguous and left out. When a window qualifies for several spans, a
 *   hostile label wins over a non-hostile one, then the larger overlap, then the label name.
 * - **Ambience** recordings: every window is background.
 */
import { DEFAULT_LABELS } from '../config/labels.js';
import { BACKGROUND_LABEL, type LabelledSpan } from './dataset.js';
import { PATCH_SAMPLES, SAMPLE_RATE } from '../constants.js';

/** A window within this many dB of the loudest window of a clip-labelled clip is a positive. */
export const LOUD_WINDOW_DB = 10;
/** Minimum overlap, as a fraction of the shorter of window and span, for a window to carry a span's label. */
export const SPAN_OVERLAP_FRACTION = 0.5;

/** Labels in the hostile group by default (gunshot, explosion, glass_break, scream). */
export const HOSTILE_LABELS: ReadonlySet<string> = new Set(
  Object.entries(DEFAULT_LABELS)
    .filter(([, l]) => l.group === 'hostile')
    .map(([name]) => name),
);

/**
 * Labels of a clip-labelled clip's windows.
 * @param dbfs RMS level of each window, dBFS (−Infinity for silence)
 * @returns per window the label, or null (left out)
 */
export function clipWindowLabels(label: string, dbfs: ArrayLike<number>): (string | null)[] {
  if (label === BACKGROUND_LABEL) return Array.from({ length: dbfs.length }, () => label);
  let loudest = -Infinity;
  for (let i = 0; i < dbfs.length; i++) loudest = Math.max(loudest, dbfs[i]!);
  if (loudest === -Infinity) return Array.from({ length: dbfs.length }, () => null);
  return Array.from(dbfs, (level) => (level >= loudest - LOUD_WINDOW_DB ? label : null));
}

/**
 * Labels of an annotated clip's windows.
 * @param startSamples first sample of each window, 16 kHz
 * @param spans labelled spans, seconds
 * @returns per window the label, the background label, or null (ambiguous: left out)
 */
export function spanWindowLabels(
  startSamples: ArrayLike<number>,
  spans: readonly LabelledSpan[],
  hostile: ReadonlySet<string> = HOSTILE_LABELS,
  sampleRate = SAMPLE_RATE,
): (string | null)[] {
  const windowS = PATCH_SAMPLES / sampleRate;
  return Array.from(startSamples, (start) => {
    const t0 = start / sampleRate;
    const t1 = t0 + windowS;
    let best: { label: string; overlap: number; hostile: boolean } | null = null;
    let touched = false;
    for (const span of spans) {
      const overlap = Math.min(t1, span.offset) - Math.max(t0, span.onset);
      // A zero-length span (a point label) marks its instant.
      const spanLength = Math.max(span.offset - span.onset, 1e-3);
      const effective = span.offset === span.onset ? (span.onset >= t0 && span.onset <= t1 ? spanLength : -1) : overlap;
      if (effective <= 0) continue;
      if (span.label === BACKGROUND_LABEL) continue; // an explicit background span is like no span
      touched = true;
      if (effective < SPAN_OVERLAP_FRACTION * Math.min(windowS, spanLength)) continue;
      const candidate = { label: span.label, overlap: effective, hostile: hostile.has(span.label) };
      if (
        !best ||
        (candidate.hostile && !best.hostile) ||
        (candidate.hostile === best.hostile && (candidate.overlap > best.overlap || (candidate.overlap === best.overlap && candidate.label < best.label)))
      ) {
        best = candidate;
      }
    }
    if (best) return best.label;
    return touched ? null : BACKGROUND_LABEL;
  });
}
