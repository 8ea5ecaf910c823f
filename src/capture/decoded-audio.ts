/**
 * What the audio file readers (wav.ts, flac.ts) return and the limits both check: apart, so
 * wav.ts can hand FLAC files to flac.ts without flac.ts importing wav.ts back.
 */

/** A decoded WAV file: its original format plus a mono downmix at the original rate. */
export interface DecodedWav {
  /** Sample rate in Hz, as stored in the file (not resampled). */
  readonly sampleRate: number;
  /** Channel count in the file (the downmix in `mono` has one). */
  readonly channels: number;
  /** Sample frames per channel (= `mono.length`). */
  readonly frames: number;
  /** Duration in seconds (`frames / sampleRate`). */
  readonly durationSeconds: number;
  /** Human-readable encoding for logs, e.g. `"16-bit signed PCM"` or `"32-bit float (extensible)"`. */
  readonly encoding: string;
  /** The WAVE format tag that decided the decoding: 1 (PCM) or 3 (IEEE float); the subformat's for extensible files. */
  readonly formatTag: number;
  /** Bits per sample as stored (the container size, e.g. 24 for packed 24-bit). */
  readonly bitsPerSample: number;
  /**
   * The downmix: the average of all channels per frame, float32 in −1..1 (int16 / 32768,
   * u8 (x − 128) / 128, s24 / 8388608, s32 / 2147483648; float samples as stored), length `frames`.
   */
  readonly mono: Float32Array;
}

/**
 * Sample rates accepted (Hz). Below 1 kHz no recording earshot could use exists, and a header
 * claiming a few Hz would make a short file hours of upsampling work; above 192 kHz the
 * resampler (libsamplerate-js) refuses the rate. Checked here, so `doctor`, `analyze` and the
 * daemon refuse the same files with the same line.
 */
export const MIN_SAMPLE_RATE = 1000;
export const MAX_SAMPLE_RATE = 192000;
/** Channels accepted: WAVE_FORMAT_EXTENSIBLE names 18 speaker positions; 64 leaves room for arrays. */
export const MAX_CHANNELS = 64;

/** A WAV file read piece by piece: its format up front, then its mono downmix in blocks. */
export interface WavStream {
  /** The file as {@link DecodedWav} describes it, without the samples. */
  readonly info: Omit<DecodedWav, 'mono'>;
  /**
   * The next frames' mono downmix (as {@link DecodedWav.mono}), at most `maxFrames`; null at the end.
   * @throws EarshotError naming the file when a read fails
   */
  read(maxFrames: number): Promise<Float32Array | null>;
  /** Closes the file (idempotent). */
  close(): Promise<void>;
}
