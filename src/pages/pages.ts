// Page helpers on caller Uint8Arrays: XOR parity and rebuild, zero test, XXH64, XXH3-64
// and first difference. Each call copies its inputs into a scratch lease of
// the process-wide kernels instance (src/wasm/shared.ts), runs one kernel and
// copies the result out, so the caller's arrays are never borrowed or changed.
//
// Lease layout of one xorParity/rebuildPage call (k pages of len bytes):
//
//  ptr         ┌───────────────────────┐
//              │ page 0 .. page k-1    │ k × len
//              ├───────────────────────┤
//              │ parity out            │ len
//              ├───────────────────────┤
//              │ page list (u32 × k)   │ 4k, rounded up to 16
//              └───────────────────────┘
import { ErrorCode, HypermemError } from "../errors.js";
import { withSharedScratch } from "../wasm/shared.js";

/** Page lengths xorParity/rebuildPage accept are positive multiples of this (the kernel's step). */
export const PARITY_ALIGN_BYTES = 16;

/** Throws PageSize unless every page has the length of the first, a positive multiple of 16. */
function checkStripe(pages: readonly Uint8Array[], what: string): number {
  if (pages.length === 0) {
    throw new HypermemError(ErrorCode.BadOption, `${what} needs at least one page, got an empty list`, { pages: 0 });
  }
  const len = pages[0].length;
  if (len === 0 || len % PARITY_ALIGN_BYTES !== 0) {
    throw new HypermemError(
      ErrorCode.PageSize,
      `${what}: page 0 is ${len} bytes; page length must be a positive multiple of ${PARITY_ALIGN_BYTES}`,
      { index: 0, length: len },
    );
  }
  for (let i = 1; i < pages.length; i++) {
    if (pages[i].length !== len) {
      throw new HypermemError(
        ErrorCode.PageSize,
        `${what}: page ${i} is ${pages[i].length} bytes but page 0 is ${len} bytes`,
        { index: i, length: pages[i].length, expected: len },
      );
    }
  }
  return len;
}

/** XOR of equal-length pages, through the kernel. INVARIANT: checkStripe passed. */
function xorPages(pages: readonly Uint8Array[], len: number): Uint8Array {
  const k = pages.length;
  const listBytes = Math.ceil((4 * k) / 16) * 16;
  return withSharedScratch((k + 1) * len + listBytes, "xorParity", (kernels, base) => {
    const outPtr = base + k * len;
    const listPtr = outPtr + len;
    for (let i = 0; i < k; i++) kernels.heap.copyIn(base + i * len, pages[i]);
    kernels.pages.listWrite(listPtr, pages.map((_, i) => base + i * len));
    kernels.pages.xorParity(outPtr, listPtr, k, len);
    return kernels.heap.copyOut(outPtr, len);
  });
}

/**
 * The XOR parity of a stripe: byte i of the result is the XOR of byte i of
 * every page. Pages must all have one length, a positive multiple of 16
 * (4096 for real pages). Returns a new array.
 * @throws HypermemError BadOption for an empty list, PageSize for a bad or mismatched length.
 */
export function xorParity(pages: readonly Uint8Array[]): Uint8Array {
  return xorPages(pages, checkStripe(pages, "xorParity"));
}

/**
 * Rebuilds the one lost page of a stripe from its parity page and the
 * surviving pages: lost = parity XOR every survivor. With no survivors the
 * lost page is the parity itself (a stripe of one page).
 * @throws HypermemError PageSize when a survivor's length differs from the parity's.
 */
export function rebuildPage(parity: Uint8Array, survivors: readonly Uint8Array[]): Uint8Array {
  const stripe = [parity, ...survivors];
  return xorPages(stripe, checkStripe(stripe, "rebuildPage"));
}

/** True when every byte of `page` is 0 (any length; an empty page is zero). */
export function isZeroPage(page: Uint8Array): boolean {
  if (page.length === 0) return true;
  return withSharedScratch(page.length, "isZeroPage", (kernels, ptr) => {
    kernels.heap.copyIn(ptr, page);
    return kernels.pages.isZero(ptr, page.length);
  });
}

/** XXH64 with seed 0 of `page` (any length), as an unsigned 64-bit bigint. */
export function pageHash64(page: Uint8Array): bigint {
  return withSharedScratch(page.length, "pageHash64", (kernels, ptr) => {
    kernels.heap.copyIn(ptr, page);
    return kernels.pages.hash64(ptr, page.length, 0n);
  });
}

/** XXH3-64 with seed 0 of `bytes` (any length), as an unsigned 64-bit bigint: the migration stream's checksum and page hash. */
export function xxh3Hash64(bytes: Uint8Array): bigint {
  return withSharedScratch(bytes.length, "xxh3Hash64", (kernels, ptr) => {
    kernels.heap.copyIn(ptr, bytes);
    return kernels.pages.xxh3(ptr, bytes.length);
  });
}

/**
 * Offset of the first byte at which `a` and `b` differ, or -1 when they are equal.
 * @throws HypermemError PageSize when the lengths differ.
 */
export function pageCompare(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) {
    throw new HypermemError(ErrorCode.PageSize, `pageCompare: lengths differ (${a.length} vs ${b.length} bytes)`, {
      lengthA: a.length,
      lengthB: b.length,
    });
  }
  if (a.length === 0) return -1;
  return withSharedScratch(2 * a.length, "pageCompare", (kernels, aPtr) => {
    const bPtr = aPtr + a.length;
    kernels.heap.copyIn(aPtr, a);
    kernels.heap.copyIn(bPtr, b);
    return kernels.pages.compare(aPtr, bPtr, a.length);
  });
}
