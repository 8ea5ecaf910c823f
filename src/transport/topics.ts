/**
 * MQTT topic names for one node. `<prefix>` is `mqtt.topic_prefix` (default `earshot`), `<node>`
 * the node id; the full list, with payloads, is in docs/mqtt.md.
 */

/** The topics earshot publishes on (and the one it listens to for Home Assistant restarts). */
export interface Topics {
  /** `<prefix>/<node>/status`: retained `online` / `offline` (Last Will). */
  status: string;
  /** `<prefix>/<node>/alert/<group>`: one JSON alert per event at its onset. */
  alert: (group: string) => string;
  /** `<prefix>/<node>/event/<label>`: retained `ON` at onset, `OFF` at offset. */
  event: (label: string) => string;
  /** `<prefix>/<node>/events`: each event's lifecycle as JSON (start, update, end; event-lifecycle.ts). */
  events: string;
  /** `<prefix>/<node>/hostile`: retained `ON` while at least one hostile event is open. */
  hostile: string;
  /** `<prefix>/<node>/level`: sound level JSON every `mqtt.level_interval_seconds`. */
  level: string;
  /** `<prefix>/<node>/health`: retained health JSON every `mqtt.health_interval_seconds`. */
  health: string;
  /** `<prefix>/<node>/microphone`: retained microphone health JSON, sent when a measure is raised or cleared (docs/microphone.md). */
  microphone: string;
  /** `<prefix>/<node>/cmd/reload_model`: earshot listens here for a model hot reload (JSON `{"path": "..."}`, optional). */
  reloadModelCommand: string;
}

/** Topic names for `nodeId` under `prefix`. */
export function topicsFor(prefix: string, nodeId: string): Topics {
  const base = `${prefix}/${nodeId}`;
  return {
    status: `${base}/status`,
    alert: (group: string) => `${base}/alert/${group}`,
    event: (label: string) => `${base}/event/${label}`,
    events: `${base}/events`,
    hostile: `${base}/hostile`,
    level: `${base}/level`,
    health: `${base}/health`,
    microphone: `${base}/microphone`,
    reloadModelCommand: `${base}/cmd/reload_model`,
  };
}
