/**
 * The MQTT publisher (mqtt.js): drains the SQLite outbox (src/store/outbox.ts) to the broker and
 * keeps the node's presence up to date.
 *
 * - Outbox rows (alerts, event and hostile `ON`/`OFF`) are published in `seq` order with their
 *   QoS (1 by default), at most `maxInFlight` awaiting PUBACK; a row is marked sent only in the
 *   publish callback, which mqtt.js calls on PUBACK. The session is persistent (`clean: false`,
 *   a stable client id), so rows in flight when the connection drops are redelivered by mqtt.js
 *   on reconnect; rows never handed over wait in the table. After a restart the drain starts at
 *   the oldest unsent row, so a row in flight at a crash can arrive twice: subscribers
 *   de-duplicate by event id (docs/mqtt.md).
 * - `<prefix>/<node>/status`: retained `online` on every connect, `offline` at a clean stop and as
 *   the Last Will.
 * - Home Assistant discovery configs (retained) on every connect and whenever
 *   `<discovery_prefix>/status` says `online` (Home Assistant restarted).
 * - `<prefix>/<node>/health` (retained) every `healthIntervalSeconds`, and `<prefix>/<node>/level`
 *   when the daemon hands levels in: both QoS 0 and only while connected, because a stale level
 *   or health figure is worth nothing.
 * - Reconnects: capped exponential backoff with jitter ({@link Backoff}), the first connect
 *   included (a broker that is down at start is retried like any other).
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Outbox } from '../store/outbox.js';
import { Backoff, clientOptions, describeConnectionError, redactUrl, type ConnectionSettings } from './connection.js';
import { discoveryMessages, type DiscoveryOptions } from './discovery.js';
import type { HealthPayload, LevelPayload } from './payloads.js';
import type { Topics } from './topics.js';

/** Publisher settings. */
export interface MqttPublisherOptions extends ConnectionSettings {
  nodeId: string;
  topics: Topics;
  /** Home Assistant discovery, or null when off. */
  discovery: Omit<DiscoveryOptions, 'topics' | 'nodeId'> | null;
  /** Seconds between health messages; 0 = none. */
  healthIntervalSeconds: number;
  /** Outbox rows awaiting PUBACK at once. */
  maxInFlight: number;
  /** Reconnect backoff: first and longest delay, ms. */
  backoffBaseMs: number;
  backoffCapMs: number;
}

/** Counters, for logs, health and the soak test. */
export interface PublisherStats {
  /** Outbox rows handed to the connection (a row handed over again after an error counts again). */
  published: number;
  /** Outbox rows acknowledged (PUBACK) and marked sent. */
  acknowledged: number;
  /** Rows handed over more than once by this process. */
  republished: number;
  /** Successful connects. */
  connects: number;
  /** Messages published without an outbox row (the disk was full). */
  direct?: number;
}

/** Drains an {@link Outbox} to an MQTT broker; `start()`, then `notify()` after each insert, then `stop()`. */
export class MqttPublisher {
  private client: MqttClient | null = null;
  /** Highest seq handed to mqtt.js; rows above it are read from the table. */
  private cursor = 0;
  private readonly handedOver = new Set<number>();
  private ready = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private readonly idleWaiters: (() => void)[] = [];
  private lastError = '';
  private everConnected = false;
  readonly stats: PublisherStats = { published: 0, acknowledged: 0, republished: 0, connects: 0 };
  /**
   * Called for a message on `topics.reloadModelCommand` (subscribed at QoS 0, so a command sent
   * while earshot is offline is not queued for it; `retained` says the broker replayed a retained one).
   */
  onCommand: ((command: 'reload_model', payload: Buffer, retained: boolean) => void) | null = null;

