// Pre-copy migration end to end: every migration in this file is verified
// (destination equals source, page by page and byte for byte), and the
// policies stop where their rules say.
import { describe, expect, it } from "vitest";
import { createHost, injectMemoryError, type MachineCheck, type Vm } from "../src/index.js";
import { migrate, type MigrationOutcome } from "../src/migration/migrate.js";
import type { MigrationOptions } from "../src/migration/options.js";
import { buildScenario, type ScenarioOptions } from "../src/migration/scenario.js";
import { expectedDowntimeNs } from "../src/migration/policy.js";
import { TEST_LIMITS } from "./helpers.js";

const GBIT = 1.25e8;

/** Destination equals source byte for byte, except poisoned pages (poisoned on both). */
function expectSameMemory(source: Vm, destination: Vm): void {
  expect(destination.pages).toBe(source.pages);
  for (let pfn = 0; pfn < source.pages; pfn += 1024) {
    const count = Math.min(1024, source.pages - pfn);
    const poisoned: number[] = [];
    for (let p = pfn; p < pfn + count; p++) {
      if (source.pteInfo(p).poisoned || source.pteInfo(p).latentError) {
        poisoned.push(p);
        expect(destination.pteInfo(p)).toMatchObject({ poisoned: true, present: false });
      }
    }
    const readable = (vm: Vm): Buffer => {
      const parts: Uint8Array[] = [];
      for (let p = pfn; p < pfn + count; p++) parts.push(poisoned.includes(p) ? new Uint8Array(4096) : vm.read(p * 4096, 4096));
      return Buffer.concat(parts);
    };
    const a = readable(source);
    const b = readable(destination);
    if (Buffer.compare(a, b) !== 0) {
      let i = 0;
      while (a[i] === b[i]) i++;
      throw new Error(`destination differs from source at gpa 0x${(pfn * 4096 + i).toString(16)}`);
    }
  }
}

type Built = ReturnType<typeof buildScenario>;

async function run(s: ScenarioOptions, m: MigrationOptions = {}, before?: (scenario: Built) => void): Promise<{ r: MigrationOutcome; vm: Vm; scenario: Built }> {
  const scenario = buildScenario(s);
  before?.(scenario);
  const r = await migrate(scenario.vm, scenario.destination, { ...TEST_LIMITS, workload: scenario.workload, ...m });
  if (r.status === "completed") {
    expect(r.verification).toMatchObject({ ok: true, firstMismatchPfn: null });
    expectSameMemory(scenario.vm, r.destination!);
  }
  return { r, vm: scenario.vm, scenario };
}

const hot = (hotFraction: number, ratePerSec: number): Pick<ScenarioOptions, "workload" | "ratePerSec" | "writeFraction"> =>
  ({ workload: { kind: "hotcold", hotFraction, hotProbability: 0.95 }, ratePerSec, writeFraction: 0.5 });

