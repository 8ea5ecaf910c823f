/**
 * Is the system clock synchronised? Alerts say so (`clock_synced`), because an onset time from an
 * unsynchronised Pi (no RTC, no network yet) can be off by days.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/** systemd-timesyncd touches this file once it has synchronised the clock. */
const TIMESYNCD_FLAG = '/run/systemd/timesync/synchronized';

/**
 * Watches clock synchronisation: `/run/systemd/timesync/synchronized` (systemd-timesyncd), else
 * `timedatectl show -p NTPSynchronized --value` (any NTP daemon systemd knows of, e.g. chrony).
 * Without either the clock counts as not synchronised.
 */
export class ClockWatch {
  /** The last known state. */
  synced = false;
  private timer: NodeJS.Timeout | null = null;

  /** Checks now and then every `intervalMs` (default one minute). */
  start(intervalMs = 60_000): void {
    this.check();
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (existsSync(TIMESYNCD_FLAG)) {
      this.synced = true;
      return;
    }
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 5000 }, (error, stdout) => {
      this.synced = !error && stdout.trim() === 'yes';
    });
  }
}
