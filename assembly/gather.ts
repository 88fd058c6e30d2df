// Guest pages gathered by a list of frame numbers into one buffer in linear
// memory: the pause copy of a checkpoint (src/checkpoint/staging.ts, through
// Vm.gatherPages). One call walks the page table once per listed page in
// wasm instead of once per page from TypeScript; pages read as
// guest-pages.ts reads them.
//
//   pfnPtr:  u32 pfn[0] │ u32 pfn[1] │ ... │ u32 pfn[count - 1]      (any order, repeats allowed)
//   outPtr:  page of pfn[0] (4 KiB) │ page of pfn[1] │ ...           (count × 4 KiB)
//   zeroPtr: u8 z[0] │ u8 z[1] │ ... (when not 0): 1 when the page has
//            no frame of its own (untouched, or mapped to the zero frame)
//            and so reads as zeros; 0 when its frame was copied
//
// Pages with frames are copied four at a time, 64 bytes of each in turn
// (copy4): four streams of cache misses in flight instead of one, where a
// memory.copy per page waits for each page's first lines alone. Measured on
// the checkpoint pause (bench/cases/checkpoint.ts, 2026-12-01, load 1.4-2):
// 1.1-1.3x the rate of a memory.copy per page; eight streams about the same,
// sixteen 0.5-0.7x. A page list that ends, or stops at a page not here,
// first copies the pages held back.
//
// Per page, from its leaf entry:
//   unpopulated, zero-mapped (or a traced zero-mapped page)  zeros, z = 1
//   present, traced                                          the frame's bytes, z = 0
//   swapped, elsewhere, ballooned, poisoned                  stop: returns the
//     index of that page, the pages before it gathered (the caller brings it
//     back through the VM's page hook and goes on from there)
import { frameAddr, PAGE_SIZE } from "./layout";
import { leafEntry, pteFrame, vmDesc, VM_GUEST_PAGES } from "./npt";
import { PTE_BALLOONED, PTE_ELSEWHERE, PTE_LATENT, PTE_POISONED, PTE_R, PTE_SWAPPED, PTE_TRACED } from "./pte";
import { ERR_GFN_RANGE } from "./status";

/** Entry bits of a page that is not in memory: not gathered here. */
// @ts-ignore: decorator
@inline const NOT_HERE: u64 = PTE_SWAPPED | PTE_ELSEWHERE | PTE_BALLOONED | PTE_POISONED | PTE_LATENT;

/**
 * Copies the pages listed at `pfnPtr` (`count` u32) of VM `slot` to
 * `outPtr`, 4 KiB each in list order, and their zero flags to `zeroPtr`
 * unless it is 0. Returns `count`, or the index of the first page not in
 * memory (the pages before it are gathered), or -ERR_GFN_RANGE when a
 * listed pfn is past the guest (checked before anything is copied).
 * INVARIANT: outPtr has room for count × 4 KiB, zeroPtr (when not 0) for
 * count bytes; neither overlaps the list or a guest page.
 */
export function gatherPages(slot: u32, pfnPtr: usize, count: u32, outPtr: usize, zeroPtr: usize): i32 {
  const d = vmDesc(slot);
  const guestPages = load<u64>(d, VM_GUEST_PAGES);
  for (let i: u32 = 0; i < count; i++) {
    if (<u64>load<u32>(pfnPtr + (<usize>i << 2)) >= guestPages) return -ERR_GFN_RANGE;
  }
  // Up to three pages held back for the next copy4: (source, destination) pairs.
  let held = 0;
  let s0: usize = 0, d0: usize = 0, s1: usize = 0, d1: usize = 0, s2: usize = 0, d2: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnPtr + (<usize>i << 2));
    const p = leafEntry(d, <u64>pfn, false);
    const e: u64 = p <= 0 ? 0 : load<u64>(<usize>p);
    if ((e & NOT_HERE) != 0) {
      copyHeld(held, s0, d0, s1, d1, s2, d2);
      return <i32>i;
    }
    const out = outPtr + (<usize>i << 12);
    const hfn = pteFrame(e);
    const zero = (e & (PTE_R | PTE_TRACED)) == 0 || hfn == 0;
    if (zero) memory.fill(out, 0, PAGE_SIZE);
    else if (held == 3) {
      copy4(s0, d0, s1, d1, s2, d2, frameAddr(hfn), out);
      held = 0;
    } else {
      const src = frameAddr(hfn);
      if (held == 0) { s0 = src; d0 = out; } else if (held == 1) { s1 = src; d1 = out; } else { s2 = src; d2 = out; }
      held++;
    }
    if (zeroPtr != 0) store<u8>(zeroPtr + <usize>i, zero ? 1 : 0);
  }
  copyHeld(held, s0, d0, s1, d1, s2, d2);
  return <i32>count;
}

/** The `held` pages not yet copied, one memory.copy each. */
function copyHeld(held: i32, s0: usize, d0: usize, s1: usize, d1: usize, s2: usize, d2: usize): void {
  if (held > 0) memory.copy(d0, s0, PAGE_SIZE);
  if (held > 1) memory.copy(d1, s1, PAGE_SIZE);
  if (held > 2) memory.copy(d2, s2, PAGE_SIZE);
}

/** Four pages copied together, 64 bytes of each in turn. */
function copy4(s0: usize, d0: usize, s1: usize, d1: usize, s2: usize, d2: usize, s3: usize, d3: usize): void {
  for (let off: usize = 0; off < PAGE_SIZE; off += 64) {
    copy64(s0 + off, d0 + off);
    copy64(s1 + off, d1 + off);
    copy64(s2 + off, d2 + off);
    copy64(s3 + off, d3 + off);
  }
}

// @ts-ignore: decorator
@inline function copy64(src: usize, dst: usize): void {
  const a = v128.load(src);
  const b = v128.load(src, 16);
  const c = v128.load(src, 32);
  const e = v128.load(src, 48);
  v128.store(dst, a);
  v128.store(dst, b, 16);
  v128.store(dst, c, 32);
  v128.store(dst, e, 48);
}
