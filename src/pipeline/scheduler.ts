/**
 * Between the daemon's front end and its models: patches wait in a bounded queue while the models
 * (each in its worker thread, worker-classifier.ts) score them in order, so reading capture and
 * running the front end never wait on a model. The scheduler measures how far inference is
 * behind real time and, when it is too far, degrades by a fixed policy until it has caught up.
 *
 * Lag: seconds of audio between the newest captured sample (the capture pump's) and the end of
 * the newest patch the scheduler has dealt with (classified, gated, skipped or failed); a capture
 * gap long enough to restart the front end does not count (it was never heard). Because a
 * patch is complete only once its last sample has arrived, the lag of a daemon that keeps up is
 * about one hop plus one chunk (≈ 0.6 s at the defaults).
 *
 * Degrade policy (real-time sources only; a file read as fast as possible is never degraded, so
 * `earshot run` on it finds exactly what `earshot analyze` finds):
 * - when the lag exceeds `degradeLagSeconds`, or the patch queue is full, only every other audible
 *   patch is classified; the others are `skipped` (counted, not scored, not shown to the
 *   detector, see {@link Pipeline.complete}); a warning names the lag;
 * - when the lag falls below `recoverLagSeconds` (and the queue has room), every patch is
 *   classified again; an info line says so.
 * With the default hop (0.48 s, half of YAMNet's 0.975 s window) every other patch still covers
 * every sample, so a skipped patch loses time resolution, not audio. Capture is never dropped by
 * this policy: if even half the patches are too many, chunks queue in the capture pump (and only
 * beyond the ring buffer's length are they dropped there, as a `backlog` gap).
 */
import { performance } from 'node:perf_hooks';
import type { DetectorOutput, EndReason } from '../detect/detector.js';
import type { Logger } from '../log.js';
import type { CutPatch, Pipeline, PipelineModel, PipelineStep } from './pipeline.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import type { InferenceStatus } from '../inference/types.js';

/** Settings of {@link PatchScheduler} (the config's `inference` section). */
export interface SchedulerSettings {
  /** Patches that may wait for the models before the front end waits (≥ 1). */
  queuePatches: number;
  /** Degrade (classify every other patch) when the lag exceeds this, seconds. */
  degradeLagSeconds: number;
  /** Classify every patch again when the lag falls below this, seconds (< degradeLagSeconds). */
  recoverLagSeconds: number;
  /** true for real-time sources (microphone, serial, a file replayed in real time): the degrade policy applies. */
  realtime: boolean;
}

/** What the scheduler reads of capture. */
export interface CaptureProgress {
  /** Absolute index one past the newest captured sample (−1 before any). */
  readonly newestSample: number;
  /** Seconds captured but not yet taken by the front end. */
  readonly backlogSeconds: number;
}

/** Failed patches are logged at most once per this many ms (the first at once). */
const FAILURE_LOG_INTERVAL_MS = 10_000;

/** A classifier that may count worker restarts (WorkerClassifier does). */
interface MaybeWorker {
  readonly stats?: { readonly restarts: number };
}

/** A model swap waiting for the next step boundary. */
interface PendingSwap {
  commit: () => PipelineModel;
  resolve: (replaced: PipelineModel) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs a {@link Pipeline}'s patches through its models with a bounded queue, the lag metric and
 * the degrade policy. Feed chunks with {@link push} (in order, awaiting each), end with
 * {@link finish}; detector outputs go to `deliver` in stream order as patches complete.
 */
export class PatchScheduler implements InferenceStatus {
  private readonly queue: PipelineStep[] = [];
  private patchesQueued = 0;
  private consumerWake: (() => void) | null = null;
  private producerWake: (() => void) | null = null;
  private idleWake: (() => void) | null = null;
  private consuming = false;
  private failure: { error: unknown } | null = null;
  /** End of the newest patch dealt with; −1 until the first chunk. */
  private doneSample = -1;
  private maxLag = 0;
  private degradedNow = false;
  private episodes = 0;
  /** In degraded mode: the previous audible patch was classified (so this one is skipped). */
  private classifiedLast = false;
  private skipAll = false;
  private modelMs = 0;
  private swap: PendingSwap | null = null;
  private readonly failures = { unlogged: 0, lastLoggedMs: -Infinity, lastError: '' };

