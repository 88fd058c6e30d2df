// XXH3-64 of a run of whole 4 KiB pages in one call: the page checksum of
// the remote-memory formats version 2 (src/remote), computed over a window
// of pages a file read or a one-sided copy just put in linear memory, so
// the bytes are hashed while they are still in cache.
import { xxh3 } from "./xxh3";

// @ts-ignore: decorator
@inline const PAGE_SIZE: usize = 4096;

/** XXH3-64 (seed 0) of `count` 4096-byte pages from `srcPtr`, as u64 at `outPtr`. INVARIANT: both ranges in memory. */
export function xxh3Pages(srcPtr: usize, count: u32, outPtr: usize): void {
  for (let i: usize = 0; i < <usize>count; i++) {
    store<u64>(outPtr + (i << 3), xxh3(srcPtr + i * PAGE_SIZE, PAGE_SIZE));
  }
}
