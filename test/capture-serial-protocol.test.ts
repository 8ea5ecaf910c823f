import { crc32 } from 'node:zlib';
import t from 'tap';
import fc from 'fast-check';
import { cobsDecode, cobsEncode } from '../src/capture/serial/cobs.js';
import { mulberry32 } from '../src/random.js';
import {
  encodeAudioPacket,
  encodeStatusPacket,
  frameForWire,
  PacketDecoder,
  STATUS_END_OF_STREAM,
  type AudioPacket,
} from '../src/capture/serial/serial-protocol.js';
import { readWav16, sharedPath } from './helpers/wav16.js';

const clip = readWav16(sharedPath('audio/clips/glass_break_1.wav'));
const PACKET_FRAMES = 256;

/** The clip as s16le packet payloads. */
function payloads(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let first = 0; first < clip.length; first += PACKET_FRAMES) {
    const part = clip.subarray(first, first + PACKET_FRAMES);
    const s16 = new Int16Array(part.length);
    for (let i = 0; i < part.length; i++) s16[i] = Math.round(part[i] * 32768);
    out.push(new Uint8Array(s16.buffer));
  }
  return out;
}

t.test('packets end with CRC-32/ISO-HDLC (zlib): check value of "123456789"', async (t) => {
  t.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  const packet = encodeStatusPacket({ sequence: 9, flags: 2, droppedFrames: 480, gainCentiDb: -350 });
  t.equal(
    new DataView(packet.buffer, packet.byteOffset).getUint32(packet.length - 4, true),
    crc32(packet.subarray(0, packet.length - 4)),
    'the last four bytes, little-endian',
  );
});

t.test('COBS round-trips every length around the 254-byte block boundary, with and without zeros', async (t) => {
  const random = mulberry32(7);
  for (const length of [0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 1000]) {
    for (const zeros of [0, 0.01, 0.5]) {
      const input = new Uint8Array(length).map(() => (random() < zeros ? 0 : 1 + Math.floor(random() * 255)));
      const encoded = cobsEncode(input);
      t.notOk(encoded.includes(0), `no 0x00 in the encoding (${length} bytes, ${zeros} zeros)`);
      t.same(cobsDecode(encoded), input);
    }
  }
});

t.test('a clean stream decodes to exactly the input samples', async (t) => {
  const decoder = new PacketDecoder();
  const received: number[] = [];
  payloads().forEach((payload, sequence) => {
    for (const item of decoder.push(frameForWire(encodeAudioPacket({ sequence, sampleRate: 16000, format: 's16le', channels: 1, payload })))) {
      received.push(...(item.packet as AudioPacket).samples);
    }
  });
  t.equal(received.length, clip.length);
  t.ok(
    received.every((v, i) => v === clip[i]),
    'every sample identical',
  );
  t.equal(decoder.counters.lostPackets, 0);
  t.equal(decoder.counters.crcErrors, 0);
});

