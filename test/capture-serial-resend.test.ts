// The host's side of resending lost serial packets: the decoder tells a resent packet from an MCU
// restart, and the resend window holds audio behind a hole, asks for it, and releases everything
// in order (PROTOCOL.md, "Resending lost packets"). Real packets, an explicit clock.
import t from 'tap';
import {
  encodeAudioPacket,
  encodeResendRequest,
  encodeStatusPacket,
  frameForWire,
  PacketDecoder,
  STATUS_END_OF_STREAM,
  type AudioPacket,
} from '../src/capture/serial/serial-protocol.js';
import { ResendWindow, type Released } from '../src/capture/serial/serial-resend.js';

function wire(sequence: number): Uint8Array {
  const payload = new Uint8Array(512);
  new DataView(payload.buffer).setInt16(0, sequence, true);
  return frameForWire(encodeAudioPacket({ sequence, sampleRate: 16000, format: 's16le', channels: 1, payload }));
}

function audio(decoder: PacketDecoder, sequence: number) {
  const items = decoder.push(wire(sequence));
  return items[0];
}

const order = (released: Released[]) => released.map((r) => (r.kind === 'audio' ? r.packet.sequence : `lost ${r.first}+${r.packets}`));

t.test('decoder: a resent packet fills its hole; it is not an MCU restart', async (t) => {
  const decoder = new PacketDecoder();
  for (const s of [10, 11, 14]) audio(decoder, s);
  t.equal(decoder.counters.lostPackets, 2, '12 and 13 missing');
  const resent = audio(decoder, 12);
  t.match(resent, { resent: true, restarted: false, lostPackets: 0 });
  t.equal(decoder.counters.sequenceRestarts, 0);
  t.equal(decoder.counters.resentPackets, 1);
  // 13 given up: when it comes after all, it is late and dropped.
  decoder.giveUp(13, 1);
  t.equal(audio(decoder, 13), undefined, 'a late resend is dropped');
  t.equal(decoder.counters.lateResends, 1);
  // The stream goes on from 15 without a jump; a real restart (back to 0) is still one.
  t.match(audio(decoder, 15), { lostPackets: 0, resent: false });
  t.match(audio(decoder, 0), { restarted: true });
  t.equal(decoder.counters.sequenceRestarts, 1);
});

t.test('decoder: the end-of-stream status packet reveals the lost last packets', async (t) => {
  const decoder = new PacketDecoder();
  audio(decoder, 0);
  audio(decoder, 1);
  const [status] = decoder.push(frameForWire(encodeStatusPacket({ sequence: 3, flags: STATUS_END_OF_STREAM, droppedFrames: 0, gainCentiDb: 0 })));
  t.match(status, { lostPackets: 2 });
  t.equal(decoder.counters.lostPackets, 2);
  t.match(audio(decoder, 3), { resent: true }, 'and a resend of one of them is recognised');
});

t.test('decoder: a resend request is parsed (what a device reads)', async (t) => {
  const decoder = new PacketDecoder();
  const [item] = decoder.push(frameForWire(encodeResendRequest(0xfffffffe, 64)));
  t.same(item.packet, { type: 'resend_request', sequence: 0xfffffffe, count: 64 });
  t.throws(() => encodeResendRequest(0, 65), RangeError);
  t.throws(() => encodeResendRequest(0, 0), RangeError);
});

function packet(sequence: number): AudioPacket {
  return { type: 'audio', sequence, sampleRate: 16000, format: 's16le', channels: 1, frames: 256, samples: new Float32Array(256) };
}

t.test('window: audio after a hole is held until the resend fills it, then released in order', async (t) => {
  const window = new ResendWindow(250, 80);
  window.audio(packet(1), false);
  t.same(order(window.release(0)), [1]);
  window.holes(2, 2, 10);
  window.audio(packet(4), false);
  window.audio(packet(5), false);
  t.same(window.requests(10), [{ first: 2, count: 2 }], 'one request for the run');
  t.same(window.requests(20), [], 'not again before the retry interval');
  t.same(order(window.release(20)), [], 'held behind the hole');
  window.audio(packet(3), true);
  t.same(order(window.release(30)), [], 'still held: 2 is missing');
  t.same(window.requests(90), [{ first: 2, count: 1 }], 'asked again for what is still missing');
  t.equal(window.nextDue(90), 80, 'next retry due in 80 ms');
  window.audio(packet(2), true);
  t.same(order(window.release(100)), [2, 3, 4, 5], 'all of it, in sequence order');
  t.equal(window.held, 0);
  t.equal(window.nextDue(100), null);
  t.notOk(window.audio(packet(2), true), 'a resend without an open hole is refused');
});

t.test('window: a hole still open after the wait is lost; what follows goes on', async (t) => {
  const window = new ResendWindow(250, 80);
  window.holes(7, 3, 0);
  window.audio(packet(10), false);
  window.audio(packet(8), true);
  t.same(order(window.release(249)), []);
  t.same(order(window.release(250)), ['lost 7+1', 8, 'lost 9+1', 10]);
});

t.test('window: without a wait, holes are lost at once (a receiver without resends)', async (t) => {
  const window = new ResendWindow(0, 0);
  window.holes(1, 2, 0, 'device_lost');
  window.audio(packet(3), false);
  const released = window.release(0);
  t.same(order(released), ['lost 1+2', 3]);
  t.match(released[0], { reason: 'device_lost' });
});

t.test('window: requests are split at 64 packets and hold no more than 128 slots', async (t) => {
  const window = new ResendWindow(10_000, 1000);
  window.holes(0xffffffc0, 100, 0);
  t.same(
    window.requests(0),
    [
      { first: 0xffffffc0, count: 64 },
      { first: 0, count: 36 },
    ],
    'across the 2^32 wrap',
  );
  for (let s = 36; s < 70; s++) window.audio(packet(s), false);
  t.same(
    order(window.release(1)),
    [`lost ${0xffffffc0}+100`, ...Array.from({ length: 34 }, (_, k) => 36 + k)],
    'over 128 held: the open holes are given up early',
  );
  t.equal(window.held, 0);
});
