// mulberry32 (src/sim/prng.ts), the TypeScript-side PRNG that picks the pages
// a scenario poisons and the data tests write: its outputs equal an oracle
// written from the published algorithm in BigInt arithmetic (no Math.imul,
// no >>> 0), for seeds that need the seed's u32 reduction too.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../src/sim/prng.js";

const U32 = (1n << 32n) - 1n;

/** mulberry32 in BigInt: state += 0x6D2B79F5; three xor-shift-multiply steps, all mod 2^32. */
function oracle(seed: number, count: number): number[] {
  let a = BigInt.asUintN(32, BigInt(seed));
  const mul = (x: bigint, y: bigint): bigint => (x * y) & U32;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5n) & U32;
    let t = mul(a ^ (a >> 15n), a | 1n);
    t = t ^ ((t + mul(t ^ (t >> 7n), t | 61n)) & U32);
    out.push(Number(t ^ (t >> 14n)));
  }
  return out;
}

describe("mulberry32", () => {
  it.each([0, 1, 42, 2024, 0x5eed ^ 1, 0xffff_ffff, -1, 2 ** 32 + 7])("seed %s gives the oracle's first 1,000 outputs", (seed) => {
    const next = mulberry32(seed);
    const got = Array.from({ length: 1000 }, () => next());
    expect(got).toEqual(oracle(seed, 1000));
  });

  it("two generators of one seed are independent streams with equal values", () => {
    const a = mulberry32(9);
    const b = mulberry32(9);
    const first = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(first);
    expect(new Set(first).size).toBe(3);
  });
});
