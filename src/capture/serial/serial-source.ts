/**
 * A microcontroller microphone on a serial port (USB-CDC or UART) speaking the earshot serial
 * protocol (firmware-interface/PROTOCOL.md), as an {@link AudioSource}.
 *
 * Faults: a port that is missing (not enumerated yet) or vanishes (unplugged, or the pty's other
 * end closed) is retried with backoff (0.25 s doubling to 2 s) and a log line per state change,
 * never an exit. Lost packets (sequence jumps) are asked for again (PROTOCOL.md, "Resending lost
 * packets"; {@link ResendWindow}) and the audio after them held for up to `resendWaitMs`; what
 * does not come back becomes a gap of `lost × frames-per-packet`. CRC failures and garbage are
 * counted and dropped. After a reconnect the gap is taken from the sequence numbers when they
 * continue, else from the wall clock.
 */
import { performance } from 'node:perf_hooks';
import { SerialPort } from 'serialport';
import type { Logger } from '../../log.js';
import { SAMPLE_RATE } from '../../constants.js';
import type { AudioChunk } from '../../types.js';
import { LiveQueue } from '../live-queue.js';
import { encodeResendRequest, frameForWire, MAX_REMEMBERED_JUMP, PacketDecoder, type AudioPacket, type DecoderCounters } from './serial-protocol.js';
import { ResendWindow, type Released } from './serial-resend.js';
import type { AudioSource, SourceDescription } from '../source.js';
import { TimelineAssembler, type CaptureGap } from '../timeline.js';

/** Options for {@link SerialSource}. */
export interface SerialSourceOptions {
  /** Port path, e.g. `/dev/ttyACM0` or `/dev/serial/by-id/usb-...`. */
  path: string;
  /** Baud rate (ignored by USB-CDC, used by UARTs). */
  baudRate: number;
  /** Samples per delivered chunk at 16 kHz. */
  chunkSamples: number;
  /**
   * How long a hole may wait for its resent packet, ms (default {@link DEFAULT_RESEND_WAIT_MS});
   * 0 = never ask, lost packets are gaps at once.
   */
  resendWaitMs?: number;
  /** Logs reconnects and MCU status changes (optional). */
  log?: Logger;
}

/** Default wait for a resent packet: a UART round trip is a few ms; this covers a busy host. */
export const DEFAULT_RESEND_WAIT_MS = 250;
/** Holes given up, with not one resend ever received, before earshot decides the device does not resend. */
const UNANSWERED_HOLES_LIMIT = 8;

