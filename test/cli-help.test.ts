/**
 * The command line's own words (issue 23 items 8 and 11): every command's `--help` ends with an
 * example; `run --help` says --config is required (not "built-in defaults"); `model pull --help`
 * lists only what a download uses; `model bench` does not claim real audio it does not use;
 * `doctor` has the `--model` its advice names; `devices` without `arecord` still lists serial
 * ports and names the package that brings arecord.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { CLI, earshot, REPO } from './helpers/cli.js';

const COMMANDS = [
  'analyze',
  'run',
  'eval',
  'tune',
  'devices',
  'simulate-serial',
  'pull',
  'labels import',
  'serve',
  'service install',
  'service uninstall',
  'doctor',
  'model pull',
  'model info',
  'model bench',
];

t.test("every command's --help has an example", async (t) => {
  for (const command of COMMANDS) {
    const r = await earshot([...command.split(' '), '--help']);
    t.equal(r.code, 0, `${command} --help: exit 0`);
    t.match(r.stdout, new RegExp(`\\nExamples?( \\([^\\n]*\\))?:\\n  \\$ (sudo )?earshot ${command}[ \\n]`), `${command} --help shows an example`);
  }
});

t.test('what the help says is true', async (t) => {
  const run = await earshot(['run', '--help']);
  t.notMatch(run.stdout, /built-in defaults/, 'run: no "default: built-in defaults" for a required --config');
  t.match(run.stdout, /--config <file> +YAML config file \(required/);
  const pull = await earshot(['model', 'pull', '--help']);
  for (const option of ['--model-dir', '--base-url', '--config']) t.match(pull.stdout, option, `model pull has ${option}`);
  for (const option of ['--backend', '--manifest', '--model <', '--pretty', '--log-level'])
    t.notMatch(pull.stdout, option, `model pull does not list ${option} (it does nothing for a download)`);
  const bench = await earshot(['model', 'bench', '--help']);
  t.notMatch(bench.stdout, /on real audio/, 'model bench does not claim real audio');
  t.match(bench.stdout, /synthetic test signal/, 'it says what it uses without --clip');
  const doctor = await earshot(['doctor', '--help']);
  t.match(doctor.stdout, /--model <file>/, 'doctor has --model (its advice "pass --model FILE" names it)');
});

t.test('devices without arecord: serial ports still listed, and which package brings arecord', async (t) => {
  const r = spawnSync(process.execPath, [CLI, 'devices'], { cwd: REPO, env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /arecord not found: install the package alsa-utils \(apt-get install alsa-utils\)/);
  t.match(r.stdout, /^Serial ports \(source\.type: serial/m, 'the serial ports section is there');
  const json = spawnSync(process.execPath, [CLI, 'devices', '--json'], { cwd: REPO, env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' });
  t.match(JSON.parse(json.stdout), { alsa: { problem: /alsa-utils/ }, serial: [] });
});
