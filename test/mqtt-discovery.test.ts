/**
 * Home Assistant discovery and the payload schemas: one real run (mixed_07, real-time pacing at
 * 4×, level every 5 s, health every second) against a real Mosquitto. Every payload earshot
 * publishes is validated against its JSON Schema in docs/schemas; the discovery configs are
 * retained, carry the keys Home Assistant requires per entity type, and are published again when
 * `homeassistant/status` says `online`.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alertsOf, brokerAndSubscriber, schema, SCENE_07, startDaemon, subscribe, writeConfig } from './helpers/mqtt-daemon.js';

t.test('discovery configs and payload schemas', async (t) => {
  const { broker, sub } = await brokerAndSubscriber(t, 'ha-subscriber', ['earshot/#', 'homeassistant/#']);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-discovery-'));
  const passwordFile = join(dir, 'mqtt-password');
  writeFileSync(passwordFile, 'pw-from-file-7d1c\n');
  const config = writeConfig(dir, {
    scene: SCENE_07,
    pacing: 'realtime',
    speed: 4,
    url: broker.url,
    mqtt: ['level_interval_seconds: 5', 'health_interval_seconds: 1', 'username: earshot', `password_file: ${passwordFile}`],
  });
  const daemon = startDaemon(config);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await sub.waitFor((m) => m.some((x) => x.topic === 'earshot/test-node/health'), 60_000, 'the first health message');
  const configsBefore = sub.messages.filter((m) => m.topic.endsWith('/config')).length;
  await sub.client.publishAsync('homeassistant/status', 'online', { qos: 1 });
  await sub.waitFor((m) => m.filter((x) => x.topic.endsWith('/config')).length >= 2 * configsBefore, 10_000, 're-announced configs');
  const result = await daemon.exited;
  t.equal(result.code, 0, `exits 0: ${result.stderr}`);
  t.notMatch(result.stdout + result.stderr, /pw-from-file-7d1c/, 'the password is never logged');

  t.test('discovery: retained, with the keys Home Assistant requires', async (t) => {
    t.equal(configsBefore, 4, 'four configs: hostile binary_sensor, two event entities, level sensor');
    // A new subscriber (Home Assistant starting later) gets them from the broker as retained messages.
    const late = await subscribe(broker.url, 'ha-late', ['homeassistant/+/+/+/config'], { clean: true });
    t.teardown(() => late.end());
    await late.waitFor((m) => m.length >= 4, 5000, 'retained configs');
    const validate = schema('ha-discovery');
    const byComponent = new Map(late.messages.map((m) => [`${m.topic.split('/')[1]}/${m.topic.split('/')[3]}`, m]));
    for (const message of late.messages) {
      t.ok(message.retain, `${message.topic} is retained`);
      const payload = JSON.parse(message.payload);
      t.ok(validate(payload), `${message.topic} matches ha-discovery.schema.json ${JSON.stringify(validate.errors)}`);
      t.equal(payload.availability[0].topic, 'earshot/test-node/status', 'availability on the status topic');
      t.same(payload.device.identifiers, ['earshot_test-node']);
      t.equal(payload.origin.name, 'earshot');
    }
    const binary = JSON.parse(byComponent.get('binary_sensor/hostile')!.payload);
    t.match(binary, { state_topic: 'earshot/test-node/hostile', payload_on: 'ON', payload_off: 'OFF', device_class: 'sound' });
    const hostileEvent = JSON.parse(byComponent.get('event/hostile_alert')!.payload);
    t.equal(hostileEvent.state_topic, 'earshot/test-node/alert/hostile');
    t.same(hostileEvent.event_types.sort(), ['explosion', 'glass_break', 'gunshot', 'scream'], 'event_types: the hostile labels');
    t.match(hostileEvent.value_template, /"event_type": "\{\{ value_json\.label \}\}"/, 'the label becomes the event type');
    const level = JSON.parse(byComponent.get('sensor/level')!.payload);
    t.match(level, { state_topic: 'earshot/test-node/level', unit_of_measurement: 'dBFS', state_class: 'measurement' });
  });

  t.test('every payload matches its schema', async (t) => {
    const alerts = alertsOf(sub.messages);
    t.ok(alerts.length >= 2, `alerts were published (${alerts.length})`);
    const alertSchema = schema('alert');
    for (const m of sub.messages.filter((x) => x.topic.startsWith('earshot/test-node/alert/')))
      t.ok(alertSchema(JSON.parse(m.payload)), `alert ${m.payload} ${JSON.stringify(alertSchema.errors)}`);
    const first = JSON.parse(sub.messages.find((x) => x.topic.includes('/alert/'))!.payload);
    t.ok(first.clock_synced === null || typeof first.clock_synced === 'boolean', 'alerts say whether the clock was synchronised (null: unknown)');
    t.match(first.clip_url, /^http:\/\/127\.0\.0\.1:8466\/api\/v1\/clips\/[0-9A-HJKMNP-TV-Z]{26}$/, "the clip URL at the API's address (on by default)");

    const state = schema('state');
    const states = sub.messages.filter((x) => x.topic.startsWith('earshot/test-node/event/') || x.topic === 'earshot/test-node/hostile');
    t.ok(states.length >= 4, 'event and hostile states were published');
    for (const m of states) t.ok(state(m.payload), `${m.topic}: ${m.payload}`);
    t.same(
      states
        .filter((m) => m.topic === 'earshot/test-node/hostile')
        .map((m) => m.payload)
        .slice(0, 1),
      ['ON'],
      'hostile ON at the first hostile onset',
    );
    t.equal(states.filter((m) => m.topic === 'earshot/test-node/hostile').at(-1)!.payload, 'OFF', '... and OFF once none is open');

    const status = schema('status');
    for (const m of sub.messages.filter((x) => x.topic === 'earshot/test-node/status')) t.ok(status(m.payload), `status ${m.payload}`);

    const levelSchema = schema('level');
    const levels = sub.messages.filter((x) => x.topic === 'earshot/test-node/level');
    t.ok(levels.length >= 6 && levels.length <= 10, `a level every 5 s of the 45 s scene (${levels.length})`);
    for (const m of levels) t.ok(levelSchema(JSON.parse(m.payload)), `level ${m.payload} ${JSON.stringify(levelSchema.errors)}`);
    t.ok(
      levels.every((m) => !m.retain && m.qos === 0),
      'levels are QoS 0, not retained',
    );

    const healthSchema = schema('health');
    const health = sub.messages.filter((x) => x.topic === 'earshot/test-node/health');
    t.ok(health.length >= 2, `health published periodically (${health.length})`);
    for (const m of health) t.ok(healthSchema(JSON.parse(m.payload)), `health ${m.payload} ${JSON.stringify(healthSchema.errors)}`);
    t.match(JSON.parse(health.at(-1)!.payload), { node_id: 'test-node', mqtt_connected: true });
  });
});
