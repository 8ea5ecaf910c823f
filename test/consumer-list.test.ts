/**
 * The daemon's consumers with one lifecycle (issue 25, item 2; src/consumer-list.ts): started in
 * order, hooks in list order, stopped in reverse order; one consumer that throws never costs the
 * others an event or their stop, and the failure is logged with the consumer's name and the Error.
 */
import { pino } from 'pino';
import t from 'tap';
import type { DaemonConsumer } from '../src/consumer.js';
import { ConsumerList } from '../src/consumer-list.js';
import type { DetectorOutput } from '../src/detect/detector.js';
import type { EventRecord } from '../src/events.js';

interface LogLine {
  level: number;
  msg: string;
  consumer?: string;
  hook?: string;
  err?: { type: string; message: string; stack: string };
}

function logger() {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

/** A consumer that records every call in `calls` as `name.hook`. */
function recording(name: string, calls: string[], throwing: Partial<Record<keyof DaemonConsumer, true>> = {}): DaemonConsumer {
  const hook = (h: keyof DaemonConsumer) => () => {
    calls.push(`${name}.${h}`);
    if (throwing[h]) throw new Error(`${name} broke in ${h}`);
  };
  return {
    name,
    start: hook('start'),
    beforeChunk: hook('beforeChunk'),
    onPatch: hook('onPatch'),
    onEvent: hook('onEvent'),
    afterChunk: hook('afterChunk'),
    finish: hook('finish'),
    stop: hook('stop'),
  };
}

const chunk = { startSample: 0, samples: new Float32Array(1600) };
const output = { kind: 'onset', event: { id: 'e1' } } as unknown as DetectorOutput;
const event = { output, record: { id: 'e1' } as EventRecord };

t.test('hooks run in list order, stops in reverse order', async (t) => {
  const { log } = logger();
  const calls: string[] = [];
  const list = new ConsumerList(log);
  await list.start(recording('store', calls), null, recording('mqtt', calls), recording('api', calls));
  t.same(list.names, ['store', 'mqtt', 'api'], 'a consumer its config turns off (null) is skipped');
  list.beforeChunk(chunk);
  list.onEvent(event);
  list.afterChunk(chunk, 1);
  await list.finish('end_of_source');
  await list.stop('end_of_source');
  await list.stop('end_of_source');
  t.same(
    calls,
    [
      'store.start',
      'mqtt.start',
      'api.start',
      'store.beforeChunk',
      'mqtt.beforeChunk',
      'api.beforeChunk',
      'store.onEvent',
      'mqtt.onEvent',
      'api.onEvent',
      'store.afterChunk',
      'mqtt.afterChunk',
      'api.afterChunk',
      'store.finish',
      'mqtt.finish',
      'api.finish',
      'api.stop',
      'mqtt.stop',
      'store.stop',
    ],
    'started in order, hooks in order, stopped in reverse order, once',
  );
});

t.test('a consumer that throws: the others still get the event and still stop; the log names it', async (t) => {
  const { log, lines } = logger();
  const calls: string[] = [];
  const list = new ConsumerList(log);
  await list.start(recording('store', calls), recording('clips', calls, { onEvent: true, stop: true }), recording('mqtt', calls));
  list.onEvent(event);
  await list.stop('signal');
  t.same(
    calls.filter((c) => c.endsWith('onEvent')),
    ['store.onEvent', 'clips.onEvent', 'mqtt.onEvent'],
    'the consumer after the throwing one still got the event',
  );
  t.same(
    calls.filter((c) => c.endsWith('stop')),
    ['mqtt.stop', 'clips.stop', 'store.stop'],
    'a failing stop does not keep the others from stopping',
  );
  const errors = lines.filter((l) => l.level === 50);
  t.same(
    errors.map((l) => [l.consumer, l.hook]),
    [
      ['clips', 'onEvent'],
      ['clips', 'stop'],
    ],
    'each failure logged once, naming the consumer and the hook',
  );
  t.equal(errors[0].err?.message, 'clips broke in onEvent', 'logged as an Error object (message)');
  t.match(errors[0].err?.stack, /consumer-list\.test\.ts/, 'with its stack');
});

t.test('a consumer that throws on every patch is logged a few times, not once per patch', async (t) => {
  const { log, lines } = logger();
  const calls: string[] = [];
  const list = new ConsumerList(log);
  await list.start(recording('microphone', calls, { onPatch: true }), recording('clips', calls));
  for (let i = 0; i < 500; i++) list.onPatch({} as never);
  t.equal(calls.filter((c) => c === 'clips.onPatch').length, 500, 'the next consumer got every patch');
  t.equal(lines.filter((l) => l.hook === 'onPatch').length, 3, 'three log lines for 500 failures');
});

t.test('a start that throws ends the start-up: the consumers before it are stopped, the rest never start', async (t) => {
  const { log } = logger();
  const calls: string[] = [];
  const list = new ConsumerList(log);
  await t.rejects(list.start(recording('store', calls), recording('mqtt', calls, { start: true }), recording('api', calls)), /mqtt broke in start/);
  await list.stop('end_of_source');
  t.same(calls, ['store.start', 'mqtt.start', 'store.stop'], 'only what started is stopped');
});
