/**
 * The daemon, wired on one screen: source → pipeline (front end, models, detector) → consumers
 * (event store, MQTT, clips, microphone health, gaps, HTTP API: src/consumer.ts). `earshot run`
 * starts it; SIGTERM/SIGINT stop it cleanly (open events closed with reason `shutdown`, clips
 * finished, queued alerts drained, database closed).
 *
 * Whatever a run opens or starts joins one list (src/consumer-list.ts): the data dir lock, the
 * database, the source, the models, then the consumers. They start in order and stop in reverse
 * order whatever happens; a failing stop is logged and the others still stop. To add a consumer
 * (something that follows chunks, patches or events): implement `DaemonConsumer` next to what it
 * adapts and add one line to the list in {@link buildConsumers}, where its order belongs.
 */
import { isAbsolute, join } from 'node:path';
import type Database from 'better-sqlite3';
import { ulid } from 'ulid';
import { LiveStatus, liveStatusConsumer } from './api/live-status.js';
import { apiConsumer } from './api/server.js';
import { publicBaseUrl, publicClipUrl } from './api/public-url.js';
import { CapturePump } from './capture/pump.js';
import { createSource } from './capture/create-source.js';
import type { AudioSource, SourceDescription } from './capture/source.js';
import type { EarshotConfig } from './config/schema.js';
import { FRAME_HOP_SAMPLES, SAMPLE_RATE } from './constants.js';
import type { DaemonConsumer } from './consumer.js';
import { ConsumerList } from './consumer-list.js';
import type { DetectorOutput } from './detect/detector.js';
import { eventLogFields, toEventRecord, type StreamContext } from './events.js';
import { headSummary } from './inference/head/head-runtime.js';
import type { LabelSpec } from './detect/label-map.js';
import { HeadControlSlot, HeadDeployer } from './service/head-deploy.js';
import { ModelReloader, type ReloadOutcome, type ReloadTrigger } from './pipeline/model-reload.js';
import { modelOpener, schedulerSettings } from './pipeline/worker-options.js';
import type { InferenceStatus } from './inference/types.js';
import { PatchScheduler } from './pipeline/scheduler.js';
import type { Logger } from './log.js';
import { Pipeline } from './pipeline/pipeline.js';
import { ClockSync } from './service/clock.js';
import { microphoneHealthConsumer } from './service/microphone-health.js';
import { openModelAndLabels, pipelineSettings } from './setup.js';
import { ClipRecorder, clipRecorderConsumer } from './store/clip-recorder.js';
import { checkDataDir, openCheckedDatabase } from './store/startup-checks.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { eventStoreConsumer } from './store/event-store.js';
import { GapRecorder } from './store/gap-recorder.js';
import { GapStore } from './store/gap-store.js';
import { storeMaintenanceConsumer } from './store/retention.js';
import { MqttAlerts, mqttAlertsConsumer } from './transport/mqtt-alerts.js';
import type { HeadSummary } from './transport/payloads.js';
import type { AudioChunk } from './types.js';

/** How a daemon run ended. */
export interface DaemonSummary {
  /** Seconds of audio processed. */
  audioSeconds: number;
  events: number;
  hostileEvents: number;
  /** MQTT messages still unacknowledged at exit (0 without a broker). */
  unacknowledged: number;
  stoppedBy: 'end_of_source' | 'signal';
  /** Capture gaps stored, and the audio they lost (seconds). */
  gaps?: number;
  lostSeconds?: number;
}

/** Optional hooks, for progress display. */
export interface DaemonHooks {
  onProgress?: (audioSeconds: number, totalSeconds: number | undefined, events: number) => void;
  /** Wraps the configured source (the service layer's test-only stall hook: docs/service.md). */
  wrapSource?: (source: AudioSource) => AudioSource;
  /** Once the source is open, the model loaded and the database open, before the first chunk. */
  onStart?: (running: RunningDaemon) => void;
  /**
   * After each chunk went through the front end (its patches queued for the models);
   * `processingMs` is the front end's time for it plus the model time spent since the last chunk.
   */
  onChunk?: (chunk: AudioChunk, processingMs: number, summary: Readonly<DaemonSummary>) => void;
  /** A file source reached its end (not a stop signal): what follows is the drain, not a stall. */
  onSourceEnd?: () => void;
}

