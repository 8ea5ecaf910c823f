/** A real pseudo-terminal pair made by socat: `dev` is the sensor's end, `sim` the microphone's. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PtyPair {
  dev: string;
  sim: string;
  /** Kills socat (both ends vanish, as when a USB serial device is unplugged). */
  close(): Promise<void>;
}

/**
 * Starts `socat pty,raw,echo=0,link=DEV pty,raw,echo=0,ignoreeof,link=SIM` and waits for both links.
 * `ignoreeof`: a simulator closing its end must not end the pair (socat would drop what the sensor
 * has not read yet, as a real microphone that stays plugged in would not).
 */
export async function ptyPair(dev: string, sim: string): Promise<PtyPair> {
  const child: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${dev}`, `pty,raw,echo=0,ignoreeof,link=${sim}`], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(existsSync(dev) && existsSync(sim))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('socat did not create the pty pair');
    await sleep(20);
  }
  return {
    dev,
    sim,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