/** How many 16 kHz samples a packet's frames become (sizes gaps of lost packets). */
function samplesAt16k(packet: AudioPacket): number {
  return Math.round((packet.frames * SAMPLE_RATE) / packet.sampleRate);
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
  /** Resend requests written to the device. */
  resendRequestsSent = 0;
  /** Audio packets given up as lost (their resend never came): the gaps. */
  unrecoveredPackets = 0;
  /** Runs of lost packets given up (one gap each). */
  private holesGivenUp = 0;
  private readonly window: ResendWindow;
  /** 16 kHz samples in the last audio packet (sizes a run of lost packets). */
  private packetSamples = 256;

  constructor(private readonly options: SerialSourceOptions) {
    this.timeline = new TimelineAssembler(options.chunkSamples);
    const wait = options.resendWaitMs ?? DEFAULT_RESEND_WAIT_MS;
    this.window = new ResendWindow(wait, wait / 3);
  }

  /** Decoder counters (bytes, packets, CRC errors, lost and resent packets...) with reconnects, MCU drops, resend requests and lost samples. */
  counters(): Record<string, number> {
    return {
      ...this.decoder.counters,
      resendRequestsSent: this.resendRequestsSent,
      unrecoveredPackets: this.unrecoveredPackets,
      reconnects: this.reconnects,
      mcu_dropped_frames: this.mcuDroppedFrames,
      lost_samples: this.timeline.lostSamples,
    } satisfies Record<string, number> & DecoderCounters;
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
            if (!warnedMissing)
              this.options.log?.warn({ port: this.options.path, error, retry_s: backoff / 1000 }, 'serial port not available; retrying with backoff');
            warnedMissing = true;
            await this.queue.take(backoff);
            backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
            continue;
          }
          this.options.log?.info({ port: this.options.path, reconnects: this.reconnects }, 'serial port open');
          warnedMissing = false;
          backoff = MIN_BACKOFF_MS;
        }
        const inputs = await this.queue.take(Math.min(500, this.window.nextDue(performance.now()) ?? 500));
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
        }
        for (const chunk of await this.releaseDue()) yield chunk;
        // The end of the stream waits for open holes (their resends may still be on the way).
        if (this.ended && this.window.held === 0) {
          for (const chunk of this.timeline.flush()) yield chunk;
          return;
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
      if (packet.type === 'resend_request') continue;
      if (packet.type === 'status') {
        if (packet.droppedFrames > 0) this.mcuDroppedFrames += packet.droppedFrames;
        if (packet.overflow || packet.clipping)
          this.options.log?.warn(
            { port: this.options.path, clipping: packet.clipping, overflow: packet.overflow, dropped_frames: packet.droppedFrames, gain_db: packet.gainDb },
            'microphone status',
          );
        if (item.lostPackets > 0)
          this.window.holes((packet.sequence + 1 - item.lostPackets) >>> 0, item.lostPackets, at, this.lostWhileAway ? 'device_lost' : 'packet_loss');
        if (packet.endOfStream) this.ended = true;
        continue;
      }
      if (item.resent) {
        this.window.audio(packet, true);
        continue;
      }
      if (this.ended) continue;
      const packetSamples = samplesAt16k(packet);
      const reason = this.lostWhileAway ? 'device_lost' : 'packet_loss';
      if (item.lostPackets > MAX_REMEMBERED_JUMP) {
        // Longer than any device holds for resending: a gap at once, after what is held.
        out.push(...(await this.deliver(this.window.release(at, true))));
        out.push(...this.timeline.gap(item.lostPackets * packetSamples, reason, { packets: item.lostPackets }));
        this.unrecoveredPackets += item.lostPackets;
      } else if (item.lostPackets > 0) {
        this.window.holes((packet.sequence - item.lostPackets) >>> 0, item.lostPackets, at, reason);
      } else if (this.lostWhileAway && this.lastAudioAt >= 0 && item.restarted) {
        // The MCU restarted while we were away: its sequence numbers say nothing; the clock does.
        out.push(...(await this.deliver(this.window.release(at, true))));
        const away = Math.round(((at - this.lastAudioAt) / 1000) * SAMPLE_RATE) - packetSamples;
        out.push(...this.timeline.gap(away, 'device_lost', { estimated_from: 'clock' }));
      }
      this.lostWhileAway = false;
      this.lastAudioAt = at;
      this.window.audio(packet, false);
    }
    return out;
  }

  /** Releases what the resend window lets go of now and asks the device for the open holes. */
  private async releaseDue(): Promise<AudioChunk[]> {
    const now = performance.now();
    const out = await this.deliver(this.window.release(now));
    const answered = this.decoder.counters.resentPackets + this.decoder.counters.lateResends;
    if (this.window.waitMs > 0 && answered === 0 && this.holesGivenUp >= UNANSWERED_HOLES_LIMIT) {
      this.window.waitMs = 0;
      this.options.log?.warn(
        { port: this.options.path, requests: this.resendRequestsSent, holes: this.holesGivenUp },
        'the device does not resend lost packets (firmware without resend support, or a port that only transmits); lost packets become gaps at once',
      );
      out.push(...(await this.deliver(this.window.release(now))));
    }
    const runs = this.window.waitMs > 0 ? this.window.requests(now) : [];
    if (runs.length > 0 && this.port?.isOpen) {
      for (const run of runs) this.port.write(Buffer.from(frameForWire(encodeResendRequest(run.first, run.count))));
      this.resendRequestsSent += runs.length;
    }
    return out;
  }

  /** Puts released packets and lost runs on the timeline, in order. */
  private async deliver(released: Released[]): Promise<AudioChunk[]> {
    const out: AudioChunk[] = [];
    for (const item of released) {
      if (item.kind === 'lost') {
        this.decoder.giveUp(item.first, item.packets);
        this.unrecoveredPackets += item.packets;
        this.holesGivenUp += 1;
        out.push(...this.timeline.gap(item.packets * this.packetSamples, item.reason, { packets: item.packets }));
        continue;
      }
      const packet: AudioPacket = item.packet;
      this.packetSamples = samplesAt16k(packet);
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
