// Does the guest fit its hosts? The estimate against the library's real
// allocations (a host's frame counters during real migrations), the refusal
// of the README's 16 GiB guest with its arithmetic before any work, fixes that
// really fit, and the default host size.
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { hostNeed, tableFrames, type GuestFootprint } from "../src/cli/fit.js";
import { parseMigrateArgs } from "../src/cli/migrate.js";
import { createHost } from "../src/host/host.js";
import type { WorkloadSpec } from "../src/host/workload.js";
import { migrate } from "../src/migration/migrate.js";
import { buildScenario } from "../src/migration/scenario.js";
import { TEST_LIMITS } from "./helpers.js";

const BUFFER_ALLOWANCE_FRAMES = 1024;

async function refusal(args: string[]): Promise<{ err: HypermemError; ms: number }> {
  const started = performance.now();
  const err = await parseMigrateArgs(args).then(() => null, (e: unknown) => e);
  const ms = performance.now() - started;
  expect(err).toBeInstanceOf(HypermemError);
  return { err: err as HypermemError, ms };
}

describe("the estimate against the library", () => {
  it("page tables and dirty-log page sets: exactly the frames a VM takes for pages [0, T)", () => {
    const pages = 4 * 2 ** 18 + 7;
    const host = createHost({ memoryMiB: 64 });
    const before = host.stats().usedFrames;
    const vm = host.createVm({ pages });
    expect(host.stats().usedFrames - before).toBe(tableFrames(0));
    const reader = vm.dirtyLog.open("fit");
    const sets = hostNeed({ guestPages: pages, prefilledPages: 0, workloadPages: 0, workloadWrites: false, xbzrleCacheBytes: 0 }, "source").bitmapFrames / 3;
    expect(host.stats().usedFrames - before).toBe(sets + tableFrames(0));
    let written = 0;
    for (const target of [1, 511, 512, 513, 1024, 5000]) {
      for (; written < target; written++) vm.write(written * 4096, new Uint8Array([1]));
      expect(host.stats().usedFrames - before).toBe(sets + written + tableFrames(written));
    }
    reader.close();
    expect(host.stats().usedFrames - before).toBe(written + tableFrames(written));
    // Page 2^18 opens a second level-2 table and its leaf table, as the formula says one page past 2^18 does.
    const used = host.stats().usedFrames;
    vm.write(2 ** 18 * 4096, new Uint8Array([1]));
    expect(host.stats().usedFrames - used - 1).toBe(tableFrames(2 ** 18 + 1) - tableFrames(2 ** 18));
  });

  it.each([
    [16, 1, 4096, 2 ** 20],
    [64, 0.25, 8192, 0],
    [64, 0.5, 4096, 4 * 2 ** 20],
  ])("a %d MiB guest, prefill %d, workload over %d pages, cache %d bytes: the peak frames of both hosts stay within the estimate, less than the allowance below it",
    async (guestMiB, prefill, pageCount, cacheBytes) => {
      const workload = { kind: "uniform", pageCount } as WorkloadSpec;
      const s = buildScenario({ guestMiB, hostMiB: 512, prefill, workload, ratePerSec: 200_000, writeFraction: 1, seed: 3 });
      s.workload.runFor(1e9); // touches every page of its range before the migration starts
      const r = await migrate(s.vm, s.destination, { ...TEST_LIMITS, workload: s.workload, xbzrleCacheBytes: cacheBytes || false, bandwidthBytesPerSec: 1e9 });
      s.workload.close();
      expect(r.status).toBe("completed");
      const g: GuestFootprint = { guestPages: guestMiB * 256, prefilledPages: Math.round(prefill * guestMiB * 256), workloadPages: pageCount, workloadWrites: true, xbzrleCacheBytes: cacheBytes };
      for (const [side, host] of [["source", s.source], ["destination", s.destination]] as const) {
        const slack = hostNeed(g, side).totalFrames - host.stats().peakUsedFrames;
        expect(slack).toBeGreaterThanOrEqual(0);
        expect(slack).toBeLessThan(BUFFER_ALLOWANCE_FRAMES);
      }
    });
});

