// Harvest of the accessed or dirty bits of a VM's nested page table into a
// bitmap (1 bit per guest page, bit g % 64 of u64 word g / 64): fetch and
// clear, as a KVM dirty-log read does. Unpopulated subtrees are skipped;
// within a leaf table, sparse mode skips 16 clean entries for 8 vector loads
// and no stores, and dense mode is branch-free (16 bitmap bits per 16
// entries). Also: write-protect and trace a set of pages.
import { frameAddr } from "./layout";
import { VM_GUEST_PAGES, VM_ROOT, pteFrame, vmDesc } from "./npt";
import { transition } from "./page-state";
import { PTE_R } from "./pte";

/** The low u32 of each u64 lane of `a` and `b`: [a0 a1 b0 b1] (one shufps on x86). */
// @ts-ignore: decorator
@inline function lows(a: v128, b: v128): v128 {
  return v128.shuffle<i32>(a, b, 0, 2, 4, 6);
}

/**
 * Bit `bit` (8..14) of the 16 entries at `p`, fetched and cleared (8 loads,
 * 8 stores), returned as a 16-bit mask in entry order (bit i = entry i).
 * `keep` is ~(1 << bit) in each u64 lane (an AND, where an AND-NOT costs V8
 * a register copy per vector), `m32` is 1 << bit in each u32 lane.
 * The bit lives in the low u32 of an entry: gather the low halves, mask
 * them (0 or 1 << bit), and narrow with unsigned saturation: i32 -> u16
 * keeps 1 << bit (< 2^15), i16 -> u8 turns it into 0xff, whose sign bit
 * i8x16.bitmask collects. (Bits under 8 would not reach a byte's sign, bit
 * 15 and up would read as negative and saturate to 0.)
 *
 *   8 x v128 (u64 lanes):  [e0 e1] [e2 e3] ... [e14 e15]
 *   lows, & m32 (u32):     4 x [e0 e1 e2 e3] ...           0 or 1 << bit
 *   narrow i32 -> u16:     2 x [e0 ... e7], [e8 ... e15]
 *   narrow i16 -> u8:      1 x [e0 ... e15]                0 or 0xff
 *   i8x16.bitmask          bit i = entry i
 */
// @ts-ignore: decorator
@inline function harvest16(p: usize, keep: v128, m32: v128): i32 {
  const v0 = v128.load(p);
  const v1 = v128.load(p, 16);
  const v2 = v128.load(p, 32);
  const v3 = v128.load(p, 48);
  const v4 = v128.load(p, 64);
  const v5 = v128.load(p, 80);
  const v6 = v128.load(p, 96);
  const v7 = v128.load(p, 112);
  v128.store(p, v128.and(v0, keep));
  v128.store(p, v128.and(v1, keep), 16);
  v128.store(p, v128.and(v2, keep), 32);
  v128.store(p, v128.and(v3, keep), 48);
  v128.store(p, v128.and(v4, keep), 64);
  v128.store(p, v128.and(v5, keep), 80);
  v128.store(p, v128.and(v6, keep), 96);
  v128.store(p, v128.and(v7, keep), 112);
  const lo = i16x8.narrow_i32x4_u(v128.and(lows(v0, v1), m32), v128.and(lows(v2, v3), m32));
  const hi = i16x8.narrow_i32x4_u(v128.and(lows(v4, v5), m32), v128.and(lows(v6, v7), m32));
  return i8x16.bitmask(i8x16.narrow_i16x8_u(lo, hi));
}

/** harvest16 of the 16 entries at `p`, their bits OR-ed into the u16 at `bm`; returns how many were set. */
// @ts-ignore: decorator
@inline function harvestGroup(p: usize, bm: usize, keep: v128, m32: v128): u32 {
  const b = <u32>harvest16(p, keep, m32);
  store<u16>(bm, load<u16>(bm) | <u16>b);
  return <u32>popcnt<u32>(b);
}

/**
 * Fetch-and-clear bit `bit` (8..14) of the 512 entries of one leaf table at
 * `table`, OR-ing them into the 64 bitmap bytes at `bytes` (8-byte aligned).
 * Dense mode is branch-free: 16 entries at a time, their 16 bitmap bits
 * OR-ed in. Sparse mode tests 16 entries at a time and skips clean ones (no
 * stores), for tables where few hold a set bit (dense mode's stores would
 * dominate). Returns the number of set bits fetched (the caller chooses the
 * next table's mode by it and counts the bitmap's bits itself).
 */
