/**
 * `earshot doctor`: checks what a sensor node needs before (or while) the service runs — config,
 * model, audio source, data directory (permissions, free space), broker reachability, clock
 * synchronisation — and says for each problem how to fix it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync, statfsSync } from 'node:fs';
import { connect } from 'node:net';
import { createSource } from '../capture/create-source.js';
import type { EarshotConfig } from '../config/schema.js';
import { ExitCode, isEarshotError } from '../errors.js';
import type { Logger } from '../log.js';
import { openModelAndLabels } from '../setup.js';
import { ClockSync } from './clock.js';
import { SERVICE } from './install.js';

/** One check's verdict. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  /** What was found. */
  detail: string;
  /** How to fix it (for warn and fail). */
  fix?: string;
  /** For a failure: 2 when the input is bad (config, model or audio file), else 3 (the machine's state). See {@link doctorExitCode}. */
  exitCode?: typeof ExitCode.BadInput | typeof ExitCode.Environment;
}

/**
 * The exit code of a doctor run, as the rest of the CLI uses them: 0 nothing failed, 2 a bad
 * input (config, model or audio file) failed, else 3 (the environment: broker, disk, clock, device).
 */
export function doctorExitCode(checks: readonly Check[]): ExitCode {
  const failed = checks.filter((c) => c.status === 'fail');
  if (failed.length === 0) return ExitCode.Ok;
  return failed.some((c) => c.exitCode === ExitCode.BadInput) ? ExitCode.BadInput : ExitCode.Environment;
}

/** 2 for an EarshotError of bad input, else 3. */
const codeOf = (error: { exitCode: number }): NonNullable<Check['exitCode']> =>
  error.exitCode === ExitCode.BadInput ? ExitCode.BadInput : ExitCode.Environment;

/** Free space below this fails the data-directory check; below 16× this it warns. */
const MIN_FREE_BYTES = 64 * 1024 * 1024;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n').join('; ');

/** The model, its manifest and the labels it can serve (opened in a child process first, as the daemon does). */
async function checkModel(config: EarshotConfig, log: Logger): Promise<Check> {
  try {
    const { model, labels, models } = await openModelAndLabels(config, log);
    models.close();
    return {
      name: 'model',
      status: 'ok',
      detail: `${model.path} (${model.manifest.id}, ${model.backend.kind}; labels ${labels.map((l) => l.name).join(', ')})`,
    };
  } catch (error) {
    if (!isEarshotError(error)) throw error;
    return {
      name: 'model',
      status: 'fail',
      exitCode: codeOf(error),
      detail: message(error),
      fix: config.model.path
        ? 'set model.path to a .tflite file earshot can read (docs/models.md)'
        : `earshot model pull yamnet --model-dir ${config.model_dir}`,
    };
  }
}

/** Opens the configured source once (a file is decoded; a device is opened and closed). */
async function checkSource(config: EarshotConfig, log: Logger): Promise<Check> {
  try {
    const source = createSource(config, log);
    const info = await source.open();
    source.stop();
    return { name: 'source', status: 'ok', detail: `${info.uri} ${JSON.stringify(info.details)}` };
  } catch (error) {
    if (!isEarshotError(error)) throw error;
    return {
      name: 'source',
      status: 'fail',
      exitCode: codeOf(error),
      detail: message(error),
      fix: 'set source in the config to a readable WAV file or an audio device (docs/configuration.md); a device the running service holds shows as busy: stop it first',
    };
  }
}

/** The data directory: exists (or can be created), writable by the service user, room to grow. */
function checkDataDir(config: EarshotConfig): Check[] {
  const dir = config.data_dir;
  const checks: Check[] = [];
  let existing = dir;
  while (!existsSync(existing) && existing !== '/') existing = existing.replace(/\/[^/]*$/, '') || '/';
  try {
    if (existing === dir) {
      const stat = statSync(dir);
      if (!stat.isDirectory()) return [{ name: 'data_dir', status: 'fail', detail: `${dir} is not a directory`, fix: `point data_dir at a directory` }];
      const service = spawnSync('getent', ['passwd', SERVICE.user], { encoding: 'utf8' });
      const serviceUid = service.status === 0 ? Number(service.stdout.split(':')[2]) : undefined;
      if (process.getuid?.() === 0 && serviceUid !== undefined && dir.startsWith(SERVICE.stateDir) && stat.uid !== serviceUid) {
        checks.push({
          name: 'data_dir',
          status: 'fail',
          detail: `${dir} is owned by uid ${stat.uid}, not the service user ${SERVICE.user} (uid ${serviceUid})`,
          fix: `chown -R ${SERVICE.user}:${SERVICE.user} ${dir}`,
        });
      } else {
        accessSync(dir, constants.W_OK | constants.X_OK);
        checks.push({ name: 'data_dir', status: 'ok', detail: `${dir} is writable (mode 0${(stat.mode & 0o777).toString(8)})` });
      }
    } else {
      accessSync(existing, constants.W_OK | constants.X_OK);
      checks.push({ name: 'data_dir', status: 'warn', detail: `${dir} does not exist yet; it will be created under ${existing}`, fix: `mkdir -p ${dir}` });
    }
  } catch (error) {
    checks.push({
      name: 'data_dir',
      status: 'fail',
      detail: `${existing === dir ? dir : existing} is not writable for uid ${process.getuid?.()} (${(error as NodeJS.ErrnoException).code})`,
      fix: `chown ${SERVICE.user}: ${dir} (the service creates ${SERVICE.stateDir} itself via StateDirectory=)`,
    });
  }
  try {
    const fs = statfsSync(existing);
    const free = fs.bavail * fs.bsize;
    const mib = (free / 1048576).toFixed(0);
    if (free < MIN_FREE_BYTES)
      checks.push({
        name: 'free space',
        status: 'fail',
        detail: `${mib} MiB free on ${existing}`,
        fix: 'free space on that file system: the watchdog fails below 64 MiB',
      });
    else if (free < 16 * MIN_FREE_BYTES)
      checks.push({ name: 'free space', status: 'warn', detail: `${mib} MiB free on ${existing}`, fix: 'free some space: events and clips grow over months' });
    else checks.push({ name: 'free space', status: 'ok', detail: `${mib} MiB free on ${existing}` });
  } catch (error) {
    checks.push({ name: 'free space', status: 'warn', detail: `cannot tell for ${existing} (${(error as NodeJS.ErrnoException).code})` });
  }
  return checks;
}

