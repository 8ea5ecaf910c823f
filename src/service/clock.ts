/**
 * Clock honesty for stored events: was the system clock synchronised (NTP) when an event was
 * heard? A Raspberry Pi has no real-time clock, so until the network is up its wall time can be
 * days off; `events.clock_synced` lets a reader tell which `onset_utc` values to distrust. The
 * stream time (`onset_s`, `onset_sample`) is counted in samples and never jumps either way.
 *
 * Three states, because "not synchronised" and "cannot tell" are different facts: `true`
 * (synchronised), `false` (systemd says it is not), `null` (unknown: no systemd, no
 * `timedatectl`, no D-Bus, as in most containers).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { DaemonConsumer } from '../consumer.js';

/** systemd-timesyncd touches this file once it has synchronised the clock (see systemd-timesyncd.service(8)). */
const TIMESYNCD_FLAG = '/run/systemd/timesync/synchronized';

/**
 * The environment for `timedatectl`: ours without NOTIFY_SOCKET. systemd tools that fail report
 * `ERRNO=` to $NOTIFY_SOCKET, which would reach systemd (or a test's socket) as if the daemon
 * had sent it.
 */
function probeEnv(): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _socket, ...env } = process.env;
  return env;
}

/** How long one `timedatectl` call may take before the state counts as unknown (ms). */
const PROBE_TIMEOUT_MS = 2000;

/**
 * Parses the output of `timedatectl show -p NTPSynchronized --value`.
 * @returns true for `yes`, false for `no`, null for anything else (the command failed or printed nothing)
 */
export function parseNtpSynchronized(stdout: string | null): boolean | null {
  const value = stdout?.trim();
  if (value === 'yes') return true;
  if (value === 'no') return false;
  return null;
}

/** Options of {@link ClockSync}; tests point `command` at another program. */
export interface ClockSyncOptions {
  /** The `timedatectl` program (default: found on PATH). */
  command?: string;
  /** Check the systemd-timesyncd flag file first (default true). */
  useTimesyncdFlag?: boolean;
}

/**
 * Tracks whether the clock is NTP-synchronised: the systemd-timesyncd flag file if present
 * (true), else `timedatectl show -p NTPSynchronized --value` (any NTP client systemd knows of,
 * e.g. chrony), else unknown (null). Checked once synchronously at {@link start} so the first
 * event already has a state, then refreshed in the background.
 */
export class ClockSync implements DaemonConsumer {
  /** As a daemon consumer (src/consumer.ts): started before MQTT and the event store, so the first event has a state. */
  readonly name = 'clock';
  /** The last known state: true synchronised, false not, null unknown. */
  synced: boolean | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly command: string;
  private readonly useFlag: boolean;

  constructor(options: ClockSyncOptions = {}) {
    this.command = options.command ?? 'timedatectl';
    this.useFlag = options.useTimesyncdFlag ?? true;
  }

  /** Checks now (blocking, at most {@link PROBE_TIMEOUT_MS}) and then every `intervalMs` (default one minute). */
  start(intervalMs = 60_000): void {
    this.synced = this.checkSync();
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  /** Stops the background refresh. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One blocking check. @returns the state (also stored in {@link synced}) */
  checkSync(): boolean | null {
    if (this.useFlag && existsSync(TIMESYNCD_FLAG)) {
      this.synced = true;
      return true;
    }
    let stdout: string | null = null;
    try {
      stdout = execFileSync(this.command, ['show', '-p', 'NTPSynchronized', '--value'], {
        timeout: PROBE_TIMEOUT_MS,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        env: probeEnv(),
      });
    } catch {
      stdout = null;
    }
    this.synced = parseNtpSynchronized(stdout);
    return this.synced;
  }

  private refresh(): void {
    if (this.useFlag && existsSync(TIMESYNCD_FLAG)) {
      this.synced = true;
      return;
    }
    execFile(this.command, ['show', '-p', 'NTPSynchronized', '--value'], { timeout: PROBE_TIMEOUT_MS, env: probeEnv() }, (error, stdout) => {
      this.synced = error ? null : parseNtpSynchronized(stdout);
    });
  }
}
