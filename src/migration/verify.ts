// Verification of a migration: the destination guest's memory equals the
// source's on every page except poisoned ones (which must be poisoned on
// both), compared by page hash, window by window in each host's scratch.
import type { Vm } from "../host/vm.js";
import type { Verification } from "./stats.js";

const WINDOW_PAGES = 32768;

/** Page hashes of [first, first + count) of `vm`, copied out of its host. */
function hashes(vm: Vm, first: number, count: number): { bytes: Uint8Array; poisoned: number } {
  const k = vm.host.kernels;
  const out = k.layout.scratchBase + k.layout.scratchBytes / 2;
  const poisoned = k.vmPageHashes(vm.slot, first, count, out);
  return { bytes: k.heap.copyOut(out, count * 8), poisoned };
}

/** Compares `destination` with `source` page by page. */
export function verifyGuests(source: Vm, destination: Vm): Verification {
  if (source.pages !== destination.pages) {
    return { method: "page-hash", ok: false, pagesCompared: 0, poisonedPages: 0, firstMismatchPfn: Math.min(source.pages, destination.pages) };
  }
  let poisonedPages = 0;
  for (let first = 0; first < source.pages; first += WINDOW_PAGES) {
    const count = Math.min(WINDOW_PAGES, source.pages - first);
    const a = hashes(source, first, count);
    const b = hashes(destination, first, count);
    poisonedPages += a.poisoned;
    if (Buffer.compare(a.bytes, b.bytes) !== 0) {
      let i = 0;
      while (a.bytes[i] === b.bytes[i]) i++;
      return { method: "page-hash", ok: false, pagesCompared: first + (i >>> 3), poisonedPages, firstMismatchPfn: first + (i >>> 3) };
    }
  }
  return { method: "page-hash", ok: true, pagesCompared: source.pages, poisonedPages, firstMismatchPfn: null };
}