  /**
   * @param log the `mqtt` component's logger (MqttAlerts makes it: `log.child({ component: 'mqtt' })`)
   * @param health builds the health payload (called at each health tick), or null for none
   */
  constructor(
    private readonly options: MqttPublisherOptions,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly health: (() => HealthPayload) | null = null,
  ) {
    this.backoff = new Backoff(options.backoffBaseMs, options.backoffCapMs);
  }

  /** True while connected to the broker (and done redelivering the previous session's messages). */
  get connected(): boolean {
    return this.ready;
  }

  /**
   * Connects in the background; a broker that is down is retried with backoff while rows wait
   * in the outbox.
   * @throws EarshotError when the password, CA, certificate or key file cannot be read
   */
  start(): void {
    const options = clientOptions(this.options, { topic: this.options.topics.status, payload: Buffer.from('offline'), qos: 1, retain: true });
    const client = mqtt.connect(this.options.url, options);
    this.client = client;
    const url = redactUrl(this.options.url);
    client.on('connect', (connack) => {
      this.backoff.reset();
      this.stats.connects += 1;
      this.lastError = '';
      this.log.info({ url, session_present: connack.sessionPresent, outbox: this.outbox.depth() }, this.everConnected ? 'mqtt reconnected' : 'mqtt connected');
      this.everConnected = true;
      this.ready = true;
      if (this.options.discovery) {
        client.subscribe(`${this.options.discovery.prefix}/status`, { qos: 1 });
        this.announce();
      }
      client.publish(this.options.topics.status, 'online', { qos: 1, retain: true });
      client.subscribe(this.options.topics.reloadModelCommand, { qos: 0 });
      this.publishHealth();
      this.pump();
    });
    client.on('message', (topic, payload, packet) => {
      if (topic === this.options.topics.reloadModelCommand) {
        if (this.onCommand) this.onCommand('reload_model', payload, packet.retain);
        else this.log.warn({ topic }, 'mqtt command ignored: the daemon is still starting');
        return;
      }
      if (this.options.discovery && topic === `${this.options.discovery.prefix}/status` && payload.toString() === 'online') {
        this.log.info('home assistant is online: re-announcing discovery');
        this.announce();
        client.publish(this.options.topics.status, 'online', { qos: 1, retain: true });
      }
    });
    client.on('error', (error) => {
      const reason = describeConnectionError(error as Error & { code?: string });
      // One line per distinct reason, not one per retry.
      if (reason !== this.lastError) this.log.warn({ url, reason }, 'mqtt connection failed; alerts wait in the outbox');
      this.lastError = reason;
    });
    client.on('close', () => {
      const wasReady = this.ready;
      this.ready = false;
      if (this.stopped) return;
      if (wasReady) this.log.warn({ url, outbox: this.outbox.depth() }, 'mqtt connection lost; alerts wait in the outbox');
      this.scheduleReconnect();
    });
    if (this.options.healthIntervalSeconds > 0 && this.health) {
      this.healthTimer = setInterval(() => this.publishHealth(), this.options.healthIntervalSeconds * 1000);
      this.healthTimer.unref();
    }
    this.outbox.pruneSent();
    this.pruneTimer = setInterval(() => this.outbox.pruneSent(), 3600_000);
    this.pruneTimer.unref();
  }

  /** New rows are in the outbox: publish them if connected. */
  notify(): void {
    this.pump();
  }

