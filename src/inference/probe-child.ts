/**
 * The child process of probeModel() (probe.ts): reads, parses and opens one model with one
 * backend, runs one invoke on silence, sends a {@link ProbeMessage} to the parent and exits.
 * If the runtime crashes the process, the parent sees the signal instead of a message.
 *
 * Argument: a JSON {@link ProbeRequest}. Not meant to be run by hand.
 */
import { ExitCode, isEarshotError } from '../errors.js';
import type { InferenceBackend } from './backends/backend.js';
import { openBackend } from './backends/create-backend.js';
import { openOnnxSession } from './backends/onnx.js';
import { isOnnxInfo, loadModelFile } from './model-format.js';
import type { OnnxModelInfo, OnnxTensorInfo } from './onnx/model-file.js';
import type { ProbeMessage, ProbeRequest } from './probe.js';
import type { ProbeTensor } from './probe-types.js';
import type { TfliteTensorInfo } from './tflite/model-file.js';

function tensor(t: TfliteTensorInfo | OnnxTensorInfo): ProbeTensor {
  const quantization = 'quantization' in t ? t.quantization : undefined;
  return {
    name: t.name,
    dtype: t.dtype,
    shape: (t.shape ?? []).map((d) => (typeof d === 'number' ? d : -1)),
    ...(quantization ? { quantization: { scale: quantization.scale, zeroPoint: quantization.zeroPoint } } : {}),
  };
}

/** An ONNX model with several inputs (Silero VAD): open it with its providers, run nothing. */
async function probeOpenOnly(request: ProbeRequest, bytes: Uint8Array, info: OnnxModelInfo, started: number): Promise<ProbeMessage> {
  const opened = await openOnnxSession(bytes, request.path, {
    ...(request.threads !== undefined ? { threads: request.threads } : {}),
    ...(request.executionProviders ? { executionProviders: request.executionProviders } : {}),
    ...(request.requireAccelerator !== undefined ? { requireAccelerator: request.requireAccelerator } : {}),
  });
  const loadMs = performance.now() - started;
  await opened.session.release();
  return {
    ok: true,
    path: request.path,
    backend: request.backend,
    fileBytes: info.fileBytes,
    description: `ONNX IR ${info.irVersion}, ${info.producerName}`,
    inputs: info.inputs.map(tensor),
    outputs: info.outputs.map(tensor),
    operators: info.operators.map((o) => o.name),
    loadMs,
    invokeMs: 0,
    maxOutputOnSilence: Number.NaN,
    accelerator: opened.accelerator,
    warnings: opened.warnings,
  };
}

async function probe(request: ProbeRequest): Promise<ProbeMessage> {
  const started = performance.now();
  const { bytes, info } = await loadModelFile(request.path);
  if (isOnnxInfo(info) && info.inputs.length > 1) return probeOpenOnly(request, bytes, info, started);
  let backend: InferenceBackend | undefined;
  try {
    backend = await openBackend(request.backend, bytes, info, {
      ...(request.threads !== undefined ? { threads: request.threads } : {}),
      ...(request.delegatePath ? { delegatePath: request.delegatePath } : {}),
      ...(request.delegateOptions ? { delegateOptions: request.delegateOptions } : {}),
      ...(request.executionProviders ? { executionProviders: request.executionProviders } : {}),
      ...(request.requireAccelerator !== undefined ? { requireAccelerator: request.requireAccelerator } : {}),
      ...(request.inputLength !== undefined ? { inputLength: request.inputLength } : {}),
    });
    const loadMs = performance.now() - started;
    const t0 = performance.now();
    const out = await backend.run(new Float32Array(backend.inputLength));
    const invokeMs = performance.now() - t0;
    let max = -Infinity;
    for (const v of out) max = Math.max(max, v);
    if (!Number.isFinite(max)) {
      return { ok: false, error: `${request.path}: model gives non-finite output on silence (${max}); refusing it`, exitCode: ExitCode.BadInput };
    }
    return {
      ok: true,
      path: request.path,
      backend: request.backend,
      fileBytes: info.fileBytes,
      description: isOnnxInfo(info) ? `ONNX IR ${info.irVersion}, ${info.producerName}` : info.description,
      inputs: info.inputs.map(tensor),
      outputs: info.outputs.map(tensor),
      operators: isOnnxInfo(info) ? info.operators.map((o) => o.name) : [...new Set(info.operatorCodes.map((o) => o.name))],
      ...(!isOnnxInfo(info) && info.metadata?.name ? { metadataName: info.metadata.name } : {}),
      ...(!isOnnxInfo(info) && info.labels ? { labelCount: info.labels.length } : {}),
      loadMs,
      invokeMs,
      maxOutputOnSilence: max,
      ...(backend.accelerator ? { accelerator: backend.accelerator } : {}),
      ...(backend.warnings?.length ? { warnings: backend.warnings } : {}),
    };
  } finally {
    backend?.close();
    await collectGarbage();
  }
}

/**
 * Destroys closed interpreters now. Some bad models (invalid/keyword_scrambled_8bit.tflite) run
 * in tflite-node but corrupt its memory: the process then segfaults when the interpreter is freed
 * (at GC or at exit), not during the invoke. Forcing GC here, and exiting naturally (not with
 * process.exit, which skips native teardown), makes such a model crash the probe, not the daemon.
 */
async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
}

function reply(message: ProbeMessage): void {
  if (!process.send) {
    process.stdout.write(`${JSON.stringify(message)}\n`);
    process.exit(message.ok ? ExitCode.Ok : ExitCode.Unexpected);
  }
  // Exit naturally once the message is out, so that native teardown runs while the parent waits.
  process.send(message, () => process.disconnect());
  process.exitCode = ExitCode.Ok;
}

function parseRequest(): ProbeRequest {
  try {
    return JSON.parse(process.argv[2] ?? '') as ProbeRequest;
  } catch {
    throw new Error('probe-child: expected a JSON probe request as its argument');
  }
}

let path = '(unknown model)';
Promise.resolve()
  .then(() => {
    const request = parseRequest();
    path = request.path;
    return probe(request);
  })
  .then(reply, (error: unknown) => {
    reply(
      isEarshotError(error)
        ? { ok: false, error: error.message, exitCode: error.exitCode }
        : {
            ok: false,
            error: `${path}: unexpected error during the model test load (${(error as Error)?.message ?? String(error)})`,
            exitCode: ExitCode.Unexpected,
          },
    );
  });
