/**
 * The mel filterbank of the YAMNet / VGGish front end: a port of
 * `tf.signal.linear_to_mel_weight_matrix` (tensorflow/python/ops/signal/mel_ops.py), which
 * YAMNet's `features.py` (tensorflow/models, research/audioset/yamnet) calls. VGGish's
 * `mel_features.py` builds the same matrix in numpy.
 */
import { MEL_BANDS, SAMPLE_RATE } from '../constants.js';

/** Hz → HTK mel: `1127 · ln(1 + hz / 700)` (the scale tf.signal and VGGish use). */
export function hzToMel(hz: number): number {
  return 1127 * Math.log1p(hz / 700);
}

/** Parameters of {@link melFilterbank}; every field has the YAMNet default. */
export interface MelFilterbankOptions {
  /** Number of mel bands (output columns). Default 64. */
  melBands?: number;
  /** Number of linear spectrum bins, `n_fft / 2 + 1`. Default 257 (n_fft 512). */
  spectrumBins?: number;
  /** Sample rate in Hz; the bins span 0..sampleRateHz / 2. Default 16000. */
  sampleRateHz?: number;
  /** Lower edge of the lowest band in Hz. Default 125. */
  fMinHz?: number;
  /** Upper edge of the highest band in Hz. Default 7500. */
  fMaxHz?: number;
}

/**
 * The mel weight matrix, shape `[spectrumBins][melBands]` row-major (the layout of
 * `tf.signal.linear_to_mel_weight_matrix`), so `mel[b] = Σ_k spectrum[k] · W[k · melBands + b]`.
 *
 * Band edges are `melBands + 2` points evenly spaced in HTK mel from `fMinHz` to `fMaxHz`; the
 * weight of bin k (frequency `k · (sampleRateHz / 2) / (spectrumBins − 1)`) in band b is the
 * triangle `max(0, min(rising, falling))` evaluated in the mel domain, and the DC bin's row is
 * zero (tf.signal drops it because its mel is 0 and it would otherwise leak into the lowest band
 * whenever fMinHz is 0). Computed in float64.
 *
 * @throws RangeError when melBands or spectrumBins is not a positive integer (spectrumBins ≥ 2),
 *   sampleRateHz is not positive, or not `0 ≤ fMinHz < fMaxHz ≤ sampleRateHz / 2` (the checks
 *   tf.signal makes).
 */
export function melFilterbank(options: MelFilterbankOptions = {}): Float64Array {
  const { melBands = MEL_BANDS, spectrumBins = 257, sampleRateHz = SAMPLE_RATE, fMinHz = 125, fMaxHz = 7500 } = options;
  if (!Number.isInteger(melBands) || melBands < 1) {
    throw new RangeError(`melFilterbank: melBands must be a positive integer, got ${melBands}`);
  }
  if (!Number.isInteger(spectrumBins) || spectrumBins < 2) {
    throw new RangeError(`melFilterbank: spectrumBins must be an integer ≥ 2, got ${spectrumBins}`);
  }
  if (!(sampleRateHz > 0) || !Number.isFinite(sampleRateHz)) {
    throw new RangeError(`melFilterbank: sampleRateHz must be positive, got ${sampleRateHz}`);
  }
  const nyquistHz = sampleRateHz / 2;
  if (!(fMinHz >= 0 && fMinHz < fMaxHz && fMaxHz <= nyquistHz)) {
    throw new RangeError(`melFilterbank: need 0 ≤ fMinHz < fMaxHz ≤ ${nyquistHz} Hz (Nyquist), got fMinHz ${fMinHz}, fMaxHz ${fMaxHz}`);
  }

  const melLo = hzToMel(fMinHz);
  const melHi = hzToMel(fMaxHz);
  const edges = new Float64Array(melBands + 2);
  // numpy/tf linspace: start + i·step, with the last point pinned to stop.
  const step = (melHi - melLo) / (melBands + 1);
  for (let i = 0; i < edges.length; i++) edges[i] = melLo + i * step;
  edges[melBands + 1] = melHi;

  const weights = new Float64Array(spectrumBins * melBands);
  const binHz = nyquistHz / (spectrumBins - 1);
  for (let k = 1; k < spectrumBins; k++) {
    const mel = hzToMel(k * binHz);
    const row = k * melBands;
    for (let b = 0; b < melBands; b++) {
      const lower = edges[b];
      const center = edges[b + 1];
      const upper = edges[b + 2];
      const rising = (mel - lower) / (center - lower);
      const falling = (upper - mel) / (upper - center);
      const w = Math.min(rising, falling);
      if (w > 0) weights[row + b] = w;
    }
  }
  return weights;
}

/**
 * The non-zero part of a mel weight matrix, band by band: band b uses spectrum bins
 * `firstBin[b] .. firstBin[b] + binCount[b] − 1` with weights `weights[offset[b] ..]`.
 * A triangle covers a handful of bins, so this is ~30× less work per frame than the dense
 * 257 × 64 product.
 */
export interface SparseMelBands {
  readonly melBands: number;
  readonly firstBin: Int32Array;
  readonly binCount: Int32Array;
  readonly offset: Int32Array;
  readonly weights: Float64Array;
  /** Lowest and one past the highest bin any band uses: magnitudes outside are never read. */
  readonly minBin: number;
  readonly endBin: number;
}

/**
 * Packs a dense `[spectrumBins][melBands]` matrix from {@link melFilterbank} into
 * {@link SparseMelBands}. Zero weights inside a band's span are kept, so the sum is over
 * exactly the same terms in the same order as the dense product restricted to non-zero rows.
 */
export function sparseMelBands(dense: Float64Array, spectrumBins: number, melBands: number): SparseMelBands {
  if (dense.length !== spectrumBins * melBands) {
    throw new RangeError(`sparseMelBands: matrix has ${dense.length} weights, expected ${spectrumBins} × ${melBands}`);
  }
  const firstBin = new Int32Array(melBands);
  const binCount = new Int32Array(melBands);
  const offset = new Int32Array(melBands);
  let total = 0;
  let minBin = spectrumBins;
  let endBin = 0;
  for (let b = 0; b < melBands; b++) {
    let lo = -1;
    let hi = -1;
    for (let k = 0; k < spectrumBins; k++) {
      if (dense[k * melBands + b] !== 0) {
        if (lo < 0) lo = k;
        hi = k;
      }
    }
    // A band narrower than one bin spacing can be empty; it then sums to 0 like the dense one.
    if (lo < 0) {
      firstBin[b] = 0;
      binCount[b] = 0;
    } else {
      firstBin[b] = lo;
      binCount[b] = hi - lo + 1;
      minBin = Math.min(minBin, lo);
      endBin = Math.max(endBin, hi + 1);
    }
    offset[b] = total;
    total += binCount[b];
  }
  const weights = new Float64Array(total);
  for (let b = 0; b < melBands; b++) {
    for (let j = 0; j < binCount[b]; j++) {
      weights[offset[b] + j] = dense[(firstBin[b] + j) * melBands + b];
    }
  }
  if (minBin > endBin) minBin = endBin;
  return { melBands, firstBin, binCount, offset, weights, minBin, endBin };
}
