/**
 * A tiny single-consumer async queue: device callbacks push, an async generator awaits. Used by
 * the live sources to turn event-emitter input into `for await` iteration.
 */
export class LiveQueue<T> {
  private items: T[] = [];
  private waiter: (() => void) | null = null;

  /** Adds an item and wakes the consumer. */
  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  /** Wakes the consumer without an item (e.g. to notice a stop request or a timer). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Takes all queued items, waiting up to `timeoutMs` for the first when empty. */
  async take(timeoutMs: number): Promise<T[]> {
    if (this.items.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const items = this.items;
    this.items = [];
    return items;
  }
}