  /**
   * Publishes messages that have no outbox row (it could not be written: a full disk), in order.
   * mqtt.js queues them while disconnected; they are not retried after a restart.
   */
  publishDirect(messages: readonly { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean }[]): void {
    const client = this.client;
    if (!client) return;
    for (const m of messages) {
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (error) => {
        if (error) this.log.warn({ topic: m.topic, err: error }, 'a message published without the outbox was not acknowledged');
      });
    }
    this.stats.direct = (this.stats.direct ?? 0) + messages.length;
  }

  /** Publishes a level reading (QoS 0, not retained) when connected; dropped otherwise. */
  publishLevel(payload: LevelPayload): void {
    if (this.ready) this.client?.publish(this.options.topics.level, JSON.stringify(payload), { qos: 0, retain: false });
  }

  /**
   * Waits up to `drainTimeoutMs` for the outbox to drain, publishes `offline`, and disconnects.
   * What is left stays in the outbox for the next start.
   * @returns unsent outbox rows at exit (0 = everything acknowledged)
   */
  async stop(drainTimeoutMs: number): Promise<number> {
    const client = this.client;
    if (!client) return this.outbox.depth();
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pump();
    if (this.outbox.depth() > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    const unsent = this.outbox.depth();
    if (unsent > 0) this.log.warn({ unsent }, 'stopping with unacknowledged messages; they stay in the outbox for the next start');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const wasReady = this.ready;
    if (wasReady) {
      // A last health message (QoS 1, acknowledged before `offline`): the retained one a
      // subscriber finds after the exit carries the run's final figures, not those of the last tick.
      if (this.health) client.publish(this.options.topics.health, JSON.stringify(this.health()), { qos: 1, retain: true });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        client.publish(this.options.topics.status, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.client = null;
    this.stopped = true;
    // A clean DISCONNECT when nothing is pending (else the broker would also publish the Last
    // Will); a forced close otherwise, since mqtt.js would wait for PUBACKs that may never come.
    await client.endAsync(!(wasReady && this.outbox.inFlight.size === 0 && client.connected));
    this.ready = false;
    return unsent;
  }

  private scheduleReconnect(): void {
    const client = this.client;
    // Reconnects go on while stop() drains; only a finished stop ends them.
    if (!client || this.stopped || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.log.debug({ delay_ms: delay }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopped || this.client !== client) return;
      // Keep mqtt.js's stores: the QoS 1 messages in flight are redelivered from them.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delay);
  }

  private announce(): void {
    const client = this.client;
    if (!client || !this.options.discovery) return;
    for (const message of discoveryMessages({ ...this.options.discovery, nodeId: this.options.nodeId, topics: this.options.topics })) {
      client.publish(message.topic, message.payload, { qos: 1, retain: true });
    }
  }

  private publishHealth(): void {
    if (!this.ready || !this.health || !this.client) return;
    this.client.publish(this.options.topics.health, JSON.stringify(this.health()), { qos: 0, retain: true });
  }

  /** Hands unsent rows to mqtt.js, oldest first, up to `maxInFlight` awaiting PUBACK. */
  private pump(): void {
    const client = this.client;
    if (!client || !this.ready) return;
    const inFlight = this.outbox.inFlight;
    while (inFlight.size < this.options.maxInFlight) {
      const rows = this.outbox.nextUnsent(this.cursor, this.options.maxInFlight - inFlight.size);
      if (rows.length === 0) break;
      for (const row of rows) {
        inFlight.add(row.seq);
        this.cursor = Math.max(this.cursor, row.seq);
        this.stats.published += 1;
        if (this.handedOver.has(row.seq)) this.stats.republished += 1;
        this.handedOver.add(row.seq);
        client.publish(row.topic, row.payload, { qos: row.qos, retain: row.retain }, (error) => this.settled(row.seq, error));
      }
    }
  }

  private settled(seq: number, error: Error | undefined): void {
    // After stop() the database may be closed: what was not acknowledged stays unsent in it.
    if (this.stopped) return;
    this.outbox.inFlight.delete(seq);
    if (error) {
      // Never reached the broker's store (e.g. the connection closed while mqtt.js was
      // redelivering): read it again from the table, in order.
      this.cursor = Math.min(this.cursor, seq - 1);
      this.log.debug({ seq, err: error }, 'mqtt publish not acknowledged; will retry');
    } else {
      this.handedOver.delete(seq);
      if (this.outbox.markSent(seq)) this.stats.acknowledged += 1;
    }
    if (this.outbox.inFlight.size === 0 && this.outbox.depth() === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
    this.pump();
  }
}
