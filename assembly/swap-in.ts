// Swapped pages brought back in one call (hypervisor swap, issue 16): the
// bytes read from the swap file land in linear memory, each page is hashed
// where it lies (XXH3-64, seed 0) and compared with the hash kept for its
// slot; a page that matches goes through the page-state BRING_BACK move
// (a new frame filled from those bytes), one that does not stays swapped
// and is reported (the caller poisons it: its bytes never reach the guest).
// No copy into scratch for the hash, no call per page from TypeScript.
//
//   pfnPtr:  u32 pfn[0]  │ u32 pfn[1]  │ ... │ u32 pfn[count - 1]   (distinct pages)
//   hashPtr: u64 hash[0] │ u64 hash[1] │ ... │ u64 hash[count - 1]  (expected XXH3-64)
//   srcPtr:  bytes of pfn[0] (4 KiB) │ bytes of pfn[1] │ ...         (count × 4 KiB)
//   okPtr:   u8 ok[0] │ u8 ok[1] │ ... : 1 brought back, 0 hash mismatch (still
//            swapped), 2 not tried: the host had no free frame (still swapped)
import { PAGE_SIZE } from "./layout";
import { leafEntry, vmDesc, VM_GUEST_PAGES } from "./npt";
import { OP_BRING_BACK, transition } from "./page-state";
import { PTE_STATE_BITS, PTE_SWAPPED } from "./pte";
import { ERR_GFN_RANGE, ERR_PAGE_STATE } from "./status";
import { xxh3 } from "./xxh3";

/**
 * Brings the swapped pages listed at `pfnPtr` of VM `slot` back from the
 * bytes at `srcPtr`, each only when its XXH3-64 equals its entry at
 * `hashPtr`; writes one ok byte per page to `okPtr`. Returns `count`; or
 * the index of the first page that got no frame (the pages before it are
 * done, the rest untouched with ok byte 2); or -ERR_GFN_RANGE / -ERR_PAGE_STATE when a
 * listed page is past the guest or not swapped (checked before anything
 * changes). INVARIANT: the pfns are distinct; the four regions do not
 * overlap each other or a guest page.
 */
export function swapInVerified(slot: u32, pfnPtr: usize, hashPtr: usize, srcPtr: usize, count: u32, okPtr: usize): i32 {
  const d = vmDesc(slot);
  const guestPages = load<u64>(d, VM_GUEST_PAGES);
  for (let i: u32 = 0; i < count; i++) {
    const pfn = <u64>load<u32>(pfnPtr + (<usize>i << 2));
    if (pfn >= guestPages) return -ERR_GFN_RANGE;
    const p = leafEntry(d, pfn, false);
    if (p <= 0 || (load<u64>(<usize>p) & PTE_STATE_BITS) != PTE_SWAPPED) return -ERR_PAGE_STATE;
  }
  for (let i: u32 = 0; i < count; i++) {
    const pfn = load<u32>(pfnPtr + (<usize>i << 2));
    const src = srcPtr + (<usize>i << 12);
    if (xxh3(src, PAGE_SIZE) != load<u64>(hashPtr + (<usize>i << 3))) {
      store<u8>(okPtr + <usize>i, 0);
      continue;
    }
    const p = <usize>leafEntry(d, <u64>pfn, false);
    if (transition(d, p, load<u64>(p), pfn, OP_BRING_BACK, 0, src) < 0) {
      memory.fill(okPtr + <usize>i, 2, count - i);
      return <i32>i;
    }
    store<u8>(okPtr + <usize>i, 1);
  }
  return <i32>count;
}
