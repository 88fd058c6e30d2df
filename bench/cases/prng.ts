// Seeded generators for bench inputs: SplitMix64 (the generator the native
// harness fills its inputs with) and a 32-bit SplitMix variant for bulk fills.
const MASK = (1n << 64n) - 1n;

/** A seeded SplitMix64 stream of u64 values as bigint. */
export function splitmix(seed: bigint): () => bigint {
  let state = seed & MASK;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
}

/** A SplitMix-style 32-bit generator (golden-ratio increment, two xor-multiply mixes). */
export function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
}

/** Fills `bytes` (length a multiple of 4) with splitMix32 output. */
export function fillRandom(bytes: Uint8Array, seed: number): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  const next = splitMix32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next();
}
