/**
 * Constants stated once (as Frigate's `frigate/const.py` does): the pipeline's audio format, the
 * YAMNet log-mel framing every front end and patch model shares, and the names of the inference
 * backends and ONNX execution providers. This module imports nothing, so every layer (capture to
 * CLI, and the commander-only `--help` path) may import it.
 */

/** The pipeline's sample rate in Hz: every stage after capture sees 16 kHz mono. */
export const SAMPLE_RATE = 16000;

/** Log-mel frame (STFT window) length in samples: 25 ms at 16 kHz (YAMNet's `stft_window_seconds`). */
export const FRAME_LENGTH_SAMPLES = 400;

/** Hop between log-mel frame starts in samples: 10 ms at 16 kHz (YAMNet's `stft_hop_seconds`). */
export const FRAME_HOP_SAMPLES = 160;

/** Mel bands per log-mel frame (YAMNet's `mel_bands`). */
export const MEL_BANDS = 64;

/** Frames per log-mel patch: 0.96 s (YAMNet's `patch_window_seconds`). */
export const PATCH_FRAMES = 96;

/** Samples one patch spans: `FRAME_LENGTH_SAMPLES + FRAME_HOP_SAMPLES · (PATCH_FRAMES − 1)` = 15600 (0.975 s), YAMNet's waveform input length. */
export const PATCH_SAMPLES = FRAME_LENGTH_SAMPLES + FRAME_HOP_SAMPLES * (PATCH_FRAMES - 1);

/** The backends that run TFLite models (what a `.tflite` file can be opened with). */
export const BACKEND_KINDS = ['tflite-node', 'litert-wasm'] as const;

/** A backend that runs TFLite models. */
export type TfliteBackendKind = (typeof BACKEND_KINDS)[number];

/** Every backend kind, as `model.backend` and `--backend` accept them: the TFLite ones and 'onnx' (ONNX Runtime, for `.onnx` files). */
export const ALL_BACKEND_KINDS = [...BACKEND_KINDS, 'onnx'] as const;

/** Every backend. */
export type BackendKind = (typeof ALL_BACKEND_KINDS)[number];

/** ONNX Runtime execution providers earshot can ask for (`model.execution_providers`), fastest first. */
export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;

/** An ONNX Runtime execution provider. */
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/**
 * Seconds of capture gap the pipeline bridges (src/pipeline/pipeline.ts). Capture gaps up to 0.5 s (a few lost serial packets, a short overrun) are bridged with zeros
 * (as the ring buffer holds them): the front end and the patch grid stay aligned, so an event
 * heard on both sides of a 16 ms hole stays one event with the same onset. Longer gaps (an unplugged device) end open events with
 * reason `gap` and restart the front end and patcher at the new position: the silence of a
 * missing device must not be classified, and an event must not claim time nobody heard. Either
 * way the ring buffer records the gap, so evidence clips show which samples are not real.
 * Zeros rather than concealment: on the 10-minute soak with 1% of packets lost (docs/capture.md),
 * two-sided waveform substitution, autoregressive interpolation (Etter 1996) and AR-shaped noise
 * all left as many threshold decisions flipped as zeros (6–9 against 8), and even the true audio
 * scaled by 0.9 flipped 2: YAMNet's scores near a threshold move with any change to the lost
 * 16 ms, so no fill gives the clean file's events. Zeros at least say plainly what was not heard;
 * the serial protocol instead asks the device to resend (capture/serial/serial-resend.ts).
 */
export const MAX_ZERO_FILL_SECONDS = 0.5;
