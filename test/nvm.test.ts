// NVM regions with virtblocks (src/nvm): after any interleaving of guest
// writes and reads, sample periods (demotions, watermark purges) and fetches,
// the guest reads what a plain model says; a purge with virtblocks changes
// no page-table entry (every entry compared before and after), without them
// it rewrites every mapping; the entry states; the storage file full; bad
// options named.
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { compareNvm, createHost, NvmDevice, NvmTiers, OPTANE_PMEM, runNvmScenario, StorageFile, STORAGE_TAG, type Vm } from "../src/index.js";
import { thrownError } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-nvm-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const PAGES = 32;

/** A 32-page guest (page p filled with p + 1), 8 NVM data blocks (+1 for the array), `snapshots` snapshot VMs. */
function setup(virtblocks: boolean, snapshots = 1, storageBlocks = 64) {
  const host = createHost({ memoryMiB: 8 });
  const vm = host.createVm({ pages: PAGES });
  const model = new Uint8Array(PAGES * 4096);
  for (let p = 0; p < PAGES; p++) model.fill(p + 1, p * 4096, (p + 1) * 4096);
  vm.write(0, model);
  const snaps = Array.from({ length: snapshots }, () => host.createVm({ pages: PAGES }));
  const device = new NvmDevice(9 * 4096, PAGES, OPTANE_PMEM);
  const storage = new StorageFile(join(dir, `storage-${files++}`), storageBlocks);
  const tiers = new NvmTiers(vm, snaps, device, storage, { virtblocks, dramPages: 4, lowWatermark: 0.3, highWatermark: 0.5, purgeBlocksPerSec: 1e6, samplePeriodNs: 1e6 });
  return { vm, snaps, device, storage, tiers, model };
}

/** Every page's state and location in each VM (A and D aside: the samplers harvest them). */
const entries = (vms: readonly Vm[]): string[] => vms.flatMap((vm) => Array.from({ length: PAGES }, (_, p) => JSON.stringify(vm.states.of(p))));

type Op = { kind: "write"; pfn: number; offset: number; value: number } | { kind: "read"; pfn: number } | { kind: "sample" };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("write" as const), pfn: fc.nat(PAGES - 1), offset: fc.nat(4000), value: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("read" as const), pfn: fc.nat(PAGES - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("sample" as const) }) },
);

