/**
 * The service commands: `earshot service install|uninstall` and `earshot doctor`
 * (src/service does the work; this file is the command line around it).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultConfig, loadConfigFile } from '../config.js';
import { createLogger } from '../log.js';
import { formatChecks, runDoctor } from '../service/doctor.js';
import { planInstall, planUninstall, runActions, SERVICE } from '../service/install.js';

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;

interface ServiceOptions {
  dryRun?: boolean;
  root?: string;
  config?: string;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

async function installCommand(options: ServiceOptions): Promise<void> {
  runActions(planInstall({ root: options.root, configFile: options.config }), Boolean(options.dryRun), print);
}

async function uninstallCommand(options: ServiceOptions): Promise<void> {
  runActions(planUninstall({ root: options.root }), Boolean(options.dryRun), print);
}

async function doctorCommand(options: { config?: string; logLevel?: string }): Promise<void> {
  const log = createLogger({ level: options.logLevel ?? 'warn', pretty: true, fd: 2 });
  const checks = await runDoctor(() => {
    if (options.config) return { config: loadConfigFile(options.config), origin: `${options.config} is valid` };
    if (existsSync(SERVICE.configPath)) return { config: loadConfigFile(SERVICE.configPath), origin: `${SERVICE.configPath} is valid` };
    return { config: defaultConfig(), origin: `no --config and no ${SERVICE.configPath}: checking the defaults` };
  }, log);
  process.stdout.write(formatChecks(checks));
  // 3: the environment needs fixing (the CLI's code for a broker, disk or device problem).
  if (checks.some((c) => c.status === 'fail')) process.exitCode = 3;
}

/** Adds `service install`, `service uninstall` and `doctor` to the program. */
export function registerServiceCommands(program: Command, action: Action): void {
  const service = program.command('service').description('install earshot as a systemd service (docs/service.md)');
  service
    .command('install')
    .description('create the user and directories, install the unit and a default /etc/earshot/earshot.yaml (never overwritten), enable it')
    .option('--dry-run', 'print every action without doing it')
    .option('--root <dir>', 'install under this directory (an image being prepared); no user is created')
    .option('--config <file>', 'install this config instead of the default one (validated first)')
    .action(action(installCommand));
  service
    .command('uninstall')
    .description('stop, disable and remove the unit (config, data and user are kept)')
    .option('--dry-run', 'print every action without doing it')
    .option('--root <dir>', 'uninstall from under this directory')
    .action(action(uninstallCommand));
  program
    .command('doctor')
    .description('check config, model, audio source, data directory, broker and clock; say how to fix what is wrong')
    .option('--config <file>', `YAML config file (default: ${SERVICE.configPath} if present, else the defaults)`)
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(action(doctorCommand));
}
