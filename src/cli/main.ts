#!/usr/bin/env node
/**
 * The `earshot` command line. Every failure the user can fix prints one clear line (naming the
 * file or key) and exits non-zero: 2 for bad input, 3 for the environment; a bug prints its stack
 * and exits 1.
 *
 * Start-up: this file imports commander and the command files only, so `earshot --help` and
 * `earshot --version` load no model runtime, database, HTTP or MQTT code. Each command lives in
 * its own file with a `register*(program, action)` function; its action imports the heavy modules
 * with `await import(...)` when it runs (./analyze.ts is the example to copy). A new command:
 * add such a file and one `register*` line below.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { action } from './action.js';
import { registerAnalyze } from './analyze.js';
import { registerDevices } from './devices.js';
import { registerEval } from './eval.js';
import { registerHead } from './head.js';
import { registerLabels } from './labels.js';
import { registerModel } from './model.js';
import { registerPull } from './pull.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerServiceCommands } from './service.js';
import { registerSimulateSerial } from './simulate-serial.js';
import { registerTrain } from './train.js';
import { registerTune } from './tune.js';
import { ExitCode } from '../errors.js';

/** earshot's version, from package.json (dist/cli/main.js → ../../package.json). */
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = new Command('earshot')
  .description('A security sound sensor: hears gunshots, explosions, glass breaking and screams')
  .version(version, '-V, --version', 'print the version and exit')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith('error:') ? `earshot: ${text}` : text) });

registerAnalyze(program, action);
registerRun(program, action);
registerEval(program, action);
registerDevices(program, action);
registerSimulateSerial(program, action);
registerPull(program, action);
registerLabels(program, action);
registerServe(program, action);
registerServiceCommands(program, action);
registerTune(program, action);
registerTrain(program, action);
registerHead(program, action);
registerModel(program, action);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === ExitCode.Ok ? ExitCode.Ok : ExitCode.BadInput;
  } else {
    throw error;
  }
}
