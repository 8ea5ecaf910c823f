/**
 * systemd/earshot.service: `systemd-analyze verify` passes on the unit as `earshot service
 * install` writes it, and `systemd-analyze security --offline=true` rates its exposure at most
 * 3.0. Skipped where systemd-analyze is missing (.ci/run installs it).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO } from './helpers/cli.js';

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = analyze.error ? 'systemd-analyze is not installed' : false;

function installedUnit(): string {
  const text = readFileSync(join(REPO, 'systemd/earshot.service'), 'utf8').replace(
    /^ExecStart=.*$/m,
    `ExecStart=${process.execPath} ${CLI} run --config /etc/earshot/earshot.yaml`,
  );
  const path = join(mkdtempSync(join(tmpdir(), 'earshot-unit-')), 'earshot.service');
  writeFileSync(path, text);
  return path;
}

t.test('systemd-analyze verify passes', { skip }, async (t) => {
  const run = spawnSync('systemd-analyze', ['verify', installedUnit()], { encoding: 'utf8' });
  t.equal(run.status, 0, `verify: ${run.stderr}${run.stdout}`);
  t.equal(run.stderr.trim(), '', 'no warnings');
});

t.test('systemd-analyze security: exposure at most 3.0', { skip }, async (t) => {
  const run = spawnSync('systemd-analyze', ['security', '--offline=true', installedUnit()], { encoding: 'utf8' });
  const match = /Overall exposure level for earshot\.service: (\d+\.\d)/.exec(run.stdout);
  if (!match) {
    t.skip(`systemd-analyze security cannot run here: ${run.stderr.trim().split('\n').at(-1)}`, () => {});
    return;
  }
  const score = Number(match[1]);
  t.comment(`exposure level: ${score}`);
  t.ok(score <= 3.0, `exposure ${score} <= 3.0`);
  t.notMatch(
    run.stdout,
    /✗ (NoNewPrivileges|ProtectSystem|ProtectHome|PrivateTmp|DevicePolicy|RestrictAddressFamilies=~AF_PACKET|CapabilityBoundingSet)/u,
    'the hardening the issue asks for is all in place',
  );
});

t.test('the unit has what the service needs', async (t) => {
  const unit = readFileSync(join(REPO, 'systemd/earshot.service'), 'utf8');
  for (const line of [
    'Type=notify',
    'WatchdogSec=30',
    'Restart=on-failure',
    'User=earshot',
    'SupplementaryGroups=audio dialout',
    'StateDirectory=earshot',
    'ConfigurationDirectory=earshot',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'DevicePolicy=closed',
    'DeviceAllow=char-alsa rw',
    'DeviceAllow=char-ttyUSB rw',
    'DeviceAllow=char-ttyACM rw',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'LoadCredential=mqtt_password',
    'LoadCredential=api_token',
    'ExecReload=/bin/kill -HUP $MAINPID',
  ]) {
    t.ok(unit.split('\n').includes(line), line);
  }
  t.match(unit, /^MemoryMax=\d+M$/m, 'MemoryMax=');
  t.match(unit, /^StartLimitBurst=\d+$/m, 'a start limit');
});