describe("NVM tiers", () => {
  it("the guest reads what the model says after any interleaving of accesses, demotions, purges and fetches", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 80 }), (virtblocks, ops) => {
        const { vm, tiers, model, storage } = setup(virtblocks);
        try {
          for (const o of ops) {
            if (o.kind === "write") {
              const bytes = new Uint8Array(96).fill(o.value);
              vm.write(o.pfn * 4096 + o.offset, bytes);
              model.set(bytes, o.pfn * 4096 + o.offset);
            } else if (o.kind === "read") {
              expect(Buffer.compare(vm.read(o.pfn * 4096, 4096), model.subarray(o.pfn * 4096, (o.pfn + 1) * 4096))).toBe(0);
            } else {
              tiers.sample();
              expect(tiers.dramPagesInUse).toBeLessThanOrEqual(4);
            }
          }
          for (let p = 0; p < PAGES; p++) expect(Buffer.compare(tiers.peek(p), model.subarray(p * 4096, (p + 1) * 4096))).toBe(0);
        } finally {
          tiers.close();
          storage.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it("a purge with virtblocks rewrites only entries: no page-table entry of the VM or its snapshots moves", () => {
    const { vm, snaps, tiers, device, storage } = setup(true, 2);
    const before = entries([vm, ...snaps]);
    const entryWrites = device.bytesWritten;
    tiers.sample(); // 8 blocks, 4 free (keepFree = high 0.5): 0.5 >= low 0.3, nothing to purge yet
    expect(tiers.stats.purges).toBe(0);
    const first = vm.read(0, 1); // page 0 was placed on NVM: a hit
    expect(first[0]).toBe(1);
    expect(tiers.stats.nvmHits).toBe(1);
    vm.read(31 * 4096, 1); // page 31 is on storage: a fetch takes a free block
    vm.read(30 * 4096, 1);
    tiers.sample(); // free 2 of 8 < 0.3: purge to 4 free
    expect(tiers.stats.purges).toBeGreaterThan(0);
    expect(tiers.stats.pteUpdates).toBe(0);
    expect(tiers.stats.tlbShootdowns).toBe(0);
    const after = entries([vm, ...snaps]);
    const changed = after.flatMap((e, i) => (e === before[i] ? [] : [i]));
    expect(changed.every((i) => i < PAGES && [0, 30, 31].includes(i))).toBe(true); // only the guest's own pages it brought into DRAM
    expect(device.bytesWritten - entryWrites).toBeGreaterThan(0);
    storage.close();
  });

  it("without virtblocks the same purges rewrite every mapping of each block, one shootdown each", () => {
    const { vm, snaps, tiers, storage } = setup(false, 2);
    vm.read(31 * 4096, 1);
    vm.read(30 * 4096, 1);
    tiers.sample();
    const purged = tiers.stats.purges;
    expect(purged).toBeGreaterThan(0);
    // Each fetch and each purge rewrites 3 mappings: the VM's and 2 snapshots'.
    expect(tiers.stats.pteUpdates).toBe(3 * (2 + purged));
    expect(tiers.stats.tlbShootdowns).toBe(tiers.stats.pteUpdates);
    const onStorage = Array.from({ length: PAGES }, (_, p) => p).filter((p) => snaps[0].states.of(p).kind === "elsewhere" && (snaps[0].states.of(p) as { location: number }).location >= STORAGE_TAG);
    expect(onStorage.length).toBeGreaterThan(0);
    for (const p of onStorage) expect(snaps[1].states.of(p)).toEqual(snaps[0].states.of(p));
    storage.close();
  });

  it("virtblock entries go on NVM -> on storage -> on NVM, and a full storage file is a typed error", () => {
    const { vm, tiers, storage } = setup(true, 0, 64);
    expect(tiers.entryState(0)).toBe("on NVM");
    expect(tiers.entryState(31)).toBe("on storage");
    vm.read(31 * 4096, 1);
    expect(tiers.entryState(31)).toBe("on NVM");
    storage.close();
    // 4 pages fit on NVM (half its 8 blocks are kept free), 28 must go to a 24-block file.
    expect(thrownError(() => setup(true, 0, 24))).toMatchObject({ code: "ERR_NVM_STORAGE_FULL", details: { capacityBlocks: 24 } });
  });

  it("refuses a storage file too small, DRAM not below NVM, and bad models, naming the value", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: PAGES });
    vm.write(0, new Uint8Array(PAGES * 4096).fill(1));
    const device = new NvmDevice(9 * 4096, PAGES, OPTANE_PMEM);
    const storage = new StorageFile(join(dir, `storage-${files++}`), 10);
    expect(thrownError(() => new NvmTiers(vm, [], device, storage, { virtblocks: true, dramPages: 4, lowWatermark: 0.1, highWatermark: 0.2, purgeBlocksPerSec: 1e6, samplePeriodNs: 1e6 }))).toMatchObject({ code: "ERR_NVM_STORAGE_FULL", details: { capacityBlocks: 10 } });
    storage.close();
    expect(thrownError(() => runNvmScenario({ guestMiB: 1, nvmMiB: 1, dramMiB: 1 }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "dramMiB", value: 1 } });
    expect(thrownError(() => runNvmScenario({ guestMiB: 1, nvmMiB: 1, dramMiB: 0.5, watermarks: [0.3, 0.2] }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "watermarks" } });
    expect(thrownError(() => runNvmScenario({ guestMiB: 1, nvmMiB: 1, dramMiB: 0.5, nvm: { ...OPTANE_PMEM, readLatencyNs: 5e9 } }))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "readLatencyNs", value: 5e9 } });
    expect(thrownError(() => new NvmDevice(4096, 1, OPTANE_PMEM))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 4096 } });
  });

  it("compareNvm: the same run with and without virtblocks, both equal to the all-DRAM oracle", () => {
    const r = compareNvm({ guestMiB: 2, nvmMiB: 2, dramMiB: 1, durationNs: 100e6, ratePerSec: 200_000, snapshots: 2, workload: { kind: "uniform" } });
    expect(r.virtblocks.equalsOracle).toBe(true);
    expect(r.direct.equalsOracle).toBe(true);
    expect(r.virtblocks.purges).toBeGreaterThan(0);
    expect(r.virtblocks.purges).toBe(r.direct.purges);
    expect(r.virtblocks.pteUpdates).toBe(0);
    expect(r.virtblocks.tlbShootdowns).toBe(0);
    expect(r.direct.pteUpdates).toBe(3 * (r.direct.purges + r.direct.fetches));
    expect(r.virtblocks.nvmHitRatio).toBeGreaterThan(0);
    expect(r.virtblocks.fetchP99Ns).toBeGreaterThanOrEqual(r.virtblocks.fetchP50Ns!);
  });
});
