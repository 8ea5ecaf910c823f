/**
 * The child process of checkHeadInChild() (head-check.ts): checks one head file against one
 * model, sends a {@link HeadCheckMessage} and exits. Argument: a JSON {@link HeadCheckRequest}.
 * Not meant to be run by hand.
 */
import { ExitCode, isEarshotError } from '../../errors.js';
import { loadModel, type LoadedModel } from '../load-model.js';
import type { HeadCheckMessage, HeadCheckRequest } from './head-check.js';
import { assertHeadRunsOn, localHeadedModel, readHead } from './head-runtime.js';

async function check(request: HeadCheckRequest): Promise<HeadCheckMessage> {
  // Parse first: a bad file is refused before any model is opened.
  const source = request.source ?? request.headPath;
  const loaded = readHead(request.headPath, 'push', source);
  let model: LoadedModel | undefined;
  try {
    // The daemon runs this model already (it passed the probe when it was opened).
    model = await loadModel({
      path: request.modelPath,
      ...(request.manifest ? { manifest: request.manifest } : {}),
      backend: request.backend,
      threads: request.threads ?? 1,
      modelDir: '',
      skipProbe: true,
    });
    assertHeadRunsOn(loaded.head, model, source);
    const headed = localHeadedModel(model, loaded);
    const started = performance.now();
    const out = await headed.classify(new Float32Array(model.backend.inputLength));
    const invokeMs = performance.now() - started;
    const probabilities = out.subarray(model.classNames.length);
    let sum = 0;
    for (const p of probabilities) sum += p;
    if (!probabilities.every(Number.isFinite) || !(Math.abs(sum - 1) < 1e-3)) {
      return {
        ok: false,
        error: `${source}: head file: gives non-finite or unnormalised probabilities on silence (sum ${sum}); refusing it`,
        exitCode: ExitCode.BadInput,
      };
    }
    const { head } = loaded;
    return { ok: true, sha256: head.sha256, trainedAt: head.trainedAt, clipCount: head.clipCount, labels: [...head.labels], invokeMs };
  } finally {
    model?.close();
  }
}

function reply(message: HeadCheckMessage): void {
  if (!process.send) {
    process.stdout.write(`${JSON.stringify(message)}\n`);
    process.exitCode = message.ok ? ExitCode.Ok : ExitCode.Unexpected;
    return;
  }
  process.send(message, () => process.disconnect());
}

let headPath = '(unknown head)';
Promise.resolve()
  .then(() => {
    const request = JSON.parse(process.argv[2] ?? '') as HeadCheckRequest;
    headPath = request.source ?? request.headPath;
    return check(request);
  })
  .then(reply, (error: unknown) => {
    reply(
      isEarshotError(error)
        ? { ok: false, error: error.message, exitCode: error.exitCode }
        : {
            ok: false,
            error: `${headPath}: unexpected error while checking the head (${(error as Error)?.message ?? String(error)})`,
            exitCode: ExitCode.Unexpected,
          },
    );
  });
