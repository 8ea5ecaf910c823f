import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeAudioPacket,
  encodeResendRequest,
  encodeStatusPacket,
  frameForWire,
  MAX_RESEND_COUNT,
  PacketDecoder,
  parsePacket,
  type AudioPacket,
  type SampleFormat,
  type StatusPacket,
} from '../src/capture/serial/serial-protocol.js';
import { REPO } from './helpers/cli.js';

const FIRMWARE = join(REPO, 'firmware-interface');
const VECTORS = join(FIRMWARE, 'vectors');
const FORMATS: Record<string, SampleFormat> = { 1: 's16le', 2: 's24le32', 3: 'f32le' };

const lines = readFileSync(join(VECTORS, 'vectors.txt'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(' '));

t.test('the C encoder, built with the system cc (-std=c99 -Wall -Wextra -Werror -pedantic), passes its host test on the shared vectors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-fw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const binary = join(dir, 'test_encoder');
  execFileSync(
    'cc',
    [
      '-std=c99',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-pedantic',
      '-O2',
      `-I${FIRMWARE}`,
      join(FIRMWARE, 'earshot_encoder.c'),
      join(FIRMWARE, 'test/test_encoder.c'),
      '-o',
      binary,
    ],
    { stdio: 'pipe' },
  );
  let output = '';
  try {
    output = execFileSync(binary, [VECTORS], { encoding: 'utf8' });
  } catch (error) {
    output = (error as { stdout?: string }).stdout ?? String(error);
    t.fail(`C host test failed:\n${output}`);
    return;
  }
  t.notMatch(output, /^not ok/m, 'no failing C check');
  const plan = /^1\.\.(\d+)$/m.exec(output);
  t.ok(plan && Number(plan[1]) >= lines.length + 10, `C checks run: ${plan?.[1]}`);
  for (const [name] of lines) t.match(output, new RegExp(`^ok \\d+ - ${name}: \\d+ bytes, identical to ${name}\\.bin`, 'm'), `C encoder matches ${name}.bin`);
  for (const [name, , first, count] of lines.filter(([, type]) => type === 'resend')) {
    t.match(output, new RegExp(`^ok \\d+ - ${name}: es_rx_push reads first ${first}, count ${count} from ${name}\\.bin`, 'm'), `C receiver reads ${name}.bin`);
  }
  t.match(output, /^ok \d+ - es_rx_push fuzz: \d+ bytes, (\d+) of \1 requests found, 0 spurious$/m, 'C receiver fuzz run finds every request and nothing else');
});

t.test('the TypeScript encoder produces every vector byte for byte, and the decoder reads back every field', async (t) => {
  t.ok(lines.length >= 10, `${lines.length} vectors`);
  for (const [name, type, ...fields] of lines) {
    const wire = new Uint8Array(readFileSync(join(VECTORS, `${name}.bin`)));
    const decoder = new PacketDecoder();
    const items = decoder.push(wire);
    t.equal(items.length, 1, `${name}: one packet decoded`);
    if (type === 'audio') {
      const [sequence, rate, format, channels, hex] = fields;
      const payload = new Uint8Array(Buffer.from(hex, 'hex'));
      const mine = frameForWire(
        encodeAudioPacket({ sequence: Number(sequence), sampleRate: Number(rate), format: FORMATS[format], channels: Number(channels), payload }),
      );
      t.same(Buffer.from(mine), Buffer.from(wire), `${name}: TypeScript encoding identical`);
      const packet = items[0].packet as AudioPacket;
      t.match(
        packet,
        { type: 'audio', sequence: Number(sequence), sampleRate: Number(rate), format: FORMATS[format], channels: Number(channels) },
        `${name}: header fields`,
      );
      const view = new DataView(payload.buffer);
      const width = FORMATS[format] === 's16le' ? 2 : 4;
      const expected = Array.from({ length: payload.length / width }, (_, i) =>
        FORMATS[format] === 's16le'
          ? view.getInt16(i * 2, true) / 32768
          : FORMATS[format] === 's24le32'
            ? ((view.getUint32(i * 4, true) << 8) >> 8) / 8388608
            : Math.fround(view.getFloat32(i * 4, true)),
      );
      t.ok(packet.samples.length === expected.length && packet.samples.every((v, i) => v === Math.fround(expected[i])), `${name}: samples`);
    } else if (type === 'resend') {
      const [first, count] = fields.map(Number);
      const packet = encodeResendRequest(first, count);
      t.same(Buffer.from(frameForWire(packet)), Buffer.from(wire), `${name}: TypeScript encoding identical`);
      t.same(parsePacket(packet), { type: 'resend_request', sequence: first, count }, `${name}: parsePacket reads first and count`);
      t.same(items[0].packet, { type: 'resend_request', sequence: first, count }, `${name}: decoded from the wire bytes`);
    } else {
      t.equal(type, 'status', `${name}: known vector type`);
      const [sequence, flags, dropped, gain] = fields.map(Number);
      const mine = frameForWire(encodeStatusPacket({ sequence, flags, droppedFrames: dropped, gainCentiDb: gain }));
      t.same(Buffer.from(mine), Buffer.from(wire), `${name}: TypeScript encoding identical`);
      t.match(
        items[0].packet as StatusPacket,
        {
          type: 'status',
          sequence,
          droppedFrames: dropped,
          gainDb: gain / 100,
          clipping: (flags & 1) !== 0,
          overflow: (flags & 2) !== 0,
          endOfStream: (flags & 4) !== 0,
        },
        `${name}: status fields`,
      );
    }
  }
});

t.test('the resend-request vectors cover the count range and the sequence wrap, 23 bytes each', async (t) => {
  const resends = lines.filter(([, type]) => type === 'resend').map(([name, , first, count]) => ({ name, first: Number(first), count: Number(count) }));
  t.ok(resends.length >= 2, `${resends.length} resend vectors`);
  t.ok(resends.some((r) => r.count === 1) && resends.some((r) => r.count === MAX_RESEND_COUNT), 'counts 1 and 64');
  t.ok(
    resends.some((r) => r.first + r.count - 1 > 0xffffffff),
    'one asks across the 2^32 wrap',
  );
  for (const { name } of resends) t.equal(readFileSync(join(VECTORS, `${name}.bin`)).length, 23, `${name}: 23 bytes on the wire`);
});
