#!/usr/bin/env node
/**
 * The `earshot` command line. Every failure the user can fix prints one clear line (naming the
 * file or key) and exits non-zero: 2 for bad input, 3 for the environment; a bug prints its stack
 * and exits 1.
 */
import { constants as osConstants } from 'node:os';
import { basename, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { analyzeFile } from '../analyze.js';
import { defaultConfig, loadConfigFile, type EarshotConfig } from '../config.js';
import { runDaemon, SHUTDOWN_DEADLINE_MS } from '../daemon.js';
import { EarshotError, isEarshotError } from '../errors.js';
import { formatTsvRow, TSV_HEADER } from '../eval/annotations.js';
import { registerDevices } from './devices.js';
import { registerLabels } from './labels.js';
import { registerPull } from './pull.js';
import { registerServe } from './serve.js';
import { registerModelTools } from './model-tools.js';
import { registerSimulateSerial } from './simulate-serial.js';
import { evaluateFiles, formatReport } from '../eval/run-eval.js';
import { configSnippet, tune } from '../eval/tune.js';
import { pullModel, KNOWN_MODELS } from '../inference/model-store.js';
import { createLogger, type Logger } from '../log.js';
import { modelOpener } from '../inference/worker/options.js';
import { openModelAndLabels, pipelineSettings } from '../setup.js';
import { applyReload } from '../service/reload.js';
import { ServiceSupervisor } from '../service/supervisor.js';
import { registerServiceCommands } from './service.js';

interface CommonOptions {
  config?: string;
  model?: string;
  manifest?: string;
  backend?: EarshotConfig['model']['backend'];
  pretty?: boolean;
  logLevel?: string;
}

/** The config from `--config` (or defaults), with command-line overrides applied. */
function configFrom(options: CommonOptions): EarshotConfig {
  const config = options.config ? loadConfigFile(options.config) : defaultConfig();
  if (options.model) config.model.path = resolve(options.model);
  if (options.manifest) config.model.manifest = options.manifest;
  if (options.backend) config.model.backend = options.backend;
  if (options.logLevel) config.log_level = options.logLevel as EarshotConfig['log_level'];
  return config;
}

/** Logs go to stderr for commands whose stdout is data. */
function loggerFor(config: EarshotConfig, options: CommonOptions, fd: 1 | 2, quietByDefault: boolean): Logger {
  const level = options.logLevel ?? (quietByDefault ? 'warn' : config.log_level);
  return createLogger({ level, pretty: options.pretty ?? Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY), fd });
}

const backendOption = () => new Option('--backend <name>', 'inference backend').choices(['tflite-node', 'litert-wasm', 'onnx']);

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()}\n`);
}

async function analyzeCommand(files: string[], options: CommonOptions & { json?: boolean; tsv?: boolean }): Promise<void> {
  if (options.json && options.tsv) throw new EarshotError('--json and --tsv: choose one output format');
  const config = configFrom(options);
  const log = loggerFor(config, options, 2, true);
  // Models in worker threads (inference.worker): the front end runs beside them (src/analyze.ts).
  const { model, labels, models } = await openModelAndLabels(config, log, modelOpener(config, log));
  try {
    const settings = pipelineSettings(config);
    if (options.tsv) process.stdout.write(`${TSV_HEADER}\n`);
    const table: string[][] = [['file', 'onset_s', 'offset_s', 'label', 'group', 'score', 'peak_dbfs']];
    const all = [];
    for (const file of files) {
      const analysis = await analyzeFile(file, models, labels, settings, config.node_id, undefined, log);
      all.push(analysis);
      for (const e of analysis.events) {
        const name = basename(file);
        if (options.tsv) process.stdout.write(`${formatTsvRow({ filename: name, onset: e.onset_s, offset: e.offset_s ?? e.onset_s, label: e.label })}\n`);
        table.push([name, e.onset_s.toFixed(3), (e.offset_s ?? 0).toFixed(3), e.label, e.group, e.peak_score.toFixed(2), e.peak_dbfs === null ? '-inf' : e.peak_dbfs.toFixed(1)]);
      }
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ model: { path: model.path, id: models.id, sha256: models.sha256, backend: model.backend.kind }, files: all.map((a) => ({ path: a.path, duration_s: a.durationSeconds, events: a.events })) }, null, 2)}\n`);
    } else if (!options.tsv) {
      if (table.length === 1) process.stdout.write(`no events in ${files.length} file${files.length === 1 ? '' : 's'}\n`);
      else printTable(table);
    }
  } finally {
    models.close();
  }
}

