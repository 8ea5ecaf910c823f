/**
 * The daemon's consumers as one list with one lifecycle (the contract is in ./consumer.ts): started
 * in order, every hook called in list order with one consumer's throw kept from the others, stopped
 * in reverse order with a failing stop logged and the rest still stopped. After zigbee2mqtt's
 * controller (`lib/controller.ts`: start the extensions, stop them in reverse, log and carry on).
 */
import type { ConsumedEvent, DaemonConsumer, StreamEnding } from './consumer.js';
import type { Logger } from './log.js';
import type { PatchReport } from './detect/patch-report.js';
import type { AudioChunk } from './types.js';

/** A hook that throws on every chunk or patch is logged this many times, then every {@link REPEAT_LOG_EVERY}th time. */
const FIRST_FAILURES_LOGGED = 3;
const REPEAT_LOG_EVERY = 1000;

/** The started consumers of one daemon run. */
export class ConsumerList {
  private readonly started: DaemonConsumer[] = [];
  /** Failures per `name.hook`, so a consumer that throws on every patch does not flood the log. */
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(private readonly log: Logger) {}

  /** The started consumers, in list order. */
  get names(): string[] {
    return this.started.map((c) => c.name);
  }

  /**
   * Starts each consumer in turn (awaiting its `start`) and appends it to the list; null entries
   * (a consumer its config turns off) are skipped.
   * @throws whatever a `start` throws: that consumer is not in the list, those before it are (the
   *   caller's {@link stop} stops them)
   */
  async start(...consumers: (DaemonConsumer | null)[]): Promise<void> {
    for (const consumer of consumers) {
      if (!consumer) continue;
      await consumer.start?.();
      this.started.push(consumer);
    }
  }

  beforeChunk(chunk: AudioChunk): void {
    for (const c of this.started) if (c.beforeChunk) this.guard(c, 'beforeChunk', () => c.beforeChunk!(chunk));
  }

  onPatch(report: PatchReport): void {
    for (const c of this.started) if (c.onPatch) this.guard(c, 'onPatch', () => c.onPatch!(report));
  }

  onEvent(event: ConsumedEvent): void {
    for (const c of this.started) if (c.onEvent) this.guard(c, 'onEvent', () => c.onEvent!(event));
  }

  afterChunk(chunk: AudioChunk, processingMs: number): void {
    for (const c of this.started) if (c.afterChunk) this.guard(c, 'afterChunk', () => c.afterChunk!(chunk, processingMs));
  }

  /** Calls every `finish` in list order (each awaited); a throw is logged. */
  async finish(ending: StreamEnding): Promise<void> {
    for (const c of this.started) {
      if (!c.finish) continue;
      try {
        await c.finish(ending);
      } catch (error) {
        this.failed(c, 'finish', error);
      }
    }
  }

  /** Stops every started consumer in reverse order (each awaited); a throw is logged and the next one still stops. Once only. */
  async stop(ending: StreamEnding): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of [...this.started].reverse()) {
      if (!c.stop) continue;
      try {
        await c.stop(ending);
      } catch (error) {
        this.failed(c, 'stop', error);
      }
    }
  }

  private guard(consumer: DaemonConsumer, hook: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.failed(consumer, hook, error);
    }
  }

  private failed(consumer: DaemonConsumer, hook: string, error: unknown): void {
    const key = `${consumer.name}.${hook}`;
    const count = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, count);
    if (count > FIRST_FAILURES_LOGGED && count % REPEAT_LOG_EVERY !== 0) return;
    const err = error instanceof Error ? error : new Error(String(error));
    this.log.error({ err, consumer: consumer.name, hook, failures: count }, `${consumer.name}: ${hook} failed (${err.message}); the other consumers carry on`);
  }
}
