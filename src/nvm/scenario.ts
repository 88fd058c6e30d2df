// A whole NVM-tier run (runNvmScenario, `hypermem nvm`): a guest whose
// memory is an NVM region (DRAM in front, a storage file behind), snapshot
// VMs that map the same blocks, a workload for `durationNs` of simulated
// time sampled every `samplePeriodNs`, and the figures. The guest's memory at
// the end is checked byte for byte against the same workload run on a guest
// with all its memory in DRAM (the oracle). `compareNvm` runs it with and
// without virtblocks on the same seed.
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import type { WorkloadSpec } from "../host/workload.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import { mulberry32 } from "../sim/prng.js";
import { BLOCK_BYTES, NvmDevice, resolveNvmModel, type NvmModel } from "./device.js";
import { NVME_SSD, StorageFile } from "./storage-file.js";
import { NvmTiers } from "./tiers.js";

export interface NvmScenarioOptions {
  /** Guest memory, MiB (1..1024). */
  guestMiB: number;
  /** The NVM device, MiB (its virtblock array included). */
  nvmMiB: number;
  /** DRAM for the guest's pages, MiB. */
  dramMiB: number;
  /** @default true */
  virtblocks?: boolean;
  /** Snapshot VMs mapping the same blocks (each a mapping a purge without virtblocks rewrites). @default 1 */
  snapshots?: number;
  /** Free-NVM watermarks [low, high], fractions. @default [0.1, 0.2] */
  watermarks?: readonly [number, number];
  /** Purge rate limit, blocks per simulated second. @default 100_000 */
  purgeBlocksPerSec?: number;
  /** @default 10 ms */
  samplePeriodNs?: number;
  /** @default 1 s */
  durationNs?: number;
  /** @default zipf 1.1 */
  workload?: WorkloadSpec;
  /** @default 1_000_000 */
  ratePerSec?: number;
  /** @default 0.3 */
  writeFraction?: number;
  /** @default 1 */
  seed?: number;
  /** The storage file's capacity, MiB. @default the guest's size */
  storageMiB?: number;
  /** @default a file in the OS's temporary folder, removed after the run */
  storagePath?: string;
  nvm?: NvmModel;
}

export interface NvmReport {
  readonly virtblocks: boolean;
  readonly guestPages: number;
  readonly dramPages: number;
  readonly nvmDataBlocks: number;
  readonly snapshots: number;
  readonly durationNs: number;
  readonly guestAccesses: number;
  readonly purges: number;
  readonly purgesPerSec: number;
  readonly purgeWallMs: number;
  readonly fetches: number;
  readonly fetchP50Ns: number | null;
  readonly fetchP99Ns: number | null;
  readonly nvmHitRatio: number | null;
  readonly promotions: number;
  readonly demotions: number;
  readonly emergencyPurges: number;
  readonly nvmBytesWritten: number;
  readonly guestBytesToNvm: number;
  readonly writeAmplification: number | null;
  readonly maxBlockWrites: number;
  readonly pteUpdates: number;
  readonly tlbShootdowns: number;
  readonly storageBytesWritten: number;
  readonly freeNvmFraction: number;
  /** The guest's memory equals the all-DRAM run's, byte for byte. */
  readonly equalsOracle: boolean;
  readonly wallMs: number;
}

const QUANTUM_NS = 1e6;
const DEFAULT_WORKLOAD: WorkloadSpec = Object.freeze({ kind: "zipf", s: 1.1 });
const KEYS = ["guestMiB", "nvmMiB", "dramMiB", "virtblocks", "snapshots", "watermarks", "purgeBlocksPerSec", "samplePeriodNs", "durationNs", "workload", "ratePerSec", "writeFraction", "seed", "storageMiB", "storagePath", "nvm"];

