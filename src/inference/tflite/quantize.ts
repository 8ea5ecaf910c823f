/**
 * Affine (de)quantization between float32 and the integer tensors of quantized TFLite models,
 * exactly as TFLite's reference kernels (`AffineQuantize` / `Dequantize`) do it:
 *
 *   q = clamp(round(x / scale) + zeroPoint, qmin, qmax)      x = scale · (q − zeroPoint)
 *
 * `round` is TFLite's `TfLiteRound` = C++ `std::round`: round half AWAY from zero (2.5 → 3,
 * −2.5 → −3), unlike JavaScript's Math.round (half up: −2.5 → −2). `x / scale` is rounded to
 * float32 first (Math.fround) as the C++ float division does, so ties land the same way.
 * NaN maps to the zero point (real 0). qmin..qmax is the dtype's range: int8 −128..127,
 * uint8 0..255, int16 −32768..32767.
 */
import type { TensorQuantization, TfliteDtype } from './model-file.js';

export type QuantizedArray = Int8Array | Uint8Array | Int16Array;

/** The integer range of a quantized dtype, or undefined when the dtype is not int8/uint8/int16. */
export function quantizedRange(dtype: TfliteDtype): { min: number; max: number } | undefined {
  switch (dtype) {
    case 'int8':
      return { min: -128, max: 127 };
    case 'uint8':
      return { min: 0, max: 255 };
    case 'int16':
      return { min: -32768, max: 32767 };
    default:
      return undefined;
  }
}

/** Round half away from zero, as C++ std::round. */
export function roundHalfAwayFromZero(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Quantizes one value (see the module comment). */
export function quantizeValue(x: number, q: TensorQuantization, min: number, max: number): number {
  const scaled = Math.fround(x / q.scale);
  if (Number.isNaN(scaled)) return Math.min(max, Math.max(min, q.zeroPoint));
  const v = roundHalfAwayFromZero(scaled) + q.zeroPoint;
  return v < min ? min : v > max ? max : v;
}

/** Quantizes `src` into `dst` (same length) with the tensor's per-tensor scale and zero point. */
export function quantizeInto(src: ArrayLike<number>, dst: QuantizedArray, q: TensorQuantization, min: number, max: number): void {
  const scale = q.scale;
  const zp = q.zeroPoint;
  for (let i = 0; i < dst.length; i++) {
    const scaled = Math.fround(src[i]! / scale);
    let v: number;
    if (Number.isNaN(scaled)) {
      v = zp;
    } else {
      v = (scaled < 0 ? -Math.round(-scaled) : Math.round(scaled)) + zp;
    }
    dst[i] = v < min ? min : v > max ? max : v;
  }
}

/** Dequantizes `src` into `dst` (same length): x = scale · (q − zeroPoint), in float32. */
export function dequantizeInto(src: ArrayLike<number>, dst: Float32Array, q: TensorQuantization): void {
  const scale = q.scale;
  const zp = q.zeroPoint;
  for (let i = 0; i < dst.length; i++) dst[i] = scale * (src[i]! - zp);
}
