/**
 * The earshot serial microphone protocol (firmware-interface/PROTOCOL.md is the reference; this
 * file and firmware-interface/earshot_encoder.c implement it and are checked against the same
 * vectors in firmware-interface/vectors/).
 *
 * On the wire: `0x00 COBS(packet) 0x00 COBS(packet) 0x00 ...`. A packet (little-endian):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 2 | magic `0xE5 0xA7` |
 * | 2 | 1 | version (1) |
 * | 3 | 1 | type: 1 audio, 2 status (device → host), 3 resend request (host → device) |
 * | 4 | 4 | sequence number (u32; audio packets count 0, 1, 2, ... and wrap) |
 * | audio: 8 | 4 | sample rate, Hz |
 * | 12 | 1 | format: 1 s16le, 2 s24le in 32 bits, 3 f32le |
 * | 13 | 1 | channels (1..8) |
 * | 14 | 2 | frames (samples per channel) in this packet (1..1024) |
 * | 16 | n | interleaved samples |
 * | status: 8 | 2 | flags: bit 0 clipping, bit 1 MCU buffer overflow, bit 2 end of stream |
 * | 10 | 4 | frames the MCU dropped since the last status packet |
 * | 14 | 2 | gain, signed, in 1/100 dB |
 * | resend request: 4 | 4 | (the sequence field) first audio sequence number wanted again |
 * | 8 | 2 | count of consecutive packets wanted (1..{@link MAX_RESEND_COUNT}) |
 * | 10 | 6 | reserved, zero |
 * | end−4 | 4 | CRC-32/ISO-HDLC (zlib's `crc32`, Ethernet, PNG) of every byte before it |
 */
import { crc32 } from 'node:zlib';
import { cobsDecode, cobsEncode } from './cobs.js';

export const MAGIC0 = 0xe5;
export const MAGIC1 = 0xa7;
export const PROTOCOL_VERSION = 1;
export const TYPE_AUDIO = 1;
export const TYPE_STATUS = 2;
export const TYPE_RESEND_REQUEST = 3;
/** Most packets one resend request may ask for. */
export const MAX_RESEND_COUNT = 64;
export const HEADER_BYTES = 16;
export const CRC_BYTES = 4;
export const MAX_FRAMES_PER_PACKET = 1024;
export const MAX_CHANNELS = 8;
export const STATUS_CLIPPING = 1;
export const STATUS_OVERFLOW = 2;
export const STATUS_END_OF_STREAM = 4;

/** Sample formats: code → bytes per sample. */
export type SampleFormat = 's16le' | 's24le32' | 'f32le';
export const FORMAT_CODES: Record<SampleFormat, number> = { s16le: 1, s24le32: 2, f32le: 3 };
const FORMAT_BY_CODE: Record<number, SampleFormat> = { 1: 's16le', 2: 's24le32', 3: 'f32le' };
const BYTES_PER_SAMPLE: Record<SampleFormat, number> = { s16le: 2, s24le32: 4, f32le: 4 };

/** The largest packet: header + 1024 frames × 8 channels × 4 bytes + CRC. */
export const MAX_PACKET_BYTES = HEADER_BYTES + MAX_FRAMES_PER_PACKET * MAX_CHANNELS * 4 + CRC_BYTES;
/** The largest COBS frame a valid packet can give; longer runs without 0x00 are discarded. */
export const MAX_FRAME_BYTES = MAX_PACKET_BYTES + Math.ceil(MAX_PACKET_BYTES / 254) + 1;

/** A decoded audio packet. */
export interface AudioPacket {
  readonly type: 'audio';
  readonly sequence: number;
  readonly sampleRate: number;
  readonly format: SampleFormat;
  readonly channels: number;
  readonly frames: number;
  /** Interleaved samples converted to float32 −1..1 (s16 / 32768, s24 / 8388608). */
  readonly samples: Float32Array;
}

/** A decoded status packet. */
export interface StatusPacket {
  readonly type: 'status';
  readonly sequence: number;
  readonly clipping: boolean;
  readonly overflow: boolean;
  readonly endOfStream: boolean;
  /** Frames the MCU dropped (its own buffer overflowed) since its last status packet. */
  readonly droppedFrames: number;
  /** Gain in dB. */
  readonly gainDb: number;
}

/**
 * A host's request to send audio packets `first, first + 1, ... first + count − 1` (mod 2³²)
 * again (PROTOCOL.md, "Resending lost packets").
 */
export interface ResendRequestPacket {
  readonly type: 'resend_request';
  /** The first sequence number wanted. */
  readonly sequence: number;
  /** 1..{@link MAX_RESEND_COUNT}. */
  readonly count: number;
}

