/**
 * What the daemon sees of MQTT: it turns event onsets and offsets into outbox rows (to be written
 * in the same transaction as the event row), tracks whether a hostile event is open (the Home
 * Assistant binary sensor), aggregates patch levels, and owns the {@link MqttPublisher} that
 * drains the outbox.
 */
import type Database from 'better-sqlite3';
import type { EarshotConfig } from '../config/schema.js';
import { SAMPLE_RATE } from '../constants.js';
import type { DaemonConsumer, StreamEnding } from '../consumer.js';
import type { EventRecord } from '../events.js';
import { parseReloadCommand } from './reload-command.js';
import type { Logger } from '../log.js';
import { Outbox, type OutboxMessage } from '../store/outbox.js';
import { isDiskFull, storeFaults } from '../store/store-faults.js';
import { MqttPublisher } from './mqtt-publisher.js';
import { EventLifecycle, type LiveEvent } from './event-lifecycle.js';
import { LevelMeter, offsetMessages, onsetMessages, type HeadSummary, type HealthPayload } from './payloads.js';
import { topicsFor, type Topics } from './topics.js';
import type { MicrophoneHealthJson, MicrophoneStatusSource } from '../monitor/microphone-status.js';

/** Run figures the health message reports (kept by the daemon). */
export interface RunFigures {
  audioSeconds: number;
  events: number;
  hostileEvents: number;
}

/**
 * What alerts and Home Assistant discovery link to, supplied by the daemon (the transport layer
 * does not know the clock checker, the clip recorder or the API).
 */
export interface AlertLinks {
  /** Is the clock NTP-synchronised: true, false, or null when unknown (src/service/clock.ts). For the health message, and alerts whose record has no state. */
  clockSynced?: () => boolean | null;
  /** The URL of the clip event `eventId` will have (the HTTP API's clip route), or null (no API, no clips). */
  clipUrl?: (eventId: string) => string | null;
  /** The node's HTTP address for Home Assistant's device `configuration_url`, or null. */
  configurationUrl?: () => string | null;
  /** The head in use (src/service/head-deploy.ts), or null: alerts and health name it. Read at each message, so a head swap shows at once. */
  head?: () => HeadSummary | null;
}

/** What {@link mqttAlertsConsumer} needs from the daemon. */
export interface MqttConsumerOptions {
  /** How long the outbox may drain at stop (ms), by why the stream ended (a signal leaves less: systemd's stop budget). */
  drainTimeoutMs: (ending: StreamEnding) => number;
  /** Told how many outbox rows were still unacknowledged after the drain (they are sent at the next start). */
  stopped: (unacknowledged: number) => void;
  /** Runs a `<prefix>/<node>/cmd/reload_model` command with the model path its payload names (or none: the configured model). */
  reloadModel?: (path: string | undefined) => void;
}

/**
 * MQTT alerts as a daemon consumer (src/consumer.ts): connects at start (closing states a previous
 * run left `ON`), feeds patch levels to the level topic, queues the events topic's updates after
 * each chunk, drains the outbox at stop and publishes `offline`. It has no `onEvent`: an event's
 * messages go into the outbox in the event store's transaction (src/store/event-store.ts
 * `eventStoreConsumer`), or straight to the broker when that fails; so put MQTT before the event
 * store and the clip recorder in the daemon's list (it stops after them).
 */
export function mqttAlertsConsumer(alerts: MqttAlerts, log: Logger, options: MqttConsumerOptions): DaemonConsumer {
  const { reloadModel } = options;
  return {
    name: 'mqtt',
    start: () => {
      if (reloadModel) {
        alerts.publisher.onCommand = (_command, payload, retained) => {
          if (retained)
            return log.warn({ component: 'mqtt', topic: alerts.topics.reloadModelCommand }, 'retained reload_model command ignored (send it without retain)');
          try {
            reloadModel(parseReloadCommand(payload).path);
          } catch (error) {
            log.error({ component: 'mqtt', topic: alerts.topics.reloadModelCommand, err: error }, 'reload_model command refused');
          }
        };
      }
      alerts.start();
    },
    onPatch: (report) => alerts.observePatch(report.patch.endSample / SAMPLE_RATE, report.rmsDbfs),
    afterChunk: () => alerts.publishEventUpdates(),
    stop: async (ending) => options.stopped(await alerts.stop(options.drainTimeoutMs(ending))),
  };
}

