/** `earshot simulate-serial`: stream a WAV through the serial protocol to a port (no hardware needed). */
import { type Command, Option } from 'commander';
import { DEFAULT_RESEND_DEPTH, simulateSerial } from '../capture/serial/serial-simulator.js';
import { EarshotError } from '../errors.js';

function rate(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!(n >= 0 && n <= 1)) throw new EarshotError(`${name}: must be a fraction from 0 to 1, got ${value}`);
    return n;
  };
}

function count(name: string, min: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new EarshotError(`${name}: must be an integer >= ${min}, got ${value}`);
    return n;
  };
}

/** Adds the command to `program`; `wrap` is main.ts's error-printing action wrapper. */
export function registerSimulateSerial(
  program: Command,
  wrap: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>,
): void {
  program
    .command('simulate-serial')
    .description('stream a WAV file through the earshot serial protocol to a port, paced like a microphone (firmware-interface/PROTOCOL.md)')
    .requiredOption('--wav <file>', 'WAV file to stream')
    .requiredOption('--port <path>', 'serial port or pty (e.g. one end of a socat pair)')
    .option('--baud <rate>', 'baud rate', count('--baud', 1200), 921600)
    .option('--packet-frames <n>', 'frames per packet', count('--packet-frames', 1), 256)
    .option('--speed <x>', 'real-time multiplier; 0 = as fast as the port takes it', (v) => Number(v), 1)
    .option('--repeat <n>', 'play the file this many times back to back', count('--repeat', 1), 1)
    .option('--no-eos', 'do not send the end-of-stream status packet at the end')
    .addOption(new Option('--drop <rate>', 'fault injection: fraction of packets dropped').argParser(rate('--drop')).default(0))
    .addOption(new Option('--bit-errors <rate>', 'fault injection: fraction of packets with one flipped bit').argParser(rate('--bit-errors')).default(0))
    .addOption(new Option('--truncate <rate>', 'fault injection: fraction of packets cut short').argParser(rate('--truncate')).default(0))
    .addOption(new Option('--garbage <rate>', 'fault injection: fraction of packets preceded by random bytes').argParser(rate('--garbage')).default(0))
    .addOption(new Option('--garbage-bytes <n>', 'bytes per garbage burst').argParser(count('--garbage-bytes', 1)).default(1024))
    .option('--seed <n>', 'fault generator seed', count('--seed', 0), 1)
    .option(
      '--resend-depth <n>',
      'packets kept to resend when the receiver asks (0 = never resend, like firmware without resend support)',
      count('--resend-depth', 0),
      DEFAULT_RESEND_DEPTH,
    )
    .addHelpText(
      'after',
      '\nExample (a pty pair from socat: socat -d -d pty,raw,echo=0,link=/tmp/dev pty,raw,echo=0,link=/tmp/sim):\n  $ earshot simulate-serial --wav ../shared/audio/scenes/dev/mixed_07.wav --port /tmp/sim --drop 0.01\n',
    )
    .action(
      wrap(
        async (options: {
          wav: string;
          port: string;
          baud: number;
          packetFrames: number;
          speed: number;
          repeat: number;
          eos: boolean;
          drop: number;
          bitErrors: number;
          truncate: number;
          garbage: number;
          garbageBytes: number;
          seed: number;
          resendDepth: number;
        }) => {
          if (!(options.speed >= 0)) throw new EarshotError(`--speed: must be >= 0, got ${options.speed}`);
          const controller = new AbortController();
          const onSignal = () => controller.abort();
          process.once('SIGTERM', onSignal);
          process.once('SIGINT', onSignal);
          const report = await simulateSerial(
            {
              wav: options.wav,
              port: options.port,
              baudRate: options.baud,
              packetFrames: options.packetFrames,
              speed: options.speed,
              repeat: options.repeat,
              endOfStream: options.eos,
              dropRate: options.drop,
              bitErrorRate: options.bitErrors,
              truncateRate: options.truncate,
              garbageRate: options.garbage,
              garbageBytes: options.garbageBytes,
              seed: options.seed,
              resendDepth: options.resendDepth,
            },
            controller.signal,
          );
          process.stdout.write(`${JSON.stringify(report)}\n`);
        },
      ),
    );
}
