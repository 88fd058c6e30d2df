// Hypervisor swap under the overcommit scheduler (issue 16): a host whose
// guests write more than it has, beyond what the balloons may take
// (Mem.CtlMaxPercent), keeps going because the scheduler's last step swaps
// out; the balloons were at their cap before the first page was swapped
// (ESX's order), and every page - swapped, brought back by a later write,
// or never moved - holds what the model says, byte for byte.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHost, HostSwap, MemoryScheduler, SwapReclaimStep, Timeline, type ReclaimContext, type Vm } from "../src/index.js";

const VM_PAGES = 1024;
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** The bytes the model says page `pfn` of `vm` holds after write `gen` of it: every byte depends on all three. */
function pageBytes(vm: number, pfn: number, gen: number): Uint8Array {
  const words = new Uint32Array(1024);
  let x = (vm * 0x9e3779b1 + pfn * 0x85ebca6b + gen * 0xc2b2ae35 + 1) | 0;
  for (let i = 0; i < 1024; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer);
}

describe("hypervisor swap as the scheduler's last step below ballooning", () => {
  it("a host overcommitted beyond the balloon cap swaps the rest; balloons first; every page reads back byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-swap-oc-"));
    dirs.push(dir);
    const host = createHost({ memoryMiB: 6 }); // 1,536 frames for 2 × 1,024 pages written
    const timeline = new Timeline();
    const scheduler = new MemoryScheduler(host, timeline, { balloonMaxFraction: 0.1, seed: 7 });
    const vms: Vm[] = [host.createVm({ pages: VM_PAGES }), host.createVm({ pages: VM_PAGES })];
    const managed = vms.map((vm) => scheduler.manage(vm));
    const swap = new HostSwap(host, timeline, { path: join(dir, "host.swap"), capacityPages: 2 * VM_PAGES });
    for (const vm of vms) swap.attach(vm);
    const step = new SwapReclaimStep(swap, (frames) => scheduler.makeRoom(frames));
    // Record the balloons each time the step is asked for frames, and whether it freed any.
    const calls: { balloonPages: number[]; capPages: number[]; freed: number }[] = [];
    scheduler.addReclaimStep({
      name: step.name,
      reclaim(frames: number, ctx: ReclaimContext): number {
        const freed = step.reclaim(frames, ctx);
        calls.push({ balloonPages: managed.map((m) => m.driver.actualPages), capPages: managed.map((m) => m.driver.maxPages), freed });
        return freed;
      },
    });
    scheduler.start();
    // The model: the generation of each page's last write. A guest access first (the fault chain the
    // scheduler guards: first touch, swap-in, balloon fault), then the page's bytes by the test.
    const gen = vms.map(() => new Map<number, number>());
    const write = (v: number, pfn: number): void => {
      const g = (gen[v].get(pfn) ?? 0) + 1;
      vms[v].run([{ op: "write", gpa: pfn * 4096, length: 1, seed: g }]);
      vms[v].write(pfn * 4096, pageBytes(v, pfn, g));
      gen[v].set(pfn, g);
    };
    // Each guest writes its pages in order (32 every 20 ms), then its first 256 again (swap-ins).
    let next = 0;
    const tick = (): void => {
      for (let v = 0; v < vms.length; v++) {
        for (let i = 0; i < 32; i++) {
          const at = next + i;
          write(v, at < VM_PAGES ? at : (at - VM_PAGES) % 256);
        }
      }
      next += 32;
      if (next < VM_PAGES + 256) timeline.schedule(timeline.nowNs + 20e6, tick);
    };
    timeline.schedule(20e6, tick);
    timeline.advance(2e9);

    // Overcommitted beyond the balloon cap: pages were swapped, and are still.
    const swapped = vms.map((vm) => vm.states.counts().swappedPages);
    expect(swapped.reduce((a, b) => a + b)).toBeGreaterThan(0);
    expect(vms.map((vm) => swap.counters(vm).swap_out).every((n) => n > 0)).toBe(true);
    expect(step.figures.freedFrames).toBe(vms.reduce((sum, vm) => sum + swap.counters(vm).swap_out, 0));
    // Balloons first: at the first call that swapped anything, every balloon was at its cap.
    const first = calls.find((c) => c.freed > 0)!;
    expect(first.balloonPages).toEqual(first.capPages);
    expect(first.capPages.every((n) => n > 0)).toBe(true);
    // The later rewrites of swapped pages came back through the swap device.
    expect(vms.map((vm) => swap.counters(vm).swap_in).every((n) => n > 0)).toBe(true);
    expect(host.maxFrames - host.stats().usedFrames).toBeGreaterThanOrEqual(Math.ceil(0.01 * host.maxFrames));

    // Byte for byte: every page written, swapped ones read back through the swap device (a hypervisor read).
    const swappedPfns = vms.map((vm) => [...gen[vms.indexOf(vm)].keys()].filter((pfn) => vm.states.of(pfn).kind === "swapped"));
    expect(swappedPfns.map((l) => l.length)).toEqual(swapped);
    for (const [v, vm] of vms.entries()) {
      for (const [pfn, g] of gen[v]) {
        if (vm.states.of(pfn).kind === "ballooned") continue;
        const got = vm.read(pfn * 4096, 4096);
        if (Buffer.compare(got, pageBytes(v, pfn, g)) !== 0) expect.fail(`vm ${v} page ${pfn} (${swappedPfns[v].includes(pfn) ? "swapped" : "resident"}) differs from write ${g}`);
      }
    }
    expect(vms.map((vm) => swap.counters(vm).corruptSlots)).toEqual([0, 0]);
    // The host goes with the test (as with runOvercommit): balloons are not given back.
    step.close();
    for (const vm of vms) vm.destroy();
    swap.close();
  });
});
