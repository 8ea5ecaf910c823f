/**
 * The inference worker thread: opens one model with {@link loadModel} (which test-loads the file
 * in a child process first, unless the request says it already passed) and scores the inputs the
 * main thread sends, one at a time, so capture, MQTT and HTTP on the main thread never wait on a
 * model. Started by {@link WorkerClassifier} (worker-classifier.ts); not meant to be run by hand.
 *
 * A model that throws fails that input only (`classify_failed`); the thread keeps serving. Test
 * faults (EARSHOT_TEST_MODEL_FAULT, faults.ts) are read here and nowhere else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isEarshotError } from '../../errors.js';
import type { Head } from '../head/head-file.js';
import { parseHead } from '../head/head-file.js';
import { assertHeadRunsOn, headedScores, headNeedsEmbedding } from '../head/head-runtime.js';
import { loadModel, type LoadedModel } from '../load-model.js';
import { MODEL_FAULT_ENV, ModelFaults, parseModelFaults } from './faults.js';
import type { FromWorker, HeadText, InferenceWorkerData, ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker: must run as a worker thread (see worker-classifier.ts)');

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function open(data: InferenceWorkerData): Promise<void> {
  let model: LoadedModel;
  let faults: ModelFaults | null;
  try {
    const plan = parseModelFaults(process.env[MODEL_FAULT_ENV]);
    faults = plan ? new ModelFaults(plan) : null;
    model = await loadModel(data.request);
    // The first invoke is slow (a runtime's JIT and allocations, ≈1–2 s for YAMNet on LiteRT.js):
    // spend it here, on silence, not on the first patch of the stream.
    await model.classify(new Float32Array(model.backend.inputLength));
  } catch (error) {
    const message = isEarshotError(error) ? error.message : `${data.request.path ?? '(default model)'}: cannot open the model in the inference worker (${(error as Error)?.message ?? String(error)})`;
    post({ type: 'open_failed', error: message, exitCode: isEarshotError(error) ? error.exitCode : 1 });
    port!.close();
    return;
  }
  const { backend } = model;
  // Heads by sha256 (a few: the one in use and those a swap or rollback may come back to).
  const heads = new Map<string, Head>();
  const addHead = (h: HeadText): string => {
    const head = parseHead(h.text, h.path);
    assertHeadRunsOn(head, model, h.path);
    heads.delete(head.sha256);
    heads.set(head.sha256, head);
    while (heads.size > 8) heads.delete(heads.keys().next().value!);
    return head.sha256;
  };
  for (const h of data.heads ?? []) {
    try {
      addHead(h);
    } catch {
      // Checked when it was first added; a head the model no longer takes is simply not kept.
    }
  }
  post({
    type: 'ready',
    model: {
      path: model.path,
      sha256: model.sha256,
      manifest: model.manifest,
      ...(model.format ? { format: model.format } : {}),
      info: model.info,
      ...(model.accelerator ? { accelerator: model.accelerator } : {}),
      ...(model.warnings ? { warnings: model.warnings } : {}),
      classNames: model.classNames,
      input: model.input,
      ...(model.embeddingLength ? { embeddingLength: model.embeddingLength } : {}),
      backend: { kind: backend.kind, input: backend.input, output: backend.output, inputLength: backend.inputLength, outputLength: backend.outputLength },
      faults: faults ? (process.env[MODEL_FAULT_ENV] ?? null) : null,
    },
  });
  // Messages are handled one at a time (the main thread sends the next input after the answer),
  // and a chain keeps that true even if it did not.
  let queue = Promise.resolve();
  port!.on('message', (message: ToWorker) => {
    queue = queue.then(async () => {
      if (message.type === 'close') {
        model.close();
        port!.close();
        return;
      }
      if (message.type === 'add_head') {
        try {
          post({ type: 'head_added', id: message.id, sha256: addHead(message) });
        } catch (error) {
          post({ type: 'head_refused', id: message.id, error: isEarshotError(error) ? error.message : `${message.path}: head file: ${(error as Error)?.message ?? String(error)}` });
        }
        return;
      }
      const started = performance.now();
      try {
        faults?.beforeClassify();
        const head = message.head === undefined ? undefined : heads.get(message.head);
        if (message.head !== undefined && !head) throw new Error(`head ${message.head} is not loaded in the worker`);
        const scores = head ? await classifyHeaded(model, head, message.input) : Float32Array.from(await model.classify(message.input));
        post({ type: 'scores', id: message.id, scores, inferMs: performance.now() - started }, [scores.buffer as ArrayBuffer]);
      } catch (error) {
        post({ type: 'classify_failed', id: message.id, error: (error as Error)?.message ?? String(error) });
      }
    });
  });
}

void open(workerData as InferenceWorkerData);

/** The backbone's scores, then the head's probabilities: one invoke (the embedding is its second output). */
async function classifyHeaded(model: LoadedModel, head: Head, input: Float32Array): Promise<Float32Array> {
  if (headNeedsEmbedding(head) && model.classifyWithEmbedding) {
    const { scores, embedding } = await model.classifyWithEmbedding(input);
    return headedScores(head, scores, embedding);
  }
  return headedScores(head, await model.classify(input), undefined);
}
