/**
 * For the MQTT tests: an `earshot run` child process that can be killed with SIGKILL, a config
 * writer, a persistent-session subscriber, and the payload schemas of docs/schemas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { CLI, REPO, SHARED, type CliResult } from './cli.js';

/** A scene with hostile events (mixed_08: glass_break at 12 s, gunshots and explosions 18–36 s). */
export const SCENE_08 = `${SHARED}audio/scenes/dev/mixed_08.wav`;
export const SCENE_07 = `${SHARED}audio/scenes/dev/mixed_07.wav`;
export const YAMNET = `${SHARED}models/yamnet/yamnet_waveform.tflite`;

/** Writes `dir/earshot.yaml`; `mqtt` lines are indented under `mqtt:`. */
export function writeConfig(dir: string, options: { scene: string; pacing: 'realtime' | 'fast'; speed?: number; url: string; mqtt?: string[]; nodeId?: string; name?: string }): string {
  const path = join(dir, options.name ?? 'earshot.yaml');
  writeFileSync(
    path,
    [
      `node_id: ${options.nodeId ?? 'test-node'}`,
      'data_dir: data',
      'source:',
      `  path: ${options.scene}`,
      `  pacing: ${options.pacing}`,
      `  speed: ${options.speed ?? 1}`,
      'model:',
      `  path: ${YAMNET}`,
      'mqtt:',
      `  url: ${options.url}`,
      '  reconnect_min_seconds: 0.2',
      '  reconnect_max_seconds: 1',
      ...(options.mqtt ?? []).map((line) => `  ${line}`),
      '',
    ].join('\n'),
  );
  return path;
}

/** A running `earshot run`. */
export interface DaemonProcess {
  child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves when the process exits. */
  exited: Promise<CliResult>;
}

/** Starts `earshot run --config <config>` (JSON logs on stdout). */
export function startDaemon(config: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<CliResult>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => stdout + stderr, exited };
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
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, dup: packet.dup }));
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