function percentile(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function resolve(o: NvmScenarioOptions) {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `nvm options must be an object, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, KEYS, "nvm");
  const guestMiB = requireInt("guestMiB", o.guestMiB, 1, 1024);
  const nvmMiB = requireInt("nvmMiB", o.nvmMiB, 1, 4096);
  const dramMiB = requireNumber("dramMiB", o.dramMiB, 1 / 256, guestMiB);
  if (dramMiB >= nvmMiB) throw new HypermemError(ErrorCode.BadOption, `dramMiB ${dramMiB} must be less than nvmMiB ${nvmMiB}: every page in DRAM keeps its NVM block`, { option: "dramMiB", value: dramMiB });
  const [low, high] = o.watermarks ?? [0.1, 0.2];
  requireNumber("watermarks[0] (low)", low, 0, 0.9);
  requireNumber("watermarks[1] (high)", high, 0, 0.95);
  if (high <= low) throw new HypermemError(ErrorCode.BadOption, `the high watermark ${high} must be above the low one ${low}`, { option: "watermarks", value: [low, high] });
  if (nvmMiB + guestMiB * (1 + (o.snapshots ?? 1)) / 256 > 8192) throw new HypermemError(ErrorCode.BadOption, `nvmMiB ${nvmMiB} is too large for this process`, { option: "nvmMiB", value: nvmMiB });
  return Object.freeze({
    guestMiB, nvmMiB, dramMiB,
    virtblocks: o.virtblocks ?? true,
    snapshots: requireInt("snapshots", o.snapshots ?? 1, 0, 16),
    low, high,
    purgeBlocksPerSec: requireNumber("purgeBlocksPerSec", o.purgeBlocksPerSec ?? 100_000, 1, 1e9),
    samplePeriodNs: requireNumber("samplePeriodNs", o.samplePeriodNs ?? 10e6, 1e5, 60e9),
    durationNs: requireNumber("durationNs", o.durationNs ?? 1e9, 0, 3600e9),
    workload: o.workload ?? DEFAULT_WORKLOAD,
    ratePerSec: requireInt("ratePerSec", o.ratePerSec ?? 1_000_000, 1, 2 ** 32 - 1),
    writeFraction: requireNumber("writeFraction", o.writeFraction ?? 0.3, 0, 1),
    seed: requireInt("seed", o.seed ?? 1, 0, 2 ** 32 - 1),
    storageMiB: requireInt("storageMiB", o.storageMiB ?? guestMiB, 1, 2 ** 20),
    storagePath: o.storagePath ?? null,
    nvm: resolveNvmModel(o.nvm),
  });
}

/** Fills every page of `vm` with seeded words. */
function prefill(vm: Vm, seed: number): void {
  const random = mulberry32(seed);
  vm.fillPages(0, vm.pages, (into) => {
    const words = new Uint32Array(into.buffer, into.byteOffset, into.length / 4);
    for (let i = 0; i < words.length; i++) words[i] = random();
  });
}

export function runNvmScenario(options: NvmScenarioOptions): NvmReport {
  const o = resolve(options);
  const started = performance.now();
  const pages = o.guestMiB * 256;
  const dramPages = Math.max(1, Math.floor(o.dramMiB * 256));
  const host = createHost({ memoryMiB: o.guestMiB * 2 + 64 });
  const dir = o.storagePath === null ? mkdtempSync(join(tmpdir(), "hypermem-nvm-")) : null;
  const storage = new StorageFile(o.storagePath ?? join(dir!, "storage.bin"), o.storageMiB * 256, NVME_SSD);
  try {
    const vm = host.createVm({ pages });
    prefill(vm, o.seed);
    const oracle = host.createVm({ pages });
    oracle.writePages(0, vm.readPages(0, pages));
    const snapshots = Array.from({ length: o.snapshots }, () => host.createVm({ pages }));
    const device = new NvmDevice(o.nvmMiB * 2 ** 20, pages, o.nvm);
    const tiers = new NvmTiers(vm, snapshots, device, storage, {
      virtblocks: o.virtblocks, dramPages, lowWatermark: o.low, highWatermark: o.high, purgeBlocksPerSec: o.purgeBlocksPerSec, samplePeriodNs: o.samplePeriodNs,
    });
    const nvmWritten0 = device.bytesWritten;
    const storageWritten0 = storage.bytesWritten;
    const blockWrites0 = device.blockWrites.slice();
    const workloadOptions = { ...o.workload, ratePerSec: o.ratePerSec, writeFraction: o.writeFraction, seed: o.seed } as Parameters<Vm["startWorkload"]>[0];
    const workload = vm.startWorkload(workloadOptions);
    const reference = oracle.startWorkload(workloadOptions);
    let accesses = 0;
    let sinceSampleNs = 0;
    for (let nowNs = 0; nowNs < o.durationNs;) {
      const step = Math.min(QUANTUM_NS, o.durationNs - nowNs);
      accesses += workload.runFor(step).accesses;
      reference.runFor(step);
      nowNs += step;
      sinceSampleNs += step;
      if (sinceSampleNs >= o.samplePeriodNs) {
        tiers.sample();
        sinceSampleNs = 0;
      }
    }
    workload.close();
    reference.close();
    let equalsOracle = true;
    for (let pfn = 0; pfn < pages && equalsOracle; pfn++) equalsOracle = Buffer.compare(tiers.peek(pfn), oracle.readPages(pfn, 1)) === 0;
    tiers.close();
    const s = tiers.stats;
    const fetchNs = [...s.fetchNs].sort((a, b) => a - b);
    const guestBytesToNvm = s.dirtyDemotions * BLOCK_BYTES;
    const nvmBytesWritten = device.bytesWritten - nvmWritten0;
    let maxBlockWrites = 0;
    device.blockWrites.forEach((w, b) => { maxBlockWrites = Math.max(maxBlockWrites, w - blockWrites0[b]); });
    return Object.freeze({
      virtblocks: o.virtblocks,
      guestPages: pages,
      dramPages,
      nvmDataBlocks: device.dataBlocks,
      snapshots: o.snapshots,
      durationNs: o.durationNs,
      guestAccesses: accesses,
      purges: s.purges,
      purgesPerSec: o.durationNs === 0 ? 0 : s.purges / (o.durationNs / 1e9),
      purgeWallMs: s.purgeWallMs,
      fetches: s.fetches,
      fetchP50Ns: percentile(fetchNs, 0.5),
      fetchP99Ns: percentile(fetchNs, 0.99),
      nvmHitRatio: s.nvmHits + s.nvmMisses === 0 ? null : s.nvmHits / (s.nvmHits + s.nvmMisses),
      promotions: s.promotions,
      demotions: s.demotions,
      emergencyPurges: s.emergencyPurges,
      nvmBytesWritten,
      guestBytesToNvm,
      writeAmplification: guestBytesToNvm === 0 ? null : nvmBytesWritten / guestBytesToNvm,
      maxBlockWrites,
      pteUpdates: s.pteUpdates,
      tlbShootdowns: s.tlbShootdowns,
      storageBytesWritten: storage.bytesWritten - storageWritten0,
      freeNvmFraction: device.freeBlocks / device.dataBlocks,
      equalsOracle,
      wallMs: performance.now() - started,
    });
  } finally {
    storage.close();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

/** The same run with and without virtblocks, on the same seed. */
export function compareNvm(options: NvmScenarioOptions): { readonly virtblocks: NvmReport; readonly direct: NvmReport } {
  return Object.freeze({ virtblocks: runNvmScenario({ ...options, virtblocks: true }), direct: runNvmScenario({ ...options, virtblocks: false }) });
}
