/**
 * The inference worker thread: opens one model with {@link loadModel} (which test-loads the file
 * in a child process first, unless the request says it already passed) and scores the inputs the
 * main thread sends, one at a time, so capture, MQTT and HTTP on the main thread never wait on a
 * model. Started by {@link WorkerClassifier} (worker-classifier.ts); not meant to be run by hand.
 *
 * A model that throws fails that input only (`classify_failed`); the thread keeps serving. Test
 * faults (EARSHOT_TEST_MODEL_FAULT, faults.ts) are read here and nowhere else.
 *
 * Start-up (issue 23): the thread first starts loading the backend's runtime (LiteRT.js compiles
 * a 9 MB WebAssembly module on V8's background threads), then imports the model loader; the
 * compile overlaps those imports, the file's hash and parse and the manifest lookup. The head
 * modules (and their JSON schema) load only when a head is given.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ExitCode, isEarshotError } from '../../errors.js';
import type { Head } from '../head/head-file.js';
import type { LoadedModel } from '../load-model.js';
import type { ModelRequest } from '../model-request.js';
import { MODEL_FAULT_ENV, ModelFaults, parseModelFaults } from './faults.js';
import type { FromWorker, HeadText, InferenceWorkerData, ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker: must run as a worker thread (see worker-classifier.ts)');

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

/**
 * Starts loading the runtime of the backend `request` will open on, without waiting: for
 * litert-wasm (a `.tflite` file; `.onnx` files run on onnx whatever the backend) LiteRT.js, whose
 * loader loadModel() then finds done or under way. A failure is left to loadModel(), which loads
 * the runtime again and reports it as usual. Other backends load a native library when opened:
 * nothing to overlap.
 */
function preloadRuntime(request: ModelRequest): void {
  if (request.backend !== 'litert-wasm' || request.path?.toLowerCase().endsWith('.onnx')) return;
  import('../backends/litert-wasm.js').then((m) => m.loadLiteRtRuntime()).catch(() => undefined);
}

type HeadModules = typeof import('../head/head-file.js') & typeof import('../head/head-runtime.js');
let headModules: Promise<HeadModules> | undefined;
/** The head parser and runtime, imported on the first head. */
function loadHeadModules(): Promise<HeadModules> {
  headModules ??= Promise.all([import('../head/head-file.js'), import('../head/head-runtime.js')]).then(([file, runtime]) => ({ ...file, ...runtime }));
  return headModules;
}

async function open(data: InferenceWorkerData): Promise<void> {
  let model: LoadedModel;
  let faults: ModelFaults | null;
  try {
    const plan = parseModelFaults(process.env[MODEL_FAULT_ENV]);
    faults = plan ? new ModelFaults(plan) : null;
    preloadRuntime(data.request);
    const { loadModel } = await import('../load-model.js');
    model = await loadModel(data.request);
    // The first invoke is slow (a runtime's JIT and allocations, ≈1–2 s for YAMNet on LiteRT.js):
    // spend it here, on silence, not on the first patch of the stream.
    await model.classify(new Float32Array(model.backend.inputLength));
  } catch (error) {
    const message = isEarshotError(error)
      ? error.message
      : `${data.request.path ?? '(default model)'}: cannot open the model in the inference worker (${(error as Error)?.message ?? String(error)})`;
    post({ type: 'open_failed', error: message, exitCode: isEarshotError(error) ? error.exitCode : ExitCode.Unexpected });
    port!.close();
    return;
  }
  const { backend } = model;
  // Heads by sha256 (a few: the one in use and those a swap or rollback may come back to).
  const heads = new Map<string, Head>();
  const addHead = async (h: HeadText): Promise<string> => {
    const { parseHead, assertHeadRunsOn } = await loadHeadModules();
    const head = parseHead(h.text, h.path);
    assertHeadRunsOn(head, model, h.path);
    heads.delete(head.sha256);
    heads.set(head.sha256, head);
    while (heads.size > 8) heads.delete(heads.keys().next().value!);
    return head.sha256;
  };
  for (const h of data.heads ?? []) {
    try {
      await addHead(h);
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
          post({ type: 'head_added', id: message.id, sha256: await addHead(message) });
        } catch (error) {
          post({
            type: 'head_refused',
            id: message.id,
            error: isEarshotError(error) ? error.message : `${message.path}: head file: ${(error as Error)?.message ?? String(error)}`,
          });
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
  const { headNeedsEmbedding, headedScores } = await loadHeadModules();
  if (headNeedsEmbedding(head) && model.classifyWithEmbedding) {
    const { scores, embedding } = await model.classifyWithEmbedding(input);
    return headedScores(head, scores, embedding);
  }
  return headedScores(head, await model.classify(input), undefined);
}
