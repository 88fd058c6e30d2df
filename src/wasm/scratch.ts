// The kernel scratch region, leased instead of shared by convention: access
// batches, page I/O of the public helpers, fingerprint windows. Leases stack
// (last taken, first released), so a fault handler that runs guest accesses
// in the middle of an outer batch gets its own room above the outer one and
// never overwrites it. A lease lives within one synchronous call chain: never
// hold one across an await (long-lived buffers are host frames, from
// Kernels.frames.allocBuffer).
import { ErrorCode, HypermemError } from "../errors.js";

/** Every lease starts on this boundary (v128 loads, u64 records). */
const ALIGN_BYTES = 64;

export interface ScratchLease {
  /** Byte address of the leased room. */
  readonly ptr: number;
  readonly bytes: number;
}

export class ScratchStack {
  readonly base: number;
  readonly capacityBytes: number;
  readonly #leases: ScratchLease[] = [];
  #top: number;

  constructor(base: number, capacityBytes: number) {
    this.base = base;
    this.capacityBytes = capacityBytes;
    this.#top = base;
  }

  /** Bytes not leased. */
  get freeBytes(): number { return this.base + this.capacityBytes - this.#top; }

  /** Leases currently held (the nesting depth). */
  get depth(): number { return this.#leases.length; }

  /** Takes `bytes` of scratch above every lease held. Release it with release(). */
  lease(bytes: number, what: string): ScratchLease {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new HypermemError(ErrorCode.Length, `${what}: a scratch lease of ${String(bytes)} bytes`, { bytes });
    }
    const ptr = Math.ceil(this.#top / ALIGN_BYTES) * ALIGN_BYTES;
    if (ptr + bytes > this.base + this.capacityBytes) {
      throw new HypermemError(
        ErrorCode.Length,
        `${what}: ${bytes} bytes of kernel scratch asked for, ${this.freeBytes} of ${this.capacityBytes} free (${this.#leases.length} leases held: nested too deep?)`,
        { bytes, free: this.freeBytes, depth: this.#leases.length },
      );
    }
    const lease = Object.freeze({ ptr, bytes });
    this.#leases.push(lease);
    this.#top = ptr + bytes;
    return lease;
  }

  /** Returns `lease`, which must be the last one taken. */
  release(lease: ScratchLease): void {
    const last = this.#leases.at(-1);
    if (last !== lease) {
      throw new HypermemError(ErrorCode.WasmAbort, `scratch lease at ${lease.ptr} released out of order (the last one taken is at ${last?.ptr ?? "none"})`, { ptr: lease.ptr });
    }
    this.#leases.pop();
    const below = this.#leases.at(-1);
    this.#top = below ? below.ptr + below.bytes : this.base;
  }

  /** Runs fn with a lease of `bytes`, released afterwards whatever happens. */
  with<T>(bytes: number, what: string, fn: (ptr: number) => T): T {
    const lease = this.lease(bytes, what);
    try {
      return fn(lease.ptr);
    } finally {
      this.release(lease);
    }
  }
}
