/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, "Consistent Overhead Byte Stuffing",
 * IEEE/ACM Trans. Networking 7(2), 1999): removes every 0x00 from a packet so that 0x00 can
 * delimit packets on a byte stream; the overhead is at most one byte per 254 bytes plus one.
 * A receiver that joins mid-stream, or loses bytes, resynchronises at the next 0x00.
 */

/** The most bytes {@link cobsEncode} can produce for `length` input bytes. */
export function cobsMaxEncodedLength(length: number): number {
  return length + Math.ceil(length / 254) + 1;
}

/**
 * Encodes one packet (without the 0x00 delimiter).
 * @returns the encoded bytes, none of them 0x00
 */
export function cobsEncode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(input.length));
  let codeIndex = 0;
  let write = 1;
  let code = 1;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i];
    if (byte !== 0) {
      out[write++] = byte;
      code++;
    }
    if (byte === 0 || code === 0xff) {
      out[codeIndex] = code;
      code = 1;
      codeIndex = write++;
      // A full 254-byte block at the very end needs no trailing code byte.
      if (byte !== 0 && i === input.length - 1) {
        return out.slice(0, codeIndex);
      }
    }
  }
  out[codeIndex] = code;
  return out.slice(0, write);
}

/**
 * Decodes one frame (the bytes between two 0x00 delimiters).
 * @returns the packet, or null when the frame is not valid COBS (a 0x00 inside it, or a code
 *   byte pointing past its end): never throws
 */
export function cobsDecode(frame: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(frame.length);
  let read = 0;
  let write = 0;
  while (read < frame.length) {
    const code = frame[read];
    if (code === 0 || read + code > frame.length) return null;
    read++;
    for (let i = 1; i < code; i++) {
      const byte = frame[read++];
      if (byte === 0) return null;
      out[write++] = byte;
    }
    if (code !== 0xff && read < frame.length) out[write++] = 0;
  }
  return out.subarray(0, write);
}
