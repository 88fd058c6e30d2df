// A window of whole 4 KiB pages in the kernels' memory, for checksumming
// pages in bulk: the caller puts pages in (a file read straight into the
// window, or one copy per contiguous run), one kernel call hashes them all
// with XXH3-64 while they are in cache, and the caller copies out only the
// pages whose hash matches. The remote-memory recovery's baseline load and
// dirty-page copy (src/remote) run on it.
//
// Lease layout (one withPageWindow call of `pages` pages):
//
//  ptr        ┌───────────────────────────┐
//             │ page 0 .. page pages-1    │ pages × 4096
//             ├───────────────────────────┤
//             │ hashes: u64 per page      │ pages × 8 (XXH3-64, little endian)
//             └───────────────────────────┘
import { ErrorCode, HypermemError } from "../errors.js";
import { withSharedScratch } from "../wasm/shared.js";

const PAGE_BYTES = 4096;
/** The largest window: 16 MiB of pages. */
export const MAX_WINDOW_PAGES = 4096;

export interface PageWindow {
  readonly pages: number;
  /** The window's pages (pages × 4096 bytes), in the kernels' memory: valid only inside withPageWindow's callback. */
  readonly bytes: Uint8Array;
  /**
   * XXH3-64 of the window's pages [0, count), one kernel call: u32 pairs
   * (low word, high word) per page. The view is the window's own: valid
   * until the next hashPages call.
   */
  hashPages(count: number): Uint32Array;
}

/** Runs `fn` with a window of `pages` pages leased from the kernels' scratch. */
export function withPageWindow<T>(pages: number, fn: (window: PageWindow) => T): T {
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > MAX_WINDOW_PAGES) {
    throw new HypermemError(ErrorCode.BadOption, `a page window holds 1 to ${MAX_WINDOW_PAGES} pages, got ${String(pages)}`, { option: "pages", value: pages });
  }
  return withSharedScratch(pages * (PAGE_BYTES + 8), "withPageWindow", (kernels, ptr) => {
    const hashPtr = ptr + pages * PAGE_BYTES;
    const bytes = kernels.heap.borrow(ptr, pages * PAGE_BYTES);
    const hashes = new Uint32Array(bytes.buffer, hashPtr, pages * 2);
    return fn(Object.freeze({
      pages,
      bytes,
      hashPages(count: number): Uint32Array {
        if (!Number.isInteger(count) || count < 0 || count > pages) {
          throw new HypermemError(ErrorCode.Length, `hashPages: ${String(count)} pages asked of a ${pages}-page window`, { count, pages });
        }
        kernels.pageHashes.xxh3Pages(ptr, count, hashPtr);
        return hashes.subarray(0, count * 2);
      },
    }));
  });
}

/**
 * XXH3-64 of every 4096-byte page of `bytes` (a whole number of pages), as
 * u32 pairs (low word, high word) per page: the page checksum of the
 * remote-memory formats version 2. Copies through a window, 64 pages at a time.
 * @throws HypermemError PageSize when `bytes` is not a whole number of pages.
 */
export function xxh3Pages(bytes: Uint8Array, out: Uint32Array = new Uint32Array((bytes.length / PAGE_BYTES) * 2)): Uint32Array {
  if (bytes.length % PAGE_BYTES !== 0) {
    throw new HypermemError(ErrorCode.PageSize, `xxh3Pages: ${bytes.length} bytes is not a whole number of 4096-byte pages`, { length: bytes.length });
  }
  const count = bytes.length / PAGE_BYTES;
  if (out.length < count * 2) {
    throw new HypermemError(ErrorCode.Length, `xxh3Pages: ${count} pages need ${count * 2} u32 of output, got ${out.length}`, { length: out.length });
  }
  if (count === 0) return out;
  const step = Math.min(count, 64);
  return withPageWindow(step, (window) => {
    for (let p = 0; p < count; p += step) {
      const n = Math.min(step, count - p);
      window.bytes.set(bytes.subarray(p * PAGE_BYTES, (p + n) * PAGE_BYTES));
      out.set(window.hashPages(n), p * 2);
    }
    return out;
  });
}
