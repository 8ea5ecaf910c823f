/**
 * A serial microphone without hardware: streams a WAV file through the earshot serial protocol
 * (firmware-interface/PROTOCOL.md) to a port (a USB-serial adapter looped to the sensor, or one
 * end of a `socat` pseudo-terminal pair), paced like a microphone. Optionally injects faults —
 * dropped, bit-flipped and truncated packets, and random garbage between packets — from a seeded
 * generator, and reports exactly what it injected, so a receiver's counters can be checked.
 * Like the reference firmware it keeps its last packets and sends them again when the receiver
 * asks (PROTOCOL.md, "Resending lost packets"); resends go through the same fault injection,
 * from a generator of their own, so the faults of the first transmission do not depend on when
 * requests arrive.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { EarshotError, ExitCode } from '../../errors.js';
import { mulberry32 } from '../../random.js';
import { encodeAudioPacket, encodeStatusPacket, frameForWire, PacketDecoder, STATUS_END_OF_STREAM, type SampleFormat } from './serial-protocol.js';
import { readWavAsync } from '../wav.js';

/** Options for {@link simulateSerial}. Rates are per packet, 0..1. */
export interface SimulatorOptions {
  wav: string;
  port: string;
  baudRate?: number;
  /** Frames per packet (default 256 = 16 ms at 16 kHz). */
  packetFrames?: number;
  /** Real-time multiplier (default 1); 0 = as fast as the port takes it. */
  speed?: number;
  /** Times to play the file back to back (default 1); sequence numbers continue. */
  repeat?: number;
  /** Send an end-of-stream status packet at the end (default true). */
  endOfStream?: boolean;
  dropRate?: number;
  bitErrorRate?: number;
  truncateRate?: number;
  /** Rate of garbage bursts between packets, and each burst's length in bytes. */
  garbageRate?: number;
  garbageBytes?: number;
  /** Seed of the fault generator (default 1). */
  seed?: number;
  /** Audio packets kept for resending on request (default {@link DEFAULT_RESEND_DEPTH}); 0 = a device that never resends. */
  resendDepth?: number;
}

/** Packets the simulator keeps for resends: 1 s of 256-frame packets at 16 kHz, as the example firmware. */
export const DEFAULT_RESEND_DEPTH = 64;

/** How long the simulator keeps answering resend requests after its last packet, ms. */
const RESEND_LINGER_MS = 1000;

/** Faults injected into one kind of transmission (first sends, or resends). */
export interface InjectedFaults {
  dropped: number;
  corrupted: number;
}

/** What the simulator sent and injected. */
export interface SimulatorReport {
  packets: number;
  frames: number;
  format: SampleFormat;
  sampleRate: number;
  dropped: number;
  corrupted: number;
  truncated: number;
  garbageBursts: number;
  garbageBytes: number;
  bytesWritten: number;
  /** Resend requests read from the port, packets resent, requested packets no longer held, and the faults injected into resends. */
  resends: { requests: number; sent: number; notHeld: number } & InjectedFaults;
}

/**
 * The simulator's drop and bit-flip faults for one wire frame (`0x00 COBS 0x00`): `roll` < drop
 * drops it; `roll` < drop + flip flips one bit of its COBS body (positions drawn from `next`),
 * never one that would turn a byte into the 0x00 delimiter. Counts into `faults`. Exported so
 * that an offline replay (scripts/concealment-check.mjs) draws exactly as the simulator does.
 * @param rates fractions of frames, 0..1
 * @returns the frame (damaged in place, or as it was), or null when dropped
 */
export function injectFault(
  wire: Uint8Array,
  roll: number,
  next: () => number,
  rates: { drop: number; flip: number },
  faults: InjectedFaults,
): Uint8Array | null {
  if (roll < rates.drop) {
    faults.dropped += 1;
    return null;
  }
  if (roll < rates.drop + rates.flip) {
    for (;;) {
      const at = 1 + Math.floor(next() * (wire.length - 2));
      const flipped = wire[at] ^ (1 << Math.floor(next() * 8));
      if (flipped !== 0) {
        wire[at] = flipped;
        break;
      }
    }
    faults.corrupted += 1;
  }
  return wire;
}

/** The WAV as protocol payload: exact s16le for 16-bit mono files, else f32le of the mono mix. */
async function loadPayload(path: string): Promise<{ format: SampleFormat; sampleRate: number; frames: number; bytes: Uint8Array }> {
  const wav = await readWavAsync(path);
  if (wav.formatTag === 1 && wav.bitsPerSample === 16 && wav.channels === 1) {
    const out = new Int16Array(wav.frames);
    for (let i = 0; i < wav.frames; i++) out[i] = Math.round(wav.mono[i] * 32768);
    return { format: 's16le', sampleRate: wav.sampleRate, frames: wav.frames, bytes: new Uint8Array(out.buffer) };
  }
  return { format: 'f32le', sampleRate: wav.sampleRate, frames: wav.frames, bytes: new Uint8Array(wav.mono.slice().buffer) };
}

/**
 * Streams the file. Resolves when everything was written and drained.
 * @throws EarshotError when the WAV or the port cannot be opened
 */
