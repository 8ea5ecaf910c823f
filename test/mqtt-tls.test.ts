/**
 * mqtts:// against a Mosquitto TLS listener with certificates made by openssl in the test: with
 * the right CA (and a client certificate the broker requires) alerts are delivered; with another
 * CA the connection is refused with a clear error, and the alerts stay in the outbox.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hasStackTrace } from './helpers/cli.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { alertsOf, dedupe, SCENE_07, startDaemon, subscribe, writeConfig } from './helpers/mqtt-daemon.js';

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, a server certificate for 127.0.0.1/localhost signed by it, and a client certificate. */
function makePki(dir: string, name: string) {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-keyout',
    `${name}-ca.key`,
    '-out',
    `${name}-ca.crt`,
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    openssl(
      dir,
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${who === 'server' ? 'localhost' : 'earshot-client'}`,
      '-keyout',
      `${name}-${who}.key`,
      '-out',
      `${name}-${who}.csr`,
    );
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}-${who}.csr`,
      '-CA',
      `${name}-ca.crt`,
      '-CAkey',
      `${name}-ca.key`,
      '-CAcreateserial',
      '-days',
      '2',
      ...(who === 'server' ? ['-extfile', 'san.ext'] : []),
      '-out',
      `${name}-${who}.crt`,
    );
  }
  const f = (suffix: string) => join(dir, `${name}-${suffix}`);
  return { ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

t.test('mqtts with a CA, a client certificate, and a wrong CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-tls-'));
  const good = makePki(dir, 'good');
  const other = makePki(dir, 'other');
  const broker = await startMosquitto(undefined, { tls: { cafile: good.ca, certfile: good.serverCert, keyfile: good.serverKey, requireCertificate: true } });
  t.teardown(() => broker.stop());
  const tlsClient = { ca: readFileSync(good.ca), cert: readFileSync(good.clientCert), key: readFileSync(good.clientKey) };
  const sub = await subscribe(broker.url, 'tls-subscriber', ['earshot/tls-node/#'], tlsClient);
  t.teardown(() => sub.end());

  t.test('the right CA and client certificate: alerts delivered', async (t) => {
    const run = mkdtempSync(join(dir, 'good-'));
    const config = writeConfig(run, {
      scene: SCENE_07,
      pacing: 'fast',
      url: broker.url,
      nodeId: 'tls-node',
      mqtt: ['tls:', `  ca_file: ${good.ca}`, `  cert_file: ${good.clientCert}`, `  key_file: ${good.clientKey}`],
    });
    const result = await startDaemon(config).exited;
    t.equal(result.code, 0, `exits 0: ${result.stderr}`);
    const db = new Database(join(run, 'data', 'earshot.db'), { readonly: true });
    t.teardown(() => db.close());
    const ids = (db.prepare('SELECT id FROM events ORDER BY onset_utc, id').all() as { id: string }[]).map((r) => r.id);
    await sub.waitFor((m) => dedupe(alertsOf(m, 'tls-node').map((a) => a.id)).length >= ids.length, 10_000, 'the alerts').catch(() => {});
    t.ok(ids.length > 0, 'the scene has events');
    t.same(dedupe(alertsOf(sub.messages, 'tls-node').map((a) => a.id)), ids, 'every alert arrived over TLS');
  });

  t.test('another CA: refused with a clear error, alerts kept', async (t) => {
    const run = mkdtempSync(join(dir, 'wrong-'));
    const config = writeConfig(run, {
      scene: SCENE_07,
      pacing: 'fast',
      url: broker.url,
      nodeId: 'wrong-ca-node',
      mqtt: ['drain_timeout_seconds: 2', 'tls:', `  ca_file: ${other.ca}`, `  cert_file: ${good.clientCert}`, `  key_file: ${good.clientKey}`],
    });
    const result = await startDaemon(config).exited;
    t.equal(result.code, 3, 'exit code 3: the broker could not be reached');
    t.match(
      result.stdout,
      /TLS: the broker's certificate is not signed by a trusted CA \([A-Z_]+\); set mqtt\.tls\.ca_file to the CA that signed it/,
      'the log says why',
    );
    t.match(result.stderr, /messages were not acknowledged by the broker before exit; they stay in the outbox/, 'the exit message says the alerts are kept');
    t.notOk(hasStackTrace(result.stdout + result.stderr), 'no stack trace');
    const db = new Database(join(run, 'data', 'earshot.db'), { readonly: true });
    t.teardown(() => db.close());
    const unsent = db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE sent_utc IS NULL AND topic LIKE '%/alert/%'").get() as { n: number };
    const events = db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number };
    t.equal(unsent.n, events.n, 'every alert is still in the outbox for the next start');
  });

  t.test('a missing CA file is named', async (t) => {
    const run = mkdtempSync(join(dir, 'missing-'));
    const config = writeConfig(run, { scene: SCENE_07, pacing: 'fast', url: broker.url, mqtt: ['tls:', '  ca_file: /nonexistent/ca.pem'] });
    const result = await startDaemon(config).exited;
    t.equal(result.code, 2);
    t.match(result.stderr, /\/nonexistent\/ca\.pem: cannot read the MQTT CA file \(mqtt\.tls\.ca_file\): ENOENT/);
    t.notOk(hasStackTrace(result.stderr));
  });
});
