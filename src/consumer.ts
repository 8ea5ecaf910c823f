/**
 * What a part of the daemon that follows the stream looks like to the daemon (src/daemon.ts):
 * the event store, MQTT alerts, the clip recorder, microphone health, the gap recorder, the HTTP
 * API and its live figures, the store upkeep. Each implements the hooks it needs; the daemon keeps
 * them in one list (src/consumer-list.ts), calls every hook in list order and stops them in
 * reverse order, as zigbee2mqtt's controller does with its extensions (`lib/controller.ts`).
 *
 * Types only: the implementations live next to what they adapt (e.g. `clipRecorderConsumer` in
 * src/store/clip-recorder.ts).
 */
import type { DetectorOutput } from './detect/detector.js';
import type { EventRecord } from './events.js';
import type { PatchReport } from './detect/patch-report.js';
import type { AudioChunk } from './types.js';

/** Why the stream ended: the source ran out (a file) or a stop signal came (SIGTERM, SIGINT). */
export type StreamEnding = 'end_of_source' | 'signal';

/** One detector output, with the record every consumer stores or publishes (built once, same id everywhere). */
export interface ConsumedEvent {
  /** The detector's onset or offset (`output.event` is the live event: its scores still rise while it is open). */
  readonly output: DetectorOutput;
  /** The event as stored and published (src/events.ts `toEventRecord`); `end_reason` null at an onset. */
  readonly record: EventRecord;
}

/**
 * A daemon consumer. Every hook is optional. Order over one run:
 *
 * 1. `start()`: once, in list order, each awaited before the next starts (the source is open and
 *    the models loaded; no audio has flowed yet). A throw aborts the run: the consumers already
 *    started are stopped (reverse order) and the error reaches the caller of `runDaemon`.
 * 2. Per captured chunk: `beforeChunk(chunk)` (before the front end sees it), then `onPatch` for
 *    each patch the models scored and `onEvent` for each detector output (as they happen, possibly
 *    for earlier chunks: inference runs in worker threads), then `afterChunk(chunk, processingMs)`.
 *    A throw in these is logged (an Error object, with the consumer's name and the hook) and the
 *    next consumer still gets the call: one broken consumer never costs another its events.
 * 3. `finish(ending)`: once, in list order, when the stream has ended and the models have scored
 *    the last patches (open events are closed with reason `shutdown` / `stream_end` by then): flush
 *    what belongs to the stream (a partial minute, the last capture gaps). Not called when the run
 *    fails. A throw is logged.
 * 4. `stop(ending)`: once, in REVERSE list order, each awaited, also after a failure: finish
 *    writes, drain queues, close. A consumer started after another stops before it, so what a
 *    consumer uses (the database, MQTT) is still open while it stops. A throw is logged and the
 *    others still stop.
 */
export interface DaemonConsumer {
  /** Names the consumer in log lines about it, e.g. `mqtt`, `clips`. */
  readonly name: string;
  start?(): void | Promise<void>;
  /** A captured chunk (16 kHz mono, absolute sample indices), before the front end sees it. */
  beforeChunk?(chunk: AudioChunk): void;
  /** A patch the pipeline completed (scored, gated, skipped or failed: `report.status`). */
  onPatch?(report: PatchReport): void;
  /** An event's onset or offset. */
  onEvent?(event: ConsumedEvent): void;
  /** After the chunk went through the front end; `processingMs`: its front-end time plus the model time spent since the last chunk. */
  afterChunk?(chunk: AudioChunk, processingMs: number): void;
  /** The stream has ended (see the order above). */
  finish?(ending: StreamEnding): void | Promise<void>;
  /** The daemon is stopping: release what the consumer holds. */
  stop?(ending: StreamEnding): void | Promise<void>;
}
