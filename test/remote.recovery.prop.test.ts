// Property: after any interleaving of guest writes and reads, epoch ends,
// evictions, write-back steps cut at any instant, baselines and a failure,
// (1) the guest reads what a plain model says it wrote, and (2) the failover's
// recovery equals the model at the last published list, byte for byte (or
// the model at the last baseline when the memory host is unreachable too).
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, recoverRegion, regionGeometry, RemoteMemory, RemoteRegion, resolveRemoteLink, SHARED_STORAGE } from "../src/index.js";

const PAGES = 32;
const LOCAL = 8;
const dir = mkdtempSync(join(tmpdir(), "hypermem-remote-prop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const link = resolveRemoteLink("rdma-56g");

type Op =
  | { kind: "write"; pfn: number; offset: number; length: number; value: number }
  | { kind: "read"; pfn: number }
  | { kind: "tick"; ns: number }
  | { kind: "epoch" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("write" as const), pfn: fc.nat(PAGES - 1), offset: fc.nat(4095), length: fc.integer({ min: 1, max: 600 }), value: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("read" as const), pfn: fc.nat(PAGES - 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), ns: fc.integer({ min: 0, max: 30_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("epoch" as const) }) },
);

describe("remote memory: recovery equals the model at the recovery point", () => {
  it("for any interleaving and failure instant", () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.boolean(), fc.integer({ min: 20_000, max: 200_000 }), (ops, memoryHostDown, baselineEveryNs) => {
        const path = join(dir, `baseline-${run++}`);
        const vm = createHost({ memoryMiB: 8 }).createVm({ pages: PAGES });
        const model = new Uint8Array(PAGES * 4096);
        for (let p = 0; p < PAGES; p++) model.fill(p + 1, p * 4096, (p + 1) * 4096);
        vm.write(0, model);
        let up = true;
        const g = regionGeometry(PAGES, PAGES, 16 * 1024);
        const region = RemoteRegion.format(new SharedArrayBuffer(g.totalBytes), g, () => up);
        const remote = new RemoteMemory(vm, region, { localPages: LOCAL, baselinePath: path, baselineEveryNs, link, storage: SHARED_STORAGE });
        const atBoundary = new Map<number, Uint8Array>();
        let published: Uint8Array = model.slice();
        let baselined: Uint8Array = model.slice();
        remote.onPublish = (epoch) => { published = atBoundary.get(epoch)!; };
        remote.start(0);
        let nowNs = 0;
        let baselines = remote.stats.baselines;
        const advance = (): void => {
          remote.advance(nowNs);
          if (remote.stats.baselines !== baselines) { baselines = remote.stats.baselines; baselined = published.slice(); }
        };
        for (const o of ops) {
          if (o.kind === "write") {
            const length = Math.min(o.length, 4096 - o.offset);
            const bytes = new Uint8Array(length).fill(o.value);
            vm.write(o.pfn * 4096 + o.offset, bytes);
            model.set(bytes, o.pfn * 4096 + o.offset);
          } else if (o.kind === "read") {
            expect(Buffer.compare(vm.read(o.pfn * 4096, 4096), model.subarray(o.pfn * 4096, (o.pfn + 1) * 4096))).toBe(0);
          } else if (o.kind === "tick") {
            nowNs += o.ns;
            advance();
          } else if (!remote.writeBackInFlight) {
            remote.endEpoch(nowNs);
            atBoundary.set(remote.epoch, model.slice());
            expect(remote.localPagesInUse).toBeLessThanOrEqual(LOCAL);
            advance();
          }
        }
        remote.fail(nowNs);
        expect(Buffer.compare(vm.readPages(0, PAGES), model)).toBe(0);
        remote.close();
        if (memoryHostDown) up = false;
        const { memory, report } = recoverRegion({ region, baselinePath: path, pages: PAGES, link, storage: SHARED_STORAGE });
        expect(report.mode).toBe(memoryHostDown ? "baseline-only" : "baseline+lists");
        expect(Buffer.compare(memory, memoryHostDown ? baselined : published)).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("a page evicted while its write-back is in flight is served from the write-back, not the older home copy", () => {
    const path = join(dir, "baseline-inflight");
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * 4096).fill(1));
    const g = regionGeometry(8, 8, 4096);
    const region = RemoteRegion.format(new SharedArrayBuffer(g.totalBytes), g);
    const remote = new RemoteMemory(vm, region, { localPages: 1, baselinePath: path, baselineEveryNs: 1e12, link, storage: SHARED_STORAGE });
    remote.start(0);
    for (let p = 0; p < 8; p++) vm.write(p * 4096, new Uint8Array([p + 10]));
    remote.endEpoch(0); // 8 dirty pages copied out; all but one leave DRAM before any reaches home
    expect(remote.writeBackInFlight).toBe(true);
    expect(remote.localPagesInUse).toBe(1);
    for (let p = 0; p < 8; p++) expect([p, vm.read(p * 4096, 1)[0]]).toEqual([p, p + 10]);
    remote.close();
  });
});