describe("pre-copy migration", () => {
  it("moves an idle guest exactly, zero pages as duplicates and untouched pages as zero", async () => {
    const { r } = await run({ guestMiB: 16, prefill: 0.5, ...hot(0.1, 1) }, { bandwidthBytesPerSec: GBIT });
    expect(r.status).toBe("completed");
    expect(r.ram.normal).toBe(2048);
    expect(r.ram.duplicate).toBe(2048);
    expect(r.ram.total).toBe(16 * 2 ** 20);
    expect(r.ram.transferred).toBeGreaterThan(2048 * 4096);
    expect(r.downtime).toBeLessThanOrEqual(300);
  });

  it("without zero-page detection, zero pages go whole", async () => {
    const { r } = await run({ guestMiB: 16, prefill: 0.5, ...hot(0.1, 1) }, { bandwidthBytesPerSec: GBIT, zeroPageDetection: false });
    expect(r.status).toBe("completed");
    expect(r.ram.duplicate).toBe(0);
    expect(r.ram.normal).toBe(4096);
  });

  it("with QEMU's rule, the stop-and-copy fits the downtime limit whenever the rule fired", async () => {
    for (const [limitMs, rate, seed] of [[30, 50_000, 1], [100, 100_000, 2], [10, 20_000, 3], [300, 2_000_000, 4], [5, 5_000, 5]]) {
      const { r } = await run({ guestMiB: 32, seed, ...hot(0.05, rate) }, { bandwidthBytesPerSec: GBIT, downtimeLimitNs: limitMs * 1e6, maxRounds: 60 });
      expect([limitMs, r.status]).toEqual([limitMs, "completed"]);
      expect(r.stopReason).toMatch(/within the/);
      expect(r.downtime).toBeLessThanOrEqual(limitMs);
      expect(r.ram.dirtySyncCount).toBe(r.rounds.length);
    }
  });

  it("a guest that dirties as fast as the link drains gives up at maxRounds; the source runs on, untouched by the migration", async () => {
    const options = { guestMiB: 32, seed: 3, ...hot(0.5, 3_000_000) };
    const s = buildScenario(options);
    const usedBefore = s.destination.stats().usedFrames;
    const accessesBefore = s.vm.counters.accesses;
    const r = await migrate(s.vm, s.destination, { workload: s.workload, bandwidthBytesPerSec: GBIT, downtimeLimitNs: 30e6, maxRounds: 8 });
    expect(r.status).toBe("cancelled");
    expect(r.stopReason).toMatch(/maxRounds/);
    expect(r.destination).toBeNull();
    expect(s.destination.stats()).toMatchObject({ vms: 0, usedFrames: usedBefore });
    const twin = buildScenario({ ...options, ratePerSec: s.vm.counters.accesses - accessesBefore });
    twin.workload.runFor(1e9);
    expect(Buffer.compare(s.vm.read(0, s.vm.memoryBytes), twin.vm.read(0, twin.vm.memoryBytes))).toBe(0);
    s.workload.throttle = 0.99;
    const retry = await migrate(s.vm, s.destination, { ...TEST_LIMITS, workload: s.workload, bandwidthBytesPerSec: GBIT });
    expect(retry.status).toBe("completed");
    expect(retry.verification?.ok).toBe(true);
    expectSameMemory(s.vm, retry.destination!);
  });

  it("auto-converge makes a guest that cannot converge alone converge, the throttle climbing 20, 30, 40... %", async () => {
    const slow = { bandwidthBytesPerSec: GBIT / 10, downtimeLimitNs: 30e6, maxRounds: 60 };
    const plain = await run({ guestMiB: 32, ...hot(0.25, 20_000) }, slow);
    expect(plain.r.status).toBe("cancelled");
    const { r } = await run({ guestMiB: 32, ...hot(0.25, 20_000) }, { ...slow, autoConverge: true });
    expect(r.status).toBe("completed");
    const steps = [...new Set(r.rounds.map((x) => x.throttlePct))];
    expect(steps[0]).toBe(0);
    expect(steps[1]).toBe(20);
    for (let i = 2; i < steps.length; i++) expect(steps[i]).toBe(Math.min(99, steps[i - 1] + 10));
    expect(r.cpuThrottlePercentage).toBe(steps.at(-1));
    expect(r.cpuThrottlePercentage).toBeGreaterThanOrEqual(30);
    expect(r.downtime).toBeLessThanOrEqual(30);
  });

  it("Xen's rules: stop after 30 rounds, or 3x the guest sent, or under 50 pages left", async () => {
    const busy = await run({ guestMiB: 16, ...hot(0.5, 4_000_000) }, { policy: "xen", bandwidthBytesPerSec: GBIT });
    expect(busy.r.status).toBe("completed");
    const sentPages = busy.r.rounds.slice(0, -1).reduce((n, x) => n + x.pagesSent, 0);
    const reason = busy.r.stopReason;
    if (reason.includes("rounds")) expect(busy.r.rounds.length - 1).toBe(30);
    else expect(reason).toMatch(/more than 3x/), expect(sentPages).toBeGreaterThan(3 * 4096);
    const idle = await run({ guestMiB: 16, ...hot(0.01, 100) }, { policy: "xen", bandwidthBytesPerSec: GBIT });
    expect(idle.r.stopReason).toMatch(/fewer than 50 pages left/);
    expect(idle.r.rounds.length).toBeLessThanOrEqual(3);
  });

  it("Xen skips pages dirtied again during the round; QEMU sends them and again next round", async () => {
    const opts = { guestMiB: 16, seed: 9, ...hot(0.05, 1_000_000) };
    const xen = await run(opts, { policy: "xen", bandwidthBytesPerSec: GBIT, maxRounds: 4 });
    const qemu = await run(opts, { policy: "qemu", bandwidthBytesPerSec: GBIT, downtimeLimitNs: 1e6, maxRounds: 4 });
    expect(xen.r.rounds[1].pagesSent).toBeLessThan(qemu.r.rounds[1].pagesSent);
  });

  it("XBZRLE sends fewer bytes than plain on a hot-page workload and reports cache misses", async () => {
    const opts = { guestMiB: 32, seed: 5, ...hot(0.1, 1_000_000), writeBytes: 8 };
    const m = { bandwidthBytesPerSec: GBIT, downtimeLimitNs: 20e6, maxRounds: 12 };
    const plain = await run(opts, m);
    const x = await run(opts, { ...m, maxRounds: 40, xbzrleCacheBytes: 32 * 2 ** 20 });
    expect(x.r.xbzrleCache!.pages).toBeGreaterThan(0);
    expect(x.r.xbzrleCache!.cacheMiss).toBeGreaterThan(0);
    expect(x.r.xbzrleCache!.encodingRate).toBeGreaterThan(2);
    const precopyAfterBulk = (o: MigrationOutcome): number => o.rounds.slice(1).reduce((n, r) => n + r.bytes, 0);
    expect(precopyAfterBulk(x.r)).toBeLessThan(precopyAfterBulk(plain.r));
    expect(x.r.status).toBe("completed");
  });

  it("is deterministic: the same seed gives the same statistics", async () => {
    const opts = { guestMiB: 16, seed: 11, ...hot(0.2, 500_000) };
    const m = { bandwidthBytesPerSec: GBIT, downtimeLimitNs: 50e6, xbzrleCacheBytes: 2 ** 20, autoConverge: true };
    const strip = ({ r }: { r: MigrationOutcome }) => ({ ...r, wallTimeMs: 0, destination: null });
    expect(strip(await run(opts, m))).toEqual(strip(await run(opts, m)));
  });

  it("a max-bandwidth cap slows precopy to the cap; the stop-and-copy goes at the line rate, as QEMU's completion does", async () => {
    const { r } = await run({ guestMiB: 16, ...hot(0.1, 10) }, { bandwidthBytesPerSec: GBIT, maxBandwidthBytesPerSec: GBIT / 4 });
    const mbps = (bytes: number, ms: number): number => (bytes * 8) / (ms / 1e3) / 1e6;
    const precopyMbps = mbps(r.ram.precopyBytes, r.totalTime - r.downtime);
    expect(precopyMbps).toBeLessThanOrEqual(250.5);
    expect(precopyMbps).toBeGreaterThan(200);
    expect(r.ram.downtimeBytes).toBeGreaterThan(2 ** 20);
    expect(mbps(r.ram.downtimeBytes, r.downtime)).toBeGreaterThan(900);
    expect(mbps(r.ram.downtimeBytes, r.downtime)).toBeLessThanOrEqual(1000.5);
    expect(expectedDowntimeNs({ remainingPages: 0, bandwidthBytesPerSec: 1, latencyNs: 5, downtimeLimitNs: 1 })).toBe(5);
  });
});

