// A ready-made recovery run, as `hypermem ras` and the docs build it: a host
// (with a retired-frame store if asked), a guest whose first pages come from
// a backing file and the rest prefilled with seeded data, a workload on a
// timeline, recovery under one policy, and seeded errors (known, latent,
// correctable) injected at seeded times into seeded pages. The same options
// give the same workload, errors, times and pages under either policy, so
// two runs compare the policies on one run of events. Every repaired page
// is checked against a copy taken when its error was injected, byte for byte.
import { statSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost } from "../host/host.js";
import type { WorkloadSpec } from "../host/workload.js";
import { requireInt, requireNumber } from "../options.js";
import { mulberry32 } from "../sim/prng.js";
import { Timeline } from "../sim/timeline.js";
import { enableRas, type InjectKind } from "./engine.js";
import type { RasPolicy } from "./options.js";
import { RepairCheck, type RepairCheckResult } from "./repair-check.js";
import type { RasReport } from "./report.js";

const PAGE_BYTES = 4096;

export interface RasScenarioOptions {
  guestMiB: number;
  /** @default guest × (1 + 1/k) + 64 MiB, at most 4096 */
  hostMiB?: number;
  workload: WorkloadSpec;
  /** The workload's range: the first N guest pages. @default the whole guest */
  workloadPages?: number;
  ratePerSec?: number;
  writeFraction?: number;
  writeBytes?: number;
  /** Seeds the workload, the prefill and the errors' pages and times. @default 1 */
  seed?: number;
  /** Simulated time the guest runs, ns. */
  durationNs: number;
  /** Share of the guest written before the run (after the file's pages). @default 1 */
  prefill?: number;
  knownErrors?: number;
  latentErrors?: number;
  correctableErrors?: number;
  policy: RasPolicy;
  groupSizePages?: number;
  rejoinAfterNs?: number;
  scrubPagesPerSec?: number;
  ceThreshold?: number;
  /** Loaded at guest page 0 (as much of it as fits, whole pages). @default none */
  backingFile?: string | null;
  retiredStore?: string | null;
  retiredLimit?: number | null;
}

export interface RasScenarioResult {
  readonly report: RasReport;
  readonly check: RepairCheckResult;
  readonly guestPages: number;
  /** Pages loaded from the backing file. */
  readonly mappedPages: number;
  readonly prefilledPages: number;
  /** What loading the retired-frame store found, when there is one: its records, what it dropped, and the frames reserved before the guest ran. */
  readonly storeLoad: { readonly records: number; readonly dropped: number; readonly reserved: number } | null;
}

interface PlannedError {
  readonly atNs: number;
  readonly pfn: number;
  readonly kind: InjectKind;
}

/** Distinct pages and times for every error, from the seed (the same for either policy). */
function planErrors(o: RasScenarioOptions, writtenPages: number, ceThreshold: number): PlannedError[] {
  const rng = mulberry32(((o.seed ?? 1) ^ 0x5ea5) >>> 0);
  const known = o.knownErrors ?? 0;
  const latent = o.latentErrors ?? 0;
  const correctable = o.correctableErrors ?? 0;
  const cePages = correctable === 0 ? 0 : Math.max(1, Math.floor(correctable / ceThreshold));
  const need = known + latent + cePages;
  if (need > writtenPages) {
    throw new HypermemError(ErrorCode.BadOption, `${need} error pages (${known} known, ${latent} latent, ${cePages} with corrected errors) do not fit the ${writtenPages} written pages of the guest`, { need, writtenPages });
  }
  const pages = new Set<number>();
  while (pages.size < need) pages.add(rng() % writtenPages);
  const chosen = [...pages];
  const at = (): number => Math.floor((rng() / 2 ** 32) * o.durationNs);
  const plan: PlannedError[] = [];
  chosen.slice(0, known).forEach((pfn) => plan.push({ atNs: at(), pfn, kind: "known" }));
  chosen.slice(known, known + latent).forEach((pfn) => plan.push({ atNs: at(), pfn, kind: "latent" }));
  const ce = chosen.slice(known + latent);
  for (let i = 0; i < correctable; i++) plan.push({ atNs: at(), pfn: ce[i % ce.length], kind: "correctable" });
  return plan.sort((a, b) => a.atNs - b.atNs);
}

