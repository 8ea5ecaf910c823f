/**
 * The outbox table on a real SQLite file: order, the bound (oldest non-hostile dropped first,
 * each drop counted), retained-state lookup, pruning; the reconnect backoff; the new config keys.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { openDatabase, SCHEMA_VERSION } from '../src/store/database.js';
import { Outbox, type DroppedRow, type OutboxMessage } from '../src/store/outbox.js';
import { Backoff } from '../src/transport/connection.js';

const message = (n: number, group: OutboxMessage['group'], extra: Partial<OutboxMessage> = {}): OutboxMessage => ({
  topic: `earshot/n/alert/${group ?? 'none'}`,
  payload: JSON.stringify({ n }),
  qos: 1,
  retain: false,
  eventId: `E${n}`,
  group,
  ...extra,
});

t.test('rows come back in order and survive reopening the database', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'earshot-outbox-')), 'earshot.db');
  let db = openDatabase(path);
  t.ok(SCHEMA_VERSION >= 2, 'the outbox migration is applied');
  let outbox = new Outbox(db, 1000);
  outbox.add([message(1, 'hostile'), message(2, 'non_hostile'), message(3, 'hostile')]);
  t.equal(outbox.depth(), 3);
  const [first] = outbox.nextUnsent(0, 1);
  t.ok(outbox.markSent(first.seq), 'marked sent');
  t.notOk(outbox.markSent(first.seq), 'only once');
  db.close();

  db = openDatabase(path);
  t.teardown(() => db.close());
  outbox = new Outbox(db, 1000);
  t.same(
    outbox.nextUnsent(0, 10).map((r) => r.eventId),
    ['E2', 'E3'],
    'unsent rows after a reopen, oldest first',
  );
  outbox.inFlight.add(outbox.nextUnsent(0, 1)[0].seq);
  t.same(
    outbox.nextUnsent(0, 10).map((r) => r.eventId),
    ['E3'],
    'rows in flight are skipped',
  );
});

t.test('the bound drops the oldest non-hostile rows first, then hostile, never in-flight ones', async (t) => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'earshot-outbox-')), 'earshot.db'));
  t.teardown(() => db.close());
  const drops: DroppedRow[] = [];
  const outbox = new Outbox(db, 10, (row) => drops.push(row));
  for (let n = 1; n <= 10; n++) outbox.add([message(n, n % 2 === 0 ? 'non_hostile' : 'hostile')]);
  outbox.inFlight.add(outbox.nextUnsent(0, 2)[1].seq); // E2 (non-hostile) is in flight
  outbox.add([message(11, 'hostile'), message(12, 'hostile'), message(13, null)]);
  t.same(
    drops.map((d) => d.eventId),
    ['E4', 'E6', 'E8'],
    'the oldest non-hostile rows that are not in flight',
  );
  t.equal(outbox.dropped, 3, 'each drop counted');
  t.equal(outbox.depth(), 10);
  for (let n = 14; n <= 17; n++) outbox.add([message(n, 'hostile')]);
  t.same(
    drops.slice(3).map((d) => d.eventId),
    ['E10', 'E13', 'E1', 'E3'],
    'then group-less, then the oldest hostile',
  );
  t.equal(outbox.depth(), 10, 'bounded');
  t.equal(outbox.peakDepth, 10, 'the peak depth is kept (after the bound)');
});

t.test('retained states and pruning', async (t) => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'earshot-outbox-')), 'earshot.db'));
  t.teardown(() => db.close());
  const outbox = new Outbox(db, 1000);
  const state = (payload: string, n: number) => message(n, 'hostile', { topic: 'earshot/n/event/gunshot', payload, retain: true });
  outbox.add([state('ON', 1), state('OFF', 1), state('ON', 2), message(3, 'hostile')]);
  t.same(
    [...outbox.retainedStates()].map(([topic, s]) => [topic, s.payload]),
    [['earshot/n/event/gunshot', 'ON']],
    'the latest retained payload per topic',
  );
  for (const row of outbox.nextUnsent(0, 10)) outbox.markSent(row.seq, new Date(Date.now() - 2 * 86400_000));
  t.equal(outbox.pruneSent(), 3, 'old sent rows are deleted ...');
  t.same(
    [...outbox.retainedStates()].map(([, s]) => s.payload),
    ['ON'],
    '... but the latest state of each topic is kept',
  );
});

t.test('backoff: capped, exponential, jittered', async (t) => {
  const high = new Backoff(1000, 30_000, () => 1);
  t.same(
    [1, 2, 3, 4, 5, 6, 7].map(() => high.next()),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    'ceilings double up to the cap',
  );
  high.reset();
  t.equal(high.next(), 1000, 'reset after a connect');
  const low = new Backoff(1000, 30_000, () => 0);
  t.same(
    [1, 2, 3].map(() => low.next()),
    [1000, 1000, 1000],
    'full jitter reaches down to the base',
  );
  const random = new Backoff(500, 8000);
  for (let i = 0; i < 50; i++) {
    const d = random.next();
    t.ok(d >= 500 && d <= 8000, `within [base, cap]: ${d}`, { diagnostic: false });
  }
});

t.test('mqtt config keys: defaults and errors', async (t) => {
  const config = parseConfig({ mqtt: { url: 'mqtts://b:8883', tls: { ca_file: 'ca.pem' } } }, 'e.yaml', '/etc/earshot');
  t.equal(config.mqtt.tls.ca_file, '/etc/earshot/ca.pem', 'TLS paths resolve against the config folder');
  t.equal(config.mqtt.tls.reject_unauthorized, true, 'certificates are verified by default');
  t.equal(config.mqtt.level_interval_seconds, 0, 'level off by default');
  t.same(config.mqtt.discovery, { enabled: true, prefix: 'homeassistant' }, 'discovery on by default');
  t.throws(() => parseConfig({ mqtt: { tls: { cert_file: 'c.pem' } } }, 'e.yaml', '/'), {
    message: /e\.yaml: mqtt\.tls\.key_file: required with mqtt\.tls\.cert_file/,
  });
  t.throws(() => parseConfig({ mqtt: { reconnect_min_seconds: 10, reconnect_max_seconds: 5 } }, 'e.yaml', '/'), {
    message: /mqtt\.reconnect_min_seconds: must be <= mqtt\.reconnect_max_seconds/,
  });
  t.throws(() => parseConfig({ mqtt: { outbox_max_messages: 1 } }, 'e.yaml', '/'), { message: /e\.yaml: mqtt\.outbox_max_messages: must be >= 10/ });
  t.throws(() => parseConfig({ mqtt: { tls: { verify: false } } }, 'e.yaml', '/'), { message: /mqtt\.tls\.verify: unknown key/ });
});