/** What the service layer (health, watchdog, config reload) sees of a running daemon. */
export interface RunningDaemon {
  readonly config: EarshotConfig;
  readonly source: SourceDescription;
  readonly pipeline: Pipeline;
  /** The model manifest's class → label map (to resolve retuned labels). */
  readonly classMap: Record<string, string[]>;
  readonly db: Database.Database;
  readonly databasePath: string;
  /** Inference as it runs: lag, degraded mode, queued, skipped and failed patches (plain getters, for /healthz and /metrics). */
  readonly inference?: InferenceStatus;
  /**
   * Reloads the primary model from `config.model` (or `path`) if the file, its contents or the
   * manifest changed (src/pipeline/model-reload.ts); logs the outcome, never rejects.
   */
  readonly reloadModel?: (config: EarshotConfig, trigger: ReloadTrigger, path?: string) => Promise<ReloadOutcome>;
  /** The primary's labels as a config reload resolves them, with the running head's thresholds for its labels. */
  readonly withHeadThresholds?: (specs: LabelSpec[]) => LabelSpec[];
}

/** On a signal, queued MQTT messages get at most this long, so the daemon exits within systemd's 5 s budget. */
export const SHUTDOWN_DRAIN_MS = 2500;

/** After a stop signal, the process exits (code 1, logged) if shutdown has not finished by then: systemd's budget is 5 s. */
export const SHUTDOWN_DEADLINE_MS = 4500;

/** The database path of a config: `store.database`, relative to `data_dir`. */
export function databasePath(config: EarshotConfig): string {
  return isAbsolute(config.store.database) ? config.store.database : join(config.data_dir, config.store.database);
}

/**
 * Runs the daemon until the source ends or {@link AbortSignal} fires.
 * @throws EarshotError for a missing source, model or database problem (nothing stored is lost)
 */
export async function runDaemon(config: EarshotConfig, log: Logger, signal: AbortSignal, hooks: DaemonHooks = {}): Promise<DaemonSummary> {
  const summary: DaemonSummary = { audioSeconds: 0, events: 0, hostileEvents: 0, unacknowledged: 0, stoppedBy: 'end_of_source' };
  // Everything opened or started joins this list: a failure anywhere closes what was opened.
  const consumers = new ConsumerList(log);
  try {
    // The store first: a node that cannot keep an event says so at once, before the slow model load.
    const db = await openStore(config, log, consumers);
    // Models run in worker threads (inference.worker): capture, MQTT and HTTP never wait on them.
    const openModel = modelOpener(config, log);
    const { created, source, info } = await openSource(config, log, hooks, consumers);
    const opened = await openModels(config, log, openModel, consumers);
    const engine = buildEngine(config, log, opened, source, info, openModel, consumers, (outputs) => deliver(outputs, engine.context, consumers, summary, log));
    await consumers.start(...buildConsumers(config, log, db, engine, opened, summary, hooks, info));
    void engine.deployer.restore();
    hooks.onStart?.(runningDaemon(config, db, info, opened, engine));
    await pumpChunks(engine, consumers, signal, summary);
    if (summary.stoppedBy === 'end_of_source') hooks.onSourceEnd?.();
    // Open events close (reason shutdown / stream_end) before the consumers finish and stop.
    await engine.scheduler.finish(summary.stoppedBy === 'signal' ? 'shutdown' : 'stream_end');
    await consumers.finish(summary.stoppedBy);
    logRunEnd(log, summary, engine, created);
  } finally {
    // Reverse order: the API closes, clips are written, MQTT drains, then the database closes.
    await consumers.stop(summary.stoppedBy);
  }
  return summary;
}

type OpenedModels = Awaited<ReturnType<typeof openModelAndLabels>>;
type ModelOpener = ReturnType<typeof modelOpener>;

/**
 * Takes the data dir (one daemon per data dir: a second one stops here, exit 3) and opens the
 * checked database (startup-checks.ts); both join `list`, so they close last.
 * @throws EarshotError when the data dir or the database cannot be used
 */
