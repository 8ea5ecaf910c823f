/**
 * CRC-32 as used by Ethernet, zlib and PNG (ISO-HDLC): reflected polynomial 0xEDB88320
 * (normal form 0x04C11DB7), initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF. Check value:
 * `crc32("123456789") = 0xCBF43926`. The serial protocol's packets end with it
 * (firmware-interface/PROTOCOL.md); the C encoder computes the same table-driven CRC.
 */

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `bytes[start, end)`.
 * @returns the CRC as an unsigned 32-bit integer
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
