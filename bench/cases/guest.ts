// Scenario benches of the guest's own accesses: the vCPU of a 1 GiB guest,
// every page populated first, runs 4,000,000 accesses (30 % 8-byte writes)
// of a uniform, a Zipf (s = 0.99) and a hot/cold (10 % of pages get 90 %)
// workload: generator and MMU (walk, A/D bits, bytes) together, as every
// technique runs its guests. Reported in accesses per wall second; there is
// no reference to divide by (bench/cases/host.ts's mmu-write is the MMU
// alone against its oracle). Each pass checks that the MMU counted every
// access the workload issued.
//
//   npx tsx bench/run.ts --case guest-accesses-uniform-1GiB --case guest-accesses-zipf-1GiB --case guest-accesses-hotcold-1GiB
import type { ScenarioBench } from "../case.js";
import { createHost } from "../../src/index.js";
import type { WorkloadSpec } from "../../src/host/workload.js";

const GUEST_MIB = 1024;
const ACCESSES = 4_000_000;

function guestAccesses(name: string, spec: WorkloadSpec): ScenarioBench {
  return {
    name: `guest-accesses-${name}-1GiB`,
    passes: 5,
    warmupPasses: 1,
    async setup() {
      const host = createHost({ memoryMiB: GUEST_MIB + 64 });
      const vm = host.createVm({ memoryMiB: GUEST_MIB });
      vm.prefillPages(0, vm.pages, 1);
      if (host.stats().usedFrames < vm.pages) throw new Error(`${name}: the fill populated ${host.stats().usedFrames} frames, fewer than the guest's ${vm.pages} pages`);
      const workload = vm.startWorkload({ ...spec, ratePerSec: ACCESSES, writeFraction: 0.3, writeBytes: 8, seed: 7 });
      return {
        async run() {
          const before = vm.counters.accesses;
          const t0 = performance.now();
          const issued = workload.runFor(1e9).accesses;
          const wallMs = performance.now() - t0;
          const counted = vm.counters.accesses - before;
          if (issued !== ACCESSES || counted !== ACCESSES) throw new Error(`${name}: ${issued} accesses issued, ${counted} counted by the MMU, ${ACCESSES} expected`);
          return { bytes: ACCESSES * 8, ops: ACCESSES, wallMs };
        },
        teardown: () => workload.close(),
      };
    },
  };
}

export const guestScenarios: readonly ScenarioBench[] = [
  guestAccesses("uniform", { kind: "uniform" }),
  guestAccesses("zipf", { kind: "zipf", s: 0.99 }),
  guestAccesses("hotcold", { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }),
];