async function openStore(config: EarshotConfig, log: Logger, list: ConsumerList): Promise<Database.Database> {
  checkDataDir(config.data_dir);
  const lock = lockDataDir(config.data_dir);
  if (lock.tookOverFrom)
    log.warn(
      { lock: lock.path, previous_pid: lock.tookOverFrom.pid, previous_since: lock.tookOverFrom.since },
      'data dir lock: the previous daemon did not exit cleanly; its stale lock was taken over',
    );
  await list.start({ name: 'data dir lock', stop: () => lock.release() });
  const db = openCheckedDatabase(databasePath(config), config.store.on_corrupt, log).db;
  await list.start({ name: 'database', stop: () => void db.close() });
  return db;
}

/**
 * Opens the configured source (wrapped by `hooks.wrapSource`); it joins `list`, so it is stopped
 * whatever fails later. `created` is the unwrapped source (its counters go into the last log line).
 * @throws EarshotError when the source cannot be opened
 */
async function openSource(
  config: EarshotConfig,
  log: Logger,
  hooks: DaemonHooks,
  list: ConsumerList,
): Promise<{ created: AudioSource; source: AudioSource; info: SourceDescription }> {
  const created = createSource(config, log);
  const source = hooks.wrapSource ? hooks.wrapSource(created) : created;
  await list.start({ name: 'source', stop: () => source.stop() });
  const info = await source.open();
  log.info({ source: info.uri, ...info.details, pacing: config.source.pacing }, 'source opened');
  return { created, source, info };
}

/**
 * Loads the models and labels (setup.ts); they join `list`, so they close at the end.
 * @throws EarshotError for a missing or unusable model
 */
async function openModels(config: EarshotConfig, log: Logger, openModel: ModelOpener, list: ConsumerList): Promise<OpenedModels> {
  const opened = await openModelAndLabels(config, log, openModel);
  await list.start({ name: 'models', stop: () => opened.models.close() });
  return opened;
}

/** The pipeline of one run and what drives it: capture pump, patch scheduler, model hot reload and head deployment. */
interface Engine {
  readonly pipeline: Pipeline;
  /** Where events are heard; its model fields change with a hot reload, so events name the model that heard them. */
  readonly context: StreamContext;
  readonly pump: CapturePump;
  readonly scheduler: PatchScheduler;
  readonly clock: ClockSync;
  readonly reloader: ModelReloader;
  readonly deployer: HeadDeployer;
  /** The head control the API's push / rollback reach (src/service/head-deploy.ts). */
  readonly heads: HeadControlSlot;
  /** The running model and head, updated in place by a hot reload or a head swap (the API and MQTT read them). */
  readonly running: { model: { id: string; sha256: string }; head: HeadSummary | null };
  /** A model reload, then the head that fits (a head file changed on disk, a new model.head, or a new model). */
  readonly reloadModel: NonNullable<RunningDaemon['reloadModel']>;
}

/**
 * Builds the pipeline, its patch reports going to `consumers`, and what drives it. Capture is read
 * into a queue as it comes; patches wait for the models in a bounded queue (docs/service.md,
 * "When inference falls behind"); `deliver` gets the detector's outputs.
 * @throws EarshotError when a label maps a class its model lacks
 */
