/**
 * A microcontroller microphone on a serial port (USB-CDC or UART) speaking the earshot serial
 * protocol (firmware-interface/PROTOCOL.md), as an {@link AudioSource}.
 *
 * Faults: a port that is missing (not enumerated yet) or vanishes (unplugged, or the pty's other
 * end closed) is retried with backoff (0.25 s doubling to 2 s) and a log line per state change,
 * never an exit. Lost packets (sequence jumps) become gaps of `lost × frames-per-packet`; CRC
 * failures and garbage are counted and dropped. After a reconnect the gap is taken from the
 * sequence numbers when they continue, else from the wall clock.
 */
import { performance } from 'node:perf_hooks';
import { SerialPort } from 'serialport';
import type { Logger } from '../log.js';
import { SAMPLE_RATE, type AudioChunk } from '../types.js';
import { LiveQueue } from './live-queue.js';
import { PacketDecoder, type DecoderCounters } from './serial-protocol.js';
import type { AudioSource, SourceDescription } from './source.js';
import { TimelineAssembler, type CaptureGap } from './timeline.js';

/** Options for {@link SerialSource}. */
export interface SerialSourceOptions {
  /** Port path, e.g. `/dev/ttyACM0` or `/dev/serial/by-id/usb-...`. */
  path: string;
  /** Baud rate (ignored by USB-CDC, used by UARTs). */
  baudRate: number;
  /** Samples per delivered chunk at 16 kHz. */
  chunkSamples: number;
  /** Logs reconnects and MCU status changes (optional). */
  log?: Logger;
}

type Input = { kind: 'data'; bytes: Buffer; at: number } | { kind: 'closed'; error?: string };

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 2000;
/** A port silent this long is closed and reopened (unplug detected within 2 s). */
const SILENCE_REOPEN_MS = 2000;

/** See the module notes. Counters are live (`counters`, `lostSamples`). */
export class SerialSource implements AudioSource {
  readonly decoder = new PacketDecoder();
  private readonly timeline: TimelineAssembler;
  private readonly queue = new LiveQueue<Input>();
  private port: SerialPort | null = null;
  private stopped = false;
  private pendingGaps: CaptureGap[] = [];
  /** performance.now() when the last audio packet arrived, and its duration in 16 kHz samples. */
  private lastAudioAt = -1;
  private lostWhileAway = false;
  /** Times the port was lost and reopened. */
  reconnects = 0;
  /** MCU-reported dropped frames (status packets). */
  mcuDroppedFrames = 0;

  constructor(private readonly options: SerialSourceOptions) {
    this.timeline = new TimelineAssembler(options.chunkSamples);
  }

  /** Decoder counters (bytes, packets, CRC errors, lost packets...) with reconnects, MCU drops and lost samples. */
  counters(): Record<string, number> {
    return { ...this.decoder.counters, reconnects: this.reconnects, mcu_dropped_frames: this.mcuDroppedFrames, lost_samples: this.timeline.lostSamples } satisfies Record<string, number> & DecoderCounters;
  }

  /** 16 kHz samples recorded as gaps so far. */
  get lostSamples(): number {
    return this.timeline.lostSamples;
  }

  async open(): Promise<SourceDescription> {
    return { uri: `serial:${this.options.path}`, details: { baud: this.options.baudRate } };
  }