/** Runs one recovery scenario to its end and returns the figures and the repair check. */
export function runRasScenario(o: RasScenarioOptions): RasScenarioResult {
  const k = o.groupSizePages ?? 8;
  const guestMiB = requireNumber("guestMiB", o.guestMiB, 1 / 256, 4096);
  const hostMiB = o.hostMiB ?? Math.min(4096, Math.ceil(guestMiB * (1 + 1 / k)) + 64);
  const durationNs = requireNumber("durationNs", o.durationNs, 1, Number.MAX_SAFE_INTEGER);
  const host = createHost({ memoryMiB: hostMiB, ...(o.retiredStore ? { retiredStore: o.retiredStore } : {}) });
  const reservedAtBoot = host.retired.count;
  const vm = host.createVm({ memoryMiB: guestMiB });
  const seed = requireInt("seed", o.seed ?? 1, 0, 2 ** 32 - 1);

  let mappedPages = 0;
  if (o.backingFile) {
    const sizeBytes = statSync(o.backingFile).size;
    mappedPages = Math.min(Math.floor(sizeBytes / PAGE_BYTES), vm.pages);
    if (mappedPages === 0) throw new HypermemError(ErrorCode.BackingFile, `backing file ${o.backingFile}: ${sizeBytes} bytes, less than one 4 KiB page`, { path: o.backingFile, sizeBytes });
    vm.mapFile(0, o.backingFile, 0, mappedPages * PAGE_BYTES);
  }
  const prefill = requireNumber("prefill", o.prefill ?? 1, 0, 1);
  const prefilledPages = Math.max(0, Math.round(prefill * vm.pages) - mappedPages);
  vm.prefillPages(mappedPages, prefilledPages, seed);
  vm.harvestDirty();

  const timeline = new Timeline();
  const ras = enableRas(host, timeline, {
    policy: o.policy,
    groupSizePages: k,
    ...(o.rejoinAfterNs === undefined ? {} : { rejoinAfterNs: o.rejoinAfterNs }),
    scrubPagesPerSec: o.scrubPagesPerSec ?? 0,
    ...(o.ceThreshold === undefined ? {} : { ceThreshold: o.ceThreshold }),
    retiredLimit: o.retiredLimit ?? null,
  });
  const check = new RepairCheck(host);
  ras.onRecovery(check.onRecovery);
  for (const err of planErrors(o, mappedPages + prefilledPages, ras.options.ceThreshold)) {
    timeline.schedule(err.atNs, () => {
      const state = vm.states.of(err.pfn);
      if (err.kind !== "correctable" && state.kind === "present") check.keep(state.hfn, vm.read(err.pfn * PAGE_BYTES, PAGE_BYTES));
      ras.inject({ vm, gpa: err.pfn * PAGE_BYTES }, { kind: err.kind });
    });
  }
  const workload = vm.startWorkload({
    ...o.workload,
    ...(o.workload.kind === "trace" ? {} : { writeFraction: o.writeFraction, writeBytes: o.writeBytes, seed, pageCount: o.workloadPages }),
    ratePerSec: o.ratePerSec,
  });
  workload.attach(timeline);
  try {
    timeline.advance(durationNs);
  } finally {
    workload.close();
    ras.close();
  }
  const report = ras.report();
  const load = host.retired.loadReport;
  return {
    report,
    check: check.result(),
    guestPages: vm.pages,
    mappedPages,
    prefilledPages,
    storeLoad: load === null ? null : { records: load.records, dropped: load.dropped.length + load.invalid.length, reserved: reservedAtBoot },
  };
}
