/**
 * The daemon, wired on one screen: source → pipeline (front end, model, detector) → store and
 * MQTT. `earshot run` starts it; SIGTERM/SIGINT stop it cleanly (open events closed with reason
 * `shutdown`, queued alerts drained, database closed).
 */
import { isAbsolute, join } from 'node:path';
import { ulid } from 'ulid';
import { createSource } from './capture/source.js';
import type { EarshotConfig } from './config.js';
import type { DetectorOutput } from './detect/detector.js';
import { toEventRecord, type EventRecord, type StreamContext } from './events.js';
import type { Logger } from './log.js';
import { Pipeline } from './pipeline.js';
import { openModelAndLabels, pipelineSettings } from './setup.js';
import { openDatabase } from './store/database.js';
import { EventStore } from './store/event-store.js';
import { MqttPublisher } from './transport/mqtt-publisher.js';
import { SAMPLE_RATE } from './types.js';

/** How a daemon run ended. */
export interface DaemonSummary {
  /** Seconds of audio processed. */
  audioSeconds: number;
  events: number;
  hostileEvents: number;
  /** MQTT messages still unacknowledged at exit (0 without a broker). */
  unacknowledged: number;
  stoppedBy: 'end_of_source' | 'signal';
}

/** Optional hooks, for progress display. */
export interface DaemonHooks {
  onProgress?: (audioSeconds: number, totalSeconds: number | undefined, events: number) => void;
}

/** The database path of a config: `store.database`, relative to `data_dir`. */
export function databasePath(config: EarshotConfig): string {
  return isAbsolute(config.store.database) ? config.store.database : join(config.data_dir, config.store.database);
}

/**
 * Runs the daemon until the source ends or {@link AbortSignal} fires.
 * @throws EarshotError for a missing source, model or database problem (nothing stored is lost)
 */
export async function runDaemon(config: EarshotConfig, log: Logger, signal: AbortSignal, hooks: DaemonHooks = {}): Promise<DaemonSummary> {
  const source = createSource(config);
  const info = await source.open();
  log.info({ source: info.uri, ...info.details, pacing: config.source.pacing }, 'source opened');

  const { model, labels } = await openModelAndLabels(config, log);
  const db = openDatabase(databasePath(config));
  const store = new EventStore(db);
  const publisher = config.mqtt.url
    ? new MqttPublisher(
        {
          url: config.mqtt.url,
          nodeId: config.node_id,
          topicPrefix: config.mqtt.topic_prefix,
          qos: config.mqtt.qos,
          clientId: config.mqtt.client_id,
          username: config.mqtt.username,
          passwordFile: config.mqtt.password_file,
        },
        log,
      )
    : null;
  const summary: DaemonSummary = { audioSeconds: 0, events: 0, hostileEvents: 0, unacknowledged: 0, stoppedBy: 'end_of_source' };
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
    const handle = (outputs: DetectorOutput[]) => {
      for (const output of outputs) {
        if (output.kind === 'onset') {
          const record = toEventRecord(output.event, context, null);
          store.recordOnset(record);
          publisher?.publishOnset(record);
          summary.events += 1;
          if (record.group === 'hostile') summary.hostileEvents += 1;
          log.info(eventLogFields(record), `${record.group} event: ${record.label}`);
        } else {
          const record = toEventRecord(output.event, context, output.reason);
          store.recordOffset(record);
          publisher?.publishOffset(record);
          log.info(eventLogFields(record), `event ended: ${record.label}`);
        }
      }
    };
    const stop = () => {
      summary.stoppedBy = 'signal';
      source.stop();
    };
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of source.chunks()) {
        handle(await pipeline.push(chunk));
        summary.audioSeconds = (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
        hooks.onProgress?.(summary.audioSeconds, info.durationSeconds, summary.events);
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    handle(await pipeline.finish(summary.stoppedBy === 'signal' ? 'shutdown' : 'stream_end'));
    log.info({ audio_s: Number(summary.audioSeconds.toFixed(3)), events: summary.events, hostile: summary.hostileEvents, patches: pipeline.counts.patches, gated: pipeline.counts.gated }, summary.stoppedBy === 'signal' ? 'stopped by signal' : 'source ended');
  } finally {
    summary.unacknowledged = publisher ? await publisher.stop(config.mqtt.drain_timeout_seconds * 1000) : 0;
    db.close();
    model.close();
  }
  return summary;
}

function eventLogFields(record: EventRecord) {
  return { id: record.id, label: record.label, group: record.group, onset_s: record.onset_s, offset_s: record.offset_s, score: record.peak_score, peak_dbfs: record.peak_dbfs, end_reason: record.end_reason ?? undefined };
}