  async *chunks(): AsyncGenerator<AudioChunk, void, undefined> {
    let backoff = MIN_BACKOFF_MS;
    let warnedMissing = false;
    try {
      while (!this.stopped) {
        if (!this.port) {
          const error = await this.connect();
          if (error) {
            if (!warnedMissing) this.options.log?.warn({ port: this.options.path, error, retry_s: backoff / 1000 }, 'serial port not available; retrying with backoff');
            warnedMissing = true;
            await this.queue.take(backoff);
            backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
            continue;
          }
          this.options.log?.info({ port: this.options.path, reconnects: this.reconnects }, 'serial port open');
          warnedMissing = false;
          backoff = MIN_BACKOFF_MS;
        }
        const inputs = await this.queue.take(500);
        if (inputs.length === 0 && this.port && performance.now() - this.lastBytesAt > SILENCE_REOPEN_MS) {
          // No bytes for 2 s: a device that vanished without a read error (seen with ptys on a
          // loaded machine) or a hung adapter. Reopening tells the two apart: a vanished port fails
          // to open and is retried with backoff; a live one simply opens again.
          const port = this.port;
          this.lastBytesAt = performance.now();
          this.closePort();
          inputs.push({ kind: 'closed', error: `no data for ${SILENCE_REOPEN_MS / 1000} s` });
          void port;
        }
        for (const input of inputs) {
          if (input.kind === 'closed') {
            this.port = null;
            this.decoder.resetFraming();
            this.reconnects += 1;
            this.lostWhileAway = true;
            this.options.log?.warn({ port: this.options.path, error: input.error }, 'serial port lost; keeping the stream and reconnecting');
            for (const chunk of this.timeline.flush()) yield chunk;
            break;
          }
          for (const chunk of await this.handleBytes(input.bytes, input.at)) yield chunk;
          if (this.ended) {
            for (const chunk of this.timeline.flush()) yield chunk;
            return;
          }
        }
      }
      for (const chunk of this.timeline.flush()) yield chunk;
    } finally {
      this.closePort();
      this.timeline.destroy();
    }
  }

  /** Gaps recorded since the last call (for the gaps table and the log). */
  takeGaps(): CaptureGap[] {
    const gaps = [...this.pendingGaps, ...this.timeline.takeGaps()];
    this.pendingGaps = [];
    return gaps;
  }

  stop(): void {
    this.stopped = true;
    this.queue.wake();
  }

  private ended = false;
  private lastBytesAt = 0;

  private async handleBytes(bytes: Buffer, at: number): Promise<AudioChunk[]> {
    const out: AudioChunk[] = [];
    for (const item of this.decoder.push(bytes)) {
      const packet = item.packet;
      if (packet.type === 'status') {
        if (packet.droppedFrames > 0) this.mcuDroppedFrames += packet.droppedFrames;
        if (packet.overflow || packet.clipping) this.options.log?.warn({ port: this.options.path, clipping: packet.clipping, overflow: packet.overflow, dropped_frames: packet.droppedFrames, gain_db: packet.gainDb }, 'microphone status');
        if (packet.endOfStream) {
          this.ended = true;
          break;
        }
        continue;
      }
      const packetSamples = Math.round((packet.frames * SAMPLE_RATE) / packet.sampleRate);
      if (item.lostPackets > 0) {
        out.push(...this.timeline.gap(item.lostPackets * packetSamples, this.lostWhileAway ? 'device_lost' : 'packet_loss', { packets: item.lostPackets }));
      } else if (this.lostWhileAway && this.lastAudioAt >= 0 && item.restarted) {
        // The MCU restarted while we were away: its sequence numbers say nothing; the clock does.
        const away = Math.round(((at - this.lastAudioAt) / 1000) * SAMPLE_RATE) - packetSamples;
        out.push(...this.timeline.gap(away, 'device_lost', { estimated_from: 'clock' }));
      }
      this.lostWhileAway = false;
      this.lastAudioAt = at;
      out.push(...(await this.timeline.audio(packet.samples, packet.sampleRate, packet.channels)));
    }
    return out;
  }

  /** Opens the port; resolves to an error message, or null when open. */
  private connect(): Promise<string | null> {
    return new Promise((resolve) => {
      const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate, autoOpen: false });
      port.open((error) => {
        if (error) {
          resolve(error.message);
          return;
        }
        this.port = port;
        this.lastBytesAt = performance.now();
        port.on('data', (bytes: Buffer) => {
          this.lastBytesAt = performance.now();
          this.queue.push({ kind: 'data', bytes, at: this.lastBytesAt });
        });
        // Unplugging a USB-CDC device or closing a pty gives EIO on read: serialport closes the port.
        port.once('close', (err?: Error | null) => {
          if (this.port === port) this.queue.push({ kind: 'closed', error: err?.message ?? 'closed' });
        });
        port.on('error', () => {
          /* 'close' follows and is what we act on */
        });
        resolve(null);
      });
    });
  }

  private closePort(): void {
    const port = this.port;
    this.port = null;
    if (port?.isOpen) port.close(() => undefined);
  }
}
