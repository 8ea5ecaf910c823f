/**
 * For the MQTT tests: a config writer, a persistent-session subscriber, and the payload schemas
 * of docs/schemas (the daemon itself: startDaemon in fixtures.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import YAML from 'yaml';
import type { Test } from 'tap';
import { type ConfigTree, REPO, writeDaemonConfig } from './fixtures.js';
import { type Broker, type MosquittoOptions, startMosquitto } from './mosquitto.js';

export { SCENE_07, SCENE_08, sleep, startDaemon, type DaemonProcess, YAMNET_WAVEFORM as YAMNET } from './fixtures.js';

/**
 * Writes `dir/earshot.yaml` (or `dir/<name>`) for a run over `scene` that publishes to `url`;
 * `mqtt` holds more `key: value` lines of the mqtt section.
 */
export function writeConfig(
  dir: string,
  options: { scene: string; pacing: 'realtime' | 'fast'; speed?: number; url: string; mqtt?: string[]; nodeId?: string; name?: string },
): string {
  // The lines as they would stand indented under `mqtt:` (nested keys included).
  const extra: ConfigTree = options.mqtt ? (YAML.parse(options.mqtt.join('\n')) ?? {}) : {};
  return writeDaemonConfig(
    dir,
    {
      node_id: options.nodeId,
      source: { path: options.scene, pacing: options.pacing, speed: options.speed ?? 1 },
      mqtt: { url: options.url, reconnect_min_seconds: 0.2, reconnect_max_seconds: 1, ...extra },
    },
    options.name,
  );
}

/** One received message. */
export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

/** A subscriber that records what it receives. */
export interface Subscriber {
  client: MqttClient;
  messages: Received[];
  /** Waits until `predicate` holds (checked on every message and every 100 ms). */
  waitFor(predicate: (messages: Received[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  end(): Promise<void>;
}

/**
 * Connects a subscriber with a persistent session (`clean: false`, a stable client id) so that
 * QoS 1 messages published while it is away are queued for it by the broker.
 */
export async function subscribe(url: string, clientId: string, topics: string[], options: IClientOptions = {}): Promise<Subscriber> {
  const client = await mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 300, ...options });
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, dup: packet.dup }),
  );
  client.on('error', () => {});
  for (const topic of topics) await client.subscribeAsync(topic, { qos: 1 });
  return {
    client,
    messages,
    waitFor: (predicate, timeoutMs, what) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          if (predicate(messages)) return resolve();
          if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
          setTimeout(check, 100);
        };
        check();
      }),
    end: () => client.endAsync(true),
  };
}

/**
 * A Mosquitto broker on a free port and a subscriber to `topics` (persistent session `clientId`),
 * both stopped when test `t` ends.
 */
export async function brokerAndSubscriber(
  t: Test,
  clientId: string,
  topics: string[],
  options: MosquittoOptions = {},
): Promise<{ broker: Broker; sub: Subscriber }> {
  const broker = await startMosquitto(undefined, options);
  t.teardown(() => broker.stop());
  const sub = await subscribe(broker.url, clientId, topics);
  t.teardown(() => sub.end());
  return { broker, sub };
}

/** Alerts in arrival order, parsed. */
export function alertsOf(messages: Received[], nodeId = 'test-node'): { id: string; label: string; onset_utc: string; raw: Received }[] {
  return messages.filter((m) => m.topic.startsWith(`earshot/${nodeId}/alert/`)).map((m) => ({ ...JSON.parse(m.payload), raw: m }));
}

/** The ids in first-arrival order (de-duplicated, as a subscriber should). */
export function dedupe(ids: string[]): string[] {
  return [...new Set(ids)];
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
/** A validator for `docs/schemas/<name>.schema.json`. */
export function schema(name: string): ValidateFunction {
  const text = readFileSync(join(REPO, 'docs', 'schemas', `${name}.schema.json`), 'utf8');
  const parsed = JSON.parse(text) as { $id: string };
  return ajv.getSchema(parsed.$id) ?? ajv.compile(parsed);
}