async function runCommand(options: CommonOptions): Promise<void> {
  if (!options.config) throw new EarshotError('run: --config FILE is required (see config/example.yaml)');
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
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    controller.abort();
  };
  let current = config;
  const onHangup = () => reloadConfig(options, service, config, current, log, (next) => (current = next));
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
  if (summary.unacknowledged > 0) {
    const message = `mqtt: ${summary.unacknowledged} messages were not acknowledged by the broker before exit; they stay in the outbox and are sent at the next start (events are in the database)`;
    // A service stopped by systemd has lost nothing (the outbox is on disk): exit 0, so the
    // unit is not marked failed. A run that reached the end of its file says it did not deliver.
    if (summary.stoppedBy === 'signal') log.warn(message);
    else throw new EarshotError(message, 3);
  }
}

/**
 * SIGHUP: re-reads the config file; applies what can change live (service/reload.ts) and names
 * what needs a restart. An invalid file changes nothing: the daemon keeps running on the
 * configuration it has, and the log says why.
 */
function reloadConfig(options: CommonOptions, service: ServiceSupervisor, started: EarshotConfig, current: EarshotConfig, log: Logger, commit: (next: EarshotConfig) => void): void {
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
    log.info({ signal: 'SIGHUP', config: options.config, applied, need_restart: needRestart, audio_s: Number((running.pipeline.ring.endSample / 16000).toFixed(3)) }, applied.length ? 'config reloaded' : 'config reloaded: nothing to apply live');
    if (needRestart.length) log.warn({ keys: needRestart }, 'these config changes take effect after a restart (systemctl restart earshot)');
  } catch (error) {
    log.error({ signal: 'SIGHUP', err: (error as Error).message }, 'config reload failed: keeping the running configuration');
  }
}

async function pullCommand(name: string, options: CommonOptions & { modelDir?: string; baseUrl?: string }): Promise<void> {
  const config = configFrom(options);
  const dir = options.modelDir ? resolve(options.modelDir) : config.model_dir;
  const { path, downloaded } = await pullModel(name, dir, options.baseUrl);
  process.stdout.write(`${downloaded ? 'downloaded' : 'already present'}: ${path} (sha256 ${KNOWN_MODELS[name].sha256.slice(0, 12)}…, verified)\n`);
}

