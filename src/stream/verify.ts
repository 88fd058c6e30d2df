// Verification of a guest that moved (migration, checkpoint, restore): the
// destination's memory equals the source's on every page except poisoned
// ones (which must be poisoned on both), compared by page fingerprint,
// window by window.
import type { Vm } from "../host/vm.js";
import { FINGERPRINT_WINDOW_PAGES, fingerprintRange } from "./fingerprints.js";

export interface Verification {
  /**
   * "page-hash": both guests fingerprinted page by page here (in-process);
   * "digest": the destination matched the source's end-of-stream digest (over TCP).
   */
  readonly method: "page-hash" | "digest";
  readonly ok: boolean;
  readonly pagesCompared: number;
  readonly poisonedPages: number;
  /** The first guest page whose fingerprint differs, if any. */
  readonly firstMismatchPfn: number | null;
}

/** Compares `destination` with `source` page by page. */
export function verifyGuests(source: Vm, destination: Vm): Verification {
  if (source.pages !== destination.pages) {
    return { method: "page-hash", ok: false, pagesCompared: 0, poisonedPages: 0, firstMismatchPfn: Math.min(source.pages, destination.pages) };
  }
  let poisonedPages = 0;
  for (let first = 0; first < source.pages; first += FINGERPRINT_WINDOW_PAGES) {
    const count = Math.min(FINGERPRINT_WINDOW_PAGES, source.pages - first);
    const a = fingerprintRange(source, first, count);
    const b = fingerprintRange(destination, first, count);
    poisonedPages += a.poisoned;
    if (Buffer.compare(a.bytes, b.bytes) !== 0) {
      let i = 0;
      while (a.bytes[i] === b.bytes[i]) i++;
      const pfn = first + (i >>> 3);
      return { method: "page-hash", ok: false, pagesCompared: pfn, poisonedPages, firstMismatchPfn: pfn };
    }
  }
  return { method: "page-hash", ok: true, pagesCompared: source.pages, poisonedPages, firstMismatchPfn: null };
}
