/**
 * What to open for each model of a config, as {@link loadModel} and the inference worker take it
 * ({@link ModelRequest}). Kept apart from load-model.ts (and free of its imports: backends, model
 * parsers, manifests) so that a command can start the inference worker as soon as it has its
 * config, while it loads the rest (issue 23: `earshot analyze` starts the worker first).
 */
import type { EarshotConfig } from '../config/schema.js';
import type { BackendKind, ExecutionProvider } from '../constants.js';

/** What to open. */
export interface ModelRequest {
  /** The model file; undefined = the pulled default model in `modelDir`. */
  path?: string;
  /** Manifest path or shipped id; undefined = matched by the file's sha256. */
  manifest?: string;
  backend: BackendKind;
  threads: number;
  modelDir: string;
  /** Skip the child-process probe (only for a file already probed in this process's lifetime). */
  skipProbe?: boolean;
  /**
   * tflite-node only: TFLite external delegate library, a path or a bare file name searched as
   * the dynamic loader would (e.g. `libedgetpu.so.1` for the Coral Edge TPU).
   */
  delegate?: string;
  /** Options passed to the delegate, e.g. { device: 'usb' }. */
  delegateOptions?: Record<string, string>;
  /** onnx only: execution providers in order of preference (default ['cpu']). */
  executionProviders?: ExecutionProvider[];
  /** Fail (exit 3) rather than run on the CPU when the delegate / providers cannot be had. */
  requireAccelerator?: boolean;
}

/** The accelerator fields of a {@link ModelRequest} from the config's `model` section. */
export function acceleratorRequest(
  model: EarshotConfig['model'],
): Pick<ModelRequest, 'delegate' | 'delegateOptions' | 'executionProviders' | 'requireAccelerator'> {
  return {
    ...(model.delegate ? { delegate: model.delegate } : {}),
    ...(model.delegate_options ? { delegateOptions: model.delegate_options } : {}),
    ...(model.execution_providers ? { executionProviders: model.execution_providers } : {}),
    ...(model.require_accelerator ? { requireAccelerator: true } : {}),
  };
}

/** The request for the config's `model` (the primary). */
export function primaryModelRequest(config: EarshotConfig): ModelRequest {
  return {
    path: config.model.path,
    manifest: config.model.manifest,
    backend: config.model.backend,
    threads: config.model.threads,
    modelDir: config.model_dir,
    ...acceleratorRequest(config.model),
  };
}

/**
 * The requests for the config's models in the order they are opened: `model`, then each of
 * `extra_models` (its backend and threads defaulting to `model`'s; no accelerator fields).
 */
export function modelRequests(config: EarshotConfig): ModelRequest[] {
  return [
    primaryModelRequest(config),
    ...config.extra_models.map((extra) => ({
      path: extra.path,
      manifest: extra.manifest,
      backend: extra.backend ?? config.model.backend,
      threads: extra.threads ?? config.model.threads,
      modelDir: config.model_dir,
    })),
  ];
}
