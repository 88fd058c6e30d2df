// Bench case of remote-memory recovery (issue 20, seed T4): a 1 GiB region
// with 10 % of its pages rewritten over 10 epochs since its baseline,
// rebuilt on a "failover host" (a 1 GiB SharedArrayBuffer allocated once):
// the baseline read from its file 64 pages at a time, the dirty lists read
// and checked, the listed pages laid over the baseline's from the region,
// every page used checked against its XXH3-64 (one kernel call per 64
// pages). Beside it, a plain copy of the same bytes (the
// region's 1 GiB and its dirty pages once more) between two
// SharedArrayBuffers. The ratio is recovery's bytes per second over the
// plain copy's (the target: at least 0.5x). Both sides are verified
// before anything is timed.
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../case.js";
import { dirtiedRegion, recoverRegion, resolveRemoteLink, SHARED_STORAGE } from "../../src/index.js";

const PAGES = 262_144; // 1 GiB
const DIRTY_PAGES = Math.round(PAGES / 10);
const BYTES = (PAGES + DIRTY_PAGES) * 4096;

const recoverCase: BenchCase = {
  name: "remote-recover-1GiB-10pct-vs-sab-copy",
  bytesPerPass: BYTES,
  opsPerPass: PAGES + DIRTY_PAGES,
  setup() {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-remote-"));
    const path = join(dir, "region.baseline");
    const region = dirtiedRegion(PAGES, DIRTY_PAGES, 10, 1, path);
    const into = new Uint8Array(new SharedArrayBuffer(PAGES * 4096));
    const source = new Uint8Array(new SharedArrayBuffer(BYTES)).fill(7);
    const target = new Uint8Array(new SharedArrayBuffer(BYTES));
    const link = resolveRemoteLink("rdma-56g");
    const recover = () => recoverRegion({ region, baselinePath: path, pages: PAGES, link, storage: SHARED_STORAGE, into });
    return {
      wasm: { run: () => { recover(); } },
      ts: { run: () => target.set(source) },
      verify() {
        into.fill(0);
        const { report } = recover();
        if (report.mode !== "baseline+lists" || report.pagesCopied !== DIRTY_PAGES) throw new Error(`${recoverCase.name}: ${report.mode}, ${report.pagesCopied} pages copied, not ${DIRTY_PAGES}`);
        if (Buffer.compare(into, region.homeView().pages) !== 0) throw new Error(`${recoverCase.name}: the recovered region differs from the region`);
        target.fill(0);
        target.set(source);
        if (Buffer.compare(target, source) !== 0) throw new Error(`${recoverCase.name}: the plain copy copied other bytes`);
      },
      teardown: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

export const remoteCases: BenchCase[] = [recoverCase];
