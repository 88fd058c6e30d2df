// The TypeScript reference of the gather kernel (assembly/gather.ts,
// Vm.gatherPages): the listed pages read one at a time through vm.read, and
// each page's zero flag read from its entry after the read (no frame of its
// own: neither present nor traced, or the zero frame).
import { decodePte, type Vm } from "../../src/index.js";

/** The pages `pfns`, 4 KiB each in list order, and their zero flags. */
export function gatherPagesRef(vm: Vm, pfns: readonly number[]): { bytes: Uint8Array; zeroFlags: Uint8Array } {
  const bytes = new Uint8Array(pfns.length * 4096);
  const zeroFlags = new Uint8Array(pfns.length);
  pfns.forEach((pfn, i) => {
    bytes.set(vm.read(pfn * 4096, 4096), i * 4096);
    const e = decodePte(vm.pte(pfn));
    zeroFlags[i] = (!e.present && !e.traced) || e.hfn === 0 ? 1 : 0;
  });
  return { bytes, zeroFlags };
}
