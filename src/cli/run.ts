/**
 * `earshot run --config FILE`: the daemon on the configured source, until SIGTERM / SIGINT or the
 * end of a file source; SIGHUP re-reads the config (what can change live is applied).
 *
 * Heavy modules (daemon, config, service) are imported when the command runs (see ./analyze.ts).
 */
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import type { EarshotConfig } from '../config/schema.js';
import { EarshotError, ExitCode, isEarshotError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServiceSupervisor } from '../service/supervisor.js';
import type { ActionWrapper } from './action.js';
import { examples, headOption, withCommon, type CommonOptions } from './common-options.js';
import { SAMPLE_RATE } from '../constants.js';

/**
 * Runs the daemon until it stops.
 * @throws EarshotError without --config, for a bad config, or (exit 3) when messages stay unsent at the end of a file
 */
export async function runCommand(options: CommonOptions): Promise<void> {
  if (!options.config) throw new EarshotError('run: --config FILE is required (see config/example.yaml)');
  const { configFrom, loggerFor } = await import('./common.js');
  const { databasePath, runDaemon, SHUTDOWN_DEADLINE_MS } = await import('../daemon.js');
  const { ServiceSupervisor } = await import('../service/supervisor.js');
  const { applyReload } = await import('../service/reload.js');
  const config = configFrom(options);
  const log = loggerFor(config, options, 1, false);
  const controller = new AbortController();
  const service = new ServiceSupervisor(log);
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal: name }, 'second signal: exiting at once');
      process.exit(128 + (osConstants.signals[name] ?? 2));
    }
    log.info({ signal: name }, 'stopping');
    service.stopping(`${name} received`);
    // systemd's stop budget: if closing events, the outbox or the database hangs, do not wait for SIGKILL.
    setTimeout(() => {
      log.error({ after_ms: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time: exiting now');
      process.exit(ExitCode.Unexpected);
    }, SHUTDOWN_DEADLINE_MS).unref();
    controller.abort();
  };
  let current = config;
  const onHangup = () => reloadConfig(options, service, config, current, log, (next) => (current = next), configFrom, applyReload);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  const tty = process.stderr.isTTY;
  let lastDraw = 0;
  let summary;
  try {
    summary = await runDaemon(config, log, controller.signal, {
      ...service.hooks(),
      onProgress: tty
        ? (seconds, total, events) => {
            const now = Date.now();
            if (now - lastDraw < 250) return;
            lastDraw = now;
            process.stderr.write(`\r${seconds.toFixed(1)} / ${total?.toFixed(1) ?? '?'} s   events: ${events}   `);
          }
        : undefined,
    });
  } finally {
    service.stopping('exiting');
    service.close();
    process.off('SIGHUP', onHangup);
  }
  if (tty) process.stderr.write('\n');
  if (summary.stoppedBy === 'end_of_source') {
    // The end of a file run (the demo): say where the events are and how to look at them.
    const database = databasePath(config);
    const serve = `npx earshot serve --config ${options.config}`;
    log.info(
      { database, events: summary.events, hostile: summary.hostileEvents },
      `${summary.events} events (${summary.hostileEvents} hostile) are stored in ${database}; look at them with \`${serve}\` and http://${config.api.host}:${config.api.port}/api/v1/events, or \`sqlite3 ${database} "SELECT onset_utc, label, peak_score FROM events"\``,
    );
  }
  if (summary.unacknowledged > 0) {
    const message = `mqtt: ${summary.unacknowledged} messages were not acknowledged by the broker before exit; they stay in the outbox and are sent at the next start (events are in the database)`;
    // A service stopped by systemd has lost nothing (the outbox is on disk): exit 0, so the
    // unit is not marked failed. A run that reached the end of its file says it did not deliver.
    if (summary.stoppedBy === 'signal') log.warn(message);
    else throw new EarshotError(message, ExitCode.Environment);
  }
}

/**
 * SIGHUP: re-reads the config file; applies what can change live (service/reload.ts) and names
 * what needs a restart. An invalid file changes nothing: the daemon keeps running on the
 * configuration it has, and the log says why.
 */
function reloadConfig(
  options: CommonOptions,
  service: ServiceSupervisor,
  started: EarshotConfig,
  current: EarshotConfig,
  log: Logger,
  commit: (next: EarshotConfig) => void,
  configFrom: typeof import('./common.js').configFrom,
  applyReload: typeof import('../service/reload.js').applyReload,
): void {
  const running = service.daemon;
  if (!running) {
    log.warn({ signal: 'SIGHUP' }, 'config reload ignored: the daemon is still starting');
    return;
  }
  let next: EarshotConfig;
  try {
    next = configFrom(options);
  } catch (error) {
    if (!isEarshotError(error)) throw error;
    log.error({ signal: 'SIGHUP', config: options.config, problems: error.message.split('\n') }, 'config reload failed: keeping the running configuration');
    return;
  }
  try {
    const { applied, needRestart } = applyReload(running, started, current, next, log);
    commit(next);
    log.info(
      {
        signal: 'SIGHUP',
        config: options.config,
        applied,
        need_restart: needRestart,
        audio_s: Number((running.pipeline.ring.endSample / SAMPLE_RATE).toFixed(3)),
      },
      applied.length ? 'config reloaded' : 'config reloaded: nothing to apply live',
    );
    if (needRestart.length) log.warn({ keys: needRestart }, 'these config changes take effect after a restart (systemctl restart earshot)');
  } catch (error) {
    log.error({ signal: 'SIGHUP', err: error }, 'config reload failed: keeping the running configuration');
  }
}

/** Registers `earshot run`. */
export function registerRun(program: Command, action: ActionWrapper): void {
  withCommon(
    program.command('run').description('run the daemon on the configured source (until SIGTERM / Ctrl-C, or the end of a file source)'),
    'YAML config file (required; see config/example.yaml)',
  )
    .addOption(headOption())
    .addHelpText('after', examples('earshot run --config config/example.yaml', 'earshot run --config /etc/earshot/earshot.yaml --log-level debug'))
    .action(action(runCommand));
}