t.test('fault injection: flipped bits, dropped and truncated packets, >= 1 MB of garbage; counts exact, resync within one packet', async (t) => {
  const random = mulberry32(20261122);
  const decoder = new PacketDecoder();
  const injected = { flipped: 0, dropped: 0, truncated: 0, garbageBytes: 0, junkFrames: 0, midFrameGarbage: 0 };
  const expectedSamples: number[] = [];
  const receivedSamples: number[] = [];
  const receivedSequences: number[] = [];
  const all = payloads();
  let sequence = 0;
  let lastByte = 0;
  // The clip repeated until more than 1 MB of garbage has gone through.
  while (injected.garbageBytes < 1_100_000) {
    for (const payload of all) {
      const packet = encodeAudioPacket({ sequence, sampleRate: 16000, format: 's16le', channels: 1, payload });
      const wire = frameForWire(packet);
      const roll = random();
      let send: Uint8Array = wire;
      let arrives = true;
      if (roll < 0.03) {
        injected.dropped++;
        arrives = false;
        send = new Uint8Array(0);
      } else if (roll < 0.06) {
        // A bit of a sample byte (past the 16-byte header; COBS adds at most one byte per 254, so
        // offset 20+ of the wire frame is payload), never turning it into a delimiter.
        const at = 20 + Math.floor(random() * (wire.length - 30));
        let flipped = 0;
        do flipped = wire[at] ^ (1 << Math.floor(random() * 8));
        while (flipped === 0);
        send = wire.slice();
        send[at] = flipped;
        injected.flipped++;
        arrives = false;
      } else if (roll < 0.08) {
        send = wire.slice(0, 2 + Math.floor(random() * (wire.length - 3)));
        injected.truncated++;
        arrives = false;
      } else if (roll < 0.1) {
        // Garbage in the middle of a frame: this packet is lost, the next one must arrive.
        const cut = 2 + Math.floor(random() * (wire.length - 4));
        const garbage = new Uint8Array(64).map(() => 1 + Math.floor(random() * 255));
        send = new Uint8Array([...wire.subarray(0, cut), ...garbage, ...wire.subarray(cut)]);
        injected.midFrameGarbage++;
        arrives = false;
      }
      if (arrives) expectedSamples.push(...new Int16Array(payload.slice().buffer).map((v) => v).values());
      let out: Uint8Array = send;
      if (random() < 0.3) {
        // A burst of random bytes between frames: its zero-separated runs are junk frames.
        const garbage = new Uint8Array(2048 + Math.floor(random() * 4096)).map(() => Math.floor(random() * 256));
        let runs = 0;
        for (let i = 0; i < garbage.length; i++) if (garbage[i] !== 0 && (i === 0 || garbage[i - 1] === 0)) runs++;
        injected.garbageBytes += garbage.length;
        injected.junkFrames += runs;
        // After a truncated frame or a burst that ended mid-run there is no delimiter yet: the
        // burst's first run joins the pending frame, which is already counted.
        const before = send.length ? send[send.length - 1] : lastByte;
        if (before !== 0 && garbage[0] !== 0) injected.junkFrames -= 1;
        out = new Uint8Array([...send, ...garbage]);
      }
      if (out.length) lastByte = out[out.length - 1];
      // Fed in random-sized pieces, as a UART driver delivers them.
      for (let at = 0; at < out.length; ) {
        const n = 1 + Math.floor(random() * 300);
        for (const item of decoder.push(out.subarray(at, at + n))) {
          const p = item.packet as AudioPacket;
          receivedSequences.push(p.sequence);
          for (const s of p.samples) receivedSamples.push(Math.round(s * 32768));
        }
        at += n;
      }
      sequence++;
    }
  }
  // The last burst may end mid-run: the delimiter a next frame would bring closes it.
  decoder.push(new Uint8Array([0]));
  const lost = injected.dropped + injected.flipped + injected.truncated + injected.midFrameGarbage;
  t.ok(injected.garbageBytes >= 1_000_000, `${injected.garbageBytes} bytes of garbage`);
  t.equal(
    decoder.counters.lostPackets,
    lost,
    `lost packets = dropped ${injected.dropped} + flipped ${injected.flipped} + truncated ${injected.truncated} + cut by garbage ${injected.midFrameGarbage}`,
  );
  t.equal(decoder.counters.audioPackets, sequence - lost, 'every other packet arrived: resynchronised within one packet after every fault');
  t.ok(decoder.counters.crcErrors >= injected.flipped, `every flipped bit is a CRC failure (${decoder.counters.crcErrors})`);
  t.equal(
    decoder.counters.crcErrors + decoder.counters.malformed,
    injected.flipped + injected.truncated + injected.midFrameGarbage + injected.junkFrames,
    'every damaged frame and every garbage run is counted, once',
  );
  t.ok(
    receivedSequences.every((s, i) => i === 0 || s > receivedSequences[i - 1]),
    'packets in order',
  );
  t.equal(receivedSamples.length, expectedSamples.length);
  t.ok(
    receivedSamples.every((v, i) => v === expectedSamples[i]),
    'the audio that arrived is exactly what was sent',
  );
});

t.test('a flipped bit in the payload is exactly one CRC failure and one lost packet', async (t) => {
  const decoder = new PacketDecoder();
  const payload = payloads()[3];
  decoder.push(frameForWire(encodeAudioPacket({ sequence: 0, sampleRate: 16000, format: 's16le', channels: 1, payload })));
  const bad = frameForWire(encodeAudioPacket({ sequence: 1, sampleRate: 16000, format: 's16le', channels: 1, payload }));
  bad[100] ^= bad[100] === 0x10 ? 0x01 : 0x10;
  t.same(decoder.push(bad), []);
  const next = decoder.push(frameForWire(encodeAudioPacket({ sequence: 2, sampleRate: 16000, format: 's16le', channels: 1, payload })));
  t.equal(next.length, 1);
  t.equal(next[0].lostPackets, 1);
  t.equal(decoder.counters.crcErrors, 1);
  t.equal(decoder.counters.malformed, 0);
});

t.test('status packets: MCU overflow and end of stream', async (t) => {
  const decoder = new PacketDecoder();
  const [item] = decoder.push(frameForWire(encodeStatusPacket({ sequence: 9, flags: 2 | STATUS_END_OF_STREAM, droppedFrames: 480, gainCentiDb: -350 })));
  t.match(item.packet, { type: 'status', overflow: true, clipping: false, endOfStream: true, droppedFrames: 480, gainDb: -3.5 });
});

t.test('property: the decoder never throws and never holds more than one frame, whatever the bytes (fast-check)', async (t) => {
  const valid = frameForWire(encodeAudioPacket({ sequence: 5, sampleRate: 16000, format: 's16le', channels: 1, payload: payloads()[0] }));
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.constant(valid),
          fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => a.map((b) => b | 1)),
        ),
        { maxLength: 12 },
      ),
      (pieces) => {
        const decoder = new PacketDecoder();
        for (const piece of pieces) decoder.push(piece);
        return decoder.counters.bytes === pieces.reduce((n, p) => n + p.length, 0);
      },
    ),
    { numRuns: 20_000, seed: 11 },
  );
  // And a seeded loop of 100k mutated real frames: flipped, cut, spliced.
  const random = mulberry32(99);
  const decoder = new PacketDecoder();
  for (let i = 0; i < 100_000; i++) {
    const frame = valid.slice(0, 1 + Math.floor(random() * valid.length));
    for (let k = Math.floor(random() * 4); k > 0; k--) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
    decoder.push(frame);
  }
  t.ok(decoder.counters.bytes > 0, 'no throw on 100k mutated frames');
});
