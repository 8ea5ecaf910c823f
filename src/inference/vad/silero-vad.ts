/**
 * Streaming Silero VAD (github.com/snakers4/silero-vad, `silero_vad.onnx`, MIT) on 16 kHz audio,
 * run by ONNX Runtime (backends/onnx.ts, with the configured execution providers).
 *
 * As upstream `utils_vad.py` (`OnnxWrapper.__call__`): the model is called on steps of 512 new
 * samples (32 ms), each prefixed with the last 64 samples of the previous step (the "context",
 * zeros at the start), so its input is `[1, 576]`; the recurrent state `[2, 1, 128]` it returns
 * (`stateN`) is fed back as `state` on the next call, and `sr` is the int64 scalar 16000. The
 * output `[1, 1]` is the probability that the step holds speech. Without the carried state and
 * context the model sees every step as the start of a stream and its probabilities differ.
 */
import type { Tensor } from 'onnxruntime-node';

import { EarshotError, ExitCode } from '../../errors.js';
import { openOnnxSession, type OnnxSession, type OnnxSessionOptions } from '../backends/onnx.js';
import { loadOnnxModelFile } from '../onnx/model-file.js';

/** New samples per model call at 16 kHz (32 ms). */
export const SILERO_STEP_SAMPLES = 512;
/** Samples of the previous step prefixed to each call at 16 kHz. */
export const SILERO_CONTEXT_SAMPLES = 64;
/** The sample rate the VAD is run at here (the model also knows 8 kHz, which earshot never captures). */
export const SILERO_SAMPLE_RATE = 16000;
const STATE_SIZE = 2 * 1 * 128;

/** True when an ONNX model's inputs look like Silero VAD's (`input`, `state`, `sr`). */
export function looksLikeSileroVad(inputNames: readonly string[]): boolean {
  return inputNames.length === 3 && ['input', 'state', 'sr'].every((n) => inputNames.includes(n));
}

/** A streaming voice activity detector. Not safe for two streams: one instance per stream. */
export class SileroVad {
  private state = new Float32Array(STATE_SIZE);
  private readonly window = new Float32Array(SILERO_CONTEXT_SAMPLES + SILERO_STEP_SAMPLES);
  /** Samples received that do not yet make a whole step. */
  private pending = new Float32Array(SILERO_STEP_SAMPLES);
  private pendingLength = 0;
  /** Serializes process() calls: each step needs the state of the one before. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly opened: OnnxSession,
    /** The model file, for messages. */
    readonly path: string,
  ) {}

  /**
   * Opens `silero_vad.onnx`.
   * @throws EarshotError (exit 2) when the file is missing, not ONNX, or not Silero VAD's I/O;
   *   see {@link openOnnxSession} for provider errors (exit 3 with `requireAccelerator`)
   */
  static async open(path: string, options: OnnxSessionOptions = {}): Promise<SileroVad> {
    const { bytes, info } = await loadOnnxModelFile(path);
    if (
      !looksLikeSileroVad(info.inputs.map((i) => i.name)) ||
      !info.outputs.some((o) => o.name === 'output') ||
      !info.outputs.some((o) => o.name === 'stateN')
    ) {
      throw new EarshotError(
        `${path}: not a Silero VAD model (inputs ${info.inputs.map((i) => i.name).join(', ') || 'none'}; expected input, state, sr and outputs output, stateN)`,
      );
    }
    return new SileroVad(await openOnnxSession(bytes, path, options), path);
  }

  /** What the session runs on ('cpu', 'cuda', 'tensorrt'). */
  get accelerator(): string {
    return this.opened.accelerator;
  }

  /** Provider fallbacks met when opening (empty when it runs as asked). */
  get warnings(): readonly string[] {
    return this.opened.warnings;
  }

  /**
   * Feeds 16 kHz mono samples (−1..1, any length) and returns the speech probability (0..1) of
   * every 512-sample step they complete, in order; samples left over wait for the next call.
   * Calls are serialized: the next one starts after this one's steps have run.
   */
  process(samples: Float32Array): Promise<Float32Array> {
    const copy = Float32Array.from(samples);
    const run = this.queue.then(() => this.processNow(copy));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets the stream: state, context and pending samples start from zero (a new stream). */
  reset(): void {
    this.state = new Float32Array(STATE_SIZE);
    this.window.fill(0);
    this.pendingLength = 0;
  }

  /** Releases the ONNX session. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.opened.session.release();
  }

  private async processNow(samples: Float32Array): Promise<Float32Array> {
    if (this.closed) throw new Error(`${this.path}: Silero VAD is closed`);
    const total = this.pendingLength + samples.length;
    const steps = Math.floor(total / SILERO_STEP_SAMPLES);
    const out = new Float32Array(steps);
    let used = 0;
    for (let s = 0; s < steps; s++) {
      // window = [context (64) | new step (512)], the new step from pending then from samples.
      const fromPending = s === 0 ? this.pendingLength : 0;
      if (fromPending) this.window.set(this.pending.subarray(0, fromPending), SILERO_CONTEXT_SAMPLES);
      const take = SILERO_STEP_SAMPLES - fromPending;
      this.window.set(samples.subarray(used, used + take), SILERO_CONTEXT_SAMPLES + fromPending);
      used += take;
      out[s] = await this.step();
      // The last 64 samples of this call's input are the next call's context.
      this.window.copyWithin(0, SILERO_STEP_SAMPLES, SILERO_STEP_SAMPLES + SILERO_CONTEXT_SAMPLES);
    }
    if (steps > 0) this.pendingLength = 0;
    const rest = samples.subarray(used);
    this.pending.set(rest, this.pendingLength);
    this.pendingLength += rest.length;
    return out;
  }

  private async step(): Promise<number> {
    const { ort, session } = this.opened;
    const feeds: Record<string, Tensor> = {
      input: new ort.Tensor('float32', Float32Array.from(this.window), [1, this.window.length]),
      state: new ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(SILERO_SAMPLE_RATE)), []),
    };
    let result;
    try {
      result = await session.run(feeds);
    } catch (error) {
      throw new EarshotError(`${this.path}: ONNX Runtime failed to run Silero VAD (${(error as Error).message.replace(/\s+/g, ' ')})`, ExitCode.BadInput, {
        cause: error,
      });
    }
    const probability = (result.output as Tensor).data as Float32Array;
    this.state = Float32Array.from((result.stateN as Tensor).data as Float32Array);
    return probability[0]!;
  }
}
