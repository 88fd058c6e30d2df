// Page fingerprints of a guest (assembly/fingerprint.ts: XXH3-64 per page,
// a zero page's for untouched ones, POISON_MARK for poisoned ones), taken
// window by window in a scratch lease, and the memory digest folded from
// them. A page that lives elsewhere (swapped, remote) stops the kernel; it
// is brought back through the VM's page hook and the walk goes on, so
// verification and the end-of-stream digest see every page's contents.
import type { Vm } from "../host/vm.js";

/** Pages per kernel call (256 KiB of scratch). */
export const FINGERPRINT_WINDOW_PAGES = 32_768;

/**
 * Calls `fn(firstPfn, count, ptr)` for consecutive windows of `vm`'s page
 * fingerprints (u64 at ptr, valid during the call), from a fingerprint table
 * (`tablePtr`, see StreamReceiver) when given. Returns the poisoned pages met.
 */
export function forEachFingerprintWindow(vm: Vm, tablePtr: number, fn: (firstPfn: number, count: number, ptr: number) => void): number {
  const k = vm.host.kernels;
  let poisoned = 0;
  k.scratch.with(Math.min(FINGERPRINT_WINDOW_PAGES, vm.pages) * 8, `vm ${vm.id} fingerprints`, (ptr) => {
    for (let first = 0; first < vm.pages; first += FINGERPRINT_WINDOW_PAGES) {
      const count = Math.min(FINGERPRINT_WINDOW_PAGES, vm.pages - first);
      for (let done = 0; done < count;) {
        const r = k.pages.fingerprints(vm.slot, first + done, count - done, ptr + done * 8, tablePtr);
        poisoned += r.poisoned;
        done += r.done;
        if (done < count) vm.accessPage(first + done, false);
      }
      fn(first, count, ptr);
    }
  });
  return poisoned;
}

/** The memory digest of `vm` (docs/migration-stream.md) and the poisoned pages in it. */
export function guestDigest(vm: Vm, tablePtr = 0): { digest: bigint; poisoned: number } {
  const pages = vm.host.kernels.pages;
  let acc = pages.digestStart(vm.pages);
  const poisoned = forEachFingerprintWindow(vm, tablePtr, (_first, count, ptr) => { acc = pages.digestFold(acc, ptr, count); });
  return { digest: pages.digestFinish(acc), poisoned };
}

/** A copy of the fingerprints of pages [first, first + count) of `vm`. */
export function fingerprintRange(vm: Vm, first: number, count: number): { bytes: Uint8Array; poisoned: number } {
  const k = vm.host.kernels;
  return k.scratch.with(count * 8, `vm ${vm.id} fingerprints`, (ptr) => {
    let poisoned = 0;
    for (let done = 0; done < count;) {
      const r = k.pages.fingerprints(vm.slot, first + done, count - done, ptr + done * 8);
      poisoned += r.poisoned;
      done += r.done;
      if (done < count) vm.accessPage(first + done, false);
    }
    return { bytes: k.heap.copyOut(ptr, count * 8), poisoned };
  });
}
