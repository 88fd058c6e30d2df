// migrate() (src/migration/migrate.ts), the in-process pair of source engine
// and destination receiver: a completed migration hands over the destination
// guest and, unless verify is false, its verification against the source; a
// migration that does not complete (here: cancelled at maxRounds, and
// cancelled by its AbortSignal) reports no destination and no verification,
// and leaves nothing on the destination host.
import { describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";
import { migrate } from "../src/migration/migrate.js";
import { TEST_LIMITS } from "./helpers.js";

/** A 256-page guest with its first 64 pages written, on a fresh host, and a fresh destination host. */
function pair(): { vm: ReturnType<ReturnType<typeof createHost>["createVm"]>; destination: ReturnType<typeof createHost> } {
  const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 256 });
  vm.write(0, new Uint8Array(64 * 4096).fill(0x5a));
  return { vm, destination: createHost({ memoryMiB: 16 }) };
}

describe("migrate()", () => {
  it("completed: the destination guest, verified page by page against the source", async () => {
    const { vm, destination } = pair();
    const r = await migrate(vm, destination, { ...TEST_LIMITS });
    expect(r.status).toBe("completed");
    expect(r.verification).toEqual({ method: "page-hash", ok: true, pagesCompared: 256, poisonedPages: 0, firstMismatchPfn: null });
    expect(r.destination?.read(63 * 4096, 4)).toEqual(Uint8Array.of(0x5a, 0x5a, 0x5a, 0x5a));
    expect(destination.vms).toEqual([r.destination]);
  });

  it("completed with verify: false: the destination guest, no verification", async () => {
    const { vm, destination } = pair();
    const r = await migrate(vm, destination, { ...TEST_LIMITS, verify: false });
    expect([r.status, r.verification, r.destination === destination.vms[0]]).toEqual(["completed", null, true]);
  });

  it("not completed: no destination guest, no verification, nothing left on the destination host", async () => {
    const { vm, destination } = pair();
    const aborted = new AbortController();
    aborted.abort();
    const r = await migrate(vm, destination, { ...TEST_LIMITS, signal: aborted.signal });
    expect([r.status, r.stopReason, r.verification, r.destination, destination.vms.length]).toEqual(["cancelled", "cancelled (interrupted)", null, null, 0]);
    expect(vm.paused).toBe(false);
  });
});