/** Host and port of a broker URL (defaults: 1883 mqtt/tcp, 8883 mqtts/ssl, 80 ws, 443 wss). */
export function brokerAddress(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  const defaults: Record<string, number> = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ssl:': 8883, 'ws:': 80, 'wss:': 443 };
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port ? Number(parsed.port) : (defaults[parsed.protocol] ?? 1883) };
}

/** A TCP connection to the broker (not an MQTT login: credentials are checked by the daemon's log). */
async function checkBroker(config: EarshotConfig): Promise<Check[]> {
  const checks: Check[] = [];
  if (!config.mqtt.url) return [{ name: 'broker', status: 'ok', detail: 'no mqtt.url: events are stored and logged only' }];
  const { host, port } = brokerAddress(config.mqtt.url);
  const result = await new Promise<string | null>((resolve) => {
    const socket = connect({ host, port, timeout: 3000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 3 s');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  checks.push(
    result === null
      ? { name: 'broker', status: 'ok', detail: `${host}:${port} accepts TCP connections` }
      : {
          name: 'broker',
          status: 'fail',
          detail: `${host}:${port}: ${result}`,
          fix: 'start the broker or fix mqtt.url; alerts queue while the broker is away, but none is delivered',
        },
  );
  if (config.mqtt.password_file) {
    try {
      accessSync(config.mqtt.password_file, constants.R_OK);
      checks.push({ name: 'mqtt password', status: 'ok', detail: `${config.mqtt.password_file} is readable` });
    } catch (error) {
      const inCredentials = config.mqtt.password_file.startsWith('/run/credentials/');
      checks.push({
        name: 'mqtt password',
        status: inCredentials ? 'warn' : 'fail',
        detail: `${config.mqtt.password_file}: ${(error as NodeJS.ErrnoException).code}`,
        fix: inCredentials
          ? `systemd provides this path to the service only: check that ${SERVICE.credstore}/mqtt_password exists (mode 0600)`
          : 'create the file or fix mqtt.password_file',
      });
    }
  }
  return checks;
}

/**
 * NTP synchronisation, from the daemon's own checker (./clock.ts: the systemd-timesyncd flag, else
 * `timedatectl show -p NTPSynchronized`): event times are wall-clock UTC.
 */
function checkClock(): Check {
  const synced = new ClockSync().checkSync();
  if (synced === null) {
    return {
      name: 'clock',
      status: 'warn',
      detail: 'cannot tell whether the clock is synchronised (no systemd-timesyncd flag, and timedatectl gave no answer): events get clock_synced null',
      fix: 'on a systemd host: timedatectl set-ntp true; elsewhere check chrony/ntpd',
    };
  }
  return synced
    ? { name: 'clock', status: 'ok', detail: 'NTP synchronised' }
    : {
        name: 'clock',
        status: 'fail',
        detail: 'NTPSynchronized=no: event times may be wrong',
        fix: 'timedatectl set-ntp true (a Pi has no battery clock: it needs network time after every boot)',
      };
}

/**
 * Runs every check. A config that fails to load ends the run (nothing else can be checked).
 * @param loadConfig loads the config (throws EarshotError when invalid)
 */
export async function runDoctor(loadConfig: () => { config: EarshotConfig; origin: string }, log: Logger): Promise<Check[]> {
  let config: EarshotConfig;
  try {
    const loaded = loadConfig();
    config = loaded.config;
    const checks: Check[] = [{ name: 'config', status: 'ok', detail: loaded.origin }];
    checks.push(await checkModel(config, log));
    checks.push(await checkSource(config, log));
    checks.push(...checkDataDir(config));
    checks.push(...(await checkBroker(config)));
    checks.push(checkClock());
    return checks;
  } catch (error) {
    if (!isEarshotError(error)) throw error;
    return [
      {
        name: 'config',
        status: 'fail',
        exitCode: codeOf(error),
        detail: message(error),
        fix: 'fix the named keys (docs/configuration.md), then run earshot doctor again',
      },
    ];
  }
}

/** The report, one line per check and an indented `fix:` line under each problem. */
export function formatChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.flatMap((c) => [
    `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.fix && c.status !== 'ok' ? [`${' '.repeat(6 + width)}  fix: ${c.fix}`] : []),
  ]);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push(
    failed
      ? `${failed} problem${failed === 1 ? '' : 's'} to fix${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}`
      : `all good${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