export type Packet = AudioPacket | StatusPacket | ResendRequestPacket;

/** The fields of an audio packet to encode; `payload` is the raw interleaved little-endian sample bytes. */
export interface AudioPacketFields {
  sequence: number;
  sampleRate: number;
  format: SampleFormat;
  channels: number;
  payload: Uint8Array;
}

/** The fields of a status packet to encode. */
export interface StatusPacketFields {
  sequence: number;
  flags: number;
  droppedFrames: number;
  /** Gain in 1/100 dB, −32768..32767. */
  gainCentiDb: number;
}

function header(type: number, sequence: number, length: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  bytes[0] = MAGIC0;
  bytes[1] = MAGIC1;
  bytes[2] = PROTOCOL_VERSION;
  bytes[3] = type;
  view.setUint32(4, sequence >>> 0, true);
  return { bytes, view };
}

/**
 * An audio packet (before COBS).
 * @throws RangeError when the payload is not a whole number of frames, or frames/channels are out of range
 */
export function encodeAudioPacket(fields: AudioPacketFields): Uint8Array {
  const frameBytes = BYTES_PER_SAMPLE[fields.format] * fields.channels;
  const frames = fields.payload.length / frameBytes;
  if (!Number.isInteger(frames) || frames < 1 || frames > MAX_FRAMES_PER_PACKET || fields.channels < 1 || fields.channels > MAX_CHANNELS) {
    throw new RangeError(
      `audio packet: ${fields.payload.length} payload bytes, ${fields.channels} channels of ${fields.format}: not 1..${MAX_FRAMES_PER_PACKET} whole frames`,
    );
  }
  const { bytes, view } = header(TYPE_AUDIO, fields.sequence, HEADER_BYTES + fields.payload.length + CRC_BYTES);
  view.setUint32(8, fields.sampleRate, true);
  bytes[12] = FORMAT_CODES[fields.format];
  bytes[13] = fields.channels;
  view.setUint16(14, frames, true);
  bytes.set(fields.payload, HEADER_BYTES);
  view.setUint32(bytes.length - 4, packetCrc(bytes), true);
  return bytes;
}

/** A status packet (before COBS). */
export function encodeStatusPacket(fields: StatusPacketFields): Uint8Array {
  const { bytes, view } = header(TYPE_STATUS, fields.sequence, HEADER_BYTES + CRC_BYTES);
  view.setUint16(8, fields.flags, true);
  view.setUint32(10, fields.droppedFrames >>> 0, true);
  view.setInt16(14, fields.gainCentiDb, true);
  view.setUint32(bytes.length - 4, packetCrc(bytes), true);
  return bytes;
}

/**
 * A resend request (before COBS): the host asks for `count` audio packets from `first` on again.
 * @throws RangeError when count is not 1..{@link MAX_RESEND_COUNT}
 */
export function encodeResendRequest(first: number, count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 1 || count > MAX_RESEND_COUNT) throw new RangeError(`resend request: count ${count} is not 1..${MAX_RESEND_COUNT}`);
  const { bytes, view } = header(TYPE_RESEND_REQUEST, first, HEADER_BYTES + CRC_BYTES);
  view.setUint16(8, count, true);
  view.setUint32(bytes.length - 4, packetCrc(bytes), true);
  return bytes;
}

/**
 * The CRC of a packet: CRC-32/ISO-HDLC (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF;
 * check value 0xCBF43926, the one the C encoder in firmware-interface/ computes) of every byte
 * before the last four, by node:zlib's `crc32` (Node ≥ 20.15).
 */
function packetCrc(bytes: Uint8Array): number {
  return crc32(bytes.subarray(0, bytes.length - CRC_BYTES));
}

/** A packet as it goes on the wire: `0x00 COBS(packet) 0x00` (the leading delimiter ends any garbage before it). */
export function frameForWire(packet: Uint8Array): Uint8Array {
  const encoded = cobsEncode(packet);
  const wire = new Uint8Array(encoded.length + 2);
  wire.set(encoded, 1);
  return wire;
}

/** Why a frame was rejected. */
export type RejectReason = 'crc' | 'malformed' | 'oversize';

/**
 * Parses one packet (after COBS decoding). Never throws.
 * @returns the packet, or the reason it was rejected: `'crc'` when it looks like a packet
 *   (magic present, at least a header and CRC long) but the CRC does not match; `'malformed'`
 *   for anything else that is not a valid packet (garbage, unknown version or type, bad lengths)
 */
