// XXH3-64 of a run of 4 KiB pages in one kernel call (assembly/page-hashes.ts):
// the page checksum of the remote-memory formats version 2.
import type { HvExports } from "./abi.js";

export class PageHashKernels {
  readonly #e: HvExports;

  constructor(exports: HvExports) { this.#e = exports; }

  /** XXH3-64 (seed 0) of `count` 4096-byte pages at srcPtr, as u64 (little endian) at outPtr. */
  xxh3Pages(srcPtr: number, count: number, outPtr: number): void { this.#e.xxh3Pages(srcPtr, count, outPtr); }
}
