// The swap device's prefetches, limits and vCPUs through real faults:
// readahead of the aligned page-cluster window, a fault on a queued
// prefetch promoted to a demand read, hits on finished ones, waste and
// cancellation; a host-wide frame limit over two guests; a vCPU's stall
// equals what its demand reads took; the replay of requests against the
// swap file with asynchronous I/O (bytes and counts, never durations).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, HostSwap, replayOnFile, resolveDevice, SwapFile, SwapVcpu, Timeline, type SwapOptions, type Vm } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-swap-prefetch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const swapPath = (): string => join(dir, `swap-${++files}`);

function rig(options: SwapOptions = {}): { vm: Vm; swap: HostSwap; timeline: Timeline } {
  const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 64 });
  const timeline = new Timeline();
  const swap = new HostSwap(vm.host, timeline, { path: swapPath(), capacityPages: 64, device: "hdd", ...options });
  swap.attach(vm);
  for (let pfn = 0; pfn < 16; pfn++) vm.write(pfn * 4096, new Uint8Array(4096).fill(pfn + 1));
  swap.swapOut(vm, 16);
  return { vm, swap, timeline };
}

const touch = (vm: Vm, pfn: number): void => vm.run([{ op: "read", gpa: pfn * 4096, length: 8 }]);
const slotOf = (vm: Vm, pfn: number): number => {
  const s = vm.states.of(pfn);
  return s.kind === "swapped" ? s.slot : -1;
};

describe("swap prefetch", () => {
  it("reads ahead the aligned window of 2^page-cluster slots; a fault on a queued prefetch promotes it, one on a finished prefetch is a hit; the unused are wasted", () => {
    const { vm, swap, timeline } = rig();
    expect(Array.from({ length: 16 }, (_, p) => slotOf(vm, p))).toEqual(Array.from({ length: 16 }, (_, i) => i));
    timeline.advance(1e9);
    touch(vm, 0);
    expect(swap.prefetch).toMatchObject({ issued: 7, promoted: 0, hits: 0 });
    touch(vm, 5);
    expect(swap.prefetch).toMatchObject({ issued: 7, promoted: 1 });
    timeline.advance(1e9);
    touch(vm, 1);
    expect(swap.prefetch).toMatchObject({ issued: 7, promoted: 1, hits: 1, wasted: 0 });
    expect(swap.counters(vm)).toMatchObject({ swap_in: 3, major_faults: 2, minor_faults: 1 });
    expect(swap.device.latenciesNs.demand).toHaveLength(2);
    swap.close();
    expect(swap.prefetch).toMatchObject({ wasted: 5, cancelled: 0 });
    for (let pfn = 0; pfn < 16; pfn++) expect(vm.read(pfn * 4096, 4096)).toEqual(new Uint8Array(4096).fill(pfn + 1));
  });

  it("page-cluster 0 reads nothing ahead", () => {
    const { vm, swap, timeline } = rig({ pageCluster: 0 });
    timeline.advance(1e9);
    touch(vm, 0);
    touch(vm, 1);
    expect(swap.prefetch.issued).toBe(0);
    expect(swap.counters(vm).major_faults).toBe(2);
    swap.close();
  });

  it("queued prefetches can be cancelled; a later fault on their page is a demand read", () => {
    const { vm, swap, timeline } = rig({ recordRequests: true });
    timeline.advance(1e9);
    touch(vm, 8);
    expect(swap.cancelPrefetches()).toBe(7);
    expect(swap.prefetch).toMatchObject({ issued: 7, cancelled: 7 });
    touch(vm, 9);
    expect(swap.counters(vm)).toMatchObject({ major_faults: 2, minor_faults: 0 });
    expect(swap.device.log.filter((e) => e.dropped)).toHaveLength(7);
    swap.close();
  });

  it("a host-wide limit holds over two guests; each guest's memory is intact", () => {
    const host = createHost({ memoryMiB: 16 });
    const timeline = new Timeline();
    const swap = new HostSwap(host, timeline, { path: swapPath(), capacityPages: 256, frameLimitPages: 60, reclaimBatchPages: 8, minFreeFrames: 4 });
    const vms = [host.createVm({ pages: 64 }), host.createVm({ pages: 64 })];
    for (const vm of vms) swap.attach(vm);
    for (let pfn = 0; pfn < 64; pfn++) {
      for (const [i, vm] of vms.entries()) vm.run([{ op: "write", gpa: pfn * 4096, length: 8, seed: i * 1000 + pfn }]);
      expect(vms[0].states.counts().privateFrames + vms[1].states.counts().privateFrames).toBeLessThanOrEqual(60);
    }
    expect(swap.counters(vms[0]).swap_out + swap.counters(vms[1]).swap_out).toBeGreaterThanOrEqual(128 - 60);
    const twin = createHost({ memoryMiB: 16 });
    const plain = [twin.createVm({ pages: 64 }), twin.createVm({ pages: 64 })];
    for (let pfn = 0; pfn < 64; pfn++) for (const [i, vm] of plain.entries()) vm.run([{ op: "write", gpa: pfn * 4096, length: 8, seed: i * 1000 + pfn }]);
    for (const i of [0, 1]) expect(Buffer.compare(vms[i].readPages(0, 64), plain[i].readPages(0, 64))).toBe(0);
    swap.close();
  });
});