export function parsePacket(bytes: Uint8Array): Packet | RejectReason {
  if (bytes.length < HEADER_BYTES + CRC_BYTES || bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1) return 'malformed';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(bytes.length - 4, true) !== packetCrc(bytes)) return 'crc';
  if (bytes[2] !== PROTOCOL_VERSION) return 'malformed';
  const sequence = view.getUint32(4, true);
  if (bytes[3] === TYPE_STATUS) {
    if (bytes.length !== HEADER_BYTES + CRC_BYTES) return 'malformed';
    const flags = view.getUint16(8, true);
    return {
      type: 'status',
      sequence,
      clipping: (flags & STATUS_CLIPPING) !== 0,
      overflow: (flags & STATUS_OVERFLOW) !== 0,
      endOfStream: (flags & STATUS_END_OF_STREAM) !== 0,
      droppedFrames: view.getUint32(10, true),
      gainDb: view.getInt16(14, true) / 100,
    };
  }
  if (bytes[3] === TYPE_RESEND_REQUEST) {
    const count = view.getUint16(8, true);
    if (bytes.length !== HEADER_BYTES + CRC_BYTES || count < 1 || count > MAX_RESEND_COUNT) return 'malformed';
    return { type: 'resend_request', sequence, count };
  }
  if (bytes[3] !== TYPE_AUDIO) return 'malformed';
  const sampleRate = view.getUint32(8, true);
  const format = FORMAT_BY_CODE[bytes[12]];
  const channels = bytes[13];
  const frames = view.getUint16(14, true);
  if (!format || channels < 1 || channels > MAX_CHANNELS || frames < 1 || frames > MAX_FRAMES_PER_PACKET || sampleRate < 1000 || sampleRate > 192000)
    return 'malformed';
  const width = BYTES_PER_SAMPLE[format];
  const count = frames * channels;
  if (bytes.length !== HEADER_BYTES + count * width + CRC_BYTES) return 'malformed';
  const samples = new Float32Array(count);
  for (let i = 0, at = HEADER_BYTES; i < count; i++, at += width) {
    if (format === 's16le') samples[i] = view.getInt16(at, true) / 32768;
    // s24 in the low three bytes of a 32-bit word, sign-extended from bit 23 (the top byte is ignored).
    else if (format === 's24le32') samples[i] = ((view.getUint32(at, true) << 8) >> 8) / 8388608;
    else {
      const x = view.getFloat32(at, true);
      samples[i] = Number.isFinite(x) ? Math.max(-1, Math.min(1, x)) : 0;
    }
  }
  return { type: 'audio', sequence, sampleRate, format, channels, frames, samples };
}

/** What a {@link PacketDecoder} has seen. All counts since construction. */
export interface DecoderCounters {
  /** Bytes fed in. */
  bytes: number;
  /** Valid audio packets (resent ones included). */
  audioPackets: number;
  /** Valid status packets. */
  statusPackets: number;
  /** Valid resend requests (what a device reads; a host never should). */
  resendRequests: number;
  /** Frames that looked like packets but failed the CRC (dropped). */
  crcErrors: number;
  /** Non-empty frames that were not packets (garbage, truncated or damaged framing). */
  malformed: number;
  /** Runs of more than {@link MAX_FRAME_BYTES} without a delimiter (discarded). */
  oversize: number;
  /** Audio packets missing by sequence number when first noticed (before any resend). */
  lostPackets: number;
  /** Missing audio packets that arrived later, resent (they fill their hole). */
  resentPackets: number;
  /** Audio packets that came again after their hole was given up (a late resend), or twice: dropped. */
  lateResends: number;
  /** Sequence numbers that went backwards or jumped by 2^31 or more (the MCU restarted). */
  sequenceRestarts: number;
}

/** A packet the decoder completed, with what its sequence number says. */
export interface DecodedItem {
  readonly packet: Packet;
  /**
   * Audio packets found missing just before this one (0 for none): sequence numbers
   * `packet.sequence − lostPackets .. packet.sequence − 1` for audio; for a status packet, those
   * after the last audio packet seen up to the one the status names as last sent.
   */
  readonly lostPackets: number;
  /** True when the sequence restarted before this packet (loss unknown). */
  readonly restarted: boolean;
  /** True for an audio packet that fills an earlier hole (the device resent it on request). */
  readonly resent: boolean;
}

/** Sequence numbers of missing packets remembered, so a resend is told from an MCU restart. */
const MAX_REMEMBERED_MISSING = 4096;
/** A jump longer than this (4 s of 256-frame packets at 16 kHz) is not remembered: no device holds that much to resend. */
export const MAX_REMEMBERED_JUMP = 256;