describe("progress and rates", () => {
  it("remaining counts the scan window being sent: it falls from the whole guest, page for page", async () => {
    // 64 MiB is 16,384 pages: one QEMU scan window holds them all, so a count without it would say 0 from the start.
    const events: Array<{ remainingBytes: number; transferredBytes: number; phase: string; round: number }> = [];
    const { r, vm } = await run({ guestMiB: 64, prefill: 1, ...hot(0.1, 1) }, {
      bandwidthBytesPerSec: GBIT, downtimeLimitNs: 1e6, maxRounds: 3, onProgress: (p) => events.push({ ...p }),
    });
    expect(r.status).toBe("completed");
    const bulk = events.filter((e) => e.round === 0 && e.phase === "precopy");
    expect(bulk.length).toBeGreaterThan(4);
    expect(bulk[0].remainingBytes).toBeGreaterThan(vm.memoryBytes * 0.9);
    expect(bulk[0].remainingBytes).toBeLessThan(vm.memoryBytes);
    for (let i = 1; i < bulk.length; i++) expect(bulk[i].remainingBytes).toBeLessThan(bulk[i - 1].remainingBytes);
    expect(bulk.at(-1)!.remainingBytes).toBe(0);
  });

  it("a migration shorter than 1 s reports the dirty-page rate over what it measured, not 0", async () => {
    const { r } = await run({ guestMiB: 64, prefill: 1, ...hot(0.1, 200_000) }, { bandwidthBytesPerSec: 10 * GBIT, maxRounds: 5 });
    expect(r.totalTime).toBeLessThan(1000);
    const dirtied = r.rounds.reduce((sum, x) => sum + x.pagesDirtied, 0);
    expect(dirtied).toBeGreaterThan(0);
    expect(r.ram.dirtyPagesRate).toBeGreaterThan(0);
  });

  it("a cancelled migration counts the unsent rest of its window as remaining", async () => {
    const { r, vm } = await run({ guestMiB: 64, prefill: 1, ...hot(0.1, 1) }, { bandwidthBytesPerSec: GBIT, maxTotalTimeNs: 100e6 });
    expect(r.status).toBe("cancelled");
    expect(r.ram.remaining).toBeGreaterThan(0);
    expect(r.ram.remaining + r.ram.normalBytes).toBeGreaterThanOrEqual(vm.memoryBytes);
  });
});

