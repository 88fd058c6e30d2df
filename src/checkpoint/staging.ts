// The copy of dirty pages into the primary's staging area: what happens
// while the guest is paused (and, for pages sent early, while it runs).
// Pages are copied frame to frame in bulk (one staging buffer per call, a
// native copy per page); a page that reads as zeros (never touched, or
// mapped to the shared zero frame) is staged as null and costs no copy.
// A page that lives elsewhere is brought back through the VM's page hook.
import { PTE, pteFrame } from "../host/pte.js";
import type { PageLogReader } from "../host/page-log.js";
import type { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import type { PendingCheckpoint } from "./pending.js";

const PAGE_BYTES = 4096;

/** Pages staged by one copy: those copied, and those that read as zeros. */
export interface StagedCount {
  readonly copiedPages: number;
  readonly zeroPages: number;
}

/** Moves every pending page of `reader` into `list` (sized for the whole guest) and returns them. */
export function takeAll(reader: PageLogReader, list: PfnList): Uint32Array {
  const n = reader.takeWindow(0, Math.ceil(list.capacity / 64), list);
  return Uint32Array.from(list.toArray().slice(0, n));
}

/** Copies pages `pfns` of `vm` into `cp`'s staging. */
export function stagePages(vm: Vm, pfns: ArrayLike<number>, cp: PendingCheckpoint): StagedCount {
  const k = vm.host.kernels;
  const present: number[] = [];
  const frames: number[] = [];
  let zeroPages = 0;
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i];
    const pte = vm.accessPage(pfn, false);
    const frame = pteFrame(pte);
    const readable = (pte & (PTE.R | PTE.TRACED)) !== 0n && (pte & PTE.COW) === 0n && frame !== 0;
    if (!readable) {
      cp.stage(pfn, null);
      zeroPages++;
    } else {
      present.push(pfn);
      frames.push(frame);
    }
  }
  const staging = new Uint8Array(present.length * PAGE_BYTES);
  for (let i = 0; i < present.length; i++) {
    const at = i * PAGE_BYTES;
    staging.set(k.heap.borrow(k.frames.addr(frames[i]), PAGE_BYTES), at);
    cp.stage(present[i], staging.subarray(at, at + PAGE_BYTES));
  }
  return { copiedPages: present.length, zeroPages };
}
