// Harvest of the accessed or dirty bits of a VM's nested page table into a
// bitmap (1 bit per guest page, bit g % 64 of u64 word g / 64): fetch and
// clear, as a KVM dirty-log read does. Unpopulated subtrees are skipped, and
// within a leaf table a group of 64 entries with no bit set costs 32 vector
// loads and no stores. Also: write-protect and trace a set of pages.
import { frameAddr } from "./layout";
import { VM_GUEST_PAGES, VM_ROOT, pteFrame, vmDesc } from "./npt";
import { transition } from "./page-state";
import { PTE_R } from "./pte";

/** Fetch-and-clear of one sub-block of 8 entries at `p`; ORs its byte into `bm`. Returns the bits. */
// @ts-ignore: decorator
@inline function harvestBlock(p: usize, bm: usize, mask: v128, up: i32): i32 {
  const v0 = v128.load(p);
  const v1 = v128.load(p, 16);
  const v2 = v128.load(p, 32);
  const v3 = v128.load(p, 48);
  const b = i64x2.bitmask(i64x2.shl(v0, up))
    | (i64x2.bitmask(i64x2.shl(v1, up)) << 2)
    | (i64x2.bitmask(i64x2.shl(v2, up)) << 4)
    | (i64x2.bitmask(i64x2.shl(v3, up)) << 6);
  v128.store(p, v128.andnot(v0, mask));
  v128.store(p, v128.andnot(v1, mask), 16);
  v128.store(p, v128.andnot(v2, mask), 32);
  v128.store(p, v128.andnot(v3, mask), 48);
  store<u8>(bm, load<u8>(bm) | <u8>b);
  return b;
}

/**
 * Fetch-and-clear bit `bit` of the 512 entries of one leaf table at `table`,
 * OR-ing them into the 64 bitmap bytes at `bytes`, in sub-blocks of 8 entries
 * (4 vectors, 1 bitmap byte). Sparse mode tests each sub-block first and
 * skips clean ones (no stores); dense mode is branch-free, for tables where
 * most sub-blocks hold a set bit (a skip test would mispredict half the time).
 * Returns the number of dirty sub-blocks seen (bits are counted by the caller).
 */
export function harvestLeaf(table: usize, bytes: usize, bit: u32, dense: bool): u32 {
  const mask = i64x2.splat(<i64>1 << bit);
  const up = <i32>(63 - bit);
  let blocks: u32 = 0;
  if (dense) {
    for (let sb: usize = 0; sb < 64; sb++) blocks += <u32>(harvestBlock(table + (sb << 6), bytes + sb, mask, up) != 0);
    return blocks;
  }
  for (let sb: usize = 0; sb < 64; sb++) {
    const p = table + (sb << 6);
    const any = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
    if (!v128.any_true(v128.and(any, mask))) continue;
    harvestBlock(p, bytes + sb, mask, up);
    blocks++;
  }
  return blocks;
}

/**
 * Harvests bit `bit` (8 = accessed, 9 = dirty) of every populated leaf of VM
 * `slot` into the bitmap at `bitmapPtr` (OR-ed in; the caller clears it first
 * if it wants only the new bits). Returns the number of bits set in the bitmap.
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
        dense = harvestLeaf(frameAddr(pteFrame(e2)), bitmapPtr + <usize>(firstGfn >> 3), bit, dense) > DENSE_BLOCKS;
      }
    }
  }
  return countBits(bitmapPtr, pages);
}

/** A table with more dirty sub-blocks than this (of 64) makes the next one use dense mode. */
// @ts-ignore: decorator
@inline const DENSE_BLOCKS: u32 = 16;

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
