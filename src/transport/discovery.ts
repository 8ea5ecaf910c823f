/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * retained config messages on `<discovery_prefix>/<component>/earshot_<node>/<object_id>/config`
 * that make one device per node with
 * - `binary_sensor` "Hostile sound": `ON` while a hostile event is open (`<prefix>/<node>/hostile`);
 * - `event` "Hostile alert" and "Sound event": one HA event per alert, `event_type` = the label;
 * - `sensor` "Sound level" (dBFS), when `mqtt.level_interval_seconds` > 0.
 * All carry availability on the status topic and an `origin` block. Home Assistant requires a
 * `unique_id` for an entity to belong to a device, a `device` with `identifiers`, and
 * `event_types` for an event entity.
 */
import { readFileSync } from 'node:fs';
import type { Topics } from './topics.js';

/** One retained discovery message; an empty payload removes the entity. */
export interface DiscoveryMessage {
  topic: string;
  payload: string;
}

/** What discovery needs to know about this node. */
export interface DiscoveryOptions {
  /** Discovery prefix (default `homeassistant`). */
  prefix: string;
  nodeId: string;
  topics: Topics;
  hostileLabels: readonly string[];
  nonHostileLabels: readonly string[];
  /** Announce the sound level sensor (level publishing is on). */
  level: boolean;
  /** Model id, shown as the device's model. */
  modelId?: string;
  /** The node's HTTP address (the API's public base URL), Home Assistant's "Visit" link on the device; null or absent: none. */
  configurationUrl?: string | null;
}

let cachedVersion: string | undefined;
/** earshot's version, from package.json. */
export function earshotVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

/** The discovery config messages for one node, in publish order. */
export function discoveryMessages(options: DiscoveryOptions): DiscoveryMessage[] {
  const deviceId = `earshot_${options.nodeId}`;
  const common = {
    availability: [{ topic: options.topics.status, payload_available: 'online', payload_not_available: 'offline' }],
    device: {
      identifiers: [deviceId],
      name: `earshot ${options.nodeId}`,
      manufacturer: 'earshot',
      model: options.modelId ? `sound sensor (${options.modelId})` : 'sound sensor',
      sw_version: earshotVersion(),
      ...(options.configurationUrl ? { configuration_url: options.configurationUrl } : {}),
    },
    origin: { name: 'earshot', sw_version: earshotVersion() },
  };
  const topic = (component: string, objectId: string) => `${options.prefix}/${component}/${deviceId}/${objectId}/config`;
  const eventTemplate =
    '{"event_type": "{{ value_json.label }}", "id": "{{ value_json.id }}", "score": {{ value_json.score }}, "onset_utc": "{{ value_json.onset_utc }}"}';
  const messages: DiscoveryMessage[] = [
    {
      topic: topic('binary_sensor', 'hostile'),
      payload: JSON.stringify({
        ...common,
        name: 'Hostile sound',
        unique_id: `${deviceId}_hostile`,
        state_topic: options.topics.hostile,
        payload_on: 'ON',
        payload_off: 'OFF',
        device_class: 'sound',
        icon: 'mdi:alert-octagon',
      }),
    },
    {
      topic: topic('event', 'hostile_alert'),
      payload: JSON.stringify({
        ...common,
        name: 'Hostile alert',
        unique_id: `${deviceId}_hostile_alert`,
        state_topic: options.topics.alert('hostile'),
        event_types: [...options.hostileLabels],
        value_template: eventTemplate,
        icon: 'mdi:pistol',
      }),
    },
    {
      topic: topic('event', 'sound_event'),
      payload: JSON.stringify({
        ...common,
        name: 'Sound event',
        unique_id: `${deviceId}_sound_event`,
        state_topic: options.topics.alert('non_hostile'),
        event_types: [...options.nonHostileLabels],
        value_template: eventTemplate,
        icon: 'mdi:waveform',
      }),
    },
    {
      topic: topic('sensor', 'level'),
      payload: options.level
        ? JSON.stringify({
            ...common,
            name: 'Sound level',
            unique_id: `${deviceId}_level`,
            state_topic: options.topics.level,
            value_template: '{{ value_json.rms_dbfs }}',
            unit_of_measurement: 'dBFS',
            state_class: 'measurement',
            icon: 'mdi:volume-high',
          })
        : '',
    },
  ];
  return messages;
}
