/**
 * What the model commands' actions share once they run: the config from `--config` with the
 * command-line overrides, and a logger. Imported dynamically (it loads the config schema and
 * pino); the options themselves are declared in ./common-options.ts.
 */
import { resolve } from 'node:path';
import { defaultConfig, loadConfigFile } from '../config/load.js';
import type { EarshotConfig } from '../config/schema.js';
import { createLogger, type Logger } from '../log.js';
import type { CommonOptions } from './common-options.js';

/**
 * The config from `--config` (or defaults), with command-line overrides applied.
 * @throws EarshotError for a config file that cannot be read or is invalid (exit 2)
 */
export function configFrom(options: CommonOptions): EarshotConfig {
  const config = options.config ? loadConfigFile(options.config) : defaultConfig();
  if (options.model) config.model.path = resolve(options.model);
  if (options.manifest) config.model.manifest = options.manifest;
  if (options.backend) config.model.backend = options.backend;
  if (options.head) config.model.head = options.head === 'auto' || options.head === 'none' ? options.head : resolve(options.head);
  if (options.logLevel) config.log_level = options.logLevel as EarshotConfig['log_level'];
  return config;
}

/**
 * The logger for a command. Logs go to stderr (fd 2) for commands whose stdout is data.
 * @param quietByDefault log warnings and errors only unless --log-level says otherwise
 */
export function loggerFor(config: EarshotConfig, options: CommonOptions, fd: 1 | 2, quietByDefault: boolean): Logger {
  const level = options.logLevel ?? (quietByDefault ? 'warn' : config.log_level);
  return createLogger({ level, pretty: options.pretty ?? Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY), fd });
}
