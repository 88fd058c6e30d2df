// SplitMix64, the generator the native harness fills its inputs with.
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
