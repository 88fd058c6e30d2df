// Two small rules of src/migration: which VMs are being migrated
// (migrating.ts: a second claim of a VM is refused with ERR_VM_MIGRATING
// naming it, a release ends the claim, other VMs are not affected), and
// when a destination host is worth replacing to give its memory back
// (host-release.ts: no VM left and linear memory grown past what it started
// with, strictly).
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { createHost } from "../src/host/host.js";
import { worthReleasing } from "../src/migration/host-release.js";
import { claimMigration, isMigrating, releaseMigration } from "../src/migration/migrating.js";
import { thrownHypermemError } from "./helpers.js";

describe("claimMigration", () => {
  it("refuses a second claim of a VM, naming it, until the first is released; other VMs are free", () => {
    const host = createHost({ memoryMiB: 8 });
    const vm = host.createVm({ pages: 16 });
    const other = host.createVm({ pages: 16 });
    expect(isMigrating(vm)).toBe(false);
    claimMigration(vm);
    expect(isMigrating(vm)).toBe(true);
    expect(isMigrating(other)).toBe(false);
    const e = thrownHypermemError(() => claimMigration(vm));
    expect(e?.code).toBe(ErrorCode.VmMigrating);
    expect(e?.message).toBe(`vm ${vm.id} is being migrated already; a second migration of it is refused (wait for the first to end)`);
    expect(e?.details).toEqual({ vmId: vm.id });
    expect(isMigrating(vm)).toBe(true); // the refused claim did not end the first
    claimMigration(other);
    releaseMigration(other);
    releaseMigration(vm);
    expect(isMigrating(vm)).toBe(false);
    claimMigration(vm); // free again
    expect(isMigrating(vm)).toBe(true);
    releaseMigration(vm);
  });
});

describe("worthReleasing", () => {
  it("is true only for a host with no VM whose linear memory grew past freshBytes", () => {
    const host = createHost({ memoryMiB: 64 });
    const fresh = host.stats().linearMemoryBytes;
    expect(worthReleasing(host, fresh)).toBe(false); // not grown
    const vm = host.createVm({ pages: 4096 });
    for (let pfn = 0; pfn < 4096; pfn += 1) vm.write(pfn * 4096, Uint8Array.of(1));
    const grown = host.stats().linearMemoryBytes;
    expect(grown).toBeGreaterThan(fresh);
    expect(worthReleasing(host, fresh)).toBe(false); // a VM is still there
    vm.destroy();
    expect(worthReleasing(host, fresh)).toBe(true);
    expect(worthReleasing(host, grown - 1)).toBe(true);
    expect(worthReleasing(host, grown)).toBe(false); // exactly what it started with: nothing to give back
  });
});
