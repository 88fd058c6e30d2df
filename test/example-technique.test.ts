// The worked example of docs/adding-a-technique.md (test/example/cold-pages.ts)
// does what the guide says: cold pages leave host memory and come back on
// access, transparently to the guest, to the hypervisor and to a migration.
import { describe, expect, it } from "vitest";
import { createHost, guestDigest, migrate, Timeline, type Vm } from "../src/index.js";
import { ColdPageOffloader } from "./example/cold-pages.js";

const PAGES = 4096;

/** A guest with every page written, then a hot/cold workload on a timeline. */
function guest(): { vm: Vm; timeline: Timeline } {
  const vm = createHost({ memoryMiB: 64 }).createVm({ pages: PAGES });
  vm.write(0, new Uint8Array(PAGES * 4096).fill(7));
  const timeline = new Timeline();
  vm.startWorkload({ kind: "hotcold", hotFraction: 0.1, hotProbability: 0.99, ratePerSec: 50_000, writeFraction: 0.5, seed: 5 }).attach(timeline);
  return { vm, timeline };
}

describe("the cold-page example technique", () => {
  it("moves cold pages out, frees their frames, brings them back on access: the guest sees no difference", () => {
    const a = guest();
    const b = guest();
    const offloader = new ColdPageOffloader(a.vm, a.timeline);
    a.timeline.advance(1e9);
    b.timeline.advance(1e9);
    expect(offloader.offloaded).toBeGreaterThan(2000);
    expect(offloader.broughtBack).toBeGreaterThan(0);
    expect(a.vm.states.counts().elsewherePages).toBe(offloader.storedPages);
    expect(a.vm.states.counts().privateFrames).toBe(PAGES - offloader.storedPages);
    expect(a.vm.host.stats().usedFrames).toBeLessThan(b.vm.host.stats().usedFrames - 2000);
    // The digest reads every page through the page hook, bringing the cold ones back.
    expect(guestDigest(a.vm)).toEqual(guestDigest(b.vm));
    expect(offloader.storedPages).toBe(0);
    offloader.close();
  });

  it("a guest with pages elsewhere migrates and verifies", async () => {
    const { vm, timeline } = guest();
    const offloader = new ColdPageOffloader(vm, timeline);
    timeline.advance(5e8);
    expect(offloader.storedPages).toBeGreaterThan(1000);
    const r = await migrate(vm, createHost({ memoryMiB: 64 }), { timeline, bandwidthBytesPerSec: 1.25e9, maxRounds: 30 });
    expect(r.status).toBe("completed");
    expect(r.verification).toMatchObject({ ok: true });
    offloader.close();
  });
});
