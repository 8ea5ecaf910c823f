/**
 * What a model asks of the front end: the input descriptions a model manifest carries
 * (src/inference/manifest.ts reads and validates them; src/frontend/front-end-group.ts builds one
 * log-mel front end per distinct description). Types only, so the front end needs nothing from
 * the inference layer above it.
 */

/** The model takes 15600 samples (0.975 s) of 16 kHz waveform in −1..1. */
export interface WaveformInput {
  kind: 'waveform';
  /** Hz; earshot captures and serves 16000 only. Filled by the schema's default. */
  sample_rate_hz?: number;
  /** Samples per model input; 15600 (0.975 s: YAMNet's 96 frames of 25 ms every 10 ms). */
  window_samples?: number;
  /**
   * The hop between windows, in 10 ms frames, the model was made for (48 = 0.48 s, YAMNet's).
   * Informational: the pipeline hops by the config's `frontend.hop_frames`.
   */
  hop_frames?: number;
}

/** The model takes one log-mel patch of 96 frames × 64 mel bands. */
export interface LogMelPatchInput {
  kind: 'logmel_patch';
  /** `frames_mels` = [96][64] (YAMNet), `mels_frames` = [64][96] (ST models). */
  layout: 'frames_mels' | 'mels_frames';
  /** Added before the natural log: 0.001 (YAMNet) or 1e-4 (ST). */
  log_offset: number;
  /** Lower edge of the lowest mel band, Hz (125). */
  f_min_hz: number;
  /** Upper edge of the highest mel band, Hz (7500, ≤ 8000). */
  f_max_hz: number;
  /** Hz; 16000 only. The optional keys below are filled by the schema's defaults (earshot's front end). */
  sample_rate_hz?: number;
  /** Mel bands per frame: 64. */
  mel_bands?: number;
  /** STFT window, samples: 400 (25 ms, periodic Hann). */
  frame_samples?: number;
  /** STFT hop, samples: 160 (10 ms). */
  frame_hop_samples?: number;
  /** FFT size: 512. */
  fft_size?: number;
  /** 'magnitude' (|X|, YAMNet) or 'power' (|X|²); earshot computes magnitude. */
  spectrum?: 'magnitude' | 'power';
  /** 'log' (ln(mel + log_offset)) or 'db' (10·log10, as librosa power_to_db); earshot computes log. */
  scale?: 'log' | 'db';
  /** Frames per patch: 96 (0.975 s of audio). */
  patch_frames?: number;
  /** As {@link WaveformInput.hop_frames}. */
  hop_frames?: number;
}

/** A model's input: waveform windows or log-mel patches (a manifest's `input`). */
export type ModelInput = WaveformInput | LogMelPatchInput;