/**
 * Turns a byte stream into packets: splits at 0x00, COBS-decodes, checks the CRC and tracks
 * audio sequence numbers. Remembers the sequence numbers found missing, so that a packet the
 * device resends later (PROTOCOL.md, "Resending lost packets") is recognised as the filling of
 * its hole rather than an MCU restart. Never throws on any input; holds at most
 * {@link MAX_FRAME_BYTES} of frame and {@link MAX_REMEMBERED_MISSING} sequence numbers.
 */
export class PacketDecoder {
  readonly counters: DecoderCounters = {
    bytes: 0,
    audioPackets: 0,
    statusPackets: 0,
    resendRequests: 0,
    crcErrors: 0,
    malformed: 0,
    oversize: 0,
    lostPackets: 0,
    resentPackets: 0,
    lateResends: 0,
    sequenceRestarts: 0,
  };
  private readonly frame = new Uint8Array(MAX_FRAME_BYTES);
  private length = 0;
  private discarding = false;
  private expected: number | null = null;
  /** Missing sequence number → still wanted (true) or given up (false); insertion order = age. */
  private readonly missing = new Map<number, boolean>();

  /** Feeds bytes; returns the packets completed by them, in order. */
  push(chunk: Uint8Array): DecodedItem[] {
    const items: DecodedItem[] = [];
    this.counters.bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== 0) {
        if (this.discarding) continue;
        if (this.length === MAX_FRAME_BYTES) {
          this.discarding = true;
          this.counters.oversize += 1;
          this.length = 0;
          continue;
        }
        this.frame[this.length++] = byte;
        continue;
      }
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (this.length === 0) continue;
      const item = this.completeFrame(this.frame.subarray(0, this.length));
      this.length = 0;
      if (item) items.push(item);
    }
    return items;
  }

  /** Forgets a partial frame (after the port was reopened); sequence tracking carries on. */
  resetFraming(): void {
    this.length = 0;
    this.discarding = false;
  }

  /**
   * The receiver stopped waiting for these missing packets: if one arrives after all, it is a
   * late resend and dropped (its place on the timeline is already a gap).
   */
  giveUp(first: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const sequence = (first + k) >>> 0;
      if (this.missing.has(sequence)) this.missing.set(sequence, false);
    }
  }

  private completeFrame(frame: Uint8Array): DecodedItem | null {
    const decoded = cobsDecode(frame);
    const packet = decoded ? parsePacket(decoded) : 'malformed';
    if (packet === 'crc') {
      this.counters.crcErrors += 1;
      return null;
    }
    if (packet === 'malformed' || packet === 'oversize') {
      this.counters.malformed += 1;
      return null;
    }
    if (packet.type === 'resend_request') {
      this.counters.resendRequests += 1;
      return { packet, lostPackets: 0, restarted: false, resent: false };
    }
    if (packet.type === 'status') {
      this.counters.statusPackets += 1;
      // A status packet names the last audio packet sent: any after the last one seen were lost.
      let lostPackets = 0;
      if (this.expected !== null) {
        const jump = (packet.sequence + 1 - this.expected) >>> 0;
        if (jump > 0 && jump < 0x80000000) {
          lostPackets = this.noteMissing(this.expected, jump);
          this.expected = (packet.sequence + 1) >>> 0;
        }
      }
      return { packet, lostPackets, restarted: false, resent: false };
    }
    const wanted = this.missing.get(packet.sequence);
    if (wanted !== undefined) {
      this.missing.delete(packet.sequence);
      if (!wanted) {
        this.counters.lateResends += 1;
        return null;
      }
      this.counters.audioPackets += 1;
      this.counters.resentPackets += 1;
      return { packet, lostPackets: 0, restarted: false, resent: true };
    }
    this.counters.audioPackets += 1;
    let lostPackets = 0;
    let restarted = false;
    if (this.expected !== null) {
      const jump = (packet.sequence - this.expected) >>> 0;
      if (jump >= 0x80000000) {
        restarted = true;
        this.counters.sequenceRestarts += 1;
      } else if (jump > 0) {
        lostPackets = this.noteMissing(this.expected, jump);
      }
    }
    this.expected = (packet.sequence + 1) >>> 0;
    return { packet, lostPackets, restarted, resent: false };
  }

  /** Counts `count` missing packets from `first` on and remembers short runs; returns count. */
  private noteMissing(first: number, count: number): number {
    this.counters.lostPackets += count;
    if (count <= MAX_REMEMBERED_JUMP) {
      for (let k = 0; k < count; k++) this.missing.set((first + k) >>> 0, true);
      while (this.missing.size > MAX_REMEMBERED_MISSING) this.missing.delete(this.missing.keys().next().value as number);
    }
    return count;
  }
}