  /**
   * @param deliver takes the detector outputs of each completed step, in stream order; an error it
   *   throws stops the scheduler and is rethrown by the next {@link push} or {@link finish}
   */
  constructor(
    readonly pipeline: Pipeline,
    readonly settings: SchedulerSettings,
    private readonly capture: CaptureProgress,
    private readonly log: Logger,
    private readonly deliver: (outputs: DetectorOutput[]) => void,
  ) {
    if (!(settings.queuePatches >= 1)) throw new RangeError(`queuePatches must be at least 1, got ${settings.queuePatches}`);
    void this.consume();
  }

  get lagSeconds(): number {
    const newest = this.capture.newestSample;
    return newest < 0 || this.doneSample < 0 ? 0 : Math.max(0, newest - this.doneSample) / SAMPLE_RATE;
  }

  get maxLagSeconds(): number {
    return this.maxLag;
  }

  get degraded(): boolean {
    return this.degradedNow;
  }

  get degradedEpisodes(): number {
    return this.episodes;
  }

  get queuedPatches(): number {
    return this.patchesQueued;
  }

  get backlogSeconds(): number {
    return this.capture.backlogSeconds;
  }

  get classifiedPatches(): number {
    const { patches, gated, skipped, failed } = this.pipeline.counts;
    return patches - gated - skipped - failed;
  }

  get skippedPatches(): number {
    return this.pipeline.counts.skipped;
  }

  get failedPatches(): number {
    return this.pipeline.counts.failed;
  }

  get workerRestarts(): number {
    return this.pipeline.models.reduce((sum, m) => sum + ((m.classifier as MaybeWorker).stats?.restarts ?? 0), 0);
  }

  /** Milliseconds the models spent scoring since the last call (for the health real-time factor). */
  takeModelMs(): number {
    const ms = this.modelMs;
    this.modelMs = 0;
    return ms;
  }

  /**
   * Cuts a chunk into patches and queues them; waits while the queue is full.
   * @returns the time the front end took for the chunk, ms (not the wait for room in the queue)
   * @throws what `deliver` threw, or a RangeError for a chunk out of order
   */
  async push(chunk: AudioChunk): Promise<number> {
    this.throwIfFailed();
    if (this.doneSample < 0) this.doneSample = chunk.startSample;
    const started = performance.now();
    const steps = this.pipeline.cut(chunk);
    const cutMs = performance.now() - started;
    await this.enqueue(steps);
    return cutMs;
  }

  /**
   * Ends the stream: queues the end-of-file padding (`stream_end`), waits until every queued step
   * is done, then closes open events with `reason`.
   * @throws what `deliver` threw
   */
  async finish(reason: EndReason): Promise<void> {
    this.throwIfFailed();
    await this.enqueue(this.pipeline.cutEnd(reason));
    while (this.queue.length > 0 || this.consuming) {
      this.throwIfFailed();
      await new Promise<void>((resolve) => (this.idleWake = resolve));
    }
    this.throwIfFailed();
    this.deliver(this.pipeline.end(reason));
  }

  /** At shutdown: patches still waiting are skipped rather than scored (the one being scored finishes). */
  skipRemaining(): void {
    this.skipAll = true;
    this.consumerWake?.();
  }