function buildEngine(
  config: EarshotConfig,
  log: Logger,
  opened: OpenedModels,
  source: AudioSource,
  info: SourceDescription,
  openModel: ModelOpener,
  consumers: ConsumerList,
  deliver: (outputs: DetectorOutput[]) => void,
): Engine {
  const { model, labels, models } = opened;
  const clock = new ClockSync();
  const pipeline = new Pipeline(models.members, labels, pipelineSettings(config), model.path);
  pipeline.onPatch = (report) => consumers.onPatch(report);
  const context: StreamContext = {
    nodeId: config.node_id,
    modelId: models.id,
    modelSha256: models.sha256,
    source: info.uri,
    streamId: ulid(),
    streamStartMs: Date.now(),
    clockSynced: () => clock.synced,
    thresholdOf: (label) => pipeline.labels.find((l) => l.name === label)?.threshold,
  };
  const pump = new CapturePump(source, { realtime: schedulerSettings(config).realtime, maxBacklogSamples: pipeline.ring.capacitySamples });
  const scheduler = new PatchScheduler(pipeline, schedulerSettings(config), pump, log, deliver);
  const running: Engine['running'] = { model: { id: models.id, sha256: models.sha256 }, head: null };
  const reloader = new ModelReloader(config, pipeline, scheduler, openModel, log, (identity) => {
    Object.assign(context, { modelId: identity.id, modelSha256: identity.sha256 });
    Object.assign(running.model, identity);
  });
  const deployer = new HeadDeployer(models.head, pipeline, scheduler, config, log, (head) => (running.head = headSummary(head)));
  const heads = new HeadControlSlot();
  heads.attach(deployer);
  const reloadModel = async (next: EarshotConfig, trigger: ReloadTrigger, path?: string): Promise<ReloadOutcome> => {
    const outcome = await reloader.reload(next, trigger, path);
    await deployer.reload(next, outcome === 'reloaded');
    return outcome;
  };
  return { pipeline, context, pump, scheduler, clock, reloader, deployer, heads, running, reloadModel };
}

/**
 * The consumers of one run, in the order they start (each hook is called in this order; they stop
 * in reverse, see src/consumer.ts). Order matters where one uses another: MQTT before the clips
 * and the event store (it stops after them, so their last messages are drained), the clips before
 * the event store (an alert links to the clip id chosen at the onset), the API last (it closes
 * first). A consumer its config turns off is null. Adding a consumer is one line here.
 */
function buildConsumers(
  config: EarshotConfig,
  log: Logger,
  db: Database.Database,
  engine: Engine,
  opened: OpenedModels,
  summary: DaemonSummary,
  hooks: DaemonHooks,
  info: SourceDescription,
): (DaemonConsumer | null)[] {
  const { pipeline, context, clock } = engine;
  // Evidence clips (docs/storage.md), cut on the stream's patch grid.
  const recorder = config.clips.enabled
    ? new ClipRecorder({
        db,
        dataDir: config.data_dir,
        clips: config.clips,
        ring: pipeline.ring,
        classNames: () => pipeline.models[0].classifier.classNames,
        context,
        log,
        chunkSeconds: config.source.chunk_seconds,
        hopSamples: config.frontend.hop_frames * FRAME_HOP_SAMPLES,
      })
    : null;
  // Alerts go through the SQLite outbox (docs/mqtt.md) and link to the event's clip and the node (api.public_url).
  const publicBase = (): string | null => publicBaseUrl(config.api, api?.url ?? null);
  const links = {
    clockSynced: () => clock.synced,
    clipUrl: (eventId: string) => publicClipUrl(publicBase(), recorder?.clipIdFor(eventId) ?? null),
    configurationUrl: publicBase,
    head: () => engine.running.head,
  };
  const mqtt = config.mqtt.url ? new MqttAlerts(config, db, log, () => summary, opened.models.id, links) : null;
  const drainMs = config.mqtt.drain_timeout_seconds * 1000;
  const live = new LiveStatus(mqtt ? () => mqtt.outbox.depth() : undefined);
  live.inference = engine.scheduler;
  live.clockSynced = () => clock.synced;
  // The HTTP API (docs/api.md); a port in use is logged and the daemon listens on without it.
  const api = config.api.enabled ? apiConsumer({ db, dataDir: config.data_dir, config, log, live, model: engine.running.model, heads: engine.heads }) : null;
  return [
    { name: 'model reloader', stop: () => engine.reloader.close() },
    storeMaintenanceConsumer(config, db, log),
    clock,
    mqtt &&
      mqttAlertsConsumer(mqtt, log, {
        drainTimeoutMs: (ending) => (ending === 'signal' ? Math.min(drainMs, SHUTDOWN_DRAIN_MS) : drainMs),
        stopped: (unacknowledged) => (summary.unacknowledged = unacknowledged),
        reloadModel: (path) => void engine.reloadModel(config, 'mqtt', path),
      }),
    recorder && clipRecorderConsumer(recorder),
    microphoneHealthConsumer(config, db, log, context, pipeline, mqtt, live),
    new GapRecorder(new GapStore(db), engine.pump, pipeline, context, log, summary),
    eventStoreConsumer(db, log, mqtt),
    liveStatusConsumer(live),
    hooksConsumer(hooks, summary, info),
    api,
  ];
}