async function evalCommand(files: string[], options: CommonOptions & { ref: string; collar: string; json?: boolean; out?: string }): Promise<void> {
  const config = configFrom(options);
  const log = loggerFor(config, options, 2, true);
  const collar = Number(options.collar);
  if (!(collar > 0)) throw new EarshotError(`--collar: must be a positive number of seconds, got ${options.collar}`);
  const report = await evaluateFiles(config, log, options.ref, files, collar, options.out ? resolve(options.out) : undefined);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

async function tuneCommand(files: string[], options: CommonOptions & { ref: string; collar: string; budget: string; hops: string; out: string; cacheDir?: string }): Promise<void> {
  const config = configFrom(options);
  const log = loggerFor(config, options, 2, false);
  const budget = Number(options.budget);
  if (!(budget >= 0)) throw new EarshotError(`--budget: must be a number of false alarms per hour >= 0, got ${options.budget}`);
  const hops = options.hops.split(',').map(Number);
  if (hops.some((h) => !Number.isInteger(h) || h < 1 || h > 960)) throw new EarshotError(`--hops: must be frame counts (1..960) separated by commas, got ${options.hops}`);
  const outDir = resolve(options.out);
  const result = await tune(config, log, options.ref, files, {
    hops,
    budget,
    collar: Number(options.collar),
    outDir,
    cacheDir: options.cacheDir ? resolve(options.cacheDir) : resolve(config.data_dir, 'tune-cache'),
  });
  process.stdout.write(configSnippet(result));
  process.stderr.write(`trade-off plot: ${resolve(outDir, 'tradeoff.png')}\n`);
}

/** Wraps an action: user errors print one line, bugs print their stack. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      if (isEarshotError(error)) {
        process.stderr.write(`earshot: ${error.message.split('\n').join('\nearshot: ')}\n`);
        process.exitCode = error.exitCode;
      } else {
        process.stderr.write(`earshot: unexpected error (a bug; please report it): ${(error as Error)?.stack ?? String(error)}\n`);
        process.exitCode = 1;
      }
    }
  };
}

const program = new Command('earshot')
  .description('A security sound sensor: hears gunshots, explosions, glass breaking and screams')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith('error:') ? `earshot: ${text}` : text) });

const withCommon = (command: Command) =>
  command
    .option('--config <file>', 'YAML config file (default: built-in defaults)')
    .option('--model <file>', 'model file (.tflite or .onnx); default: the pulled YAMNet')
    .option('--manifest <id|file>', 'model manifest id or file; default: matched by the model file sha256')
    .addOption(backendOption())
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--pretty', 'human-readable logs');

withCommon(program.command('analyze').description('find events in WAV files (as fast as possible) and print them'))
  .argument('<files...>', 'WAV files')
  .option('--json', 'print JSON')
  .option('--tsv', 'print DCASE TSV: filename onset offset event_label')
  .action(action(analyzeCommand));

withCommon(program.command('run').description('run the daemon on the configured source')).action(action(runCommand));

withCommon(program.command('eval').description('score detections against DCASE-style references (event-based F1, false alarms per hour)'))
  .argument('<files...>', 'WAV files named in the reference')
  .requiredOption('--ref <path>', 'references: a DCASE TSV (filename onset offset event_label), or a folder of Audacity label tracks (<audio name>.txt)')
  .option('--collar <seconds>', 'onset collar', '1.0')
  .option('--json', 'print JSON')
  .option('--out <dir>', 'also write report.md, report.json and one PNG per file (spectrogram, scores, events) there')
  .action(action(evalCommand));

registerDevices(program, action);
registerSimulateSerial(program, action);
registerPull(program, action);
registerLabels(program, action);
registerServe(program, action);

registerServiceCommands(program, action);

withCommon(program.command('tune').description('search thresholds, voting, hop and silence gate for the best hostile F1 within a false-alarm budget'))
  .argument('<files...>', 'WAV files named in the reference')
  .requiredOption('--ref <path>', 'references (as for eval)')
  .option('--budget <per-hour>', 'hostile false alarms per hour allowed on files with no hostile reference', '7')
  .option('--collar <seconds>', 'onset collar', '1.0')
  .option('--hops <frames,...>', 'candidate patch hops in 10 ms frames', '24,48')
  .option('--out <dir>', 'where to write tradeoff.png and tune.json', 'earshot-tune')
  .option('--cache-dir <dir>', 'model score cache (default: <data_dir>/tune-cache)')
  .action(action(tuneCommand));

const model = program.command('model').description('manage models');
withCommon(model.command('pull').description('download a known model into the model directory, verifying its sha256'))
  .argument('<name>', `model name (${Object.keys(KNOWN_MODELS).join(', ')})`)
  .option('--model-dir <dir>', 'where to put it (default: model_dir of the config)')
  .option('--base-url <url>', 'download from this folder URL instead (also EARSHOT_MODEL_BASE_URL)')
  .action(action(pullCommand));
registerModelTools(model, action);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    throw error;
  }
}
