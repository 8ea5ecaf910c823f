/**
 * Model hot reload: replaces the running (primary) model with a new file while the daemon keeps
 * listening, on SIGHUP (when `model.path`, `model.manifest` or the file's sha256 changed) or on
 * the MQTT command `<prefix>/<node>/cmd/reload_model`.
 *
 * The new model is opened exactly as at start: probed in a child process (load and one invoke on
 * silence), then opened in a new worker thread; its manifest must resolve and it must serve the
 * pipeline's labels and take the same input as the running model. Only then is it swapped in,
 * between two patches (the patch being scored finishes on the old model; events open at the swap
 * stay open), and the old worker is closed. Any failure is logged with the file and the reason,
 * and the daemon keeps running on the model it has.
 */
import { resolve } from 'node:path';
import type { EarshotConfig } from '../config/schema.js';
import { resolveLabelSpecs } from '../detect/label-map.js';
import type { Logger } from '../log.js';
import type { Pipeline } from './pipeline.js';
import { resolveModelPath, type LoadedModel } from '../inference/load-model.js';
import { acceleratorRequest, type ModelRequest } from '../inference/model-request.js';
import { sha256File } from '../inference/model-store.js';
import type { PatchScheduler } from './scheduler.js';
import { SAMPLE_RATE } from '../constants.js';

/** What set off a reload, for the log. */
export type ReloadTrigger = 'SIGHUP' | 'mqtt';

/** What one reload did. */
export type ReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

/** A model as the reloader needs to know it (a LoadedModel, or a WorkerClassifier). */
type RunningModel = Pick<LoadedModel, 'path' | 'sha256' | 'manifest' | 'close'>;

/** Replaces the pipeline's primary model on request; one reload at a time. */
export class ModelReloader {
  private chain: Promise<unknown> = Promise.resolve();
  /** Models this reloader opened (closed by {@link close}). */
  private readonly opened: LoadedModel[] = [];
  private closed = false;

  /**
   * @param base the config the daemon started with: the new model gets its backend, threads,
   *   accelerator and model directory (changing those needs a restart)
   * @param open opens one model the way the daemon does (in a worker thread)
   * @param onReloaded called after a swap with the pipeline's new model id and sha256 (events use them)
   */
  constructor(
    private readonly base: EarshotConfig,
    private readonly pipeline: Pipeline,
    private readonly scheduler: PatchScheduler,
    private readonly open: (request: ModelRequest) => Promise<LoadedModel>,
    private readonly log: Logger,
    private readonly onReloaded: (identity: { id: string; sha256: string }) => void,
  ) {}

  /** The running primary model. */
  get current(): RunningModel {
    return this.pipeline.models[0]!.classifier as unknown as RunningModel;
  }

  /**
   * Reloads the primary model from `config.model.path` and `.manifest` (or `path`, which
   * overrides both) unless the same file with the same contents and manifest is already running.
   * Never rejects: the outcome is logged (`model reloaded`, or `model reload failed: keeping the
   * running model`, naming the file and the reason).
   * @param config the config now in force (its `model.path`, `model.manifest` and label table)
   * @param path a model file from the MQTT command (relative paths resolve against `model_dir`)
   */
  reload(config: EarshotConfig, trigger: ReloadTrigger, path?: string): Promise<ReloadOutcome> {
    const next = this.chain.then(() => this.reloadOnce(config, trigger, path));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Closes the models this reloader opened (idempotent); later reloads are refused. */
  close(): void {
    this.closed = true;
    for (const model of this.opened.splice(0)) model.close();
  }

  private async reloadOnce(config: EarshotConfig, trigger: ReloadTrigger, commandPath: string | undefined): Promise<ReloadOutcome> {
    if (this.closed) return 'failed';
    const running = this.current;
    const base = this.base;
    const wanted = commandPath ? resolve(base.model_dir, commandPath) : config.model.path;
    const manifest = commandPath ? undefined : config.model.manifest;
    let described = wanted ?? '(the pulled default model)';
    let opened: LoadedModel | null = null;
    try {
      const path = resolveModelPath(wanted, base.model_dir);
      described = path;
      const sha256 = await sha256File(path);
      // No manifest named: the same file resolves to the same manifest (by its sha256).
      const sameManifest = manifest === undefined || manifest === running.manifest.id || resolve(manifest) === running.manifest.origin;
      if (resolve(path) === resolve(running.path) && sha256 === running.sha256 && sameManifest) {
        this.log.debug({ trigger, model: path, sha256 }, 'model unchanged: nothing to reload');
        return 'unchanged';
      }
      this.log.info({ trigger, model: path, sha256 }, 'model reload: test-loading the new model');
      opened = await this.open({
        path,
        manifest,
        backend: base.model.backend,
        threads: base.model.threads,
        modelDir: base.model_dir,
        ...acceleratorRequest(base.model),
      });
      if (this.closed) throw new Error('the daemon is stopping');
      const labelNames = new Set(this.pipeline.labels.map((l) => l.name));
      const { specs } = resolveLabelSpecs(config.detection.labels, opened.manifest.class_map);
      const commit = this.pipeline.prepareModelSwap(0, {
        classifier: opened,
        name: `${opened.manifest.id} (${opened.path})`,
        labels: specs.filter((s) => labelNames.has(s.name)),
        weight: 1,
      });
      const newLabels = specs.filter((s) => !labelNames.has(s.name)).map((s) => s.name);
      this.opened.push(opened);
      const replaced = (await this.scheduler.replaceModel(commit)).classifier as unknown as RunningModel;
      replaced.close();
      const models = this.pipeline.models.map((m) => m.classifier as unknown as RunningModel);
      this.onReloaded({ id: models.map((m) => m.manifest.id).join('+'), sha256: models.map((m) => m.sha256).join('+') });
      this.log.info(
        {
          trigger,
          model: opened.path,
          manifest: opened.manifest.id,
          old_model: replaced.path,
          old_sha256: replaced.sha256,
          new_sha256: opened.sha256,
          audio_s: Number((this.pipeline.ring.endSample / SAMPLE_RATE).toFixed(3)),
        },
        'model reloaded',
      );
      if (newLabels.length) this.log.info({ labels: newLabels }, 'the new model has classes for these labels too; detecting them needs a restart');
      return 'reloaded';
    } catch (error) {
      if (opened && !this.opened.includes(opened)) opened.close();
      else if (opened && this.current !== (opened as unknown as RunningModel)) {
        this.opened.splice(this.opened.indexOf(opened), 1);
        opened.close();
      }
      this.log.error({ trigger, model: described, err: error, running_model: running.path }, 'model reload failed: keeping the running model');
      return 'failed';
    }
  }
}
