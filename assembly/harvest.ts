// Harvest of the accessed or dirty bits of a VM's nested page table into a
// bitmap (1 bit per guest page, bit g % 64 of u64 word g / 64): fetch and
// clear, as a KVM dirty-log read does. Unpopulated subtrees are skipped, and
// within a leaf table a group of 64 entries with no bit set costs 32 vector
// loads and no stores. Also: write-protect and trace a set of pages.
import { frameAddr } from "./layout";
import { VM_GUEST_PAGES, VM_ROOT, pteFrame, vmDesc } from "./npt";
import { PTE_COW, PTE_R, PTE_TRACED, PTE_W, PTE_WP } from "./pte";

/**
 * Fetch-and-clear bit `bit` of the 512 entries of one leaf table at `table`,
 * OR-ing them into the 8 bitmap words at `words`. Returns the count found.
 */
export function harvestLeaf(table: usize, words: usize, bit: u32): u32 {
  const mask = i64x2.splat(<i64>1 << bit);
  const up = 63 - bit;
  let found: u32 = 0;
  for (let g: usize = 0; g < 8; g++) {
    const base = table + (g << 9);
    let acc = v128.load(base);
    for (let j: usize = 16; j < 512; j += 16) acc = v128.or(acc, v128.load(base + j));
    if (!v128.any_true(v128.and(acc, mask))) continue;
    let bits: u64 = 0;
    for (let j: usize = 0; j < 32; j++) {
      const p = base + (j << 4);
      const v = v128.load(p);
      bits |= <u64>i64x2.bitmask(i64x2.shl(v, up)) << (<u64>j << 1);
      v128.store(p, v128.andnot(v, mask));
    }
    const w = words + (g << 3);
    store<u64>(w, load<u64>(w) | bits);
    found += <u32>popcnt<u64>(bits);
  }
  return found;
}

/**
 * Harvests bit `bit` (8 = accessed, 9 = dirty) of every populated leaf of VM
 * `slot` into the bitmap at `bitmapPtr` (OR-ed in; caller clears it first if
 * it wants only the new bits). Returns the number of bits found.
 */
export function harvestBit(slot: u32, bitmapPtr: usize, bit: u32): u32 {
  const d = vmDesc(slot);
  const pages = load<u64>(d, VM_GUEST_PAGES);
  const pml4 = frameAddr(load<u32>(d, VM_ROOT));
  let found: u32 = 0;
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
        if (firstGfn >= pages) return found;
        found += harvestLeaf(frameAddr(pteFrame(e2)), bitmapPtr + <usize>(firstGfn >> 3), bit);
      }
    }
  }
  return found;
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

/** Modes of ptesUpdate. */
// @ts-ignore: decorator
@inline export const UPDATE_WRITE_PROTECT: u32 = 0;
// @ts-ignore: decorator
@inline export const UPDATE_UNPROTECT: u32 = 1;
// @ts-ignore: decorator
@inline export const UPDATE_TRACE: u32 = 2;
// @ts-ignore: decorator
@inline export const UPDATE_UNTRACE: u32 = 3;

/**
 * For every set bit g of the bitmap at `bitmapPtr`, updates the leaf of guest
 * page g of VM `slot` (populated leaves only): write-protect (clear W, set WP),
 * unprotect, trace (clear R and W, set TRC) or untrace. Returns leaves changed.
 */
export function ptesUpdate(slot: u32, bitmapPtr: usize, mode: u32): u32 {
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
      const e = load<u64>(lp);
      let n = e;
      if (mode == UPDATE_WRITE_PROTECT) {
        n = (e | PTE_WP) & ~PTE_W;
      } else if (mode == UPDATE_UNPROTECT) {
        n = e & ~PTE_WP;
        if ((n & (PTE_R | PTE_COW | PTE_TRACED)) == PTE_R) n |= PTE_W;
      } else if (mode == UPDATE_TRACE) {
        if ((e & PTE_R) == 0) continue;
        n = (e | PTE_TRACED) & ~(PTE_R | PTE_W);
      } else if ((e & PTE_TRACED) != 0) {
        n = (e & ~PTE_TRACED) | PTE_R;
        if ((n & (PTE_COW | PTE_WP)) == 0) n |= PTE_W;
      }
      if (n != e) {
        store<u64>(lp, n);
        changed++;
      }
    }
  }
  return changed;
}