  /**
   * Replaces model `index` between two patches (a model hot reload); the patch being scored
   * finishes with the old model.
   * @param commit from {@link Pipeline.prepareModelSwap}
   * @returns the model replaced (the caller closes it)
   */
  replaceModel(commit: () => PipelineModel): Promise<PipelineModel> {
    if (this.swap) return Promise.reject(new Error('another model swap is pending'));
    return new Promise<PipelineModel>((resolve, reject) => {
      this.swap = { commit, resolve, reject };
      this.consumerWake?.();
    });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private async enqueue(steps: PipelineStep[]): Promise<void> {
    for (const step of steps) {
      while (step.kind === 'patch' && this.patchesQueued >= this.settings.queuePatches) {
        await new Promise<void>((resolve) => (this.producerWake = resolve));
        this.throwIfFailed();
      }
      this.queue.push(step);
      if (step.kind === 'patch') this.patchesQueued += 1;
      this.consumerWake?.();
    }
  }

  /** Takes steps in order, scores them, and hands the detector's outputs on. */
  private async consume(): Promise<void> {
    for (;;) {
      this.commitSwap();
      const step = this.queue[0];
      if (!step) {
        this.idleWake?.();
        await new Promise<void>((resolve) => (this.consumerWake = resolve));
        this.consumerWake = null;
        continue;
      }
      this.consuming = true;
      try {
        let outputs: DetectorOutput[];
        if (step.kind === 'gap_end') outputs = this.pipeline.complete(step, 'gated');
        else {
          this.applyPolicy(step);
          const skip = step.audible && this.skip();
          outputs = this.pipeline.complete(step, !step.audible ? 'gated' : skip ? 'skipped' : await this.score(step));
        }
        this.queue.shift();
        if (step.kind === 'patch') {
          this.patchesQueued -= 1;
          this.doneSample = Math.max(this.doneSample, step.patch.endSample);
        } else {
          // Nobody heard the gap: it is lost audio (a gaps row), not inference lag.
          this.doneSample = Math.max(this.doneSample, step.resumeSample);
        }
        this.producerWake?.();
        this.deliver(outputs);
      } catch (error) {
        this.failure = { error };
        this.consuming = false;
        this.producerWake?.();
        this.idleWake?.();
        this.swap?.reject(error);
        return;
      }
      this.consuming = false;
    }
  }

  private commitSwap(): void {
    const swap = this.swap;
    if (!swap) return;
    this.swap = null;
    try {
      swap.resolve(swap.commit());
    } catch (error) {
      swap.reject(error);
    }
  }

  /** Updates the lag figures and the degraded state before a patch is dealt with (logs each change). */
  private applyPolicy(step: CutPatch): void {
    const lag = this.capture.newestSample < 0 ? 0 : Math.max(0, this.capture.newestSample - this.doneSample) / SAMPLE_RATE;
    this.maxLag = Math.max(this.maxLag, lag);
    if (!this.settings.realtime) return;
    const full = this.patchesQueued >= this.settings.queuePatches;
    if (!this.degradedNow && (lag > this.settings.degradeLagSeconds || full)) {
      this.degradedNow = true;
      this.episodes += 1;
      this.classifiedLast = true;
      this.log.warn(
        {
          lag_s: round(lag),
          queued_patches: this.patchesQueued,
          backlog_s: round(this.capture.backlogSeconds),
          at_s: round(step.patch.startSample / SAMPLE_RATE),
          degrade_lag_s: this.settings.degradeLagSeconds,
        },
        `inference is ${lag.toFixed(1)} s behind real time${full ? ' (patch queue full)' : ''}: degraded, classifying every other patch until it catches up`,
      );
    } else if (this.degradedNow && lag < this.settings.recoverLagSeconds && !full) {
      this.degradedNow = false;
      this.log.info(
        { lag_s: round(lag), skipped: this.pipeline.counts.skipped, at_s: round(step.patch.startSample / SAMPLE_RATE) },
        'inference caught up: classifying every patch again',
      );
    }
  }

  /** Whether the next audible patch is skipped: all at shutdown; every other one while degraded. */
  private skip(): boolean {
    if (this.skipAll) return true;
    if (!this.degradedNow) return false;
    this.classifiedLast = !this.classifiedLast;
    return !this.classifiedLast;
  }

  /** Scores a patch with every model (their workers run in parallel); a model that fails gives null. */
  private async score(step: CutPatch): Promise<(Float32Array | null)[]> {
    const started = performance.now();
    const models = this.pipeline.models;
    const settled = await Promise.allSettled(models.map((m, i) => Promise.resolve().then(() => m.classifier.classify(this.pipeline.modelInput(step, i)))));
    this.modelMs += performance.now() - started;
    return settled.map((result, i) => {
      if (result.status === 'fulfilled') return result.value;
      this.noteFailure(models[i]!.name, step, result.reason);
      return null;
    });
  }

  /** Logs a failed model call: the first at once, then one summary line per interval. */
  private noteFailure(model: string, step: CutPatch, reason: unknown): void {
    const now = performance.now();
    const message = (reason as Error)?.message ?? String(reason);
    if (now - this.failures.lastLoggedMs >= FAILURE_LOG_INTERVAL_MS) {
      this.log.warn(
        {
          model,
          err: message,
          at_s: round(step.patch.startSample / SAMPLE_RATE),
          failed_since_last_line: this.failures.unlogged,
          failed_total: this.pipeline.counts.failed + 1,
        },
        'a patch failed in the model: no vote from it',
      );
      this.failures.lastLoggedMs = now;
      this.failures.unlogged = 0;
    } else {
      this.failures.unlogged += 1;
    }
  }
}

const round = (x: number) => Number(x.toFixed(3));
