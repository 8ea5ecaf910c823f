/**
 * Ties the daemon to its service manager: `READY=1` once audio flows through a loaded model,
 * a one-line `STATUS=`, `WATCHDOG=1` at half of `WATCHDOG_USEC` only while the pipeline is
 * healthy (see src/monitor/health.ts), and `STOPPING=1` at shutdown. Without `$NOTIFY_SOCKET` it still
 * judges health and logs every change (healthy → unhealthy and back).
 */
import { performance } from 'node:perf_hooks';
import type { DaemonHooks, DaemonSummary, RunningDaemon } from '../daemon.js';
import type { Logger } from '../log.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';
import { DEFAULT_HEALTH_OPTIONS, PipelineHealth, databaseProblem, type HealthOptions, type HealthReport } from '../monitor/health.js';
import { notifyEnvironment, SystemdNotifier } from './notify.js';
import { stallHookFromEnv } from './stall.js';

/** Health is judged (and STATUS refreshed) this often when there is no watchdog (ms). */
const CHECK_INTERVAL_MS = 10_000;

/** One service-manager session for one run of the daemon. */
export class ServiceSupervisor {
  readonly health: PipelineHealth;
  private notifier: SystemdNotifier | null = null;
  private running: RunningDaemon | null = null;
  private summary: Readonly<DaemonSummary> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ready = false;
  private lastReport: HealthReport | null = null;
  private stoppingSent = false;
  /** The source ended (a file): no more audio is expected, so its absence is not a problem. */
  private sourceEnded = false;
  /** Seconds of audio through the pipeline (end of the last chunk). */
  private audioSeconds = 0;

  /**
   * @param log the daemon's logger
   * @param env the process environment (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, the test stall hook)
   */
  constructor(
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
    options: HealthOptions = DEFAULT_HEALTH_OPTIONS,
  ) {
    this.health = new PipelineHealth(options);
    try {
      const environment = notifyEnvironment(env);
      if (environment) {
        this.notifier = new SystemdNotifier(environment, (error) => log.warn({ err: error, socket: environment.socketPath }, 'systemd notification failed'));
        log.info({ socket: environment.socketPath, watchdog_ms: this.notifier.watchdogIntervalMs }, 'systemd notifications on');
      }
    } catch (error) {
      log.warn({ err: error }, 'systemd notifications off');
    }
  }

  /** The hooks to pass to `runDaemon`. */
  hooks(): Pick<DaemonHooks, 'wrapSource' | 'onStart' | 'onChunk' | 'onSourceEnd'> {
    const wrapSource = stallHookFromEnv(this.env);
    if (wrapSource) this.log.warn({ after_s: Number(this.env.EARSHOT_TEST_STALL_AFTER_SECONDS) }, 'test hook: the source will stall');
    return {
      wrapSource,
      onStart: (running) => this.start(running),
      onChunk: (chunk, processingMs, summary) => this.chunk(chunk, processingMs, summary),
      onSourceEnd: () => {
        this.sourceEnded = true;
        this.log.info({ audio_s: Number(this.audioSeconds.toFixed(3)) }, 'source ended: finishing (events, clips, MQTT drain)');
      },
    };
  }

  /** The running daemon, once started (for config reloads). */
  get daemon(): RunningDaemon | null {
    return this.running;
  }

  /** Tells the service manager the daemon is stopping (once). */
  stopping(reason: string): void {
    if (this.stoppingSent) return;
    this.stoppingSent = true;
    this.notifier?.stopping(`stopping: ${reason}`);
  }

  /** Stops the timer and closes the socket. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.notifier?.close();
    this.notifier = null;
  }

  private start(running: RunningDaemon): void {
    this.running = running;
    const interval = this.notifier?.watchdogIntervalMs ?? CHECK_INTERVAL_MS;
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  private chunk(chunk: AudioChunk, processingMs: number, summary: Readonly<DaemonSummary>): void {
    this.summary = summary;
    // Gaps are counted for STATUS only: the daemon logs and stores each one (capture gap).
    this.health.chunk(chunk, processingMs, performance.now());
    this.audioSeconds = (chunk.startSample + chunk.samples.length) / SAMPLE_RATE;
    if (!this.ready) {
      this.ready = true;
      this.notifier?.ready(this.statusLine());
      this.log.info({ source: this.running?.source.uri }, 'ready: audio is flowing through the model');
    }
  }

  /** One health check: pings the watchdog only when healthy; logs changes; refreshes STATUS. */
  private tick(): void {
    if (this.stoppingSent) return;
    const report = this.health.check(performance.now());
    if (this.sourceEnded) {
      // The end of a file is not a fault: the outbox may take drain_timeout_seconds to empty.
      report.problems = report.problems.filter((p) => !p.startsWith('no audio'));
      report.healthy = report.problems.length === 0;
    }
    if (this.running) {
      const problem = databaseProblem(this.running.db, this.running.databasePath);
      if (problem) {
        report.problems.push(problem);
        // A full disk is reported but does not withhold the watchdog: a restart cannot free
        // space, and the daemon listens on (alerts over MQTT, clips dropped: docs/storage.md).
        if (!problem.startsWith('disk nearly full')) report.healthy = false;
      }
    }
    const previous = this.lastReport;
    this.lastReport = report;
    if (report.healthy) {
      this.notifier?.watchdog();
      if (previous && !previous.healthy && this.ready) this.log.info('healthy again: watchdog pings resumed');
    } else if (this.ready && (!previous || previous.healthy || previous.problems.join() !== report.problems.join())) {
      this.log.error(
        { problems: report.problems },
        `unhealthy: ${report.problems.join('; ')}${this.notifier?.watchdogIntervalMs ? ' (watchdog pings withheld: systemd restarts earshot when WatchdogSec= runs out)' : ''}`,
      );
    }
    if (this.ready) this.notifier?.status(this.statusLine(report));
  }

  /** The one-line STATUS, e.g. `listening: file:/x.wav, 95.2 s of audio, 3 events (1 hostile), rtf 0.08`. */
  statusLine(report?: HealthReport): string {
    const s = this.summary;
    const base = `${this.running?.source.uri ?? 'starting'}, ${this.audioSeconds.toFixed(1)} s of audio, ${s?.events ?? 0} events (${s?.hostileEvents ?? 0} hostile), rtf ${this.health.realTimeFactor(performance.now()).toFixed(2)}${this.health.counts.gaps ? `, ${this.health.counts.gaps} gaps` : ''}`;
    return report && !report.healthy
      ? `UNHEALTHY (${report.problems.join('; ')}): ${base}`
      : `${this.sourceEnded ? 'finishing (source ended)' : 'listening'}: ${base}`;
  }
}
