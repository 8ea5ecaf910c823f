/**
 * The service commands: `earshot service install|uninstall` and `earshot doctor`
 * (src/service does the work; this file is the command line around it).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SERVICE } from '../service/paths.js';

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;

interface ServiceOptions {
  dryRun?: boolean;
  root?: string;
  config?: string;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

// The work is imported when a command runs: main.ts loads this file for `earshot --help`.
async function installCommand(options: ServiceOptions): Promise<void> {
  const { planInstall, runActions } = await import('../service/install.js');
  runActions(planInstall({ root: options.root, configFile: options.config }), Boolean(options.dryRun), print);
}

async function uninstallCommand(options: ServiceOptions): Promise<void> {
  const { planUninstall, runActions } = await import('../service/install.js');
  runActions(planUninstall({ root: options.root }), Boolean(options.dryRun), print);
}

async function doctorCommand(options: { config?: string; model?: string; logLevel?: string }): Promise<void> {
  const { defaultConfig, loadConfigFile } = await import('../config/load.js');
  const { createLogger } = await import('../log.js');
  const { doctorExitCode, formatChecks, runDoctor } = await import('../service/doctor.js');
  const log = createLogger({ level: options.logLevel ?? 'warn', pretty: true, fd: 2 });
  const load = () => {
    if (options.config) return { config: loadConfigFile(options.config), origin: `${options.config} is valid` };
    if (existsSync(SERVICE.configPath)) return { config: loadConfigFile(SERVICE.configPath), origin: `${SERVICE.configPath} is valid` };
    return { config: defaultConfig(), origin: `no --config and no ${SERVICE.configPath}: checking the defaults` };
  };
  const checks = await runDoctor(() => {
    const loaded = load();
    if (options.model) loaded.config.model.path = resolve(options.model);
    return loaded;
  }, log);
  process.stdout.write(formatChecks(checks));
  // 2: a bad input (config, model or audio file); 3: the environment (broker, disk, clock, device).
  const code = doctorExitCode(checks);
  if (code) process.exitCode = code;
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
    .addHelpText('after', '\nExamples:\n  $ sudo earshot service install --dry-run\n  $ sudo earshot service install --config my-node.yaml\n')
    .action(action(installCommand));
  service
    .command('uninstall')
    .description('stop, disable and remove the unit (config, data and user are kept)')
    .option('--dry-run', 'print every action without doing it')
    .option('--root <dir>', 'uninstall from under this directory')
    .addHelpText('after', '\nExample:\n  $ sudo earshot service uninstall\n')
    .action(action(uninstallCommand));
  program
    .command('doctor')
    .description('check config, model, audio source, data directory, broker and clock; say how to fix what is wrong')
    .option('--config <file>', `YAML config file (default: ${SERVICE.configPath} if present, else the defaults)`)
    .option('--model <file>', 'check this model file instead of model.path')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .addHelpText(
      'after',
      '\nExamples:\n  $ earshot doctor\n  $ earshot doctor --config /etc/earshot/earshot.yaml --model ../shared/models/yamnet/yamnet_waveform.tflite\n',
    )
    .action(action(doctorCommand));
}
