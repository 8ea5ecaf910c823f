/**
 * A model running in a worker thread (inference-worker.ts), as the pipeline sees it: a
 * {@link LoadedModel} whose classify() returns a Promise and never blocks the main thread.
 *
 * Failures, and what the caller sees:
 * - the model throws on an input → that classify() rejects with a {@link ModelCallError}
 *   (`reason: 'model_error'`); the worker keeps serving;
 * - the worker dies (process.exit in the thread, an uncaught error, running out of memory) → the
 *   call in flight rejects with a {@link ModelCallError} (`reason: 'worker_died'`), and the worker
 *   is restarted with the same model (its child-process probe already passed, so it is not run
 *   again) after a backoff (0.1 s doubling to 10 s, reset once a restarted worker has answered).
 *   Calls made meanwhile wait for the new worker.
 * A native crash (SIGSEGV) would still take the whole process: that is what the probe before the
 * first open is for (probe.ts).
 *
 * Entry module: `inference-worker` with this module's own extension, so the built CLI starts
 * `dist/inference/worker/inference-worker.js` and tests under tap start the `.ts` source; the
 * worker inherits the parent's `execArgv`, which under tap carries its TypeScript import hook.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EarshotError, ExitCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { InferenceBackend } from '../backends/backend.js';
import type { LoadedHead } from '../head/head-file.js';
import type { LoadedModel } from '../load-model.js';
import type { ModelRequest } from '../model-request.js';
import type { ModelManifest } from '../manifest.js';
import type { FromWorker, HeadText, InferenceWorkerData, ToWorker, WorkerModelDescription } from './protocol.js';

/** Why a classify() call failed. */
export type ModelCallFailure = 'model_error' | 'worker_died' | 'closed';

/** A classify() call that produced no scores; the pipeline counts the patch as failed. */
export class ModelCallError extends Error {
  constructor(
    message: string,
    readonly reason: ModelCallFailure,
  ) {
    super(message);
    this.name = 'ModelCallError';
  }
}

/** True when `error` is a {@link ModelCallError}. */
export function isModelCallError(error: unknown): error is ModelCallError {
  return error instanceof ModelCallError;
}

/** Options of {@link WorkerClassifier.open}. */
export interface WorkerClassifierOptions {
  /** Logs worker deaths and restarts (warn / info). */
  log?: Logger;
  /** The worker's environment (default: this process's); tests pass EARSHOT_TEST_MODEL_FAULT here. */
  env?: NodeJS.ProcessEnv;
  /** First restart delay and cap, ms (defaults 100 and 10 000). */
  restartMinMs?: number;
  restartMaxMs?: number;
}

/** Counters of one {@link WorkerClassifier}. */
export interface WorkerStats {
  /** Inputs scored. */
  scored: number;
  /** Calls that failed (model errors and calls lost with a dying worker). */
  failed: number;
  /** Workers started after the first. */
  restarts: number;
  /** Time the last scored input took in the worker, ms. */
  lastInferMs: number;
}

/** The worker entry beside this module, with this module's own extension (.ts or .js). */
export function inferenceWorkerUrl(): URL {
  const self = fileURLToPath(import.meta.url);
  return new URL(`./inference-worker${extname(self)}`, import.meta.url);
}

interface PendingCall {
  resolve: (scores: Float32Array) => void;
  reject: (error: Error) => void;
}

/** Copies of the worker's backend facts; run() belongs to the worker. */
function backendView(description: WorkerModelDescription, close: () => void): InferenceBackend {
  return {
    ...description.backend,
    run: () => {
      throw new Error(`${description.path}: this model runs in the inference worker; call classify()`);
    },
    close,
  };
}

/** A model in a worker thread; open with {@link WorkerClassifier.open}. */
export class WorkerClassifier implements LoadedModel {
  readonly path: string;
  readonly sha256: string;
  readonly manifest: ModelManifest;
  readonly format?: LoadedModel['format'];
  readonly info: LoadedModel['info'];
  readonly accelerator?: string;
  readonly warnings?: readonly string[];
  readonly classNames: readonly string[];
  readonly input: ModelManifest['input'];
  readonly backend: InferenceBackend;
  readonly embeddingLength?: number;
  /** The test faults the worker reported (EARSHOT_TEST_MODEL_FAULT), or null. */
  readonly faults: string | null;
  readonly stats: WorkerStats = { scored: 0, failed: 0, restarts: 0, lastInferMs: 0 };

