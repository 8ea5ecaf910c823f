/**
 * What the daemon sees of MQTT: it turns event onsets and offsets into outbox rows (to be written
 * in the same transaction as the event row), tracks whether a hostile event is open (the Home
 * Assistant binary sensor), aggregates patch levels, and owns the {@link MqttPublisher} that
 * drains the outbox.
 */
import type Database from 'better-sqlite3';
import type { EarshotConfig } from '../config.js';
import type { EventRecord } from '../events.js';
import type { Logger } from '../log.js';
import { Outbox, type OutboxMessage } from '../store/outbox.js';
import { ClockWatch } from './clock.js';
import { MqttPublisher } from './mqtt-publisher.js';
import { LevelMeter, offsetMessages, onsetMessages, type HealthPayload } from './payloads.js';
import { topicsFor, type Topics } from './topics.js';

/** Run figures the health message reports (kept by the daemon). */
export interface RunFigures {
  audioSeconds: number;
  events: number;
  hostileEvents: number;
}

/** The MQTT side of one daemon run. */
export class MqttAlerts {
  readonly outbox: Outbox;
  readonly publisher: MqttPublisher;
  readonly topics: Topics;
  private readonly openHostile = new Set<string>();
  private readonly level: LevelMeter | null;
  private readonly clock = new ClockWatch();
  private readonly startedAt = Date.now();

  /**
   * @param db the open earshot database (the outbox table lives there)
   * @param figures current run figures, for the health message
   * @param modelId shown in Home Assistant's device model
   * @throws EarshotError (from start) when TLS or password files cannot be read
   */
  constructor(private readonly config: EarshotConfig, db: Database.Database, private readonly log: Logger, figures: () => RunFigures, modelId?: string) {
    const mqttConfig = config.mqtt;
    this.topics = topicsFor(mqttConfig.topic_prefix, config.node_id);
    this.outbox = new Outbox(db, mqttConfig.outbox_max_messages, (row) =>
      log.warn({ seq: row.seq, topic: row.topic, event_id: row.eventId ?? undefined, group: row.group ?? undefined, dropped_total: this.outbox.dropped }, 'mqtt outbox full: dropped the oldest message'),
    );
    this.level = mqttConfig.level_interval_seconds > 0 ? new LevelMeter(config.node_id, mqttConfig.level_interval_seconds) : null;
    const labels = Object.entries(config.detection.labels).filter(([, l]) => l.enabled);
    this.publisher = new MqttPublisher(
      {
        url: mqttConfig.url!,
        clientId: mqttConfig.client_id ?? `earshot-${config.node_id}`,
        username: mqttConfig.username,
        passwordFile: mqttConfig.password_file,
        caFile: mqttConfig.tls.ca_file,
        certFile: mqttConfig.tls.cert_file,
        keyFile: mqttConfig.tls.key_file,
        rejectUnauthorized: mqttConfig.tls.reject_unauthorized,
        keepaliveSeconds: mqttConfig.keepalive_seconds,
        nodeId: config.node_id,
        topics: this.topics,
        discovery: mqttConfig.discovery.enabled
          ? {
              prefix: mqttConfig.discovery.prefix,
              hostileLabels: labels.filter(([, l]) => l.group === 'hostile').map(([name]) => name),
              nonHostileLabels: labels.filter(([, l]) => l.group === 'non_hostile').map(([name]) => name),
              level: this.level !== null,
              modelId,
            }
          : null,
        healthIntervalSeconds: mqttConfig.health_interval_seconds,
        maxInFlight: mqttConfig.max_in_flight,
        backoffBaseMs: mqttConfig.reconnect_min_seconds * 1000,
        backoffCapMs: mqttConfig.reconnect_max_seconds * 1000,
      },
      this.outbox,
      log,
      () => this.health(figures()),
    );
  }

  /**
   * Closes states a previous run left `ON` (it crashed with an event open): queues `OFF` for them
   * behind whatever that run left unsent, then connects.
   * @throws EarshotError when TLS or password files cannot be read
   */
  start(): void {
    this.clock.start();
    const stale: OutboxMessage[] = [];
    const eventPrefix = this.topics.event('');
    for (const [topic, state] of this.outbox.retainedStates()) {
      if (state.payload === 'ON' && (topic === this.topics.hostile || topic.startsWith(eventPrefix))) {
        stale.push({ topic, payload: 'OFF', qos: this.config.mqtt.qos, retain: true, eventId: state.eventId, group: state.group });
      }
    }
    if (stale.length > 0) {
      this.outbox.add(stale);
      this.log.info({ topics: stale.map((m) => m.topic) }, 'mqtt: closing states a previous run left ON');
    }
    const leftover = this.outbox.depth();
    if (leftover > 0) this.log.info({ unsent: leftover }, 'mqtt outbox: unsent messages from before are sent first');
    this.publisher.start();
  }

  /** Queues the onset's messages. Call inside the transaction that inserts the event row. */
  enqueueOnset(record: EventRecord): void {
    const wasOff = this.openHostile.size === 0;
    if (record.group === 'hostile') this.openHostile.add(record.id);
    this.outbox.add(onsetMessages(record, this.topics, this.config.mqtt.qos, { clockSynced: this.clock.synced, clipBaseUrl: null }, wasOff));
  }

  /** Queues the offset's messages. Call inside the transaction that completes the event row. */
  enqueueOffset(record: EventRecord): void {
    const wasOpen = this.openHostile.delete(record.id);
    this.outbox.add(offsetMessages(record, this.topics, this.config.mqtt.qos, wasOpen && this.openHostile.size === 0));
  }

  /** After a transaction with new rows committed: publish them. */
  notify(): void {
    this.publisher.notify();
  }

  /** Feeds one patch's level (from `Pipeline.onPatch`); publishes when an interval closes. */
  observePatch(endSeconds: number, rmsDbfs: number): void {
    const payload = this.level?.observe(endSeconds, rmsDbfs);
    if (payload) this.publisher.publishLevel(payload);
  }

  /**
   * Drains what it can within `drainTimeoutMs`, publishes `offline`, disconnects.
   * @returns outbox rows still unsent (they are sent at the next start)
   */
  async stop(drainTimeoutMs: number): Promise<number> {
    this.clock.stop();
    return this.publisher.stop(drainTimeoutMs);
  }

  private health(figures: RunFigures): HealthPayload {
    return {
      node_id: this.config.node_id,
      utc: new Date().toISOString(),
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      audio_s: Number(figures.audioSeconds.toFixed(1)),
      events: figures.events,
      hostile_events: figures.hostileEvents,
      outbox_depth: this.outbox.depth(),
      outbox_dropped: this.outbox.dropped,
      mqtt_connected: this.publisher.connected,
      clock_synced: this.clock.synced,
    };
  }
}
