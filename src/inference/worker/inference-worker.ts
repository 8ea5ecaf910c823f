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
import { loadModel, type LoadedModel } from '../load-model.js';
import { MODEL_FAULT_ENV, ModelFaults, parseModelFaults } from './faults.js';
import type { FromWorker, InferenceWorkerData, ToWorker } from './protocol.js';

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
      const started = performance.now();
      try {
        faults?.beforeClassify();
        const scores = Float32Array.from(await model.classify(message.input));
        post({ type: 'scores', id: message.id, scores, inferMs: performance.now() - started }, [scores.buffer as ArrayBuffer]);
      } catch (error) {
        post({ type: 'classify_failed', id: message.id, error: (error as Error)?.message ?? String(error) });
      }
    });
  });
}

void open(workerData as InferenceWorkerData);