  private worker: Worker | null;
  /** Resolves when a live worker is ready (replaced while one restarts). */
  private ready: Promise<void> = Promise.resolve();
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private closed = false;
  private restartDelayMs: number;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The last 'error' event of the current worker, for the death log line. */
  private lastError: string | null = null;
  /** The current worker has answered since it started (resets the restart backoff). */
  private answered = false;
  /** Heads the worker was given, by sha256, oldest first (a restarted worker gets them again). */
  private readonly heads = new Map<string, HeadText>();
  private readonly pendingHeads = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly request: ModelRequest,
    description: WorkerModelDescription,
    worker: Worker,
    private readonly options: WorkerClassifierOptions,
  ) {
    this.path = description.path;
    this.sha256 = description.sha256;
    this.manifest = description.manifest;
    this.format = description.format;
    this.info = description.info;
    this.accelerator = description.accelerator;
    this.warnings = description.warnings;
    this.classNames = description.classNames;
    this.input = description.input;
    if (description.embeddingLength) this.embeddingLength = description.embeddingLength;
    this.faults = description.faults;
    this.backend = backendView(description, () => this.close());
    this.restartDelayMs = options.restartMinMs ?? 100;
    this.worker = worker;
    this.attach(worker);
  }

  /**
   * Opens `request` in a new worker thread (probing the file in a child process first, unless
   * `request.skipProbe`).
   * @throws EarshotError naming the file: everything {@link loadModel} throws, a bad
   *   EARSHOT_TEST_MODEL_FAULT, or a worker that died while opening the model
   */
  static async open(request: ModelRequest, options: WorkerClassifierOptions = {}): Promise<WorkerClassifier> {
    const { worker, description } = await startWorker(request, options.env);
    return new WorkerClassifier({ ...request, skipProbe: true }, description, worker, options);
  }

  /** Counted by the worker: inputs waiting or being scored. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Scores one model input in the worker. `modelInput` is copied (its copy is transferred), so
   * the caller keeps its array.
   * @returns one score per class (0..1)
   * @throws ModelCallError when the model throws, the worker dies with the call in flight, or
   *   the classifier is closed
   */
  async classify(modelInput: Float32Array, head?: string): Promise<Float32Array> {
    // A dying worker is replaced; wait for its successor (ready is renewed at each death).
    while (!this.worker) {
      if (this.closed) throw new ModelCallError(`${this.path}: model closed`, 'closed');
      await this.ready;
    }
    if (this.closed) throw new ModelCallError(`${this.path}: model closed`, 'closed');
    const worker = this.worker;
    const input = modelInput.slice();
    const id = this.nextId++;
    const result = new Promise<Float32Array>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.ref();
    worker.postMessage({ type: 'classify', id, input, ...(head !== undefined ? { head } : {}) } satisfies ToWorker, [input.buffer as ArrayBuffer]);
    return result;
  }

  /**
   * This model with `loaded` as its head, run in the worker right after the backbone: the worker
   * parses the head and checks it runs on the model before it is used. Patches already sent keep
   * the head (or none) they were sent with, so a swap takes effect exactly where the pipeline
   * swaps its classifier.
   * @throws EarshotError (exit 2) naming the head file when the worker refuses it; ModelCallError
   *   when the worker dies or the model is closed meanwhile
   */
  async withHead(loaded: LoadedHead): Promise<LoadedModel> {
    const sha256 = loaded.head.sha256;
    const text: HeadText = { text: loaded.text, path: loaded.path, origin: loaded.origin };
    while (!this.worker) {
      if (this.closed) throw new ModelCallError(`${this.path}: model closed`, 'closed');
      await this.ready;
    }
    if (this.closed) throw new ModelCallError(`${this.path}: model closed`, 'closed');
    const worker = this.worker;
    const id = this.nextId++;
    const added = new Promise<void>((resolve, reject) => this.pendingHeads.set(id, { resolve, reject }));
    worker.ref();
    worker.postMessage({ type: 'add_head', id, ...text } satisfies ToWorker);
    await added;
    this.heads.delete(sha256);
    this.heads.set(sha256, text);
    while (this.heads.size > 8) this.heads.delete(this.heads.keys().next().value!);
    // Imported here, not at the top: analyze starts the worker before it loads the head modules
    // and their schema (issue 23).
    const { headedView } = await import('../head/head-runtime.js');
    return headedView(this, loaded, (modelInput) => this.classify(modelInput, sha256));
  }

  /** Closes the model and ends the worker (gracefully, terminated after 2 s). Pending calls reject. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.rejectPending(new ModelCallError(`${this.path}: model closed`, 'closed'));
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void worker.terminate(), 2000);
    timer.unref();
    worker.once('exit', () => clearTimeout(timer));
    worker.unref();
  }

  private attach(worker: Worker): void {
    worker.unref();
    this.answered = false;
    this.lastError = null;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'head_added' || message.type === 'head_refused') {
        const call = this.pendingHeads.get(message.id);
        if (!call) return;
        this.pendingHeads.delete(message.id);
        if (this.pending.size === 0 && this.pendingHeads.size === 0) worker.unref();
        if (message.type === 'head_added') call.resolve();
        else call.reject(new EarshotError(message.error, ExitCode.BadInput));
        return;
      }
      if (message.type !== 'scores' && message.type !== 'classify_failed') return;
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0 && this.pendingHeads.size === 0) worker.unref();
      if (!this.answered) {
        this.answered = true;
        this.restartDelayMs = this.options.restartMinMs ?? 100;
      }
      if (message.type === 'scores') {
        this.stats.scored += 1;
        this.stats.lastInferMs = message.inferMs;
        call.resolve(message.scores);
      } else {
        this.stats.failed += 1;
        call.reject(new ModelCallError(`${this.path}: the model failed on this input (${message.error})`, 'model_error'));
      }
    });
    worker.on('error', (error) => {
      this.lastError = error.message;
    });
    worker.on('exit', (code) => {
      if (this.closed || worker !== this.worker) return;
      this.worker = null;
      const reason = `${this.lastError ?? 'the thread exited'} (exit code ${code})`;
      const lost = this.pending.size;
      this.stats.failed += lost;
      this.rejectPending(new ModelCallError(`${this.path}: the inference worker died: ${reason}`, 'worker_died'));
      this.options.log?.error({ model: this.path, reason, lost_calls: lost, restart_in_ms: this.restartDelayMs }, 'inference worker died; restarting it');
      this.scheduleRestart();
    });
  }

  /** Starts a new worker after the backoff; calls wait on {@link ready} meanwhile. */
  private scheduleRestart(): void {
    let resolveReady!: () => void;
    this.ready = new Promise<void>((resolve) => (resolveReady = resolve));
    const attempt = () => {
      const delay = this.restartDelayMs;
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, this.options.restartMaxMs ?? 10_000);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        startWorker(this.request, this.options.env, [...this.heads.values()]).then(
          ({ worker }) => {
            if (this.closed) {
              void worker.terminate();
              resolveReady();
              return;
            }
            this.stats.restarts += 1;
            this.worker = worker;
            this.attach(worker);
            this.options.log?.info({ model: this.path, restarts: this.stats.restarts }, 'inference worker restarted');
            resolveReady();
          },
          (error: Error) => {
            if (this.closed) return resolveReady();
            this.options.log?.error({ model: this.path, err: error, retry_in_ms: this.restartDelayMs }, 'inference worker restart failed; retrying');
            attempt();
          },
        );
      }, delay);
    };
    attempt();
  }

  private rejectPending(error: ModelCallError): void {
    const calls = [...this.pending.values(), ...this.pendingHeads.values()];
    this.pending.clear();
    this.pendingHeads.clear();
    for (const call of calls) call.reject(error);
  }
}

