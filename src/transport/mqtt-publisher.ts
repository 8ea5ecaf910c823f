/**
 * Publishes events over MQTT (mqtt.js):
 * - `<prefix>/<node>/alert/<group>`: one JSON alert per event at its onset (QoS 1, not retained);
 * - `<prefix>/<node>/event/<label>`: `ON` at onset, `OFF` at offset (QoS 1, retained, so a
 *   subscriber that connects later sees the current state);
 * - `<prefix>/<node>/status`: `online` / `offline` (retained; `offline` is also the Last Will).
 *
 * Alerts carry the event id: with QoS 1 a message can arrive twice, and subscribers de-duplicate
 * by id. While the broker is away, mqtt.js keeps QoS 1 messages queued in memory and sends them
 * on reconnect (a persistent outbox that survives restarts is separate work: see docs/mqtt.md).
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
type QoS = 0 | 1 | 2;
import type { Logger } from 'pino';
import { EarshotError } from '../errors.js';
import type { EventRecord } from '../events.js';

/** Connection and topic settings. */
export interface MqttPublisherOptions {
  /** Broker URL: `mqtt://host:1883`, `mqtts://host:8883`. */
  url: string;
  nodeId: string;
  /** First topic level (default `earshot`). */
  topicPrefix: string;
  qos: QoS;
  clientId?: string;
  username?: string;
  /** A file holding the password (e.g. a systemd credential); its trailing newline is ignored. */
  passwordFile?: string;
}

/** The JSON published on `<prefix>/<node>/alert/<group>` at an event's onset. */
export interface AlertPayload {
  /** The event id (ULID): de-duplicate on it. */
  id: string;
  node_id: string;
  label: string;
  group: EventRecord['group'];
  /** Peak score (0..1) when the event was confirmed. */
  score: number;
  onset_utc: string;
  /** Seconds from the start of the stream. */
  onset_s: number;
  /** Sample peak at onset, dBFS. */
  peak_dbfs: number | null;
  model_id: string;
  stream_id: string;
}

/** The alert payload for an event record at onset. */
export function alertPayload(record: EventRecord): AlertPayload {
  return {
    id: record.id,
    node_id: record.node_id,
    label: record.label,
    group: record.group,
    score: record.peak_score,
    onset_utc: record.onset_utc,
    onset_s: record.onset_s,
    peak_dbfs: record.peak_dbfs,
    model_id: record.model_id,
    stream_id: record.stream_id,
  };
}

/** Topic names for one node. */
export function topicsFor(prefix: string, nodeId: string) {
  const base = `${prefix}/${nodeId}`;
  return {
    status: `${base}/status`,
    alert: (group: string) => `${base}/alert/${group}`,
    event: (label: string) => `${base}/event/${label}`,
  };
}

/** An MQTT publisher with `start()` / `stop()`; publishes are fire-and-forget with PUBACK tracking. */
export class MqttPublisher {
  private client: MqttClient | null = null;
  private pending = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly topics: ReturnType<typeof topicsFor>;
  /** Messages acknowledged by the broker (PUBACK for QoS 1). */
  acknowledged = 0;

  constructor(private readonly options: MqttPublisherOptions, private readonly log: Logger) {
    this.topics = topicsFor(options.topicPrefix, options.nodeId);
  }

  /**
   * Connects (in the background: a broker that is down now is retried every 2 s while alerts queue).
   * @throws EarshotError when the password file cannot be read
   */
  start(): void {
    let password: string | undefined;
    if (this.options.passwordFile) {
      try {
        password = readFileSync(this.options.passwordFile, 'utf8').replace(/\r?\n$/, '');
      } catch (error) {
        throw new EarshotError(`${this.options.passwordFile}: cannot read the MQTT password file (${(error as NodeJS.ErrnoException).code ?? error})`);
      }
    } else if (process.env.EARSHOT_MQTT_PASSWORD) {
      password = process.env.EARSHOT_MQTT_PASSWORD;
    }
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.clientId ?? `earshot-${this.options.nodeId}`,
      username: this.options.username,
      password,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      will: { topic: this.topics.status, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    let everConnected = false;
    client.on('connect', () => {
      this.log.info({ url: redactUrl(this.options.url) }, everConnected ? 'mqtt reconnected' : 'mqtt connected');
      everConnected = true;
      this.publish(this.topics.status, 'online', true);
    });
    client.on('offline', () => this.log.warn({ url: redactUrl(this.options.url) }, 'mqtt broker unreachable; alerts are queued'));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    this.client = client;
  }

  /** Publishes the alert and the `ON` state of an event at its onset. */
  publishOnset(record: EventRecord): void {
    this.publish(this.topics.alert(record.group), JSON.stringify(alertPayload(record)), false);
    this.publish(this.topics.event(record.label), 'ON', true);
  }

  /** Publishes the `OFF` state of an event at its offset. */
  publishOffset(record: EventRecord): void {
    this.publish(this.topics.event(record.label), 'OFF', true);
  }

  private publish(topic: string, payload: string, retain: boolean): void {
    const client = this.client;
    if (!client) throw new Error('MqttPublisher.publish before start()');
    this.pending += 1;
    client.publish(topic, payload, { qos: this.options.qos, retain }, (error) => {
      this.pending -= 1;
      if (error) this.log.warn({ topic, err: error.message }, 'mqtt publish failed');
      else this.acknowledged += 1;
      if (this.pending === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
    });
  }

  /**
   * Waits up to `drainTimeoutMs` for the broker to acknowledge what is queued, publishes `offline`,
   * and disconnects.
   * @returns how many messages were still unacknowledged when it gave up (0 = all delivered)
   */
  async stop(drainTimeoutMs: number): Promise<number> {
    const client = this.client;
    if (!client) return 0;
    if (this.pending > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, drainTimeoutMs).unref()),
      ]);
    }
    const unacknowledged = this.pending;
    if (unacknowledged > 0) this.log.warn({ unacknowledged }, 'mqtt: stopping with unacknowledged messages');
    if (client.connected) {
      await new Promise<void>((resolve) => client.publish(this.topics.status, 'offline', { qos: 1, retain: true }, () => resolve()));
    }
    await client.endAsync(unacknowledged > 0);
    this.client = null;
    return unacknowledged;
  }
}

/** The URL without a password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