export function harvestLeaf(table: usize, bytes: usize, bit: u32, dense: bool): u32 {
  const mask = i64x2.splat(<i64>1 << bit);
  const keep = v128.not(mask);
  const m32 = i32x4.splat(<i32>1 << bit);
  let found: u32 = 0;
  if (dense) {
    // One bitmap store per 16 entries: it orders each group's bit gathering
    // before the next group's loads, where a word per 64 entries let V8 sink
    // the gathering past them and spill the entries to the stack.
    for (let q: usize = 0; q < 32; q++) found += harvestGroup(table + (q << 7), bytes + (q << 1), keep, m32);
    return found;
  }
  for (let q: usize = 0; q < 32; q++) {
    const p = table + (q << 7);
    const any = v128.or(
      v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48))),
      v128.or(v128.or(v128.load(p, 64), v128.load(p, 80)), v128.or(v128.load(p, 96), v128.load(p, 112))),
    );
    if (!v128.any_true(v128.and(any, mask))) continue;
    found += harvestGroup(p, bytes + (q << 1), keep, m32);
  }
  return found;
}

/**
 * Harvests bit `bit` (8 = accessed, 9 = dirty; the kernel takes 8..14) of
 * every populated leaf of VM `slot` into the bitmap at `bitmapPtr` (OR-ed
 * in; the caller clears it first if it wants only the new bits). Returns
 * the number of bits set in the bitmap.
 */
export function harvestBit(slot: u32, bitmapPtr: usize, bit: u32): u32 {
  const d = vmDesc(slot);
  const pages = load<u64>(d, VM_GUEST_PAGES);
  const pml4 = frameAddr(load<u32>(d, VM_ROOT));
  let dense = false;
  for (let i: usize = 0; i < 512; i++) {
    const e4 = load<u64>(pml4 + (i << 3));
    if ((e4 & PTE_R) == 0) continue;
    const pdpt = frameAddr(pteFrame(e4));
    for (let j: usize = 0; j < 512; j++) {
      const e3 = load<u64>(pdpt + (j << 3));
      if ((e3 & PTE_R) == 0) continue;
      const pd = frameAddr(pteFrame(e3));
      for (let k: usize = 0; k < 512; k++) {
        const e2 = load<u64>(pd + (k << 3));
        if ((e2 & PTE_R) == 0) continue;
        const firstGfn = <u64>((((i << 9) | j) << 9) | k) << 9;
        if (firstGfn >= pages) return countBits(bitmapPtr, pages);
        dense = harvestLeaf(frameAddr(pteFrame(e2)), bitmapPtr + <usize>(firstGfn >> 3), bit, dense) > DENSE_BITS;
      }
    }
  }
  return countBits(bitmapPtr, pages);
}

/**
 * A table with more set bits than this (of 512) makes the next one use dense
 * mode: sparse mode then finds a set bit in about a third of its 16-entry
 * groups or more, and its tests and branches cost more than dense mode's
 * stores (at 16 bits spread evenly, 1 - (1 - 16/512)^16 = 40 % of groups).
 */
// @ts-ignore: decorator
@inline const DENSE_BITS: u32 = 16;

/** Set bits in the bitmap of a `pages`-page guest. */
function countBits(bitmapPtr: usize, pages: u64): u32 {
  let n: u64 = 0;
  const words = <usize>((pages + 63) >> 6);
  for (let w: usize = 0; w < words; w++) n += popcnt<u64>(load<u64>(bitmapPtr + (w << 3)));
  return <u32>n;
}

/** Address of the leaf entry of `gfn`, or 0 when its table is not populated. */
// @ts-ignore: decorator
@inline function leafFor(d: usize, gfn: u64): usize {
  let table = frameAddr(load<u32>(d, VM_ROOT));
  for (let shift: u64 = 27; shift > 0; shift -= 9) {
    const e = load<u64>(table + ((<usize>(gfn >> shift) & 511) << 3));
    if ((e & PTE_R) == 0) return 0;
    table = frameAddr(pteFrame(e));
  }
  return table + ((<usize>gfn & 511) << 3);
}

/**
 * For every set bit g of the bitmap at `bitmapPtr`, applies page-state
 * operation `op` (TRACE, UNTRACE, WRITE_PROTECT or UNPROTECT of
 * assembly/page-state.ts) to the leaf of guest page g of VM `slot`;
 * unpopulated pages and pages the operation does not apply to are skipped.
 * Returns the number of leaves changed.
 */
export function ptesUpdate(slot: u32, bitmapPtr: usize, op: u32): u32 {
  const d = vmDesc(slot);
  const words = <usize>((load<u64>(d, VM_GUEST_PAGES) + 63) >> 6);
  let changed: u32 = 0;
  for (let w: usize = 0; w < words; w++) {
    let v = load<u64>(bitmapPtr + (w << 3));
    while (v != 0) {
      const gfn = (<u64>w << 6) | ctz<u64>(v);
      v &= v - 1;
      const lp = leafFor(d, gfn);
      if (lp == 0) continue;
      if (transition(d, lp, load<u64>(lp), <u32>gfn, op, 0, 0) > 0) changed++;
    }
  }
  return changed;
}