/**
 * Starts a worker and waits for its model.
 * @throws EarshotError from the worker's open, or when the thread dies before it is ready
 */
function startWorker(
  request: ModelRequest,
  env: NodeJS.ProcessEnv | undefined,
  heads: readonly HeadText[] = [],
): Promise<{ worker: Worker; description: WorkerModelDescription }> {
  return new Promise((resolve, reject) => {
    const data: InferenceWorkerData = { request, ...(heads.length ? { heads } : {}) };
    const worker = new Worker(inferenceWorkerUrl(), { workerData: data, env: env ?? process.env, stderr: false });
    let settled = false;
    let lastError: string | null = null;
    const onMessage = (message: FromWorker) => {
      if (settled) return;
      if (message.type === 'ready') {
        settled = true;
        cleanup();
        resolve({ worker, description: message.model });
      } else if (message.type === 'open_failed') {
        settled = true;
        cleanup();
        // It may still be loading the runtime it started early (inference-worker.ts): nothing it
        // does now is wanted, and a command failing on a bad model exits without waiting for it.
        void worker.terminate();
        reject(new EarshotError(message.error, message.exitCode));
      }
    };
    const onError = (error: Error) => {
      lastError = error.message;
    };
    const onExit = (code: number) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(
        new EarshotError(
          `${request.path ?? '(default model)'}: the inference worker exited while opening the model (${lastError ?? `exit code ${code}`})`,
          ExitCode.Unexpected,
        ),
      );
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
