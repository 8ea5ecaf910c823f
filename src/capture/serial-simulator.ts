/**
 * A serial microphone without hardware: streams a WAV file through the earshot serial protocol
 * (firmware-interface/PROTOCOL.md) to a port (a USB-serial adapter looped to the sensor, or one
 * end of a `socat` pseudo-terminal pair), paced like a microphone. Optionally injects faults —
 * dropped, bit-flipped and truncated packets, and random garbage between packets — from a seeded
 * generator, and reports exactly what it injected, so a receiver's counters can be checked.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialPort } from 'serialport';
import { EarshotError } from '../errors.js';
import { mulberry32 } from '../random.js';
import { encodeAudioPacket, encodeStatusPacket, frameForWire, STATUS_END_OF_STREAM, type SampleFormat } from './serial-protocol.js';
import { readWavAsync } from './wav.js';

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
  const port = new SerialPort({ path: options.port, baudRate: options.baudRate ?? 921600, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((error) => (error ? reject(new EarshotError(`--port ${options.port}: cannot open: ${error.message}`, 3)) : resolve())),
  );
  const report: SimulatorReport = { packets: 0, frames: 0, format: payload.format, sampleRate: payload.sampleRate, dropped: 0, corrupted: 0, truncated: 0, garbageBursts: 0, garbageBytes: 0, bytesWritten: 0 };
  let failure: Error | null = null;
  // The other end vanishing (a pty closed, an adapter unplugged) is an error on write.
  port.on('error', (error) => (failure = error));
  const write = async (bytes: Uint8Array) => {
    if (failure) throw new EarshotError(`--port ${options.port}: lost while writing (${failure.message}); sent ${report.packets} packets`, 3);
    report.bytesWritten += bytes.length;
    if (!port.write(Buffer.from(bytes))) await new Promise<void>((resolve) => port.once('drain', () => resolve()));
    if (failure) throw new EarshotError(`--port ${options.port}: lost while writing (${(failure as Error).message}); sent ${report.packets} packets`, 3);
  };
  const origin = performance.now();
  let sequence = 0;
  let sentFrames = 0;
  try {
    for (let pass = 0; pass < (options.repeat ?? 1); pass++) {
      for (let first = 0; first < payload.frames; first += packetFrames) {
        if (signal?.aborted) return report;
        const frames = Math.min(packetFrames, payload.frames - first);
        const packet = encodeAudioPacket({ sequence, sampleRate: payload.sampleRate, format: payload.format, channels: 1, payload: payload.bytes.subarray(first * width, (first + frames) * width) });
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
        const roll = random();
        const drop = options.dropRate ?? 0;
        const flip = options.bitErrorRate ?? 0;
        const cut = options.truncateRate ?? 0;
        const wire = frameForWire(packet);
        if (roll < drop) {
          report.dropped += 1;
          continue;
        } else if (roll < drop + flip) {
          // One bit of the COBS body, never one that would turn a byte into the 0x00 delimiter.
          for (;;) {
            const at = 1 + Math.floor(random() * (wire.length - 2));
            const flipped = wire[at] ^ (1 << Math.floor(random() * 8));
            if (flipped !== 0) {
              wire[at] = flipped;
              break;
            }
          }
          report.corrupted += 1;
        } else if (roll < drop + flip + cut) {
          // The packet stops part-way (a UART glitch, a reset mid-packet); the next delimiter ends it.
          const keep = 2 + Math.floor(random() * (wire.length - 3));
          const truncated = new Uint8Array(keep + 1);
          truncated.set(wire.subarray(0, keep));
          report.truncated += 1;
          await write(truncated);
          continue;
        }
        await write(wire);
      }
    }
    if (options.endOfStream ?? true) await write(frameForWire(encodeStatusPacket({ sequence: (sequence - 1) >>> 0, flags: STATUS_END_OF_STREAM, droppedFrames: 0, gainCentiDb: 0 })));
    await new Promise<void>((resolve) => port.drain(() => resolve()));
    return report;
  } finally {
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
