/**
 * How earshot connects to the broker: TLS material and credentials read from files (never
 * logged), and the reconnect schedule.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { EarshotError } from '../errors.js';

/** Connection settings (from the config's `mqtt` section). */
export interface ConnectionSettings {
  /** `mqtt://host:1883`, `mqtts://host:8883` (also `tcp://`, `ssl://`, `ws://`, `wss://`). */
  url: string;
  clientId: string;
  username?: string;
  /** A file holding the password (e.g. a systemd credential); its trailing newline is ignored. */
  passwordFile?: string;
  /** PEM CA bundle that signs the broker's certificate (mqtts); default: the system's CAs. */
  caFile?: string;
  /** PEM client certificate and key, for brokers that require client certificates. */
  certFile?: string;
  keyFile?: string;
  /** Verify the broker's certificate and host name (default true; false only for tests and labs). */
  rejectUnauthorized: boolean;
  /** Seconds between keepalive PINGREQs: a dead broker is noticed within 1.5 × this. */
  keepaliveSeconds: number;
}

function readSecretFile(path: string, what: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new EarshotError(`${path}: cannot read the MQTT ${what} (mqtt.${key}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * The mqtt.js options for `settings`. Reconnects are earshot's (see {@link Backoff}), so
 * `reconnectPeriod` is 0; `clean: false` keeps a persistent session so the broker and mqtt.js
 * redeliver QoS 1 messages that were in flight when the connection dropped.
 * @param env where `EARSHOT_MQTT_PASSWORD` is read when there is no password file
 * @throws EarshotError naming the file and config key when a password, CA, certificate or key
 *   file cannot be read
 */
export function clientOptions(settings: ConnectionSettings, will: IClientOptions['will'], env: NodeJS.ProcessEnv = process.env): IClientOptions {
  let password: string | undefined;
  if (settings.passwordFile)
    password = readSecretFile(settings.passwordFile, 'password file', 'password_file')
      .toString('utf8')
      .replace(/\r?\n$/, '');
  else if (env.EARSHOT_MQTT_PASSWORD) password = env.EARSHOT_MQTT_PASSWORD;
  const options: IClientOptions = {
    clientId: settings.clientId,
    username: settings.username,
    password,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: settings.keepaliveSeconds,
    resubscribe: false,
    will,
    rejectUnauthorized: settings.rejectUnauthorized,
  };
  if (settings.caFile) options.ca = readSecretFile(settings.caFile, 'CA file', 'tls.ca_file');
  if (settings.certFile) options.cert = readSecretFile(settings.certFile, 'client certificate', 'tls.cert_file');
  if (settings.keyFile) options.key = readSecretFile(settings.keyFile, 'client key', 'tls.key_file');
  return options;
}

/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015): attempt n waits a uniform random time in [base, min(cap, base · 2ⁿ)], so a fleet
 * of sensors does not reconnect in lockstep after a broker restart.
 */
export class Backoff {
  private attempt = 0;

  /** @param baseMs first delay (ms); @param capMs longest delay (ms); @param random 0..1 source */
  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, in ms; each call grows the ceiling. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(this.baseMs + this.random() * (ceiling - this.baseMs));
  }

  /** Back to the first delay (after a successful connect). */
  reset(): void {
    this.attempt = 0;
  }
}

/**
 * A one-line reason for a failed connection, with a hint for the TLS cases users meet
 * (unknown CA, host name mismatch, expired certificate).
 */
export function describeConnectionError(error: Error & { code?: string }): string {
  const code = error.code ?? '';
  if (
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
  ) {
    return `TLS: the broker's certificate is not signed by a trusted CA (${code}); set mqtt.tls.ca_file to the CA that signed it`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: the broker's certificate does not name this host (${error.message})`;
  if (code === 'CERT_HAS_EXPIRED') return "TLS: the broker's certificate has expired";
  if (code === 'ECONNREFUSED') return `connection refused (${error.message.replace(/^connect /, '')})`;
  return code ? `${error.message} (${code})` : error.message;
}

/** The URL without a password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