/** The MQTT side of one daemon run. */
export class MqttAlerts {
  readonly outbox: Outbox;
  readonly publisher: MqttPublisher;
  readonly topics: Topics;
  /** The head in use ({@link AlertLinks.head}): alerts and health name it. */
  get head(): HeadSummary | null {
    return this.links.head?.() ?? null;
  }
  private readonly openHostile = new Set<string>();
  private readonly level: LevelMeter | null;
  /** The events topic: each event's start, updates and end (event-lifecycle.ts). */
  private readonly lifecycle: EventLifecycle;
  private readonly startedAt = Date.now();
  /** Messages to publish without the outbox once connected (the disk was full at start). */
  private readonly pendingDirect: OutboxMessage[] = [];
  /** The `mqtt` component's logger (the publisher logs through it too). */
  private readonly log: Logger;

  /**
   * @param db the open earshot database (the outbox table lives there)
   * @param figures current run figures, for the health message
   * @param modelId shown in Home Assistant's device model
   * @param links clock state, clip URLs and the node's address (see {@link AlertLinks}); each absent one is null in the payloads
   * @throws EarshotError (from start) when TLS or password files cannot be read
   */
  constructor(
    private readonly config: EarshotConfig,
    private readonly db: Database.Database,
    log: Logger,
    figures: () => RunFigures,
    modelId?: string,
    private readonly links: AlertLinks = {},
  ) {
    this.log = log.child({ component: 'mqtt' });
    const mqttConfig = config.mqtt;
    this.topics = topicsFor(mqttConfig.topic_prefix, config.node_id);
    this.outbox = new Outbox(db, mqttConfig.outbox_max_messages, (row) =>
      this.log.warn(
        { seq: row.seq, topic: row.topic, event_id: row.eventId ?? undefined, group: row.group ?? undefined, dropped_total: this.outbox.dropped },
        'mqtt outbox full: dropped the oldest message',
      ),
    );
    this.lifecycle = new EventLifecycle(this.topics.events, mqttConfig.qos);
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
              // A getter: read at each announce, once the API has its address.
              get configurationUrl() {
                return links.configurationUrl?.() ?? null;
              },
            }
          : null,
        healthIntervalSeconds: mqttConfig.health_interval_seconds,
        maxInFlight: mqttConfig.max_in_flight,
        backoffBaseMs: mqttConfig.reconnect_min_seconds * 1000,
        backoffCapMs: mqttConfig.reconnect_max_seconds * 1000,
      },
      this.outbox,
      this.log,
      () => this.health(figures()),
    );
  }

  /**
   * Closes states a previous run left `ON` (it crashed with an event open): queues `OFF` for them
   * behind whatever that run left unsent, then connects.
   * @throws EarshotError when TLS or password files cannot be read
   */
  start(): void {
    const stale: OutboxMessage[] = [];
    const eventPrefix = this.topics.event('');
    for (const [topic, state] of this.outbox.retainedStates()) {
      if (state.payload === 'ON' && (topic === this.topics.hostile || topic.startsWith(eventPrefix))) {
        stale.push({ topic, payload: 'OFF', qos: this.config.mqtt.qos, retain: true, eventId: state.eventId, group: state.group });
      }
    }
    if (stale.length > 0) {
      try {
        this.outbox.add(stale);
      } catch (error) {
        if (!isDiskFull(error)) throw error;
        storeFaults(this.db).failed(error);
        this.pendingDirect.push(...stale);
      }
      this.log.info({ topics: stale.map((m) => m.topic) }, 'closing states a previous run left ON');
    }
    const leftover = this.outbox.depth();
    if (leftover > 0) this.log.info({ unsent: leftover }, 'mqtt outbox: unsent messages from before are sent first');
    this.publisher.start();
    if (this.pendingDirect.length) this.publishDirect(this.pendingDirect.splice(0));
  }

  /** Queues the onset's messages. Call inside the transaction that inserts the event row. */
  enqueueOnset(record: EventRecord): void {
    this.outbox.add(this.onsetMessages(record));
  }

  /** Queues the offset's messages. Call inside the transaction that completes the event row. */
  enqueueOffset(record: EventRecord): void {
    this.outbox.add(this.offsetMessages(record));
  }

  /** The onset's messages (and the hostile state they change), for {@link enqueueOnset} or {@link publishDirect}. */
  onsetMessages(record: EventRecord, live?: LiveEvent): OutboxMessage[] {
    const wasOff = this.openHostile.size === 0;
    if (record.group === 'hostile') this.openHostile.add(record.id);
    const clipUrl = this.links.clipUrl?.(record.id) ?? null;
    const messages = onsetMessages(
      record,
      this.topics,
      this.config.mqtt.qos,
      { clockSynced: record.clock_synced !== undefined ? record.clock_synced : (this.links.clockSynced?.() ?? null), clipUrl, head: this.head },
      wasOff,
    );
    // The events topic (event-lifecycle.ts): `start` after the alert.
    messages.splice(1, 0, this.lifecycle.start(record, this.links.clockSynced?.() ?? null, clipUrl, live));
    return messages;
  }

  /** The offset's messages (and the hostile state they change). */
  offsetMessages(record: EventRecord): OutboxMessage[] {
    const wasOpen = this.openHostile.delete(record.id);
    const end = this.lifecycle.end(record, this.links.clockSynced?.() ?? null, this.links.clipUrl?.(record.id) ?? null);
    return [end, ...offsetMessages(record, this.topics, this.config.mqtt.qos, wasOpen && this.openHostile.size === 0)];
  }

  /**
   * Queues an `update` on the events topic for each open event whose peak score rose (call after
   * each chunk went through the pipeline). A row that cannot be written is published directly.
   */
  publishEventUpdates(): void {
    const messages = this.lifecycle.updates(this.links.clockSynced?.() ?? null);
    if (!messages.length) return;
    try {
      this.outbox.add(messages);
      this.notify();
    } catch {
      this.publishDirect(messages);
    }
  }

  /**
   * Publishes messages whose outbox rows could not be written (a full disk): straight to the
   * broker, queued by mqtt.js while disconnected; lost if the process stops first.
   */
  publishDirect(messages: readonly OutboxMessage[]): void {
    this.publisher.publishDirect(messages);
  }

  /** The microphone monitor whose status the health message carries (set by the daemon). */
  microphone: MicrophoneStatusSource | null = null;

  /**
   * Queues the retained microphone status on `<prefix>/<node>/microphone` (QoS as configured),
   * after a measure was raised or cleared; straight to the broker when the outbox cannot be written.
   */
  enqueueMicrophone(status: MicrophoneHealthJson): void {
    const message: OutboxMessage = {
      topic: this.topics.microphone,
      payload: JSON.stringify({ node_id: this.config.node_id, utc: new Date().toISOString(), ...status }),
      qos: this.config.mqtt.qos,
      retain: true,
      eventId: null,
      group: null,
    };
    try {
      this.outbox.add([message]);
      this.notify();
    } catch {
      this.publishDirect([message]);
    }
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
      clock_synced: this.links.clockSynced?.() ?? null,
      head: this.head,
      ...(this.microphone ? { microphone: this.microphone.status() } : {}),
    };
  }
}
