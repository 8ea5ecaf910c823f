/**
 * The daemon, wired on one screen: source → pipeline (front end, model, detector) → store and
 * MQTT. `earshot run` starts it; SIGTERM/SIGINT stop it cleanly (open events closed with reason
 * `shutdown`, queued alerts drained, database closed).
 */
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { ulid } from 'ulid';
import { createSource, type AudioSource, type SourceDescription } from './capture/source.js';
import type { CaptureGap } from './capture/timeline.js';
import type { EarshotConfig } from './config.js';
import type { DetectorOutput } from './detect/detector.js';
import { toEventRecord, type EventRecord, type StreamContext } from './events.js';
import type { Logger } from './log.js';
import { Pipeline } from './pipeline.js';
import { openModelAndLabels, pipelineSettings } from './setup.js';
import { openDatabase } from './store/database.js';
import { EventStore } from './store/event-store.js';
import { GapStore } from './store/gap-store.js';
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
  /** After each chunk went through the pipeline; `processingMs` is the pipeline's time for it. */
  onChunk?: (chunk: AudioChunk, processingMs: number, summary: Readonly<DaemonSummary>) => void;
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
  const created = createSource(config, log);
  const source = hooks.wrapSource ? hooks.wrapSource(created) : created;
  const info = await source.open();
  log.info({ source: info.uri, ...info.details, pacing: config.source.pacing }, 'source opened');

  const { model, labels } = await openModelAndLabels(config, log);
  const db = openDatabase(databasePath(config));
  const store = new EventStore(db);
  const gapStore = new GapStore(db);
  const summary: DaemonSummary = { audioSeconds: 0, events: 0, hostileEvents: 0, unacknowledged: 0, stoppedBy: 'end_of_source' };
  // Alerts go through the SQLite outbox (docs/mqtt.md): rows commit with the event row.
  const publisher = config.mqtt.url ? new MqttAlerts(config, db, log, () => summary, model.manifest.id) : null;
  try {
    publisher?.start();
    const context: StreamContext = {
      nodeId: config.node_id,
      modelId: model.manifest.id,
      modelSha256: model.sha256,
      source: info.uri,
      streamId: ulid(),
      streamStartMs: Date.now(),
    };
    const pipeline = new Pipeline(model, labels, pipelineSettings(config), model.path);
    const pendingGaps: CaptureGap[] = [];
    if (publisher && config.mqtt.level_interval_seconds > 0) {
      const previous = pipeline.onPatch;
      pipeline.onPatch = (report) => {
        previous?.(report);
        publisher.observePatch(report.patch.endSample / SAMPLE_RATE, report.rmsDbfs);
      };
    }
    hooks.onStart?.({ config, source: info, pipeline, classMap: model.manifest.class_map, db, databasePath: databasePath(config) });
    const handle = (outputs: DetectorOutput[]) => {
      for (const output of outputs) {
        if (output.kind === 'onset') {
          const record = toEventRecord(output.event, context, null);
          db.transaction(() => {
            store.recordOnset(record);
            publisher?.enqueueOnset(record);
          })();
          publisher?.notify();
          summary.events += 1;
          if (record.group === 'hostile') summary.hostileEvents += 1;
          log.info(eventLogFields(record), `${record.group} event: ${record.label}`);
        } else {
          const record = toEventRecord(output.event, context, output.reason);
          db.transaction(() => {
            store.recordOffset(record);
            publisher?.enqueueOffset(record);
          })();
          publisher?.notify();
          log.info(eventLogFields(record), `event ended: ${record.label}`);
        }
      }
    };
    const stop = () => {
      summary.stoppedBy = 'signal';
      source.stop();
    };
    signal.addEventListener('abort', stop, { once: true });
    // A signal that came while the model was loading: 'abort' has already fired.
    if (signal.aborted) stop();
    try {
      for await (const chunk of source.chunks()) {
        const pushedAt = performance.now();
        handle(await pipeline.push(chunk));
        storeGaps(created, pipeline, gapStore, context, summary, log, pendingGaps, false);
        hooks.onChunk?.(chunk, performance.now() - pushedAt, summary);
        summary.audioSeconds = (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
        hooks.onProgress?.(summary.audioSeconds, info.durationSeconds, summary.events);
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    handle(await pipeline.finish(summary.stoppedBy === 'signal' ? 'shutdown' : 'stream_end'));
    storeGaps(created, pipeline, gapStore, context, summary, log, pendingGaps, true);
    log.info({ audio_s: Number(summary.audioSeconds.toFixed(3)), events: summary.events, hostile: summary.hostileEvents, patches: pipeline.counts.patches, gated: pipeline.counts.gated, gaps: summary.gaps, lost_s: summary.lostSeconds, capture: created.counters?.() }, summary.stoppedBy === 'signal' ? 'stopped by signal' : 'source ended');
  } finally {
    const drainMs = config.mqtt.drain_timeout_seconds * 1000;
    summary.unacknowledged = publisher ? await publisher.stop(summary.stoppedBy === 'signal' ? Math.min(drainMs, SHUTDOWN_DRAIN_MS) : drainMs) : 0;
    db.close();
    model.close();
  }
  return summary;
}

/** Stores the gaps the source recorded since the last call, one log line each. */
function storeGaps(source: AudioSource, pipeline: Pipeline, gapStore: GapStore, context: StreamContext, summary: DaemonSummary, log: Logger, pending: CaptureGap[], atEnd: boolean): void {
  pending.push(...(source.takeGaps?.() ?? []));
  // A source records a gap before it delivers the chunk after it: wait until the pipeline has
  // seen that chunk, so the row can say what the pipeline did.
  const ready = atEnd ? pending.length : pending.findIndex((gap) => pipeline.ring.endSample <= gap.endSample);
  const gaps = pending.splice(0, ready < 0 ? pending.length : ready);
  for (const gap of gaps) {
    const startSeconds = gap.startSample / SAMPLE_RATE;
    const durationSeconds = (gap.endSample - gap.startSample) / SAMPLE_RATE;
    const handling = pipeline.gapHandling(gap.startSample, gap.endSample);
    gapStore.record({
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
