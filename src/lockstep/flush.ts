// The secondary's flush after a committed resync (COLO's flush of its RAM
// cache): every listed page (dirty on the primary or on the secondary since
// the last sync) is compared with the cache, the primary's memory as of the
// commit, and copied into the secondary only where it differs. Both sides
// are read 256 pages at a time by the gather kernel (Vm.gatherPages walks
// the page table in wasm); a differing page is written with writePages.
import type { Vm } from "../host/vm.js";

const PAGE_BYTES = 4096;
/** Pages compared per batch. */
export const FLUSH_BATCH_PAGES = 256;

/** Buffers a flush reuses from one resync to the next. */
export class FlushBuffers {
  readonly fromCache = new Uint8Array(FLUSH_BATCH_PAGES * PAGE_BYTES);
  readonly fromSecondary = new Uint8Array(FLUSH_BATCH_PAGES * PAGE_BYTES);
}

/** Copies each page of `pfns` that differs from `cache` into `secondary`; returns how many differed. */
export function flushPages(cache: Vm, secondary: Vm, pfns: Uint32Array, buffers: FlushBuffers): number {
  let divergedPages = 0;
  for (let first = 0; first < pfns.length; first += FLUSH_BATCH_PAGES) {
    const batch = pfns.subarray(first, first + FLUSH_BATCH_PAGES);
    cache.gatherPages(batch, buffers.fromCache);
    secondary.gatherPages(batch, buffers.fromSecondary);
    for (let i = 0; i < batch.length; i++) {
      const want = buffers.fromCache.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
      if (Buffer.compare(want, buffers.fromSecondary.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES)) === 0) continue;
      secondary.writePages(batch[i], want);
      divergedPages++;
    }
  }
  return divergedPages;
}
