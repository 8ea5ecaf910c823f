/**
 * The head a running daemon uses, and how it changes without a restart (docs/learning.md,
 * "Deploying a head"):
 * - at start, `model.head` (a file, `auto`: the shipped head for the model, or `none`), unless a
 *   head was pushed since: the node keeps pushed heads in `<data_dir>/heads/` and remembers the one
 *   in use (and the one before it) in `<data_dir>/heads/state.json`, so a restart keeps it;
 * - `push` (`earshot head push`, `PUT /api/v1/head`): the uploaded file is checked in a child
 *   process against the running model (head-check.ts: parses, same base model, runs one invoke
 *   through backbone and head), stored under its sha256, and swapped in between two patches; the
 *   head it replaces is kept for `rollback`;
 * - `rollback` (`earshot head rollback`, `POST /api/v1/head/rollback`): back to the previous head
 *   (or to none); a second rollback undoes the first;
 * - `reload` (SIGHUP, MQTT `cmd/reload_model`): a head file changed on disk, or a changed
 *   `model.head`, is checked the same way and swapped in; after a model hot reload the head that
 *   fits the new model is attached again (or none).
 * Every failure leaves the running head in place and says why in one line. A swap changes which
 * class the head's labels read and their thresholds at the same patch boundary (the scheduler's
 * model swap), so no patch is scored by one head and judged by the other's thresholds.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { EarshotConfig } from '../config/schema.js';
import { resolveLabelSpecs, type LabelSpec } from '../detect/label-map.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import { checkHeadInChild } from '../inference/head/head-check.js';
import { attachHead, headIdentity, MAX_HEAD_BYTES, readHead, resolveHeadSetting, type HeadControl, type HeadIdentity } from '../inference/head/head-runtime.js';
import type { HeadOrigin, LoadedHead } from '../inference/head/head-file.js';
import type { LoadedModel } from '../inference/load-model.js';
import type { PatchScheduler } from '../pipeline/scheduler.js';
import type { Logger } from '../log.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { headLabelSpecs } from '../detect/head-labels.js';

/** What state.json remembers: the head in use and the one before it, by file. */
interface HeadState {
  active: { path: string; origin: HeadOrigin } | null;
  /** Absent: nothing to roll back to; null: rolling back turns the head off. */
  previous?: { path: string; origin: HeadOrigin } | null;
}

/** Writes a file atomically (temporary name, fsync, rename). */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Runs the daemon's primary head: push, rollback, reload; see the module comment. */
export class HeadDeployer implements HeadControl {
  private active: LoadedHead | null;
  private previousHead: LoadedHead | null | undefined = undefined;
  private identity: HeadIdentity | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly dir: string;
  /** The `head` component's logger. */
  private readonly log: Logger;

  /**
   * @param initial the head the pipeline was built with (ModelSet.head)
   * @param config the config the daemon started with ({@link reload} replaces it)
   * @param onChange called now and after every swap with the head's identity (API, MQTT read it)
   */
  constructor(
    initial: LoadedHead | null,
    private readonly pipeline: Pipeline,
    private readonly scheduler: Pick<PatchScheduler, 'replaceModel'>,
    private config: EarshotConfig,
    log: Logger,
    private readonly onChange: (identity: HeadIdentity | null) => void,
  ) {
    this.log = log.child({ component: 'head' });
    this.active = initial;
    this.dir = join(config.data_dir, 'heads');
    this.identity = initial ? headIdentity(initial, this.servedLabels(initial)) : null;
    onChange(this.identity);
  }

  current(): HeadIdentity | null {
    return this.identity;
  }

  previous(): HeadIdentity | null | undefined {
    if (this.previousHead === undefined) return undefined;
    return this.previousHead ? headIdentity(this.previousHead, this.servedLabels(this.previousHead)) : null;
  }

  /**
   * Restores a pushed head remembered in state.json (a restart keeps what was pushed). A head that
   * no longer fits (another model now) is logged and left out.
   */
  restore(): Promise<void> {
    return this.serial(async () => {
      const state = this.readState();
      if (!state) return;
      if (state.previous !== undefined) this.previousHead = state.previous ? this.tryRead(state.previous.path, state.previous.origin) : null;
      if (state.active?.origin !== 'push') return;
      const pushed = this.tryRead(state.active.path, 'push');
      if (!pushed || pushed.head.sha256 === this.active?.head.sha256) return;
      try {
        await this.swap(pushed);
        this.log.info({ head: pushed.path, sha256: pushed.head.sha256 }, 'the pushed head is in use again');
      } catch (error) {
        if (!isEarshotError(error)) throw error;
        this.log.warn({ head: pushed.path, err: error }, 'the pushed head does not fit the model; using model.head');
      }
    });
  }