describe("one migration of a VM at a time", () => {
  it("a second in-process migration of a VM being migrated is refused at once; the first completes; then it may go again", async () => {
    const s = buildScenario({ guestMiB: 16, prefill: 0.5, ...hot(0.1, 1000) });
    const first = migrate(s.vm, s.destination, { ...TEST_LIMITS, workload: s.workload, bandwidthBytesPerSec: GBIT });
    const other = createHost({ memoryMiB: 64 });
    await expect(migrate(s.vm, other, TEST_LIMITS)).rejects.toMatchObject({ code: "ERR_VM_MIGRATING", details: { vmId: s.vm.id } });
    expect(other.stats().vms).toBe(0);
    const r = await first;
    expect(r.status).toBe("completed");
    expect(r.verification).toMatchObject({ ok: true });
    s.vm.resume();
    const again = await migrate(s.vm, other, TEST_LIMITS);
    expect(again.status).toBe("completed");
  });
});

describe("guests with uncorrectable memory errors", () => {
  it("poisoned pages travel as POISON, never their bytes, and raise a virtual MCE on the destination", async () => {
    const guestFound: MachineCheck[] = [];
    const { r, vm, scenario } = await run({ guestMiB: 16, injectErrors: 4, latentErrors: 3, seed: 2, ...hot(0.1, 200_000) }, { bandwidthBytesPerSec: GBIT },
      (sc) => sc.vm.onMachineCheck((m) => guestFound.push(m)));
    expect(r.status).toBe("completed");
    expect(r.poisonedPagesSent).toBe(7);
    const foundByGuest = guestFound.filter((m) => m.foundLatent).length;
    expect(r.latentErrorsFound + foundByGuest).toBe(3);
    expect(r.verification?.poisonedPages).toBe(7);
    const dest = r.destination!;
    const mces: MachineCheck[] = [];
    dest.onMachineCheck((m) => mces.push(m));
    const pfns = scenario.injected.map((e) => e.pfn);
    dest.run(pfns.map((pfn) => ({ op: "read" as const, gpa: pfn * 4096 })));
    expect(mces.map((m) => m.pfn).sort()).toEqual([...pfns].sort());
    for (const pfn of pfns) expect(vm.pteInfo(pfn).poisoned).toBe(true);
  });

  it("errors that appear during precopy are handled in later rounds", async () => {
    const s = buildScenario({ guestMiB: 16, seed: 4, ...hot(0.05, 300_000) });
    let injected = 0;
    const r = await migrate(s.vm, s.destination, {
      workload: s.workload, bandwidthBytesPerSec: GBIT, downtimeLimitNs: 20e6, maxRounds: 30,
      onProgress: (p) => {
        if (p.round >= 1 && injected < 2) {
          const pfn = 3000 + injected * 7;
          injectMemoryError(s.source, { vm: s.vm, gpa: pfn * 4096 }, { latent: injected === 1 });
          injected++;
        }
      },
    });
    expect(injected).toBe(2);
    expect(r.status).toBe("completed");
    expect(r.verification).toMatchObject({ ok: true, poisonedPages: 2 });
    expect(r.destination!.pteInfo(3000).poisoned).toBe(true);
    expect(r.destination!.pteInfo(3007).poisoned).toBe(true);
  });

  it("a guest migrated A -> B -> C keeps its poisoned pages poisoned", async () => {
    const { r } = await run({ guestMiB: 8, injectErrors: 2, latentErrors: 1, seed: 8, ...hot(0.1, 1000) }, { bandwidthBytesPerSec: GBIT });
    const b = r.destination!;
    const c = createHost({ memoryMiB: 64 });
    const second = await migrate(b, c, { ...TEST_LIMITS, bandwidthBytesPerSec: GBIT });
    expect(second.status).toBe("completed");
    expect(second.poisonedPagesSent).toBe(3);
    expect(second.verification).toMatchObject({ ok: true, poisonedPages: 3 });
    expectSameMemory(b, second.destination!);
  });
});

describe("scale", () => {
  it("a 16 GiB guest with 2 GiB touched migrates between hosts of 4 GiB each", async () => {
    const s = buildScenario({ guestMiB: 16384, prefill: 0.125, hostMiB: 4096, ...hot(0.05, 200_000) });
    const r = await migrate(s.vm, s.destination, { ...TEST_LIMITS, workload: s.workload });
    expect(r.status).toBe("completed");
    expect(r.ram.total).toBe(16 * 2 ** 30);
    expect(r.ram.normal).toBeGreaterThanOrEqual(524288);
    expect(r.verification).toMatchObject({ ok: true, pagesCompared: 4 * 2 ** 20 });
  }, 120_000);
});
