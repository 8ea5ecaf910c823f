/** `earshot devices`: the ALSA capture devices (from `arecord -l` and `arecord -L`) and serial ports. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { EarshotError, ExitCode } from '../errors.js';

const run = promisify(execFile);

/** One ALSA capture device. */
export interface AlsaDevice {
  /** Name to put in `source.device`, e.g. `plughw:CARD=Device,DEV=0` or `hw:1,0`. */
  name: string;
  /** Card and device description. */
  description: string;
}

/**
 * Parses `arecord -l` (hardware cards) into `hw:CARD,DEV` entries with their names.
 * @param text arecord's output, e.g. `card 1: Device [USB PnP Sound Device], device 0: USB Audio [USB Audio]`
 */
export function parseArecordL(text: string): AlsaDevice[] {
  const devices: AlsaDevice[] = [];
  for (const match of text.matchAll(/^card (\d+): (\S+) \[([^\]]*)\], device (\d+): [^[]*\[([^\]]*)\]/gm)) {
    const [, card, id, cardName, dev, devName] = match;
    devices.push({ name: `plughw:CARD=${id},DEV=${dev}`, description: `card ${card} (hw:${card},${dev}): ${cardName} — ${devName}` });
  }
  return devices;
}

/** Parses `arecord -L` (PCM names: a name line, then indented description lines). */
export function parseArecordCapitalL(text: string): AlsaDevice[] {
  const devices: AlsaDevice[] = [];
  for (const block of text.split(/\n(?=\S)/)) {
    const [name, ...rest] = block.split('\n');
    if (!name?.trim()) continue;
    devices.push({
      name: name.trim(),
      description: rest
        .map((l) => l.trim())
        .filter(Boolean)
        .join(' — '),
    });
  }
  return devices;
}

/** Why ALSA devices cannot be listed here: `arecord` is missing (the serial ports are still listed). */
export const NO_ARECORD = 'arecord not found: install the package alsa-utils (apt-get install alsa-utils) to list ALSA capture devices';

async function arecord(flag: string): Promise<string> {
  try {
    return (await run('arecord', [flag], { timeout: 10_000 })).stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new EarshotError(NO_ARECORD, ExitCode.Environment);
    // "no soundcards found" is an answer, not an error.
    return `${(e as { stdout?: string }).stdout ?? ''}`;
  }
}

/** Adds the command to `program`; `wrap` is main.ts's error-printing action wrapper. */
export function registerDevices(program: Command, wrap: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>): void {
  program
    .command('devices')
    .description('list ALSA capture devices and serial ports, for source.device / source.path')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ earshot devices --json\n')
    .action(
      wrap(async (options: { json?: boolean }) => {
        // Without arecord the serial ports are still worth listing: ALSA gets a note instead.
        let alsaProblem: string | null = null;
        let hardware: AlsaDevice[] = [];
        let pcms: AlsaDevice[] = [];
        try {
          hardware = parseArecordL(await arecord('-l'));
          pcms = parseArecordCapitalL(await arecord('-L'));
        } catch (error) {
          if (!(error instanceof EarshotError) || error.message !== NO_ARECORD) throw error;
          alsaProblem = NO_ARECORD;
        }
        let serial: { path: string; description: string }[] = [];
        try {
          const { SerialPort } = await import('serialport');
          serial = (await SerialPort.list()).map((p) => ({ path: p.path, description: [p.manufacturer, p.serialNumber, p.pnpId].filter(Boolean).join(' ') }));
        } catch {
          // Listing serial ports needs udev; without it there is simply nothing to show.
        }
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ alsa: alsaProblem ? { problem: alsaProblem } : { hardware, pcms }, serial }, null, 2)}\n`);
          return;
        }
        process.stdout.write('ALSA capture cards (source.type: alsa, source.device):\n');
        if (alsaProblem) {
          process.stdout.write(`  ${alsaProblem}\n`);
        } else {
          process.stdout.write(hardware.length ? hardware.map((d) => `  ${d.name}    ${d.description}\n`).join('') : '  none found (arecord -l)\n');
          process.stdout.write('ALSA PCM names (arecord -L):\n');
          process.stdout.write(pcms.length ? pcms.map((d) => `  ${d.name}${d.description ? `    ${d.description}` : ''}\n`).join('') : '  none\n');
        }
        process.stdout.write('Serial ports (source.type: serial, source.path; prefer /dev/serial/by-id/...):\n');
        process.stdout.write(serial.length ? serial.map((p) => `  ${p.path}${p.description ? `    ${p.description}` : ''}\n`).join('') : '  none found\n');
      }),
    );
}