  push(text: string): Promise<HeadIdentity> {
    return this.serial(async () => {
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length > MAX_HEAD_BYTES) throw new EarshotError(`uploaded head: head file: ${bytes.length} bytes is over the ${MAX_HEAD_BYTES}-byte limit`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      mkdirSync(this.dir, { recursive: true });
      const upload = join(this.dir, `upload-${sha256}.json`);
      writeAtomic(upload, bytes);
      try {
        await this.check(upload, 'uploaded head');
        const path = join(this.dir, `${sha256}.json`);
        renameSync(upload, path);
        const loaded = readHead(path, 'push');
        await this.swap(loaded);
        this.log.info({ head: path, sha256, trained_at: loaded.head.trainedAt, clips: loaded.head.clipCount }, 'head pushed: in use');
        return this.identity!;
      } finally {
        rmSync(upload, { force: true });
      }
    });
  }

  rollback(): Promise<HeadIdentity | null> {
    return this.serial(async () => {
      if (this.previousHead === undefined) throw new EarshotError('head rollback: there is no previous head to go back to');
      const target = this.previousHead;
      if (target) await this.check(target.path, target.path);
      await this.swap(target);
      this.log.info({ head: target?.path ?? null, sha256: target?.head.sha256 ?? null }, 'head rolled back');
      return this.identity;
    });
  }

  /**
   * After SIGHUP or MQTT `cmd/reload_model` (and the model reload they trigger): takes a head file
   * changed on disk, a changed `model.head`, or, after the model itself changed, the head that
   * fits the new model. Never rejects: failures are logged and the running head is kept.
   * @param next the config now in force
   * @param modelReloaded true when the primary model was just replaced
   */
  reload(next: EarshotConfig, modelReloaded: boolean): Promise<void> {
    return this.serial(async () => {
      const previousConfig = this.config;
      this.config = next;
      const settingChanged = (next.model.head ?? 'auto') !== (previousConfig.model.head ?? 'auto');
      // A pushed head stays until the next push or rollback (or a new model.head); else model.head.
      const candidates: (() => LoadedHead | null)[] = [];
      if (this.active?.origin === 'push' && !settingChanged) candidates.push(() => readHead(this.active!.path, 'push'));
      candidates.push(() => resolveHeadSetting(next.model.head, this.backbone()).head);
      // Without a model change the first applicable answer is the one; after one, the first that fits it.
      for (const candidate of modelReloaded ? candidates : candidates.slice(0, 1)) {
        try {
          const wanted = candidate();
          const runningSha = (this.pipeline.models[0]!.classifier as LoadedModel).head?.head.sha256 ?? null;
          if (!modelReloaded && (wanted?.head.sha256 ?? null) === runningSha) return;
          if (wanted) await this.check(wanted.path, wanted.path);
          await this.swap(wanted);
          this.log.info({ head: wanted?.path ?? null, sha256: wanted?.head.sha256 ?? null, origin: wanted?.origin }, wanted ? 'head reloaded' : 'head off');
          return;
        } catch (error) {
          this.log.error(
            { err: error, running_head: this.active?.path ?? null },
            modelReloaded ? 'head does not fit the new model' : 'head reload failed: keeping the running head',
          );
        }
      }
      if (modelReloaded) await this.swap(null).catch((error: unknown) => this.log.error({ err: error }, 'cannot switch the head off'));
    });
  }

  /**
   * The primary's labels for a config reload (src/service/reload.ts): as the config resolves
   * them, with the running head's thresholds for the labels it serves.
   */
  withHeadThresholds(specs: LabelSpec[]): LabelSpec[] {
    return this.active ? headLabelSpecs(specs, this.active.head).specs : specs;
  }

  /** Runs `f` after every earlier call (one change at a time). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** The running primary model without its head. */
  private backbone(): LoadedModel {
    const classifier = this.pipeline.models[0]!.classifier as LoadedModel;
    return classifier.backbone ?? classifier;
  }

  private servedLabels(loaded: LoadedHead): string[] {
    const names = this.pipeline.models[0]!.labels.map((l) => l.name);
    return loaded.head.labels.filter((l) => l !== loaded.head.backgroundLabel && names.includes(l));
  }

