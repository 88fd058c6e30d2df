// A whole remote-memory run: a guest on a compute host with part of its
// memory in a region on a memory host (a worker thread), a workload for
// `failAtNs` of simulated time with epochs and baselines, the compute host's
// failure, and the failover host's recovery, checked byte for byte against
// the guest's memory at the last published list (the recovery point) and
// compared with the guest's memory at the failure (what was lost). Beside
// it, what a full copy of the region and the baseline alone would cost.
import { Buffer } from "node:buffer";
import { rmSync } from "node:fs";
import { createHost } from "../host/host.js";
import { mulberry32 } from "../sim/prng.js";
import { loadBaseline } from "./baseline.js";
import { RemoteMemory, type FailurePoint, type RemoteMemoryStats } from "./compute.js";
import { opsNs } from "./link.js";
import { MemoryHost } from "./memory-host.js";
import { resolveRemoteOptions, type RemoteScenarioOptions, type ResolvedRemoteOptions } from "./options.js";
import { PAGE_BYTES, regionGeometry } from "./region-layout.js";
import { RemoteRegion } from "./region.js";
import { recoverRegion, type RecoveryReport } from "./recovery.js";

/** Simulated time the guest runs between checks of the write-back and the epoch. */
const QUANTUM_NS = 1e6;
/** List-log bytes per guest page: room for 8 full epochs between baselines (more forces an early baseline). */
const LIST_LOG_BYTES_PER_PAGE = 8 * 16;

export interface RemoteScenarioResult {
  readonly options: ResolvedRemoteOptions;
  readonly guestPages: number;
  readonly localPages: number;
  readonly regionBytes: number;
  readonly run: Readonly<RemoteMemoryStats> & { readonly guestAccesses: number };
  readonly failure: FailurePoint;
  readonly recovery: RecoveryReport;
  /** The memory host's thread during recovery: requests it served (0: one-sided only). */
  readonly memoryHostRequestsDuringRecovery: number;
  readonly check: {
    /** The recovered memory equals the guest's memory at the recovery point, byte for byte. */
    readonly equalsRecoveryPoint: boolean;
    readonly pagesDifferingFromRecoveryPoint: number;
    /** Pages whose recovered bytes differ from the guest's memory when it failed: what was lost. */
    readonly pagesLost: number;
    /** Simulated time between the recovery point and the failure (the RPO). */
    readonly lostWindowNs: number;
  };
  readonly compare: {
    /** Copying the whole region one-sided instead. */
    readonly fullCopyNs: number;
    readonly fullCopyBytes: number;
    /** The baseline alone (what a dead memory host leaves). */
    readonly baselineOnlyNs: number;
    readonly baselineOnlyPagesLost: number;
  };
  readonly wallMs: number;
}

function differingPages(a: Uint8Array, b: Uint8Array, pages: number): number {
  let n = 0;
  for (let p = 0; p < pages; p++) {
    const at = p * PAGE_BYTES;
    if (Buffer.compare(a.subarray(at, at + PAGE_BYTES), b.subarray(at, at + PAGE_BYTES)) !== 0) n++;
  }
  return n;
}

export async function runRemoteScenario(options: RemoteScenarioOptions): Promise<RemoteScenarioResult> {
  const o = resolveRemoteOptions(options);
  const started = performance.now();
  const pages = o.guestMiB * 256;
  const localPages = Math.max(1, pages - Math.floor(o.remoteFraction * pages));
  const geometry = regionGeometry(pages, pages, pages * LIST_LOG_BYTES_PER_PAGE);
  const memoryHost = new MemoryHost(o.memoryHostMiB === null ? geometry.totalBytes : o.memoryHostMiB * 2 ** 20);
  const host = createHost({ memoryMiB: o.guestMiB + 64 });
  try {
    const region = RemoteRegion.format(memoryHost.allocate(geometry.totalBytes), geometry, () => memoryHost.reachable);
    const vm = host.createVm({ pages });
    const random = mulberry32(o.seed);
    vm.fillPages(0, pages, (into) => {
      const words = new Uint32Array(into.buffer, into.byteOffset, into.length / 4);
      for (let i = 0; i < words.length; i++) words[i] = random();
    });
    const recoveryPoint = vm.readPages(0, pages);
    const remote = new RemoteMemory(vm, region, { localPages, baselinePath: o.baselinePath, baselineEveryNs: o.baselineEveryNs, link: o.link, storage: o.storage });
    remote.onPublish = (_epoch, pfns, bytes) => {
      for (let i = 0; i < pfns.length; i++) recoveryPoint.set(bytes.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), pfns[i] * PAGE_BYTES);
    };
    remote.start(0);
    const workload = vm.startWorkload({ ...o.workload, ratePerSec: o.ratePerSec, writeFraction: o.writeFraction, writeBytes: o.writeBytes, seed: o.seed } as Parameters<typeof vm.startWorkload>[0]);
    let guestAccesses = 0;
    let nowNs = 0;
    let epochStartNs = 0;
    while (nowNs < o.failAtNs) {
      const step = Math.min(QUANTUM_NS, o.failAtNs - nowNs);
      guestAccesses += workload.runFor(step).accesses;
      nowNs += step;
      remote.advance(nowNs);
      if (nowNs >= o.failAtNs || remote.writeBackInFlight) continue;
      if (nowNs - epochStartNs >= o.epochNs || remote.dirtyPending() >= geometry.stagingPages * 0.9) {
        remote.endEpoch(nowNs);
        remote.advance(nowNs);
        epochStartNs = nowNs;
      }
    }
    const failure = remote.fail(nowNs);
    const atFailure = vm.readPages(0, pages);
    remote.close();
    workload.close();
    if (o.memoryHostUnreachable) memoryHost.disconnect();
    const served = memoryHost.requestsServed;
    const survivor = o.memoryHostUnreachable ? null : RemoteRegion.attach(region.buffer, () => memoryHost.reachable);
    const { memory, report } = recoverRegion({ region: survivor, baselinePath: o.baselinePath, pages, link: o.link, storage: o.storage });
    const memoryHostRequestsDuringRecovery = memoryHost.requestsServed - served;
    const baselineOnly = new Uint8Array(pages * PAGE_BYTES);
    loadBaseline(o.baselinePath, baselineOnly, pages);
    const pagesDifferingFromRecoveryPoint = differingPages(memory, recoveryPoint, pages);
    return Object.freeze({
      options: o,
      guestPages: pages,
      localPages,
      regionBytes: geometry.totalBytes,
      run: Object.freeze({ ...remote.stats, guestAccesses }),
      failure,
      recovery: report,
      memoryHostRequestsDuringRecovery,
      check: Object.freeze({
        equalsRecoveryPoint: pagesDifferingFromRecoveryPoint === 0,
        pagesDifferingFromRecoveryPoint,
        pagesLost: differingPages(memory, atFailure, pages),
        lostWindowNs: failure.atNs - (report.mode === "baseline+lists" ? failure.lastPublishNs : failure.lastBaselineNs),
      }),
      compare: Object.freeze({
        fullCopyNs: opsNs(o.link, pages + 1, pages * PAGE_BYTES),
        fullCopyBytes: pages * PAGE_BYTES,
        baselineOnlyNs: report.storageNs,
        baselineOnlyPagesLost: differingPages(baselineOnly, atFailure, pages),
      }),
      wallMs: performance.now() - started,
    });
  } finally {
    await memoryHost.close();
    if (options.baselinePath === undefined) rmSync(o.baselinePath, { force: true });
  }
}
