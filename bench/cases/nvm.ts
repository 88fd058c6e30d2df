// Bench case of NVM purges (issue 20, seed T6): 64 MiB of a guest's blocks
// on an NVM device purged to a storage file through their virtblock entries
// (each block written to its slot with one 4 KiB pwrite, its entry rewritten
// twice: purging, then on storage), against plain fs writing the same bytes
// with the same 4 KiB pwrites to a file. The state is rebuilt before every
// pass, untimed. The ratio is the purge's bytes per second over plain fs's
// (the target: at least 0.7x). Both sides are verified first.
import { Buffer } from "node:buffer";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../case.js";
import { createHost, NvmDevice, NvmTiers, OPTANE_PMEM, StorageFile, type Vm } from "../../src/index.js";

const PAGES = 16_384; // 64 MiB
const BYTES = PAGES * 4096;

const purgeCase: BenchCase = {
  name: "nvm-purge-64MiB-vs-fs-write",
  bytesPerPass: BYTES,
  opsPerPass: PAGES,
  setup() {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-nvm-"));
    const host = createHost({ memoryMiB: 64 * 3 + 64 });
    const image = new Uint8Array(BYTES);
    for (let i = 0; i < BYTES; i += 4096) image.fill((i / 4096) & 0xff, i, i + 4096);
    let vm: Vm | null = null;
    let storage: StorageFile | null = null;
    let tiers: NvmTiers | null = null;
    const rebuild = (): void => {
      tiers?.close();
      storage?.close();
      vm?.destroy();
      vm = host.createVm({ pages: PAGES });
      vm.writePages(0, image);
      storage = new StorageFile(join(dir, "storage.bin"), PAGES);
      // NVM for every block and the array, nothing kept free: every page lands on NVM.
      tiers = new NvmTiers(vm, [], new NvmDevice((PAGES + 32) * 4096, PAGES, OPTANE_PMEM), storage, {
        virtblocks: true, dramPages: 1, lowWatermark: 0, highWatermark: 0.001, purgeBlocksPerSec: 1e9, samplePeriodNs: 1e6,
      });
    };
    const plainPath = join(dir, "plain.bin");
    const plain = (): void => {
      const fd = openSync(plainPath, "w", 0o600);
      try {
        for (let at = 0; at < BYTES; at += 4096) writeSync(fd, image, at, 4096, at);
      } finally {
        closeSync(fd);
      }
    };
    return {
      wasm: { beforeEach: rebuild, run: () => { tiers!.purgeOldest(PAGES); } },
      ts: { run: plain },
      verify() {
        rebuild();
        const purged = tiers!.purgeOldest(PAGES);
        if (purged !== PAGES - Math.ceil(0.001 * PAGES) && purged !== PAGES) throw new Error(`${purgeCase.name}: ${purged} blocks purged`);
        for (let p = 0; p < PAGES; p += 997) {
          if (tiers!.entryState(p) !== "on storage" && purged === PAGES) throw new Error(`${purgeCase.name}: page ${p} is ${tiers!.entryState(p)}`);
          if (Buffer.compare(tiers!.peek(p), image.subarray(p * 4096, (p + 1) * 4096)) !== 0) throw new Error(`${purgeCase.name}: page ${p} differs after the purge`);
        }
        plain();
        if (Buffer.compare(readFileSync(plainPath), image) !== 0) throw new Error(`${purgeCase.name}: the plain write wrote other bytes`);
      },
      teardown() {
        tiers?.close();
        storage?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const nvmCases: BenchCase[] = [purgeCase];
