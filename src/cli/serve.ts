/**
 * `earshot serve`: the HTTP API (docs/api.md) over a node's data dir without capture or models,
 * for when the daemon is stopped: a node taken out of service, an SD card copied off a sensor, or
 * the end of a file replay whose clips are still to be pulled. `earshot run` serves the same API
 * while it listens; do not run both on one data dir and port. With `--pulled DIR` it serves a
 * folder written by `earshot pull` from several nodes instead (./serve-pulled.ts).
 */
import type { Command } from 'commander';
import { EarshotError, ExitCode } from '../errors.js';

interface ServeOptions {
  config?: string;
  pulled?: string;
  host?: string;
  port?: string;
  pretty?: boolean;
}

/**
 * Serves until SIGTERM or SIGINT.
 * @throws EarshotError for a bad config or port (exit 2), or when the address cannot be bound (exit 3)
 */
async function serve(options: ServeOptions): Promise<void> {
  // Loaded here, not at the top: main.ts loads this file for `earshot --help` (see ./analyze.ts).
  const { startApiServer } = await import('../api/server.js');
  const { loadConfigFile } = await import('../config/load.js');
  const { databasePath } = await import('../daemon.js');
  const { createLogger } = await import('../log.js');
  const { checkDataDir, openCheckedDatabase } = await import('../store/startup-checks.js');
  if (!options.config && !options.pulled)
    throw new EarshotError("serve: give --config FILE (a node's data dir) or --pulled DIR (a folder written by earshot pull)");
  const config = options.config
    ? loadConfigFile(options.config)
    : (await import('../config/load.js')).parseConfig({ node_id: 'pulled' }, '--pulled', process.cwd());
  if (options.host) config.api.host = options.host;
  if (options.port !== undefined) {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new EarshotError(`--port: must be a TCP port (0..65535), got ${options.port}`);
    config.api.port = port;
  }
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.api.host);
  if (!loopback && !config.api.token && !config.api.token_file) {
    throw new EarshotError(`--host ${config.api.host}: api.token_file is required when the API listens beyond loopback (the API serves audio)`);
  }
  const log = createLogger({ level: config.log_level, pretty: options.pretty ?? Boolean(process.stdout.isTTY), fd: 1 });
  const pulled = options.pulled ? (await import('./serve-pulled.js')).openPulledFolder(options.pulled) : null;
  if (pulled)
    log.info(
      { dir: options.pulled, nodes: pulled.nodeIds, clips: pulled.clips, labelled: pulled.imported },
      `serving ${pulled.clips} pulled clips from ${pulled.nodeIds.join(', ')}`,
    );
  else checkDataDir(config.data_dir);
  const db = pulled ? pulled.db : openCheckedDatabase(databasePath(config), config.store.on_corrupt, log).db;
  // The model of the newest event: what the export manifest and /api/v1/node report.
  const latest = db.prepare('SELECT model_id AS id, model_sha256 AS sha256 FROM events ORDER BY onset_utc DESC LIMIT 1').get() as
    | { id: string; sha256: string }
    | undefined;
  const api = await startApiServer({
    db,
    dataDir: pulled ? pulled.dataDir : config.data_dir,
    config,
    log,
    model: latest ?? null,
    onLabelsChanged: pulled?.writeLabels,
  });
  if (!api) {
    db.close();
    throw new EarshotError(`api: cannot serve on ${config.api.host}:${config.api.port} (see the log line above)`, ExitCode.Environment);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  // systemd's stop budget: a close stuck behind a hung file read must not outlive it.
  setTimeout(() => {
    log.error({ component: 'api' }, 'close did not finish within 4.5 s: exiting now');
    process.exit(ExitCode.Unexpected);
  }, 4500).unref();
  await api.close();
  db.close();
  log.info('api stopped');
}

/** Registers `earshot serve`. */
export function registerServe(program: Command, action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>): void {
  program
    .command('serve')
    .description(
      "serve the HTTP API and the review page (events, clips, labelling queue, export) over a node's data dir or a pulled folder, without listening to audio",
    )
    .option('--config <file>', "the node's YAML config (data_dir, store.database, api.*)")
    .option('--pulled <dir>', 'serve a folder written by `earshot pull` (several nodes) instead of a data dir; labels go to its tracks and labels.tsv')
    .option('--host <address>', 'bind address (default: api.host)')
    .option('--port <port>', 'TCP port (default: api.port; 0 = any free port, logged)')
    .option('--pretty', 'human-readable logs')
    .addHelpText('after', '\nExample:\n  $ earshot serve --config /etc/earshot/earshot.yaml --port 8467\n')
    .action(action(serve));
}
