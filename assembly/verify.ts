// Per-page hashes of a VM's guest memory, for verifying a migration: XXH64
// (seed 0) of each page's contents; pages without a private frame (never
// touched, or mapping the zero frame) hash as a zero page; poisoned pages
// (PSN or LAT) get the marker POISON_HASH and are never read.
import { frameAddr, PAGE_SIZE } from "./layout";
import { hash64 } from "./hash";
import { leafEntry, pteFrame, vmDesc } from "./npt";
import { PTE_LATENT, PTE_POISONED, PTE_R } from "./pte";

/** Hash reported for a poisoned page. */
// @ts-ignore: decorator
@inline export const POISON_HASH: u64 = 0xdead_bad0_dead_bad0;

/**
 * Writes the hashes of guest pages [firstPfn, firstPfn + count) of VM `slot`
 * as u64 to `outPtr`. Returns how many pages were poisoned. INVARIANT: the
 * range lies inside the guest.
 */
export function vmPageHashes(slot: u32, firstPfn: u32, count: u32, outPtr: usize): u32 {
  const d = vmDesc(slot);
  const zeroHash = hash64(frameAddr(0), PAGE_SIZE, 0);
  let poisoned: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const p = leafEntry(d, <u64>(firstPfn + i), false);
    const e = p <= 0 ? <u64>0 : load<u64>(<usize>p);
    let h = zeroHash;
    if ((e & (PTE_POISONED | PTE_LATENT)) != 0) {
      h = POISON_HASH;
      poisoned++;
    } else if ((e & PTE_R) != 0 && pteFrame(e) != 0) {
      h = hash64(frameAddr(pteFrame(e)), PAGE_SIZE, 0);
    }
    store<u64>(outPtr + (<usize>i << 3), h);
  }
  return poisoned;
}

