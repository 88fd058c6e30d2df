// A process-wide Kernels instance for the package-level helpers
// (xbzrleEncode, pageHash64...), which work on caller arrays without a Host.
// It is re-created with a larger scratch region when an input needs one.
import { Kernels } from "./kernels.js";

const MIN_SCRATCH = 1 << 20;
let shared: Kernels | undefined;

/** A Kernels instance whose scratch holds at least `bytes`. */
export function sharedKernels(bytes: number): Kernels {
  if (!shared || shared.layout.scratchBytes < bytes) {
    let size = MIN_SCRATCH;
    while (size < bytes) size *= 2;
    shared = new Kernels(size, 1);
  }
  return shared;
}