export async function simulateSerial(options: SimulatorOptions, signal?: AbortSignal): Promise<SimulatorReport> {
  const payload = await loadPayload(options.wav);
  const packetFrames = options.packetFrames ?? 256;
  const speed = options.speed ?? 1;
  const random = mulberry32(options.seed ?? 1);
  const width = payload.format === 's16le' ? 2 : 4;
  // serialport (native bindings) loads here, not at import: `earshot --help` imports this module's constants.
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path: options.port, baudRate: options.baudRate ?? 921600, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((error) => (error ? reject(new EarshotError(`--port ${options.port}: cannot open: ${error.message}`, ExitCode.Environment)) : resolve())),
  );
  const report: SimulatorReport = {
    packets: 0,
    frames: 0,
    format: payload.format,
    sampleRate: payload.sampleRate,
    dropped: 0,
    corrupted: 0,
    truncated: 0,
    garbageBursts: 0,
    garbageBytes: 0,
    bytesWritten: 0,
    resends: { requests: 0, sent: 0, notHeld: 0, dropped: 0, corrupted: 0 },
  };
  let failure: Error | null = null;
  // The other end vanishing (a pty closed, an adapter unplugged) is an error on write, or, since
  // the simulator reads resend requests, a read error that closes the port.
  let closing = false;
  port.on('error', (error) => (failure = error));
  port.on('close', (error?: Error | null) => {
    if (!closing) failure ??= error ?? new Error('port closed');
  });
  const write = async (bytes: Uint8Array) => {
    if (failure)
      throw new EarshotError(`--port ${options.port}: lost while writing (${failure.message}); sent ${report.packets} packets`, ExitCode.Environment);
    report.bytesWritten += bytes.length;
    if (!port.write(Buffer.from(bytes))) await new Promise<void>((resolve) => port.once('drain', () => resolve()));
    if (failure)
      throw new EarshotError(
        `--port ${options.port}: lost while writing (${(failure as Error).message}); sent ${report.packets} packets`,
        ExitCode.Environment,
      );
  };
  const rates = { drop: options.dropRate ?? 0, flip: options.bitErrorRate ?? 0 };
  // The device side of resends: the last packets, by sequence number, and the requests read back.
  const depth = options.resendDepth ?? DEFAULT_RESEND_DEPTH;
  const held = new Map<number, Uint8Array>();
  const resendRandom = mulberry32(((options.seed ?? 1) ^ 0x9e3779b9) >>> 0);
  const requests = new PacketDecoder();
  let resending = Promise.resolve();
  port.on('data', (bytes: Buffer) => {
    for (const item of requests.push(bytes)) {
      if (item.packet.type !== 'resend_request' || depth === 0) continue;
      report.resends.requests += 1;
      const { sequence, count } = item.packet;
      resending = resending
        .then(async () => {
          for (let k = 0; k < count; k++) {
            const packet = held.get((sequence + k) >>> 0);
            if (!packet) {
              report.resends.notHeld += 1;
              continue;
            }
            report.resends.sent += 1;
            const wire = injectFault(frameForWire(packet), resendRandom(), resendRandom, rates, report.resends);
            if (wire) await write(wire);
          }
        })
        .catch(() => undefined);
    }
  });
  const origin = performance.now();
  let sequence = 0;
  let sentFrames = 0;
  try {
    for (let pass = 0; pass < (options.repeat ?? 1); pass++) {
      for (let first = 0; first < payload.frames; first += packetFrames) {
        if (signal?.aborted) return report;
        const frames = Math.min(packetFrames, payload.frames - first);
        const packet = encodeAudioPacket({
          sequence,
          sampleRate: payload.sampleRate,
          format: payload.format,
          channels: 1,
          payload: payload.bytes.subarray(first * width, (first + frames) * width),
        });
        sequence = (sequence + 1) >>> 0;
        sentFrames += frames;
        report.packets += 1;
        report.frames += frames;
        if (speed > 0) {
          const deadline = origin + (sentFrames / payload.sampleRate / speed) * 1000;
          const delay = deadline - performance.now();
          if (delay > 1) await sleep(delay);
        }
        if (options.garbageRate && random() < options.garbageRate) {
          const garbage = new Uint8Array(options.garbageBytes ?? 1024);
          for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
          report.garbageBursts += 1;
          report.garbageBytes += garbage.length;
          await write(garbage);
        }
        if (depth > 0) {
          const sent = (sequence - 1) >>> 0;
          held.set(sent, packet);
          held.delete((sent - depth) >>> 0);
        }
        const roll = random();
        const cut = options.truncateRate ?? 0;
        if (roll >= rates.drop + rates.flip && roll < rates.drop + rates.flip + cut) {
          // The packet stops part-way (a UART glitch, a reset mid-packet); the next delimiter ends it.
          const wire = frameForWire(packet);
          const keep = 2 + Math.floor(random() * (wire.length - 3));
          const truncated = new Uint8Array(keep + 1);
          truncated.set(wire.subarray(0, keep));
          report.truncated += 1;
          await write(truncated);
          continue;
        }
        const wire = injectFault(frameForWire(packet), roll, random, rates, report);
        if (!wire) continue;
        await write(wire);
      }
    }
    if (options.endOfStream ?? true)
      await write(frameForWire(encodeStatusPacket({ sequence: (sequence - 1) >>> 0, flags: STATUS_END_OF_STREAM, droppedFrames: 0, gainCentiDb: 0 })));
    // Stay to answer requests for the last packets (the receiver waits for them before it ends).
    if (depth > 0) await sleep(RESEND_LINGER_MS);
    await resending;
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    return report;
  } finally {
    closing = true;
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
