/**
 * `earshot service install` / `uninstall`: the steps that turn a node with earshot installed into
 * a sensor that starts at boot. Each step is an {@link Action} that can be listed (`--dry-run`)
 * or run. With `--root DIR` every path is under DIR (an SD-card image being prepared, or a test);
 * then no user is created and systemd is not asked to reload, only to enable (offline).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../config/load.js';
import { EarshotError, ExitCode } from '../errors.js';
import { SERVICE } from './paths.js';

// SERVICE lives in ./paths.ts (no imports), so the CLI can show its paths in `--help` cheaply.
export { SERVICE } from './paths.js';

/** One step. `run` is absent for a step that is only reported (skipped, or kept as it is). */
export interface Action {
  /** One line, e.g. `write /etc/earshot/earshot.yaml (mode 0640, owner root:earshot)`. */
  readonly description: string;
  readonly run?: () => void;
}

export interface InstallOptions {
  /** Install under this directory instead of `/`. */
  root?: string;
  /** A config file to install instead of the default one (validated first). */
  configFile?: string;
}

interface Ids {
  uid: number;
  gid: number;
}

/** The unit file shipped in the package (`systemd/earshot.service`). */
export function shippedUnitPath(): string {
  return fileURLToPath(new URL('../../systemd/earshot.service', import.meta.url));
}

/** The `ExecStart=` for this installation: this node binary and this package's CLI. */
export function execStartLine(): string {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  return `ExecStart=${process.execPath} ${cli} run --config ${SERVICE.configPath}`;
}

/** The unit text with `ExecStart=` pointing at this installation. */
export function unitText(): string {
  return readFileSync(shippedUnitPath(), 'utf8').replace(/^ExecStart=.*$/m, execStartLine());
}

/** The default `/etc/earshot/earshot.yaml`: valid as it is, but the source must be set before the service can start. */
export const DEFAULT_SERVICE_CONFIG = `# earshot service configuration. Reference: docs/configuration.md; service: docs/service.md.
# After editing: \`systemctl reload earshot\` applies thresholds and log_level live;
# other keys need \`systemctl restart earshot\`. Check with \`earshot doctor --config ${SERVICE.configPath}\`.

# node_id: garage-pi          # default: the host name
data_dir: ${SERVICE.stateDir}
model_dir: ${SERVICE.modelDir}   # fill with: sudo -u earshot earshot model pull yamnet --model-dir ${SERVICE.modelDir}
log_level: info

source:
  # Set the audio source before starting the service (see docs/configuration.md), e.g.
  # path: /srv/audio/scene.wav
  pacing: realtime

# mqtt:
#   url: mqtt://broker.lan:1883
#   username: earshot
#   password_file: /run/credentials/earshot.service/mqtt_password   # from ${SERVICE.credstore}/mqtt_password
`;

/** `uid`/`gid` of `name` in a passwd/group file pair, or null. */
function idsFromFiles(passwdPath: string, groupPath: string, name: string): Ids | null {
  const find = (path: string, index: number) => {
    if (!existsSync(path)) return undefined;
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[0] === name);
    return line === undefined ? undefined : Number(line.split(':')[index]);
  };
  const uid = find(passwdPath, 2);
  const gid = find(groupPath, 2) ?? (uid === undefined ? undefined : find(passwdPath, 3));
  return uid === undefined || gid === undefined ? null : { uid, gid };
}

