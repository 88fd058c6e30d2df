// The TypeScript reference of the swap-in kernel (assembly/swap-in.ts,
// PageStates.bringBackVerified): each listed page hashed with xxh3Hash64
// and, when that equals its expected hash, brought back one at a time
// through vm.states.bringBack; a page that does not match stays swapped.
// From the first page that finds no free frame on, the pages are not tried.
import { ErrorCode, HypermemError, xxh3Hash64, type Vm } from "../../src/index.js";

/** Flags per page: 1 brought back, 0 hash mismatch, 2 not tried (no free frame). */
export function bringBackVerifiedRef(vm: Vm, pfns: readonly number[], hashes: readonly bigint[], bytes: Uint8Array): Uint8Array {
  const flags = new Uint8Array(pfns.length);
  for (let i = 0; i < pfns.length; i++) {
    const page = bytes.subarray(i * 4096, (i + 1) * 4096);
    if (xxh3Hash64(page) !== hashes[i]) continue;
    try {
      vm.states.bringBack(pfns[i], page);
      flags[i] = 1;
    } catch (err) {
      if (!(err instanceof HypermemError) || err.code !== ErrorCode.OutOfFrames) throw err;
      flags.fill(2, i);
      break;
    }
  }
  return flags;
}
