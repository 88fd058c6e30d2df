// GuestWorkload: a vCPU running a workload on a Vm. runFor(ns) issues
// ratePerSec × (1 - throttle) × seconds accesses (the fractional remainder
// carries over), generated in wasm into a scratch lease and executed by the
// MMU with fault dispatch. Attached to a clock (src/sim), it runs whenever
// that clock's time passes, unless its VM is paused.
import { ErrorCode, HypermemError } from "../errors.js";
import { requireNumber } from "../options.js";
import type { Persist } from "../format/persist.js";
import type { Cancel, Clock, TimelineProcess } from "../sim/clock.js";
import { ACCESS_BYTES } from "../wasm/codes.js";
import type { Vm } from "./vm.js";
import { AccessGenerator, resolveWorkloadOptions, type GeneratorState, type WorkloadOptions } from "./workload.js";

/** A running workload's state (GuestWorkload.save): its generator, the fraction of an access carried over, its throttle. */
export interface WorkloadState {
  readonly generator: GeneratorState;
  readonly carry: number;
  readonly throttle: number;
}

/** Access records per batch (1 MiB of scratch, leased per runFor). */
export const WORKLOAD_BATCH_RECORDS = 65_536;

export interface WorkloadRun {
  /** Accesses issued during this call. */
  readonly accesses: number;
  /** Simulated time covered, in ns. */
  readonly durationNs: number;
  /** False when a replayed trace ran out before the time did. */
  readonly more: boolean;
}

export class GuestWorkload implements TimelineProcess, Persist<WorkloadState> {
  readonly vm: Vm;
  readonly generator: AccessGenerator;
  readonly #slot: number;
  #throttle = 0;
  #carry = 0;
  #closed = false;
  #clock: Clock | null = null;
  #detach: Cancel | null = null;

  constructor(vm: Vm, options: WorkloadOptions) {
    this.vm = vm;
    const resolved = resolveWorkloadOptions(options, vm.pages);
    this.#slot = vm.host.claimWorkloadSlot();
    try {
      this.generator = new AccessGenerator(vm.host.kernels, vm.host.kernels.workloads.descAddress(this.#slot), resolved);
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
    let issued = 0;
    while (total > 0) {
      const want = Math.min(total, WORKLOAD_BATCH_RECORDS);
      const n = k.scratch.with(want * ACCESS_BYTES, `vm ${this.vm.id} workload`, (batch) => {
        const filled = this.generator.fill(batch, want);
        if (filled > 0) this.vm.runBatch(batch, filled);
        return filled;
      });
      if (n === 0) return { accesses: issued, durationNs, more: false };
      issued += n;
      total -= n;
    }
    return { accesses: issued, durationNs, more: this.generator.remaining > 0 };
  }

  /** The workload's state (Persist): a workload restored from it issues the same accesses from there on. */
  save(): WorkloadState {
    return { generator: this.generator.save(), carry: this.#carry, throttle: this.#throttle };
  }

  /** Restores a state saved by a workload with the same options (on this VM or a copy of it). Checks it first: a bad state changes nothing. */
  restore(state: WorkloadState): void {
    const carry = requireNumber("carry", state.carry, 0, 1);
    const throttle = requireNumber("throttle", state.throttle, 0, 0.99);
    this.generator.restore(state.generator);
    this.#carry = carry;
    this.#throttle = throttle;
  }

  /** The clock the workload is attached to, if any. */
  get clock(): Clock | null { return this.#clock; }

  /** Attaches the workload to `clock`: it runs, in turn with the clock's other processes, as time passes. */
  attach(clock: Clock): void {
    if (this.#clock === clock) return;
    if (this.#clock !== null) {
      throw new HypermemError(ErrorCode.BadOption, `the workload of vm ${this.vm.id} is already attached to a clock; detach() it first`, { vm: this.vm.id });
    }
    this.#clock = clock;
    this.#detach = clock.attach(this);
  }

  /** Detaches the workload from its clock. Idempotent. */
  detach(): void {
    this.#detach?.();
    this.#detach = null;
    this.#clock = null;
  }

  /** TimelineProcess: the clock let `durationNs` pass (nothing runs while the VM is paused). */
  advance(durationNs: number): void {
    if (!this.vm.paused && !this.#closed) this.runFor(durationNs);
  }

  /** Releases the generator and its descriptor slot, detaching from the clock. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.detach();
    this.#closed = true;
    this.generator.close();
    this.vm.host.releaseWorkloadSlot(this.#slot);
  }
}
