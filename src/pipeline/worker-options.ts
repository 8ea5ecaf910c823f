/**
 * The daemon's inference settings from its config: where models run, which sources count as
 * real time (the degrade policy applies to them only), and the patch queue.
 */
import type { EarshotConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LoadedModel } from '../inference/load-model.js';
import type { ModelRequest } from '../inference/model-request.js';
import type { SchedulerSettings } from './scheduler.js';
import { WorkerClassifier } from '../inference/worker/worker-classifier.js';

/**
 * True for a source that delivers audio at the pace it happens: a microphone (`alsa`), a serial
 * MCU, or a file replayed with `pacing: realtime`. A file read `fast` waits for the pipeline, so
 * it is never degraded (its results match `earshot analyze` exactly).
 */
export function isRealtimeSource(source: EarshotConfig['source']): boolean {
  return source.type !== 'file' || source.pacing === 'realtime';
}

/** The {@link PatchScheduler} settings of a config. */
export function schedulerSettings(config: EarshotConfig): SchedulerSettings {
  return {
    queuePatches: config.inference.queue_patches,
    degradeLagSeconds: config.inference.degrade_lag_seconds,
    recoverLagSeconds: config.inference.recover_lag_seconds,
    realtime: isRealtimeSource(config.source),
  };
}

/**
 * How the daemon opens a model: in a worker thread ({@link WorkerClassifier}, the default), or
 * on the main thread when `inference.worker` is false.
 */
export function modelOpener(config: EarshotConfig, log: Logger): (request: ModelRequest) => Promise<LoadedModel> {
  // The model loader is imported for in-thread models only: with a worker it loads there (issue 23).
  if (!config.inference.worker) return async (request) => (await import('../inference/load-model.js')).loadModel(request);
  return async (request) => {
    const model = await WorkerClassifier.open(request, { log });
    if (model.faults) log.warn({ model: model.path, faults: model.faults }, 'test hook: the inference worker injects model faults (EARSHOT_TEST_MODEL_FAULT)');
    return model;
  };
}
