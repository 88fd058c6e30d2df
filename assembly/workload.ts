// Seeded guest access generators: uniform, Zipf, hot/cold, sequential sweep.
// Each fills access records (see mmu.ts) from a descriptor holding its PRNG state.

/** Sets up the generator descriptor at `descPtr`. Returns 0 or a negative status. */
export function workloadInit(
  descPtr: usize, kind: u32, seed: u64, firstPage: u64, pageCount: u64,
  writeFraction: f64, accessBytes: u32, p1: f64, p2: f64,
): i32 {
  return 0;
}

/** Writes `count` access records to `outPtr` from the generator at `descPtr`. */
export function workloadGenerate(descPtr: usize, outPtr: usize, count: u32): void {}

/** Index of the first record of `count` at `ptr` that is invalid for a guest of `guestPages`, or `count`. */
export function traceValidate(ptr: usize, count: u32, guestPages: u64): u32 {
  return count;
}
