/**
 * The messages between the daemon's main thread and its inference worker (inference-worker.ts).
 * Plain, structured-cloneable data only: Float32Arrays travel as transferred buffers.
 */
import type { InferenceBackend } from '../backends/backend.js';
import type { HeadOrigin } from '../head/head-file.js';
import type { LoadedModel } from '../load-model.js';
import type { ModelRequest } from '../model-request.js';
import type { ExitCode } from '../../errors.js';

/** A head file sent to the worker: its text, and the file and origin named in messages. */
export interface HeadText {
  readonly text: string;
  readonly path: string;
  readonly origin: HeadOrigin;
}

/** What the worker is started with (`workerData`). */
export interface InferenceWorkerData {
  /** The model to open, as {@link loadModel} takes it (the worker runs the child-process probe unless `skipProbe`). */
  readonly request: ModelRequest;
  /** Heads to know from the start (a restarted worker gets those its predecessor had). */
  readonly heads?: readonly HeadText[];
}

/** The backend as the main thread knows it: its tensors, without run() and close(). */
export type BackendDescription = Pick<InferenceBackend, 'kind' | 'input' | 'output' | 'inputLength' | 'outputLength'>;

/** What the main thread learns of the model the worker opened. */
export interface WorkerModelDescription
  extends Pick<LoadedModel, 'path' | 'sha256' | 'manifest' | 'format' | 'info' | 'accelerator' | 'warnings' | 'classNames' | 'input' | 'embeddingLength'> {
  readonly backend: BackendDescription;
  /** The test-only faults the worker injects (EARSHOT_TEST_MODEL_FAULT, faults.ts), or null. */
  readonly faults: string | null;
}

/** Main thread → worker. */
export type ToWorker =
  /**
   * Score one model input (its buffer is transferred); with `head` (a head's sha256, added
   * before), the head's probabilities follow the scores.
   */
  | { readonly type: 'classify'; readonly id: number; readonly input: Float32Array; readonly head?: string }
  /** Parse a head, check it runs on the model, and keep it (answer: head_added or head_refused). */
  | ({ readonly type: 'add_head'; readonly id: number } & HeadText)
  /** Close the model and end the thread. */
  | { readonly type: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | { readonly type: 'ready'; readonly model: WorkerModelDescription }
  /** The model could not be opened: `error` names the file (an EarshotError's message and exit code). */
  | { readonly type: 'open_failed'; readonly error: string; readonly exitCode: ExitCode }
  /** Scores (one per class, 0..1) and the time the model took, in ms. */
  | { readonly type: 'scores'; readonly id: number; readonly scores: Float32Array; readonly inferMs: number }
  /** The model threw on this input; the worker goes on serving. */
  | { readonly type: 'classify_failed'; readonly id: number; readonly error: string }
  /** The head of `add_head` `id` is kept (under its sha256). */
  | { readonly type: 'head_added'; readonly id: number; readonly sha256: string }
  /** The head of `add_head` `id` was refused: `error` is one line naming its file. */
  | { readonly type: 'head_refused'; readonly id: number; readonly error: string };
