// How this process's native memory behaves under the record layer, and how
// to give memory back. Two helpers for the JavaScript side of it:
//
// primeAllocator(). Sealing or opening an encrypted record makes node:crypto
// allocate its output (cipher.update has no form that writes into the
// caller's buffer in Node 20): a megabyte per record. glibc serves such a
// block with mmap, or from the top of its heap, and returns it to the OS when
// it is freed, so the pages of each record's output are faulted in again.
// glibc raises its thresholds by itself ("dynamic mmap threshold") once it
// frees an mmapped block larger than the current one, up to 32 MiB: freeing
// one block just under that lets later megabytes come from the heap, and
// keeps up to twice that at the heap's top instead of trimming it on every
// free. So the first secure channel allocates one such block and drops it;
// the collector frees it at its next pass. Measured on the project machine:
// AES-256-GCM with its output alone, 1.43 CPU s/GiB and 220 page faults per
// MiB before, 0.70 and none after; two processes sending records over
// loopback, about 0.15 CPU s/GiB less on each side (faults per MiB 28-38
// down to 11-17). Elsewhere than glibc it is one short-lived allocation.
//
// collectGarbage(). A wasm memory only grows, and a host that is dropped
// gives its memory back only when V8 collects it, which an idle process may
// put off indefinitely (it collects when JavaScript allocates, not when RSS
// is high). This runs a full collection: through globalThis.gc when Node runs
// with --expose-gc, else through a gc function obtained once by the
// documented way of turning that flag on at run time (v8.setFlagsFromString,
// then a new context, the only place the flag takes effect; it is turned off
// again at once).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Just under glibc's largest dynamic mmap threshold (32 MiB on 64-bit): the size of the block that raises it. */
const PRIMING_BYTES = 31 * 2 ** 20;

let primed = false;

/** Raises glibc's mmap and trim thresholds once per process (see above). */
export function primeAllocator(): void {
  if (primed) return;
  primed = true;
  const block = Buffer.allocUnsafeSlow(PRIMING_BYTES);
  block[0] = 1; // touch one page, so the block is a real allocation; it is garbage when this returns
}

let gc: (() => void) | null | undefined;

function findGc(): (() => void) | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === "function") return exposed as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    return typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    return null;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

/** Runs a full garbage collection; false when this Node offers no way to. */
export function collectGarbage(): boolean {
  gc ??= findGc();
  gc?.();
  return gc !== null;
}
