// A ready-made migration scenario, as the CLI, the demo and the benchmark
// build it: two hosts, a guest prefilled with seeded data, its workload, and
// uncorrectable memory errors injected into some of its pages.
import { createHost, type Host } from "../host/host.js";
import type { GuestWorkload } from "../host/guest-workload.js";
import type { Vm } from "../host/vm.js";
import type { WorkloadSpec } from "../host/workload.js";
import { requireInt, requireNumber } from "../options.js";
import { injectMemoryError, type InjectedError } from "../ras/memory-error.js";
import { mulberry32 } from "../sim/prng.js";

export interface ScenarioOptions {
  /** Guest memory in MiB. */
  guestMiB: number;
  /** Host memory of each host, MiB. @default min(4096, prefilled guest + extraHostMiB + 256) */
  hostMiB?: number;
  /** Host memory the default size sets aside beyond the guest (e.g. an XBZRLE cache), MiB. @default 0 */
  extraHostMiB?: number;
  /** Share of guest pages written with seeded data before migration. @default 1 */
  prefill?: number;
  workload: WorkloadSpec;
  ratePerSec?: number;
  writeFraction?: number;
  writeBytes?: number;
  seed?: number;
  /** Known (reported) uncorrectable errors injected into prefilled pages. @default 0 */
  injectErrors?: number;
  /** Latent errors injected into prefilled pages. @default 0 */
  latentErrors?: number;
}

export interface Scenario {
  readonly source: Host;
  readonly destination: Host;
  readonly vm: Vm;
  readonly workload: GuestWorkload;
  readonly injected: readonly InjectedError[];
  /** Pages written by the prefill. */
  readonly prefilledPages: number;
}

/** The two hosts of a scenario. */
export interface ScenarioHosts {
  readonly source: Host;
  readonly destination: Host;
}

/** Memory of each host `o` needs, MiB: hostMiB, or room for the prefilled guest, extraHostMiB and 256 MiB. */
export function scenarioHostMiB(o: Pick<ScenarioOptions, "guestMiB" | "hostMiB" | "extraHostMiB" | "prefill">): number {
  return o.hostMiB ?? Math.min(4096, Math.ceil(o.guestMiB * (o.prefill ?? 1)) + (o.extraHostMiB ?? 0) + 256);
}

/** Two new hosts of `memoryMiB` each. */
export function hostPair(memoryMiB: number): ScenarioHosts {
  return { source: createHost({ memoryMiB }), destination: createHost({ memoryMiB }) };
}

/**
 * Builds the scenario on `hosts` (new ones sized by the options when not
 * given). Hosts that served an earlier scenario, whose VMs were destroyed,
 * hand out frames the process has already touched: no first-touch page
 * faults of the OS for the new guest.
 */
export function buildScenario(o: ScenarioOptions, hosts: ScenarioHosts = hostPair(scenarioHostMiB(o))): Scenario {
  const prefill = requireNumber("prefill", o.prefill ?? 1, 0, 1);
  const seed = o.seed ?? 1;
  const { source, destination } = hosts;
  const vm = source.createVm({ memoryMiB: o.guestMiB });
  const prefilledPages = Math.round(prefill * vm.pages);
  vm.prefillPages(0, prefilledPages, seed);
  vm.harvestDirty();
  const known = requireInt("injectErrors", o.injectErrors ?? 0, 0, prefilledPages);
  const latent = requireInt("latentErrors", o.latentErrors ?? 0, 0, prefilledPages - known);
  const rng = mulberry32(seed ^ 0x5eed);
  const chosen = new Set<number>();
  while (chosen.size < known + latent) chosen.add(rng() % prefilledPages);
  const injected = [...chosen].map((pfn, i) => injectMemoryError(source, { vm, gpa: pfn * 4096 }, { latent: i >= known }));
  const workload = vm.startWorkload({
    ...o.workload,
    ...(o.workload.kind === "trace" ? {} : { writeFraction: o.writeFraction, writeBytes: o.writeBytes, seed }),
    ratePerSec: o.ratePerSec,
  });
  return { source, destination, vm, workload, injected, prefilledPages };
}