/** `uid`/`gid` of `name` on this host (getent: also LDAP/sssd users), or null. */
function hostIds(name: string): Ids | null {
  const run = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (run.status !== 0) return null;
  const fields = run.stdout.trim().split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function runCommand(argv: string[]): void {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error)
    throw new EarshotError(
      `${argv.join(' ')}: ${(result.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${argv[0]} not found` : result.error.message}`,
      ExitCode.Environment,
    );
  if (result.status !== 0)
    throw new EarshotError(`${argv.join(' ')}: exit ${result.status}: ${(result.stderr || result.stdout).trim().split('\n').at(-1)}`, ExitCode.Environment);
}

const mode = (m: number) => `0${m.toString(8)}`;

/**
 * The install steps, in order.
 * @throws EarshotError when `--config FILE` is not a valid config
 */
export function planInstall(options: InstallOptions): Action[] {
  const root = options.root ? resolve(options.root) : '/';
  const at = (path: string) => join(root, path);
  const actions: Action[] = [];
  const user = SERVICE.user;
  let ids: () => Ids | null;
  if (options.root) {
    const found = idsFromFiles(at('/etc/passwd'), at('/etc/group'), user);
    ids = () => found;
    actions.push({
      description: found
        ? `user ${user}: found in ${at('/etc/passwd')} (uid ${found.uid}, gid ${found.gid}); not creating it (--root)`
        : `user ${user}: not created (--root: create it inside the image, e.g. useradd --root ${root} --system --user-group --home-dir ${SERVICE.stateDir} --shell /usr/sbin/nologin ${user}); files stay owned by root until then`,
    });
  } else if (hostIds(user)) {
    ids = () => hostIds(user);
    actions.push({ description: `user ${user}: exists` });
  } else {
    ids = () => hostIds(user);
    const argv = [
      'useradd',
      '--system',
      '--user-group',
      '--home-dir',
      SERVICE.stateDir,
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      '--comment',
      'earshot sound sensor',
      user,
    ];
    actions.push({ description: `create system user: ${argv.join(' ')}`, run: () => runCommand(argv) });
  }
  const owned = (path: string, m: number, owner: 'root' | 'service' | 'root-group') => {
    const id = ids();
    if (owner === 'root' || !id) chownSync(path, 0, 0);
    else chownSync(path, owner === 'service' ? id.uid : 0, id.gid);
    chmodSync(path, m);
  };
  // Under --root without the user in the image's passwd, files stay root's: say so rather than promise an owner.
  const noUser = Boolean(options.root) && !ids();
  const ownerText = (owner: 'root' | 'service' | 'root-group') =>
    owner === 'root' || noUser ? 'root:root' : owner === 'service' ? `${user}:${user}` : `root:${user}`;
  const directory = (path: string, m: number, owner: 'root' | 'service' | 'root-group') =>
    actions.push({
      description: `${existsSync(at(path)) ? 'directory exists, set' : 'create directory'} ${at(path)} (mode ${mode(m)}, owner ${ownerText(owner)})`,
      run: () => {
        mkdirSync(at(path), { recursive: true });
        owned(at(path), m, owner);
      },
    });

  directory(SERVICE.configDir, 0o750, 'root-group');
  const configTarget = at(SERVICE.configPath);
  if (existsSync(configTarget)) {
    actions.push({ description: `keep the existing ${configTarget} (never overwritten)` });
  } else {
    let text = DEFAULT_SERVICE_CONFIG;
    let from = 'the default config';
    if (options.configFile) {
      loadConfigFile(options.configFile);
      text = readFileSync(options.configFile, 'utf8');
      from = resolve(options.configFile);
    }
    actions.push({
      description: `write ${configTarget} from ${from} (mode 0640, owner ${ownerText('root-group')})`,
      run: () => {
        writeFileSync(configTarget, text, { flag: 'wx' });
        owned(configTarget, 0o640, 'root-group');
      },
    });
  }
  directory(SERVICE.stateDir, 0o750, 'service');
  directory(SERVICE.modelDir, 0o750, 'service');
  if (!existsSync(at(SERVICE.credstore))) directory(SERVICE.credstore, 0o700, 'root');
  const unit = unitText();
  const unitTarget = at(SERVICE.unitPath);
  actions.push({
    description: `${existsSync(unitTarget) ? 'replace' : 'write'} ${unitTarget} (mode 0644, owner root:root) with ${execStartLine()}`,
    run: () => {
      mkdirSync(at('/etc/systemd/system'), { recursive: true });
      writeFileSync(unitTarget, unit);
      owned(unitTarget, 0o644, 'root');
    },
  });
  const hidden = [process.execPath, execStartLine()].some((p) => /(^|\s)\/(home|root)\//.test(p));
  if (hidden)
    actions.push({
      description: `warning: earshot or node lives under /home or /root, which ProtectHome=yes hides from the service: install earshot globally (npm install -g) or under /opt first`,
    });
  if (options.root) {
    actions.push({ description: `systemctl daemon-reload: skipped (--root)` });
    const argv = ['systemctl', `--root=${root}`, 'enable', SERVICE.unitName];
    actions.push({ description: `enable at boot: ${argv.join(' ')}`, run: () => runCommand(argv) });
  } else {
    actions.push({ description: 'systemctl daemon-reload', run: () => runCommand(['systemctl', 'daemon-reload']) });
    actions.push({ description: `enable at boot: systemctl enable ${SERVICE.unitName}`, run: () => runCommand(['systemctl', 'enable', SERVICE.unitName]) });
  }
  actions.push({
    description: `next: set source in ${configTarget}, pull a model (sudo -u ${user} earshot model pull yamnet --model-dir ${SERVICE.modelDir}), check with earshot doctor --config ${SERVICE.configPath}, then systemctl start earshot`,
  });
  return actions;
}

/** The uninstall steps: stop, disable and remove the unit; config, data and user are kept (and named). */
export function planUninstall(options: Pick<InstallOptions, 'root'>): Action[] {
  const root = options.root ? resolve(options.root) : '/';
  const at = (path: string) => join(root, path);
  const actions: Action[] = [];
  const unitTarget = at(SERVICE.unitPath);
  if (options.root) {
    const argv = ['systemctl', `--root=${root}`, 'disable', SERVICE.unitName];
    if (existsSync(unitTarget)) actions.push({ description: `disable: ${argv.join(' ')}`, run: () => runCommand(argv) });
  } else {
    const argv = ['systemctl', 'disable', '--now', SERVICE.unitName];
    if (existsSync(unitTarget)) actions.push({ description: `stop and disable: ${argv.join(' ')}`, run: () => runCommand(argv) });
  }
  actions.push(
    existsSync(unitTarget) ? { description: `remove ${unitTarget}`, run: () => rmSync(unitTarget) } : { description: `${unitTarget}: not installed` },
  );
  if (!options.root) actions.push({ description: 'systemctl daemon-reload', run: () => runCommand(['systemctl', 'daemon-reload']) });
  actions.push({
    description: `kept: ${at(SERVICE.configDir)} (config), ${at(SERVICE.stateDir)} (events database, models), ${at(SERVICE.credstore)} and user ${SERVICE.user}; remove them by hand if wanted (rm -r ${at(SERVICE.configDir)} ${at(SERVICE.stateDir)}; userdel ${SERVICE.user})`,
  });
  return actions;
}

/**
 * Lists (`dryRun`) or runs the actions, one line each: `would: ...` / `done: ...` / `note: ...`.
 * @throws EarshotError (exit 3) naming the step that failed; earlier steps stay done
 */
export function runActions(actions: readonly Action[], dryRun: boolean, write: (line: string) => void): void {
  if (!dryRun && process.getuid?.() !== 0)
    throw new EarshotError('service: run as root (sudo earshot service ...), or look first with --dry-run', ExitCode.Environment);
  for (const action of actions) {
    if (!action.run) {
      write(`note:  ${action.description}`);
    } else if (dryRun) {
      write(`would: ${action.description}`);
    } else {
      try {
        action.run();
      } catch (error) {
        if (error instanceof EarshotError) throw error;
        throw new EarshotError(`service: ${action.description}: ${(error as Error).message}`, ExitCode.Environment);
      }
      write(`done:  ${action.description}`);
    }
  }
}