describe("a guest that cannot fit is refused before any work, with the arithmetic and a fix", () => {
  it("the README's 16 GiB guest with the whole-guest default workload", async () => {
    const { err, ms } = await refusal(["--guest", "16GiB", "--prefill", "0.125", "--host-memory", "4GiB"]);
    expect(ms).toBeLessThan(2000);
    expect(err.code).toBe(ErrorCode.BadOption);
    const lines = err.message.split("\n");
    expect(lines[0]).toBe("--guest 16GiB: this guest can outgrow a 4GiB host");
    expect(lines[1]).toBe("  frames of 4 KiB the destination host needs:");
    expect(lines[2]).toBe("      4,194,304  guest pages written: the workload (hotcold:0.1,0.9) can write any of its 4,194,304; the prefill writes 524,288");
    // 1 + 4,194,304/2^27 + 4,194,304/2^18 + 4,194,304/2^9 tables, rounded up, and the zero frame.
    expect(lines[3]).toBe(`${(1 + 1 + 16 + 8192 + 1).toLocaleString("en-US").padStart(15)}  nested page tables for 4,194,304 pages mapped, and the zero frame`);
    expect(lines[4]).toBe("          8,192  digest table of the received guest");
    expect(lines[5]).toBe("          1,024  stream buffers (an allowance)");
    const need = 4_194_304 + 8211 + 8192 + 1024;
    expect(lines[6]).toBe(`${need.toLocaleString("en-US").padStart(15)}  in all, more than the ${createHost({ memoryMiB: 4096 }).maxFrames.toLocaleString("en-US")} frames of a 4GiB host`);
    expect(lines[7]).toMatch(/^ {2}fix: --workload-pages \d+MiB \(the workload stays in the first \d+MiB of the guest\); or a smaller --guest$/);
    expect(err.details).toMatchObject({ option: "--guest", needFrames: need, hostMiB: 4096 });
  });

  it("the README's line with --workload-pages: accepted, its range handed to the workload", async () => {
    const plan = await parseMigrateArgs(["--guest", "16GiB", "--prefill", "0.125", "--workload-pages", "2GiB", "--host-memory", "4GiB"]);
    expect(plan.scenario).toMatchObject({ guestMiB: 16384, hostMiB: 4096, prefill: 0.125, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9, pageCount: 524_288 } });
    expect((await parseMigrateArgs(["--guest", "16GiB", "--prefill", "0.125", "--workload-pages", "524288"])).scenario.workload).toMatchObject({ pageCount: 524_288 });
  });

  it.each([
    [["--guest", "16GiB", "--prefill", "0.125", "--host-memory", "4GiB"], "--guest", /--workload-pages \d+MiB/],
    [["--guest", "1TiB"], "--guest", /--prefill [\d.]+ --workload-pages \d+MiB/],
    [["--guest", "1GiB", "--host-memory", "512MiB"], "--host-memory", /--host-memory \d+MiB/],
    [["--guest", "1GiB", "--host-memory", "512MiB"], "--host-memory", /--prefill [\d.]+ --workload-pages \d+MiB/],
    [["--guest", "3GiB", "--xbzrle-cache", "2GiB"], "--guest", /--workload-pages \d+MiB|--prefill [\d.]+ --workload-pages \d+MiB/],
  ])("%j blames %s, and the fix %s is accepted", async (args, option, fix) => {
    const { err } = await refusal(args);
    expect(err.details.option).toBe(option);
    const suggested = fix.exec(err.message.split("\n").at(-1)!);
    expect(suggested).not.toBeNull();
    const fixed = [...args, ...suggested![0].split(" ")];
    // The suggested flags replace the same flags given before.
    const byFlag = new Map<string, string>();
    for (let i = 0; i < fixed.length; i += 2) byFlag.set(fixed[i], fixed[i + 1]);
    await expect(parseMigrateArgs([...byFlag].flat())).resolves.toBeDefined();
  });

  it("the destination keeps a digest table (8 bytes a page); the source three dirty-log page sets", () => {
    const g: GuestFootprint = { guestPages: 2 ** 20, prefilledPages: 2 ** 20, workloadPages: 2 ** 20, workloadWrites: true, xbzrleCacheBytes: 0 };
    expect(hostNeed(g, "destination").totalFrames - hostNeed(g, "source").totalFrames).toBe(2048 - 3 * 32);
  });
});

describe("the default host size", () => {
  it.each([
    [["--guest", "64MiB"], 64 + 256],
    [["--guest", "64MiB", "--xbzrle-cache", "4MiB"], 64 + 4 + 256],
    [["--guest", "64MiB", "--prefill", "0.5"], 64 + 256],
    [["--guest", "64MiB", "--prefill", "0.5", "--write-fraction", "0"], 32 + 256],
    [["--guest", "64MiB", "--prefill", "0.25", "--workload-pages", "4MiB"], 16 + 256],
    [["--guest", "8GiB", "--prefill", "0.25", "--workload-pages", "2GiB"], 2048 + 256],
    [["--guest", "3.875GiB"], 4096],
  ])("%j: %d MiB (what the guest can write + cache + 256 MiB, at most 4 GiB)", async (args, hostMiB) => {
    expect((await parseMigrateArgs(args)).scenario.hostMiB).toBe(hostMiB);
  });

  it("with the whole guest prefilled it is buildScenario's own default", async () => {
    for (const [guestMiB, cacheMiB] of [[16, 0], [40, 8], [64, 4]]) {
      const plan = await parseMigrateArgs(["--guest", `${guestMiB}MiB`, ...(cacheMiB ? ["--xbzrle-cache", `${cacheMiB}MiB`] : [])]);
      const s = buildScenario({ ...plan.scenario, hostMiB: undefined, extraHostMiB: cacheMiB });
      s.workload.close();
      expect(plan.scenario.hostMiB).toBe(s.source.memoryMiB);
    }
  });
});
