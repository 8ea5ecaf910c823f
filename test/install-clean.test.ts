/**
 * Install noise (issue 23 item 14): every package the lock file installs accepts the Node version
 * package.json's `engines` promises (so `npm ci` prints no EBADENGINE on Node 20), and nothing
 * runs at install that has nothing to do (patch-package without a patches folder said
 * "No patch files found").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import t from 'tap';
import { REPO } from './helpers/cli.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string }; scripts: Record<string, string>; files: string[] };
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean; optional?: boolean }>;
};

t.test('every locked package runs on the lowest Node earshot supports', async (t) => {
  const lowest = semver.minVersion(pkg.engines.node)!.version;
  t.equal(semver.major(lowest), 20, `engines.node ${pkg.engines.node}: from Node 20`);
  // The Node 20 a user has is a recent 20.x: check the oldest 20.x npm itself still runs on, and this one.
  for (const version of ['20.19.0', process.version.slice(1)]) {
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path)
      .map(([path, entry]) => ({ name: path.replace(/^.*node_modules\//, ''), range: Array.isArray(entry.engines) ? undefined : entry.engines?.node }))
      .filter(({ range }) => range && semver.validRange(range) && !semver.satisfies(version, range));
    t.same(refusing, [], `Node ${version}: no package wants another (${refusing.map((r) => `${r.name} ${r.range}`).join(', ')})`);
  }
});

t.test('no install step without work to do', async (t) => {
  const postinstall = pkg.scripts.postinstall ?? '';
  if (/patch-package/.test(postinstall)) t.ok(existsSync(join(REPO, 'patches')), 'patch-package runs only with a patches folder');
  else t.pass('no patch-package step');
  for (const entry of pkg.files) t.ok(existsSync(join(REPO, entry)), `"files" lists ${entry}, which exists`);
});
