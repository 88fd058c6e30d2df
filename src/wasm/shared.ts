// A process-wide Kernels instance for the package-level helpers
// (xbzrleEncode, pageHash64...), which work on caller arrays without a Host.
// It is re-created with a larger scratch region when an input needs one;
// each call leases the room it uses.
import { Kernels } from "./kernels.js";

const MIN_SCRATCH = 1 << 20;
/** Room for the lease's alignment. */
const ALIGN_SLACK = 64;
let shared: Kernels | undefined;

/** Runs fn with the shared instance and a scratch lease of `bytes` at `ptr`. */
export function withSharedScratch<T>(bytes: number, what: string, fn: (k: Kernels, ptr: number) => T): T {
  const need = bytes + ALIGN_SLACK;
  if (!shared || shared.scratch.freeBytes < need) {
    let size = MIN_SCRATCH;
    while (size < need) size *= 2;
    shared = new Kernels(size, 1);
  }
  const k = shared;
  return k.scratch.with(bytes, what, (ptr) => fn(k, ptr));
}