/** The caller's chunk hooks (the service supervisor, the progress line) as the last consumer of each chunk. */
function hooksConsumer(hooks: DaemonHooks, summary: DaemonSummary, info: SourceDescription): DaemonConsumer {
  return {
    name: 'hooks',
    afterChunk: (chunk, processingMs) => {
      hooks.onChunk?.(chunk, processingMs, summary);
      hooks.onProgress?.(summary.audioSeconds, info.durationSeconds, summary.events);
    },
  };
}

/** What the service layer sees of the run (`hooks.onStart`). */
function runningDaemon(config: EarshotConfig, db: Database.Database, info: SourceDescription, opened: OpenedModels, engine: Engine): RunningDaemon {
  const { pipeline, scheduler, deployer, reloadModel } = engine;
  return {
    config,
    source: info,
    pipeline,
    classMap: opened.models.classMap,
    db,
    databasePath: databasePath(config),
    inference: scheduler,
    reloadModel,
    withHeadThresholds: (specs: LabelSpec[]) => deployer.withHeadThresholds(specs),
  };
}

/** Feeds captured chunks to the consumers and the pipeline until the source ends or `signal` fires (then the models skip what is queued). */
async function pumpChunks(engine: Engine, consumers: ConsumerList, signal: AbortSignal, summary: DaemonSummary): Promise<void> {
  const { pump, scheduler } = engine;
  const stop = () => {
    summary.stoppedBy = 'signal';
    pump.stop();
    scheduler.skipRemaining();
  };
  signal.addEventListener('abort', stop, { once: true });
  // A signal that came while the model was loading: 'abort' has already fired.
  if (signal.aborted) stop();
  try {
    for await (const chunk of pump.chunks()) {
      consumers.beforeChunk(chunk);
      // Front end and model time for the chunk (not the wait for room in the patch queue).
      const processingMs = (await scheduler.push(chunk)) + scheduler.takeModelMs();
      summary.audioSeconds = chunkEndSeconds(chunk);
      consumers.afterChunk(chunk, processingMs);
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** Hands each detector output to the consumers (one record for all), counts the onsets, logs one line each. */
function deliver(outputs: readonly DetectorOutput[], context: StreamContext, consumers: ConsumerList, summary: DaemonSummary, log: Logger): void {
  for (const output of outputs) {
    const record = toEventRecord(output.event, context, output.kind === 'offset' ? output.reason : null);
    consumers.onEvent({ output, record });
    if (output.kind === 'offset') {
      log.info(eventLogFields(record), `event ended: ${record.label}`);
      continue;
    }
    summary.events += 1;
    if (record.group === 'hostile') summary.hostileEvents += 1;
    log.info(eventLogFields(record), `${record.group} event: ${record.label}`);
  }
}

/** The run's closing line: audio, events, patches, inference figures, capture gaps and the source's counters. */
function logRunEnd(log: Logger, summary: DaemonSummary, engine: Engine, created: AudioSource): void {
  const { pipeline, scheduler, pump } = engine;
  const { skipped, failed } = pipeline.counts;
  const inference = {
    skipped,
    failed,
    max_lag_s: Number(scheduler.maxLagSeconds.toFixed(3)),
    degraded: scheduler.degradedEpisodes,
    worker_restarts: scheduler.workerRestarts,
    max_backlog_s: pump.counters.maxBacklogSamples / SAMPLE_RATE,
  };
  log.info(
    {
      audio_s: Number(summary.audioSeconds.toFixed(3)),
      events: summary.events,
      hostile: summary.hostileEvents,
      patches: pipeline.counts.patches,
      gated: pipeline.counts.gated,
      ...inference,
      gaps: summary.gaps,
      lost_s: summary.lostSeconds,
      capture: created.counters?.(),
    },
    summary.stoppedBy === 'signal' ? 'stopped by signal' : 'source ended',
  );
}

const chunkEndSeconds = (chunk: AudioChunk) => (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
