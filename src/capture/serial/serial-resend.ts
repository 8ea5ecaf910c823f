/**
 * The host side of resending lost serial packets (firmware-interface/PROTOCOL.md, "Resending
 * lost packets"): holds the audio that follows a hole for up to a wait, says which packets to
 * ask the device for again, and releases everything in sequence order, each hole either filled
 * by its resent packet or given up as lost. Pure bookkeeping on an explicit clock (milliseconds);
 * the serial source does the I/O.
 */
import { MAX_RESEND_COUNT, type AudioPacket } from './serial-protocol.js';
import type { GapReason } from '../timeline.js';

/** What {@link ResendWindow} lets go of, in sequence order. */
export type Released =
  | { readonly kind: 'audio'; readonly packet: AudioPacket }
  /** `packets` consecutive audio packets from `first` on that never came (a gap on the timeline), with the reason given when they went missing. */
  | { readonly kind: 'lost'; readonly first: number; readonly packets: number; readonly reason: GapReason };

/** A run of consecutive sequence numbers to ask for again. */
export interface ResendRun {
  readonly first: number;
  readonly count: number;
}

interface Slot {
  readonly sequence: number;
  packet: AudioPacket | null;
  readonly reason: GapReason;
  /** Holes only: when to give up, and when to ask (again). */
  readonly deadline: number;
  askAt: number;
}

/** Slots held at most (a hole open this long is given up early): 2 s of 256-frame packets at 16 kHz. */
const MAX_HELD = 128;

/**
 * Holes and the packets after them. With `waitMs` 0 nothing is held: a hole is released as lost
 * at once, which is the receiver without resends.
 */
export class ResendWindow {
  private readonly slots: Slot[] = [];

  /**
   * @param waitMs how long a hole may stay open (ms); 0 = never wait
   * @param retryMs how often an open hole is asked for again (ms)
   */
  constructor(
    public waitMs: number,
    private readonly retryMs: number,
  ) {}

  /** Packets and holes held. */
  get held(): number {
    return this.slots.length;
  }

  /**
   * Notes `count` missing packets from `first` on (a sequence jump the decoder reported).
   * @param now clock, ms
   */
  holes(first: number, count: number, now: number, reason: GapReason = 'packet_loss'): void {
    for (let k = 0; k < count; k++) this.slots.push({ sequence: (first + k) >>> 0, packet: null, reason, deadline: now + this.waitMs, askAt: now });
  }

  /**
   * Adds an audio packet: a resent one fills its hole; any other goes after what is held.
   * @returns false when a resent packet has no open hole (it is dropped)
   */
  audio(packet: AudioPacket, resent: boolean): boolean {
    if (resent) {
      const slot = this.slots.find((s) => s.packet === null && s.sequence === packet.sequence);
      if (!slot) return false;
      slot.packet = packet;
      return true;
    }
    this.slots.push({ sequence: packet.sequence, packet, reason: 'packet_loss', deadline: 0, askAt: Infinity });
    return true;
  }

  /**
   * Lets go of what is ready: packets from the front while they are present, and holes whose
   * wait is over (or all holes, with `flush`, at the end of the stream; or the oldest, when more
   * than {@link MAX_HELD} slots are held).
   */
  release(now: number, flush = false): Released[] {
    const out: Released[] = [];
    while (this.slots.length > 0) {
      const head = this.slots[0];
      if (head.packet) {
        out.push({ kind: 'audio', packet: head.packet });
        this.slots.shift();
        continue;
      }
      if (!(flush || head.deadline <= now || this.waitMs <= 0 || this.slots.length > MAX_HELD)) break;
      let packets = 0;
      while (packets < this.slots.length && this.slots[packets].packet === null && this.slots[packets].reason === head.reason) packets += 1;
      out.push({ kind: 'lost', first: head.sequence, packets, reason: head.reason });
      this.slots.splice(0, packets);
    }
    return out;
  }

  /**
   * The runs to ask for now (each ≤ {@link MAX_RESEND_COUNT}); marks them asked until `retryMs` later.
   */
  requests(now: number): ResendRun[] {
    const runs: ResendRun[] = [];
    let run: { first: number; count: number } | null = null;
    for (const slot of this.slots) {
      const due = slot.packet === null && slot.askAt <= now;
      if (due) slot.askAt = now + this.retryMs;
      if (due && run && run.count < MAX_RESEND_COUNT && (run.first + run.count) >>> 0 === slot.sequence) run.count += 1;
      else if (due) {
        run = { first: slot.sequence, count: 1 };
        runs.push(run);
      } else run = null;
    }
    return runs;
  }

  /** Milliseconds until something is due (a deadline or a retry), or null when no hole is open. */
  nextDue(now: number): number | null {
    let due = Infinity;
    for (const slot of this.slots) if (slot.packet === null) due = Math.min(due, slot.deadline, slot.askAt);
    return Number.isFinite(due) ? Math.max(0, due - now) : null;
  }
}
