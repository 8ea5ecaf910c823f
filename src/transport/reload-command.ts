/**
 * The MQTT command `<prefix>/<node>/cmd/reload_model` (docs/mqtt.md): its payload, read here;
 * the reload itself is the daemon's (src/pipeline/model-reload.ts).
 */

/**
 * Reads the payload of `<prefix>/<node>/cmd/reload_model`: empty (reload the configured model if
 * its file changed), or a JSON object `{"path": "/models/new.tflite"}` (relative to `model_dir`).
 * @throws Error with a one-line reason for anything else
 */
export function parseReloadCommand(payload: Buffer | string): { path?: string } {
  const text = payload.toString().trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the payload is not JSON (${JSON.stringify(text.slice(0, 80))}); send {"path": "..."} or nothing`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('the payload must be a JSON object, e.g. {"path": "/var/lib/earshot/models/new.tflite"}');
  const { path, ...rest } = parsed as Record<string, unknown>;
  if (Object.keys(rest).length) throw new Error(`unknown keys in the payload: ${Object.keys(rest).join(', ')} (only "path")`);
  if (path !== undefined && (typeof path !== 'string' || path === '')) throw new Error('"path" must be a non-empty string');
  return path === undefined ? {} : { path };
}
