/**
 * Test-only fault injection for the inference worker, so tests can show that the daemon survives
 * a model that throws, a worker that dies, and a model slower than real time. Enabled only by the
 * environment variable `EARSHOT_TEST_MODEL_FAULT` (docs/service.md), read only inside the worker
 * thread; never set it in production.
 *
 * Value: comma-separated `name:number` items, counted per worker (a restarted worker counts
 * from 1 again):
 * - `throw:N`: every Nth classify call throws (the patch fails; the worker keeps serving);
 * - `exit:N`: at every Nth call the worker thread exits (code 1) before answering;
 * - `uncaught:N`: at every Nth call an exception escapes from a timer (the worker's 'error' event);
 * - `delay_ms:M`: every call blocks the worker for M ms before the model runs (a slow model);
 * - `calls:K`: the faults above apply only to the first K calls of each worker.
 * Example: `delay_ms:300,calls:40`.
 */

/** The environment variable that enables {@link ModelFaults}. */
export const MODEL_FAULT_ENV = 'EARSHOT_TEST_MODEL_FAULT';

/** Parsed {@link MODEL_FAULT_ENV}: every field 0 = off. */
export interface ModelFaultPlan {
  throwEvery: number;
  exitEvery: number;
  uncaughtEvery: number;
  delayMs: number;
  /** Faults apply to calls 1..calls; 0 = every call. */
  calls: number;
}

const KEYS: Record<string, keyof ModelFaultPlan> = { throw: 'throwEvery', exit: 'exitEvery', uncaught: 'uncaughtEvery', delay_ms: 'delayMs', calls: 'calls' };

/**
 * Parses the fault variable.
 * @returns the plan, or null when the variable is unset or empty
 * @throws Error naming the variable and the bad item (unknown name, not a non-negative integer)
 */
export function parseModelFaults(raw: string | undefined): ModelFaultPlan | null {
  if (raw === undefined || raw.trim() === '') return null;
  const plan: ModelFaultPlan = { throwEvery: 0, exitEvery: 0, uncaughtEvery: 0, delayMs: 0, calls: 0 };
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, value, extra] = item.split(':');
    const key = KEYS[name ?? ''];
    const number = Number(value);
    if (!key || extra !== undefined || value === undefined || !Number.isInteger(number) || number < 0) {
      throw new Error(
        `${MODEL_FAULT_ENV}=${raw}: bad item "${item}" (expected ${Object.keys(KEYS)
          .map((k) => `${k}:N`)
          .join(', ')})`,
      );
    }
    plan[key] = number;
  }
  return plan;
}

/** Applies a {@link ModelFaultPlan} to the worker's classify calls. */
export class ModelFaults {
  private call = 0;

  constructor(readonly plan: ModelFaultPlan) {}

  /**
   * Runs before each classify call: blocks, throws, or ends the thread as the plan says.
   * @throws Error for an injected `throw`
   */
  beforeClassify(): void {
    this.call += 1;
    const { throwEvery, exitEvery, uncaughtEvery, delayMs, calls } = this.plan;
    if (calls > 0 && this.call > calls) return;
    // A blocking wait, as a slow model blocks its thread (a timer would let messages through).
    if (delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
    if (exitEvery > 0 && this.call % exitEvery === 0) process.exit(1);
    if (uncaughtEvery > 0 && this.call % uncaughtEvery === 0) {
      setImmediate(() => {
        throw new Error(`injected uncaught error at call ${this.call} (${MODEL_FAULT_ENV})`);
      });
    }
    if (throwEvery > 0 && this.call % throwEvery === 0) throw new Error(`injected model error at call ${this.call} (${MODEL_FAULT_ENV})`);
  }
}