describe("swap vCPUs", () => {
  it("a vCPU waits for its demand reads: its stall is what they took (one fault per slice)", () => {
    const vm = createHost({ memoryMiB: 16 }).createVm({ pages: 1024 });
    const timeline = new Timeline({ quantumNs: 20_000 });
    const swap = new HostSwap(vm.host, timeline, { path: swapPath(), capacityPages: 1024, pageCluster: 0, device: "sata-ssd" });
    const guest = swap.attach(vm, { frameLimitPages: 256 });
    const workload = vm.startWorkload({ kind: "uniform", ratePerSec: 40_000, writeFraction: 1, seed: 3 });
    const vcpu = new SwapVcpu(guest, workload, timeline, swap.device);
    timeline.advance(300e6);
    swap.device.advanceTo(timeline.nowNs);
    vcpu.close();
    workload.close();
    const latencies = swap.device.latenciesNs.demand;
    const sum = latencies.reduce((a, b) => a + b, 0);
    expect(latencies.length).toBeGreaterThan(100);
    expect(vcpu.stallNs).toBeGreaterThan(0);
    expect(Math.abs(vcpu.stallNs - sum)).toBeLessThanOrEqual(Math.max(...latencies));
    expect(guest.counters.stallNs).toBe(vcpu.stallNs);
    swap.close();
  });
});

describe("swap --io real", () => {
  it("replays reads of live slots and writes past them with asynchronous I/O: bytes and counts per type; the live slots are unchanged", async () => {
    const path = swapPath();
    const file = SwapFile.create(path, 16);
    const pages = Array.from({ length: 8 }, (_, i) => new Uint8Array(4096).fill(i + 1));
    for (const p of pages) file.store(p);
    const log = [
      ...Array.from({ length: 8 }, (_, slot) => ({ type: "demand" as const, slot, atNs: slot * 100_000, dropped: false })),
      { type: "prefetch" as const, slot: 3, atNs: 50_000, dropped: true },
      ...[0, 1, 2].map((slot) => ({ type: "writeBack" as const, slot, atNs: 300_000, dropped: false })),
    ].sort((a, b) => a.atNs - b.atNs);
    const result = await replayOnFile(path, log, { queues: "priority", device: resolveDevice("nvme"), capacitySlots: 16 });
    expect(result.bytesRead).toBe(8 * 4096);
    expect(result.bytesWritten).toBe(3 * 4096);
    expect(result.latency.demand.count).toBe(8);
    expect(result.latency.writeBack.count).toBe(3);
    expect(result.latency.prefetch.count).toBe(0);
    const out = new Uint8Array(4096);
    for (let slot = 0; slot < 8; slot++) expect(file.load(slot, out)).toBe(true);
    file.close();
  });
});
