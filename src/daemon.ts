/**
 * The daemon, wired on one screen: source → pipeline (front end, model, detector) → store and
 * MQTT. `earshot run` starts it; SIGTERM/SIGINT stop it cleanly (open events closed with reason
 * `shutdown`, queued alerts drained, database closed).
 */
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { ulid } from 'ulid';
import { LiveStatus } from './api/live-status.js';
import { startApiServer, type RunningApi } from './api/server.js';
import { publicBaseUrl, publicClipUrl } from './api/public-url.js';
import { CapturePump } from './capture/pump.js';
import { createSource, type AudioSource, type SourceDescription } from './capture/source.js';
import type { CaptureGap } from './capture/timeline.js';
import type { EarshotConfig } from './config.js';
import type { DetectorOutput } from './detect/detector.js';
import { toEventRecord, type EventRecord, type StreamContext } from './events.js';
import { headSummary } from './inference/head/head-runtime.js';
import type { LabelSpec } from './detect/label-map.js';
import { HeadControlSlot, HeadDeployer } from './service/head-deploy.js';
import { ModelReloader, parseReloadCommand, type ReloadOutcome, type ReloadTrigger } from './inference/worker/model-reload.js';
import { modelOpener, schedulerSettings } from './inference/worker/options.js';
import { PatchScheduler, type InferenceStatus } from './inference/worker/scheduler.js';
import type { Logger } from './log.js';
import { Pipeline } from './pipeline.js';
import { ClockSync } from './service/clock.js';
import { startMicrophoneHealth } from './service/microphone-health.js';
import { openModelAndLabels, pipelineSettings } from './setup.js';
import { ClipRecorder } from './store/clip-recorder.js';
import { checkDataDir, openCheckedDatabase } from './store/startup-checks.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { storeFaults } from './store/store-faults.js';
import type { OutboxMessage } from './store/outbox.js';
import { EventStore } from './store/event-store.js';
import { GapStore } from './store/gap-store.js';
import { startStoreMaintenance, type StoreMaintenance } from './store/retention.js';
import { MqttAlerts } from './transport/mqtt-alerts.js';
import { SAMPLE_RATE, type AudioChunk } from './types.js';

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
   * manifest changed (src/inference/worker/model-reload.ts); logs the outcome, never rejects.
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
  // The store first: a node that cannot keep an event says so at once, before the slow model
  // load; a failure further on closes what was opened, so the process exits (startup-checks.ts).
  checkDataDir(config.data_dir);
  // One daemon per data dir (store/data-dir-lock.ts): a second one stops here, exit 3.
  const lock = lockDataDir(config.data_dir);
  if (lock.tookOverFrom) log.warn({ lock: lock.path, previous_pid: lock.tookOverFrom.pid, previous_since: lock.tookOverFrom.since }, 'data dir lock: the previous daemon did not exit cleanly; its stale lock was taken over');
  const db = openCheckedDatabase(databasePath(config), config.store.on_corrupt, log).db;
  let created!: AudioSource;
  let source: AudioSource | undefined;
  let opened!: Awaited<ReturnType<typeof openModelAndLabels>>;
  let info!: SourceDescription;
  // Models run in worker threads (inference.worker): capture, MQTT and HTTP never wait on them.
  const openModel = modelOpener(config, log);
  try {
    created = createSource(config, log);
    source = hooks.wrapSource ? hooks.wrapSource(created) : created;
    info = await source.open();
    log.info({ source: info.uri, ...info.details, pacing: config.source.pacing }, 'source opened');
    opened = await openModelAndLabels(config, log, openModel);
  } catch (error) {
    source?.stop();
    db.close();
    lock.release();
    throw error;
  }
  const { model, labels, models } = opened;
  const pumpSource = source!;
  const store = new EventStore(db);
  const faults = storeFaults(db);
  const gapStore = new GapStore(db);
  const summary: DaemonSummary = { audioSeconds: 0, events: 0, hostileEvents: 0, unacknowledged: 0, stoppedBy: 'end_of_source' };
  // Alerts go through the SQLite outbox (docs/mqtt.md): rows commit with the event row.
  // Alerts link to the event's clip and the node (api.public_url); clock state from one checker (service/clock.ts).
  const publicBase = () => publicBaseUrl(config.api, api?.url ?? null);
  const publisher = config.mqtt.url
    ? new MqttAlerts(config, db, log, () => summary, models.id, {
        clockSynced: () => clock.synced,
        clipUrl: (eventId) => publicClipUrl(publicBase(), recorder?.clipIdFor(eventId) ?? null),
        configurationUrl: publicBase,
      })
    : null;
  // Evidence clips and retention (docs/storage.md): reconcile at start, a pass every interval.
  const clock = new ClockSync();
  let maintenance: StoreMaintenance | null = null;
  let recorder: ClipRecorder | null = null;
  // The HTTP API (docs/api.md); a port in use is logged and the daemon listens on without it.
  const live = new LiveStatus(publisher ? () => publisher.outbox.depth() : undefined);
  let api: RunningApi | null = null;
  let reloader: ModelReloader | null = null;
  try {
    faults.watchFreeSpace(config.data_dir, config.retention.min_free_bytes);
    maintenance = startStoreMaintenance(config, db, log);
    clock.start();
    publisher?.start();
    // One object, updated in place by a model hot reload, so /api/v1/node names the running model.
    const runningModel = { id: models.id, sha256: models.sha256 };
    // The head (src/service/head-deploy.ts): the API's push / rollback reach it once the pipeline runs.
    const heads = new HeadControlSlot();
    if (config.api.enabled) api = await startApiServer({ db, dataDir: config.data_dir, config, log, live, model: runningModel, heads });
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
    const pipeline = new Pipeline(models.members, labels, pipelineSettings(config), model.path);
    const pendingGaps: CaptureGap[] = [];
    if (publisher && config.mqtt.level_interval_seconds > 0) {
      const previous = pipeline.onPatch;
      pipeline.onPatch = (report) => {
        previous?.(report);
        publisher.observePatch(report.patch.endSample / SAMPLE_RATE, report.rmsDbfs);
      };
    }
    if (config.clips.enabled) {
      const clips = new ClipRecorder({ db, dataDir: config.data_dir, clips: config.clips, ring: pipeline.ring, classNames: () => pipeline.models[0].classifier.classNames, context, log, chunkSeconds: config.source.chunk_seconds, hopSamples: config.frontend.hop_frames * 160 });
      const previous = pipeline.onPatch;
      pipeline.onPatch = (report) => {
        previous?.(report);
        clips.observePatch(report);
      };
      recorder = clips;
    }
    // Microphone health (docs/microphone.md): per-minute measures against the node's baseline.
    const microphone = startMicrophoneHealth(config, db, log, context, pipeline, publisher, live);
    // Capture is read into a queue as it comes; patches wait for the models in a bounded queue
    // (docs/service.md, "When inference falls behind").
    const pump = new CapturePump(pumpSource, { realtime: schedulerSettings(config).realtime, maxBacklogSamples: pipeline.ring.capacitySamples });
    const scheduler = new PatchScheduler(pipeline, schedulerSettings(config), pump, log, (outputs) => handle(outputs));
    // After a model hot reload, events name the model that heard them.
    const modelReloader = new ModelReloader(config, pipeline, scheduler, openModel, log, (identity) => {
      Object.assign(context, { modelId: identity.id, modelSha256: identity.sha256 });
      Object.assign(runningModel, identity);
    });
    reloader = modelReloader;
    const deployer = new HeadDeployer(models.head, pipeline, scheduler, config, log, (head) => {
      if (publisher) publisher.head = headSummary(head);
    });
    heads.attach(deployer);
    void deployer.restore();
    // A model reload, then the head that fits (a head file changed on disk, a new model.head, or a new model).
    const reloadModel = async (next: EarshotConfig, trigger: ReloadTrigger, path?: string) => {
      const outcome = await modelReloader.reload(next, trigger, path);
      await deployer.reload(next, outcome === 'reloaded');
      return outcome;
    };
    if (publisher) {
      publisher.publisher.onCommand = (_command, payload, retained) => {
        if (retained) return log.warn({ topic: publisher.topics.reloadModelCommand }, 'mqtt: retained reload_model command ignored (send it without retain)');
        try {
          void reloadModel(config, 'mqtt', parseReloadCommand(payload).path);
        } catch (error) {
          log.error({ topic: publisher.topics.reloadModelCommand, err: (error as Error).message }, 'mqtt: reload_model command refused');
        }
      };
    }
    live.inference = scheduler;
    hooks.onStart?.({ config, source: info, pipeline, classMap: models.classMap, db, databasePath: databasePath(config), inference: scheduler, reloadModel, withHeadThresholds: (specs) => deployer.withHeadThresholds(specs) });
    // A row that cannot be written (a full disk, docs/storage.md) never stops the daemon: the
    // event's messages go straight to MQTT, the last place it can reach, and to the log.
    const storeEvent = (write: () => void, record: EventRecord, messages: OutboxMessage[]) => {
      try {
        db.transaction(write)();
        faults.succeeded();
        publisher?.notify();
      } catch (error) {
        const full = faults.failed(error);
        if (publisher) {
          publisher.publishDirect(messages);
          faults.counts.directPublishes += messages.length;
        }
        log.error({ err: error as Error, disk_full: full, ...eventLogFields(record), published_direct: publisher ? messages.length : 0 }, `event not stored (${full ? 'disk full' : (error as Error).message})${publisher ? ': published to MQTT without the outbox' : ''}`);
      }
    };
    const handle = (outputs: DetectorOutput[]) => {
      recorder?.observe(outputs);
      for (const output of outputs) {
        if (output.kind === 'onset') {
          const record = toEventRecord(output.event, context, null);
          const messages = publisher?.onsetMessages(record, output.event) ?? [];
          storeEvent(() => {
            store.recordOnset(record);
            publisher?.outbox.add(messages);
          }, record, messages);
          summary.events += 1;
          if (record.group === 'hostile') summary.hostileEvents += 1;
          log.info(eventLogFields(record), `${record.group} event: ${record.label}`);
        } else {
          const record = toEventRecord(output.event, context, output.reason);
          const messages = publisher?.offsetMessages(record) ?? [];
          storeEvent(() => {
            store.recordOffset(record);
            publisher?.outbox.add(messages);
          }, record, messages);
          log.info(eventLogFields(record), `event ended: ${record.label}`);
        }
      }
    };
    const stop = () => {
      summary.stoppedBy = 'signal';
      pumpSource.stop();
      scheduler.skipRemaining();
    };
    signal.addEventListener('abort', stop, { once: true });
    // A signal that came while the model was loading: 'abort' has already fired.
    if (signal.aborted) stop();
    try {
      for await (const chunk of pump.chunks()) {
        microphone?.chunk(chunk);
        // Front end and model time for the chunk (not the wait for room in the patch queue).
        const processingMs = (await scheduler.push(chunk)) + scheduler.takeModelMs();
        recorder?.afterChunk();
        publisher?.publishEventUpdates();
        storeGaps(pump, pipeline, gapStore, context, summary, log, pendingGaps, false);
        live.chunk(chunk, processingMs);
        hooks.onChunk?.(chunk, processingMs, summary);
        summary.audioSeconds = (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
        hooks.onProgress?.(summary.audioSeconds, info.durationSeconds, summary.events);
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (summary.stoppedBy === 'end_of_source') hooks.onSourceEnd?.();
    await scheduler.finish(summary.stoppedBy === 'signal' ? 'shutdown' : 'stream_end');
    microphone?.stop();
    storeGaps(pump, pipeline, gapStore, context, summary, log, pendingGaps, true);
    const { skipped, failed } = pipeline.counts;
    const inference = { skipped, failed, max_lag_s: Number(scheduler.maxLagSeconds.toFixed(3)), degraded: scheduler.degradedEpisodes, worker_restarts: scheduler.workerRestarts, max_backlog_s: pump.counters.maxBacklogSamples / SAMPLE_RATE };
    log.info({ audio_s: Number(summary.audioSeconds.toFixed(3)), events: summary.events, hostile: summary.hostileEvents, patches: pipeline.counts.patches, gated: pipeline.counts.gated, ...inference, gaps: summary.gaps, lost_s: summary.lostSeconds, capture: created.counters?.() }, summary.stoppedBy === 'signal' ? 'stopped by signal' : 'source ended');
  } finally {
    await api?.close();
    // Clips still waiting are cut with the post-roll heard so far, and written before the MQTT drain and the database close.
    await recorder?.close();
    const drainMs = config.mqtt.drain_timeout_seconds * 1000;
    summary.unacknowledged = publisher ? await publisher.stop(summary.stoppedBy === 'signal' ? Math.min(drainMs, SHUTDOWN_DRAIN_MS) : drainMs) : 0;
    maintenance?.stop();
    clock.stop();
    db.close();
    lock.release();
    reloader?.close();
    models.close();
  }
  return summary;
}

/** Stores the gaps the source recorded since the last call, one log line each. */
function storeGaps(source: Pick<AudioSource, 'takeGaps'>, pipeline: Pipeline, gapStore: GapStore, context: StreamContext, summary: DaemonSummary, log: Logger, pending: CaptureGap[], atEnd: boolean): void {
  pending.push(...(source.takeGaps?.() ?? []));
  // The capture pump adds its own (backlog) gaps to the source's: keep them in stream order.
  pending.sort((a, b) => a.startSample - b.startSample);
  // A source records a gap before it delivers the chunk after it: wait until the pipeline has
  // seen that chunk, so the row can say what the pipeline did.
  const ready = atEnd ? pending.length : pending.findIndex((gap) => pipeline.ring.endSample <= gap.endSample);
  const gaps = pending.splice(0, ready < 0 ? pending.length : ready);
  for (const gap of gaps) {
    const startSeconds = gap.startSample / SAMPLE_RATE;
    const durationSeconds = (gap.endSample - gap.startSample) / SAMPLE_RATE;
    const handling = pipeline.gapHandling(gap.startSample, gap.endSample);
    recordGap(gapStore, {
      node_id: context.nodeId,
      stream_id: context.streamId,
      source: context.source,
      start_utc: new Date(context.streamStartMs + startSeconds * 1000).toISOString(),
      start_s: startSeconds,
      duration_s: durationSeconds,
      reason: gap.reason,
      handling,
      detail: Object.keys(gap.detail).length ? JSON.stringify(gap.detail) : null,
    });
    summary.gaps = (summary.gaps ?? 0) + 1;
    summary.lostSeconds = Number(((summary.lostSeconds ?? 0) + durationSeconds).toFixed(6));
    log.warn({ start_s: Number(startSeconds.toFixed(3)), lost_s: Number(durationSeconds.toFixed(3)), reason: gap.reason, handling: handling ?? undefined, ...gap.detail }, 'capture gap');
  }
}

function eventLogFields(record: EventRecord) {
  return { id: record.id, label: record.label, group: record.group, onset_s: record.onset_s, offset_s: record.offset_s, score: record.peak_score, peak_dbfs: record.peak_dbfs, end_reason: record.end_reason ?? undefined };
}

/** Stores a gap row; a write that fails (a full disk) is counted and the gap stays in the log line. */
function recordGap(gapStore: GapStore, row: Parameters<GapStore['record']>[0]): void {
  try {
    gapStore.record(row);
  } catch (error) {
    storeFaults(gapStore.db).failed(error);
  }
}
