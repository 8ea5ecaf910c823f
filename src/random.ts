/**
 * A small seeded pseudo-random generator, for what must be reproducible from a seed: fault
 * placement in the serial simulator, background-clip placement in a replayed file, seeded tests.
 * Not for anything secret.
 */

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator, public domain).
 * @param seed any number; its low 32 bits are used
 * @returns a function giving uniform numbers in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * FNV-1a (32-bit) of a string's UTF-16 code units: a seed from a text such as a stream id.
 * @returns an unsigned 32-bit integer
 */
export function fnv1a32(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
