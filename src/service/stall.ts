/**
 * A test-only fault: a source that stops delivering audio after a given amount, without ending
 * or failing, as a USB microphone does when it hangs. It exists so the watchdog test can show
 * that a stalled daemon stops pinging systemd. Enabled only by the environment variable
 * `EARSHOT_TEST_STALL_AFTER_SECONDS` (see docs/service.md); never set it in production.
 */
import type { AudioSource, SourceDescription } from '../capture/source.js';
import { SAMPLE_RATE } from '../constants.js';
import type { AudioChunk } from '../types.js';

/** The environment variable that enables {@link StallingSource}. */
export const STALL_ENV = 'EARSHOT_TEST_STALL_AFTER_SECONDS';

/**
 * Wraps `inner`: delivers its chunks until `afterSeconds` of audio, then waits (delivering
 * nothing) until {@link stop}.
 */
export class StallingSource implements AudioSource {
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly inner: AudioSource,
    readonly afterSeconds: number,
  ) {}

  async open(): Promise<SourceDescription> {
    const info = await this.inner.open();
    return { ...info, details: { ...info.details, test_stall_after_s: this.afterSeconds } };
  }

  async *chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    const limit = Math.round(this.afterSeconds * SAMPLE_RATE);
    for await (const chunk of this.inner.chunks()) {
      if (chunk.startSample >= limit) break;
      yield chunk;
    }
    // Hang like a dead device: the daemon's loop waits here until it is stopped.
    if (!this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  stop(): void {
    this.stopped = true;
    this.inner.stop();
    this.wake?.();
  }
}

/**
 * The stall hook from the environment, or undefined when `EARSHOT_TEST_STALL_AFTER_SECONDS` is unset.
 * @throws Error when it is set but not a non-negative number
 */
export function stallHookFromEnv(env: NodeJS.ProcessEnv = process.env): ((source: AudioSource) => AudioSource) | undefined {
  const raw = env[STALL_ENV];
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`${STALL_ENV}=${raw}: must be a number of seconds`);
  return (source) => new StallingSource(source, seconds);
}
