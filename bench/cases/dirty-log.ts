// Bench cases of the dirty log: a sync with one reader and with three, each
// against the plain harvest of the same page table into one bitmap (what
// migration did before readers existed). The platform's promise, measured:
// one reader costs what the harvest costs (it harvests straight into the
// reader's set); three readers at most 1.5x (one harvest into a scratch set,
// then an OR into each reader).
import type { BenchCase } from "../case.js";
import { createHost, type PageLogReader } from "../../src/index.js";
import { PTE, PTE_D_BIT } from "../../src/wasm/codes.js";
import { splitmix } from "./prng.js";

const GUEST_PAGES = 262_144; // 1 GiB guest, every leaf populated
const DIRTY = 26_214; // 10 %
const LEAF = PTE.R | PTE.W | PTE.X | PTE.MT_WB;

function syncCase(readers: number): BenchCase {
  const name = `dirty-log-sync-${readers}reader${readers > 1 ? "s" : ""}-vs-harvest`;
  return {
    name,
    bytesPerPass: GUEST_PAGES * 8,
    opsPerPass: GUEST_PAGES,
    setup() {
      const host = createHost({ memoryMiB: 64 });
      const vm = host.createVm({ pages: GUEST_PAGES });
      const k = host.kernels;
      for (let g = 0; g < GUEST_PAGES; g++) k.mmu.set(vm.slot, g, (BigInt(g + 1) << 12n) | LEAF);
      const rng = splitmix(0x10a5n + BigInt(readers));
      const dirty = new Set<number>();
      while (dirty.size < DIRTY) dirty.add(Number(rng() % BigInt(GUEST_PAGES)));
      const dirtyList = [...dirty].sort((a, b) => a - b);
      const redirty = (): void => {
        for (const g of dirtyList) k.mmu.set(vm.slot, g, (BigInt(g + 1) << 12n) | LEAF | PTE.A | PTE.D);
      };
      const open: PageLogReader[] = Array.from({ length: readers }, (_, i) => vm.dirtyLog.open(`reader-${i}`));
      const baseline = host.kernels.frames.allocBuffer(GUEST_PAGES / 8);
      const clearReaders = (): void => { for (const r of open) r.pages.clear(); };
      return {
        wasm: { beforeEach: () => { redirty(); clearReaders(); }, run: () => { vm.dirtyLog.sync(); } },
        ts: {
          beforeEach: () => { redirty(); k.heap.fill(baseline, GUEST_PAGES / 8, 0); },
          run: () => { k.mmu.harvest(vm.slot, baseline, PTE_D_BIT); },
        },
        verify() {
          redirty();
          clearReaders();
          vm.dirtyLog.sync();
          for (const r of open) {
            const got = r.pages.snapshot().toArray();
            if (got.length !== DIRTY || got.some((g, i) => g !== dirtyList[i])) throw new Error(`${name}: reader ${r.name} holds ${got.length} pages, not the ${DIRTY} dirtied`);
          }
          if (vm.harvestDirty().count() !== 0) throw new Error(`${name}: the sync left dirty bits`);
          redirty();
          k.heap.fill(baseline, GUEST_PAGES / 8, 0);
          if (k.mmu.harvest(vm.slot, baseline, PTE_D_BIT) !== DIRTY) throw new Error(`${name}: the baseline harvest missed pages`);
        },
        teardown() { for (const r of open) r.close(); },
      };
    },
  };
}

/** The reader sync over the plain harvest: the targets are 1x (one reader) and 0.67x (three: at most 1.5x the time); the gates are in bench/gates.json. */
export const dirtyLogCases: BenchCase[] = [syncCase(1), syncCase(3)];
