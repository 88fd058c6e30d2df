// decodePte and pageStateOf (src/host/pte.ts) on entries built by hand from
// the bit positions of the diagram in assembly/pte.ts (R 0, W 1, A 8, D 9,
// COW 10, frame field 12..51, SWAPPED 52, BALLOONED 53, POISONED 54, TRACED
// 55, WP 56, LATENT 57, ELSEWHERE 58): each bit sets exactly its own field;
// the frame field is bits 12..51 and nothing else; the page state follows
// the precedence poisoned > swapped > elsewhere > ballooned > traced >
// unpopulated > zero-mapped > present.
import { describe, expect, it } from "vitest";
import { decodePte, pageStateOf } from "../src/index.js";

const bit = (n: number): bigint => 1n << BigInt(n);
const frame = (hfn: number): bigint => BigInt(hfn) << 12n;

const NONE = {
  present: false, writable: false, accessed: false, dirty: false, cow: false, swapped: false, ballooned: false,
  poisoned: false, traced: false, writeProtected: false, latentError: false, elsewhere: false, hfn: 0,
};

describe("decodePte", () => {
  it("an empty entry has no flag and frame 0", () => {
    expect(decodePte(0n)).toEqual(NONE);
  });

  it.each([
    [0, "present"], [1, "writable"], [8, "accessed"], [9, "dirty"], [10, "cow"], [52, "swapped"], [53, "ballooned"],
    [54, "poisoned"], [55, "traced"], [56, "writeProtected"], [57, "latentError"], [58, "elsewhere"],
  ] as const)("bit %i is %s and nothing else", (n, field) => {
    expect(decodePte(bit(n))).toEqual({ ...NONE, [field]: true });
  });

  it("the frame field is bits 12..51: the widest frame number, and no bit outside leaks into it", () => {
    const widest = 2 ** 40 - 1;
    expect(decodePte(frame(widest)).hfn).toBe(widest);
    expect(decodePte(frame(0x12345)).hfn).toBe(0x12345);
    expect(decodePte(bit(11) | bit(52) | bit(63) | 0x7ffn).hfn).toBe(0);
    expect(decodePte(frame(3) | bit(0) | bit(1) | bit(9))).toEqual({ ...NONE, present: true, writable: true, dirty: true, hfn: 3 });
  });
});

describe("pageStateOf", () => {
  const R = bit(0);
  const W = bit(1);
  it.each([
    ["nothing: unpopulated", 0n, { kind: "unpopulated" }],
    ["a frame without R: unpopulated", frame(5), { kind: "unpopulated" }],
    ["R and a frame: present", R | W | frame(5), { kind: "present", hfn: 5 }],
    ["R and frame 0: zero-mapped", R, { kind: "zero-mapped" }],
    ["R, COW and a frame: zero-mapped", R | bit(10) | frame(5), { kind: "zero-mapped" }],
    ["traced keeps its frame", R | bit(55) | frame(6), { kind: "traced", hfn: 6 }],
    ["traced without R is still traced", bit(55) | frame(6), { kind: "traced", hfn: 6 }],
    ["ballooned", bit(53) | bit(55), { kind: "ballooned" }],
    ["elsewhere names its location", bit(58) | bit(53) | frame(77), { kind: "elsewhere", location: 77 }],
    ["swapped names its slot", bit(52) | bit(58) | frame(9), { kind: "swapped", slot: 9 }],
    ["poisoned (known)", R | bit(54) | bit(52) | frame(8), { kind: "poisoned", hfn: 8, latent: false }],
    ["a latent error is poisoned, latent", R | bit(57) | frame(8), { kind: "poisoned", hfn: 8, latent: true }],
    ["poisoned without a frame", bit(54), { kind: "poisoned", hfn: 0, latent: false }],
  ] as const)("%s", (_what, pte, state) => {
    expect(pageStateOf(pte)).toEqual(state);
  });
});
