// GuestWorkload: a workload running on a Vm in simulated time. runFor(ns)
// issues ratePerSec × (1 - throttle) × seconds accesses (the fractional
// remainder carries over), generated in wasm into the host's batch region
// and executed by the MMU with fault dispatch.
import { requireNumber } from "../options.js";
import { ACCESS_BYTES } from "../wasm/kernels.js";
import type { Vm } from "./vm.js";
import { AccessGenerator, resolveWorkloadOptions, workloadDescAddress, type WorkloadOptions } from "./workload.js";

export interface WorkloadRun {
  /** Accesses issued during this call. */
  readonly accesses: number;
  /** Simulated time covered, in ns. */
  readonly durationNs: number;
  /** False when a replayed trace ran out before the time did. */
  readonly more: boolean;
}

export class GuestWorkload {
  readonly vm: Vm;
  readonly generator: AccessGenerator;
  readonly #slot: number;
  #throttle = 0;
  #carry = 0;
  #closed = false;

  constructor(vm: Vm, options: WorkloadOptions) {
    this.vm = vm;
    const resolved = resolveWorkloadOptions(options, vm.pages);
    this.#slot = vm.host.claimWorkloadSlot();
    try {
      this.generator = new AccessGenerator(vm.host.kernels, workloadDescAddress(vm.host.kernels, this.#slot), resolved);
    } catch (err) {
      vm.host.releaseWorkloadSlot(this.#slot);
      throw err;
    }
  }

  /** Accesses per simulated second before throttling. */
  get ratePerSec(): number { return this.generator.ratePerSec; }

  /** Share of the vCPU taken away (auto-converge), 0..0.99. */
  get throttle(): number { return this.#throttle; }
  set throttle(fraction: number) { this.#throttle = requireNumber("throttle", fraction, 0, 0.99); }

  /** Runs the guest for `durationNs` of simulated time. */
  runFor(durationNs: number): WorkloadRun {
    requireNumber("durationNs", durationNs, 0, Number.MAX_SAFE_INTEGER);
    const want = this.ratePerSec * (1 - this.#throttle) * durationNs / 1e9 + this.#carry;
    let total = Math.floor(want);
    this.#carry = want - total;
    const k = this.vm.host.kernels;
    const batch = k.layout.scratchBase;
    const capacity = Math.floor(k.layout.scratchBytes / 2 / ACCESS_BYTES);
    let issued = 0;
    while (total > 0) {
      const n = this.generator.fill(batch, Math.min(total, capacity));
      if (n === 0) return { accesses: issued, durationNs, more: false };
      this.vm.runBatch(batch, n);
      issued += n;
      total -= n;
    }
    return { accesses: issued, durationNs, more: this.generator.remaining > 0 };
  }

  /** Releases the generator and its descriptor slot. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.generator.close();
    this.vm.host.releaseWorkloadSlot(this.#slot);
  }
}
