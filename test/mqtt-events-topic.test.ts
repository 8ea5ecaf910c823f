/**
 * The events topic (issue 23 item 13), one real run against a real Mosquitto: every event's
 * lifecycle arrives on `<prefix>/<node>/events` as JSON, in order — `start` (with the alert's id),
 * `update` when its peak rises, `end` with the offset, the duration and the clip URL — each
 * message valid against docs/schemas/events.schema.json, and matching the database.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { alertsOf, brokerAndSubscriber, SCENE_08, schema, startDaemon, writeConfig } from './helpers/mqtt-daemon.js';

t.test('start, update, end for every event, in order', async (t) => {
  const { broker, sub } = await brokerAndSubscriber(t, 'events-subscriber', ['earshot/test-node/events', 'earshot/test-node/alert/#']);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-events-topic-'));
  const config = writeConfig(dir, { scene: SCENE_08, pacing: 'fast', url: broker.url });
  const run = await startDaemon(config).exited;
  t.equal(run.code, 0, run.stderr);
  const db = new Database(join(dir, 'data', 'earshot.db'), { readonly: true });
  t.teardown(() => db.close());
  const events = db.prepare('SELECT id, label, onset_s, offset_s, peak_score FROM events ORDER BY onset_s').all() as {
    id: string;
    label: string;
    onset_s: number;
    offset_s: number;
    peak_score: number;
  }[];
  await sub.waitFor(
    (m) => m.filter((x) => x.topic.endsWith('/events') && JSON.parse(x.payload).type === 'end').length >= events.length,
    10_000,
    'an end per event',
  );
  const validate = schema('events');
  const lifecycle = sub.messages.filter((m) => m.topic === 'earshot/test-node/events').map((m) => JSON.parse(m.payload));
  for (const m of lifecycle) t.ok(validate(m), `${m.type} ${m.label}: matches events.schema.json ${JSON.stringify(validate.errors)}`);
  t.ok(events.length >= 3, `events in the database (${events.length})`);
  const alertIds = new Set(alertsOf(sub.messages).map((a) => a.id));
  let updates = 0;
  for (const event of events) {
    const mine = lifecycle.filter((m) => m.id === event.id);
    const types = mine.map((m) => m.type);
    t.match(types.join(' '), /^start( update)* end$/, `${event.label} at ${event.onset_s} s: ${types.join(', ')}`);
    updates += types.filter((x) => x === 'update').length;
    t.ok(alertIds.has(event.id), 'the same id as its alert');
    const scores = mine.map((m) => m.score);
    t.ok(
      scores.slice(1, -1).every((s, i) => s > scores[i]),
      `updates carry a rising peak (${scores.join(' → ')})`,
    );
    const end = mine.at(-1);
    t.match(
      end,
      { offset_s: event.offset_s, duration_s: Number((event.offset_s - event.onset_s).toFixed(3)), score: event.peak_score },
      'end: offset, duration and peak as stored',
    );
    t.match(end.clip_url, /^http:\/\/127\.0\.0\.1:8466\/api\/v1\/clips\/[0-9A-HJKMNP-TV-Z]{26}$/, 'end: the clip URL');
  }
  t.ok(updates > 0, `some events' peaks rose after their start (${updates} updates)`);
});
