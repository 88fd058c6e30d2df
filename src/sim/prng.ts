// A small seeded PRNG for TypeScript-side choices (which pages get errors,
// test data): mulberry32. The guest's own accesses use SplitMix64 in wasm.

/** A function returning uniform integers in [0, 2^32) from `seed`. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
