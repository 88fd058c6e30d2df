// Bench case of the lockstep resync's flush on the secondary's host: 10 %
// of a 64 MiB guest's pages listed (dirty on either side since the last
// sync), a tenth of those differing from the cache. The flush
// (src/lockstep/flush.ts: the gather kernel reads both sides 256 pages a
// call, differing pages written back) against the page-at-a-time reference
// (vm.read both copies of each page, compare, vm.write the cache's).
// Counted bytes: the listed pages' bytes.
import type { BenchCase } from "../case.js";
import { createHost } from "../../src/index.js";
import { FlushBuffers, flushPages } from "../../src/lockstep/flush.js";
import type { Vm } from "../../src/host/vm.js";
import { splitmix } from "./prng.js";

const GUEST_PAGES = 16_384;
const PAGE = 4096;
const LISTED_PAGES = GUEST_PAGES / 10;
const DIVERGED_EVERY = 10;

function flushReference(cache: Vm, secondary: Vm, pfns: Uint32Array): number {
  let diverged = 0;
  for (const pfn of pfns) {
    const want = cache.read(pfn * PAGE, PAGE);
    if (Buffer.compare(want, secondary.read(pfn * PAGE, PAGE)) === 0) continue;
    secondary.write(pfn * PAGE, want);
    diverged++;
  }
  return diverged;
}

export const lockstepCases: readonly BenchCase[] = [{
  name: "lockstep-flush-10pct",
  bytesPerPass: LISTED_PAGES * PAGE,
  opsPerPass: LISTED_PAGES,
  setup() {
    const host = createHost({ memoryMiB: 192 });
    const cache = host.createVm({ pages: GUEST_PAGES });
    const secondary = host.createVm({ pages: GUEST_PAGES });
    cache.prefillPages(0, GUEST_PAGES, 11);
    secondary.prefillPages(0, GUEST_PAGES, 11);
    const rng = splitmix(0x10c5n);
    const listed = new Set<number>();
    while (listed.size < LISTED_PAGES) listed.add(Number(rng() % BigInt(GUEST_PAGES)));
    const pfns = Uint32Array.from([...listed].sort((a, b) => a - b));
    const diverging = pfns.filter((_, i) => i % DIVERGED_EVERY === 0);
    const diverge = (): void => { for (const pfn of diverging) secondary.write(pfn * PAGE + 8, new Uint8Array([0x5a, pfn & 0xff])); };
    const buffers = new FlushBuffers();
    const check = (diverged: number, who: string): void => {
      if (diverged !== diverging.length) throw new Error(`${who}: ${diverged} pages differed, expected ${diverging.length}`);
      if (Buffer.compare(cache.gatherPages(pfns), secondary.gatherPages(pfns)) !== 0) throw new Error(`${who}: the secondary differs from the cache after the flush`);
    };
    return {
      wasm: { beforeEach: diverge, run: () => { flushPages(cache, secondary, pfns, buffers); } },
      ts: { beforeEach: diverge, run: () => { flushReference(cache, secondary, pfns); } },
      verify() {
        diverge();
        check(flushPages(cache, secondary, pfns, buffers), "flush");
        diverge();
        check(flushReference(cache, secondary, pfns), "reference");
      },
      teardown() { cache.destroy(); secondary.destroy(); },
    };
  },
}];
