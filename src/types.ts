/**
 * Types shared by more than one pipeline stage. Data flows one way:
 * capture → front end → inference → detection → store/transport. Constants (the sample rate,
 * the log-mel framing) are in ./constants.ts.
 */

/**
 * A run of 16 kHz mono float32 samples (−1..1) and the absolute index of its first sample,
 * counted from the start of the stream (sample 0 = stream start). Indices only grow; a gap in
 * capture advances the index by the lost duration.
 */
export interface AudioChunk {
  /** Absolute index of `samples[0]`, in samples at 16 kHz. */
  readonly startSample: number;
  /** Mono samples, float32 in −1..1. */
  readonly samples: Float32Array;
}

/** Label groups: what an alert subscriber cares about first. */
export type LabelGroup = 'hostile' | 'non_hostile';
