/**
 * `earshot service install|uninstall`: the dry run lists every action and changes nothing; an
 * install into a temporary root writes the unit and the config with the right modes and owners,
 * never overwrites an existing config, and enables the unit; uninstall removes the unit and keeps
 * config and data.
 */
import t from 'tap';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { earshot, hasStackTrace } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const mode = (path: string) => `0${(statSync(path).mode & 0o777).toString(8)}`;

t.test('--dry-run lists the actions and changes nothing', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earshot-install-dry-'));
  const result = await earshot(['service', 'install', '--dry-run', '--root', root]);
  t.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  t.comment(result.stdout);
  t.match(lines[0], /^note: +user earshot: not created \(--root: create it inside the image/, 'with --root no user is created, and it says so');
  for (const expected of [
    new RegExp(`^would: create directory ${root}/etc/earshot \\(mode 0750`),
    new RegExp(`^would: write ${root}/etc/earshot/earshot.yaml from the default config \\(mode 0640`),
    new RegExp(`^would: create directory ${root}/var/lib/earshot \\(mode 0750`),
    new RegExp(
      `^would: write ${root}/etc/systemd/system/earshot.service \\(mode 0644, owner root:root\\) with ExecStart=\\S+node\\S* \\S+/dist/cli/main.js run --config /etc/earshot/earshot.yaml`,
    ),
    /^note: +systemctl daemon-reload: skipped \(--root\)/,
    new RegExp(`^would: enable at boot: systemctl --root=${root} enable earshot.service`),
  ]) {
    t.ok(
      lines.some((l) => expected.test(l)),
      `lists ${expected.source}`,
    );
  }
  t.notOk(existsSync(join(root, 'etc')), 'nothing was written');

  const host = await earshot(['service', 'install', '--dry-run']);
  t.equal(host.code, 0, host.stderr);
  t.match(
    host.stdout,
    /^(would: create system user: useradd --system --user-group --home-dir \/var\/lib\/earshot .*earshot|note: +user earshot: exists)$/m,
    'without --root: the user is created (or found)',
  );
  t.match(host.stdout, /^would: systemctl daemon-reload$/m, 'daemon-reload');
  t.match(host.stdout, /^would: enable at boot: systemctl enable earshot.service$/m, 'enable');
});

t.test('install into a temporary root: unit and config with modes and owners; config never overwritten', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earshot-install-'));
  // The image's own user database: install takes the ids from it.
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nearshot:x:64123:64123:earshot:/var/lib/earshot:/usr/sbin/nologin\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\naudio:x:29:earshot\nearshot:x:64123:\n');
  const result = await earshot(['service', 'install', '--root', root]);
  if (!isRoot) {
    t.equal(result.code, 3, 'a real install needs root');
    return;
  }
  t.equal(result.code, 0, result.stderr);
  t.comment(result.stdout);
  t.match(result.stdout, /^note: +user earshot: found in .*\/etc\/passwd \(uid 64123, gid 64123\)/m);

  const unit = join(root, 'etc/systemd/system/earshot.service');
  const config = join(root, 'etc/earshot/earshot.yaml');
  t.equal(mode(unit), '0644', 'unit 0644');
  t.same([statSync(unit).uid, statSync(unit).gid], [0, 0], 'unit owned by root:root');
  t.match(
    readFileSync(unit, 'utf8'),
    /^ExecStart=\S+ \S+\/dist\/cli\/main\.js run --config \/etc\/earshot\/earshot\.yaml$/m,
    'ExecStart points at this installation',
  );
  t.match(readFileSync(unit, 'utf8'), /^WatchdogSec=30$/m, 'the shipped unit');
  t.equal(mode(config), '0640', 'config 0640');
  t.same([statSync(config).uid, statSync(config).gid], [0, 64123], 'config owned by root:earshot (readable by the service, not writable)');
  t.equal(mode(join(root, 'etc/earshot')), '0750', '/etc/earshot 0750');
  t.equal(mode(join(root, 'var/lib/earshot')), '0750', '/var/lib/earshot 0750');
  t.same(
    [statSync(join(root, 'var/lib/earshot')).uid, statSync(join(root, 'var/lib/earshot')).gid],
    [64123, 64123],
    '/var/lib/earshot owned by earshot:earshot',
  );
  t.ok(lstatSync(join(root, 'etc/systemd/system/multi-user.target.wants/earshot.service')).isSymbolicLink(), 'enabled (multi-user.target.wants link)');

  // The default config is valid as written: earshot doctor reads it.
  const check = await earshot(['doctor', '--config', config]);
  t.comment(check.stdout);
  t.match(check.stdout, /^OK +config/m, 'the installed default config is valid');
  t.match(check.stdout, /^FAIL +source +source\.path: required/m, 'and doctor says the source is still to be set');

  writeFileSync(config, 'node_id: edited\n');
  const again = await earshot(['service', 'install', '--root', root]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, new RegExp(`^note: +keep the existing ${config} \\(never overwritten\\)$`, 'm'));
  t.equal(readFileSync(config, 'utf8'), 'node_id: edited\n', 'an existing config is never overwritten');

  const removed = await earshot(['service', 'uninstall', '--root', root]);
  t.equal(removed.code, 0, removed.stderr);
  t.notOk(existsSync(unit), 'uninstall removes the unit');
  t.notOk(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/earshot.service')), 'and the enable link');
  t.ok(existsSync(config) && existsSync(join(root, 'var/lib/earshot')), 'config and data are kept');
  t.match(removed.stdout, /^note: +kept: /m, 'and it says what it kept');
});

t.test('--config FILE: installed when valid, refused with the reason when not', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earshot-install-cfg-'));
  const bad = join(root, 'bad.yaml');
  writeFileSync(bad, 'detection:\n  vote_k: 0\n');
  const refused = await earshot(['service', 'install', '--root', root, '--config', bad]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /bad\.yaml: detection\.vote_k: must be >= 1/);
  t.notOk(hasStackTrace(refused.stderr), 'no stack trace');
  t.notOk(existsSync(join(root, 'etc')), 'nothing installed');
  if (!isRoot) return;
  const good = join(root, 'good.yaml');
  writeFileSync(good, 'node_id: garage-pi\ndata_dir: /var/lib/earshot\n');
  const installed = await earshot(['service', 'install', '--root', root, '--config', good]);
  t.equal(installed.code, 0, installed.stderr);
  t.equal(readFileSync(join(root, 'etc/earshot/earshot.yaml'), 'utf8'), 'node_id: garage-pi\ndata_dir: /var/lib/earshot\n', 'the given config is installed');
  t.match(installed.stdout, /owner root:root/, 'no earshot user in this root: files stay root-owned, and the output says so');
});
