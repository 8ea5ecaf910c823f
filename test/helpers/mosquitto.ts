/** A real Mosquitto broker on a free loopback port, started, stopped and restarted by a test. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Broker options. */
export interface MosquittoOptions {
  /** Keep sessions and queued messages across restarts (in a file in the broker's folder). */
  persistence?: boolean;
  /** Require these users (name → password) instead of allowing anonymous clients. */
  users?: Record<string, string>;
  /** A TLS listener instead of plain TCP: PEM files. */
  tls?: { cafile: string; certfile: string; keyfile: string; requireCertificate?: boolean };
}

export interface Broker {
  port: number;
  url: string;
  /** The current process (replaced by {@link restart}). */
  process: ChildProcess;
  /** Everything the broker wrote to stderr, over all its runs. */
  log(): string;
  /** Stops it cleanly (SIGTERM: with persistence, sessions are saved). */
  stop(): Promise<void>;
  /** Kills it (SIGKILL: only what was autosaved survives). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same configuration. */
  restart(): Promise<void>;
}

/** Starts Mosquitto (anonymous) on a free port, or on `port`. */
export async function startMosquitto(port?: number, options: MosquittoOptions = {}): Promise<Broker> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'earshot-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  // Run as ourselves: as root, Mosquitto would switch to its own user, which cannot read the
  // test's private temporary folders (persistence, certificates).
  const lines = [
    `listener ${chosen} 127.0.0.1`,
    `user ${userInfo().username}`,
    'allow_anonymous true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
  ];
  if (options.users) {
    const passwords = join(dir, 'passwords');
    writeFileSync(passwords, '');
    for (const [user, password] of Object.entries(options.users)) execFileSync('mosquitto_passwd', ['-b', passwords, user, password]);
    lines.splice(lines.indexOf('allow_anonymous true'), 1, 'allow_anonymous false');
    lines.push(`password_file ${passwords}`);
  }
  if (options.persistence) {
    // Save on every change: a SIGKILL then loses nothing the broker had acknowledged.
    lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_interval 1', 'autosave_on_changes true', 'max_queued_messages 100000');
  } else {
    lines.push('persistence false');
  }
  if (options.tls) {
    lines.push(`cafile ${options.tls.cafile}`, `certfile ${options.tls.certfile}`, `keyfile ${options.tls.keyfile}`);
    if (options.tls.requireCertificate) lines.push('require_certificate true');
  }
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let stderr = '';
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => (stderr += d));
    await waitForPort(chosen, 10_000).catch((error) => {
      child.kill('SIGKILL');
      throw new Error(`${error.message}\n${stderr}`);
    });
    return child;
  };
  const end = (child: ChildProcess, signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  const broker: Broker = {
    port: chosen,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${chosen}`,
    process: await launch(),
    log: () => stderr,
    stop: () => end(broker.process, 'SIGTERM'),
    kill: () => end(broker.process, 'SIGKILL'),
    restart: async () => {
      await end(broker.process, 'SIGTERM');
      broker.process = await launch();
    },
  };
  return broker;
}