  /** Checks a head file against the running model in a child process (head-check.ts). */
  private async check(path: string, source: string): Promise<void> {
    const backbone = this.backbone();
    const config = this.config;
    await checkHeadInChild({
      headPath: path,
      source,
      modelPath: backbone.path,
      manifest: backbone.manifest.origin,
      backend: backbone.backend.kind,
      threads: config.model.threads,
    });
  }

  /**
   * Swaps `next` in (null: no head) between two patches: the primary reads the new head's classes,
   * its labels take the new thresholds; the head it replaces becomes the previous one.
   * @throws EarshotError when the head does not run on the model (nothing changed then)
   */
  private async swap(next: LoadedHead | null): Promise<void> {
    try {
      await this.swapNow(next);
    } catch (error) {
      // A worker that died meanwhile, another swap pending: the environment, not the file (a 503).
      if (isEarshotError(error)) throw error;
      throw new EarshotError(
        `head: cannot swap the head in now (${(error as Error)?.message ?? String(error)}); the running head is kept`,
        ExitCode.Environment,
        { cause: error },
      );
    }
  }

  private async swapNow(next: LoadedHead | null): Promise<void> {
    const member = this.pipeline.models[0]!;
    const backbone = this.backbone();
    const classifier = await attachHead(backbone, next);
    const config = this.config;
    const names = new Set(member.labels.map((l) => l.name));
    const base = resolveLabelSpecs(config.detection.labels, backbone.manifest.class_map).specs.filter((s) => names.has(s.name));
    const specs = next ? headLabelSpecs(base, next.head).specs : base;
    const commit = this.pipeline.prepareModelSwap(0, { ...member, classifier, labels: specs });
    const byName = new Map(specs.map((s) => [s.name, s]));
    // Only labels the primary serves first take its thresholds (as at start, unionLabels).
    const labels = this.pipeline.labels.map((l) => {
      const s = byName.get(l.name);
      return s ? { ...l, threshold: s.threshold, release: s.release } : l;
    });
    await this.scheduler.replaceModel(() => {
      const replaced = commit();
      this.pipeline.updateLabels(labels);
      return replaced;
    });
    const before = this.active;
    this.previousHead = before;
    this.active = next;
    this.identity = next ? headIdentity(next, this.servedLabels(next)) : null;
    this.writeState();
    this.onChange(this.identity);
  }

  private tryRead(path: string, origin: HeadOrigin): LoadedHead | null {
    try {
      return existsSync(path) ? readHead(path, origin) : null;
    } catch (error) {
      this.log.warn({ head: path, err: error }, 'a remembered head file cannot be read');
      return null;
    }
  }

  private readState(): HeadState | null {
    const path = join(this.dir, 'state.json');
    if (!existsSync(path)) return null;
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as HeadState;
    } catch (error) {
      this.log.warn({ file: path, err: error }, 'state.json unreadable; starting from model.head');
      return null;
    }
  }

  private writeState(): void {
    const state: HeadState = {
      active: this.active ? { path: resolve(this.active.path), origin: this.active.origin } : null,
      ...(this.previousHead !== undefined
        ? { previous: this.previousHead ? { path: resolve(this.previousHead.path), origin: this.previousHead.origin } : null }
        : {}),
    };
    try {
      mkdirSync(this.dir, { recursive: true });
      writeAtomic(join(this.dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    } catch (error) {
      this.log.warn({ dir: this.dir, err: error }, 'cannot remember the head in use (it stays in use until a restart)');
    }
  }
}

/**
 * The head control the API is given before the pipeline exists (the API starts first): it
 * answers 503-style errors until {@link attach} hands it the daemon's {@link HeadDeployer}.
 */
export class HeadControlSlot implements HeadControl {
  private deployer: HeadDeployer | null = null;

  attach(deployer: HeadDeployer): void {
    this.deployer = deployer;
  }

  current(): HeadIdentity | null {
    return this.deployer?.current() ?? null;
  }

  previous(): HeadIdentity | null | undefined {
    return this.deployer?.previous();
  }

  push(text: string): Promise<HeadIdentity> {
    return this.deployer
      ? this.deployer.push(text)
      : Promise.reject(new EarshotError('head push: the pipeline is still starting; try again', ExitCode.Environment));
  }

  rollback(): Promise<HeadIdentity | null> {
    return this.deployer
      ? this.deployer.rollback()
      : Promise.reject(new EarshotError('head rollback: the pipeline is still starting; try again', ExitCode.Environment));
  }
}
