// The memory scheduler of one host (ESX's, after Waldspurger OSDI'02): the
// control loop over the VMs it manages.
//
//   every poll (1 s)      reclamation state from free host memory; each
//                         VM's memory condition is updated (its applications
//                         hear of the new target first); each balloon driver
//                         reads its target and moves toward it (inflating
//                         drivers first, their frames pooled, then deflating
//                         ones, mapped onto those frames); in the hard and
//                         low states, the reclamation steps after ballooning
//                         (swap, when it is plugged in)
//   every sample (30 s)   each VM's active fraction, from its sampled pages
//   every realloc (15 s)  targets: proportional share with the idle tax,
//                         within reservations and limits (allocation.ts)
//
// Balloon targets follow the allocation; from the soft state down balloons
// inflate toward them, in the high state only as far as other balloons
// deflate in the same poll (memory moves from VM to VM, none is reclaimed). A guest that needs a frame while free
// memory is at the low threshold gets one only if a reclamation step frees
// one: else the run stops with ERR_HOST_OVERCOMMITTED (the host would run
// out of frames otherwise).
import { ErrorCode, HypermemError } from "../errors.js";
import type { Disposer } from "../host/faults.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import type { Cancel, Clock } from "../sim/clock.js";
import { FaultReason } from "../wasm/codes.js";
import { allocate, sharesPerPage } from "./allocation.js";
import { MemoryCondition, type ConditionOptions } from "./condition.js";
import { BalloonDriver } from "./driver.js";
import { FramePool } from "./frame-pool.js";
import {
  resolveManagedVmOptions, resolveSchedulerOptions, type ManagedVmOptions, type ResolvedManagedVmOptions,
  type ResolvedSchedulerOptions, type SchedulerOptions,
} from "./options.js";
import { nextState, type ReclaimContext, type ReclaimState, type ReclaimStep } from "./reclaim.js";
import { WorkingSetSampler } from "./sampler.js";
import { snapshotHost, snapshotVm, type HostSample, type VmSample } from "./series.js";

/** One VM under the scheduler. */
export class ManagedVm {
  readonly vm: Vm;
  readonly options: ResolvedManagedVmOptions;
  readonly sampler: WorkingSetSampler;
  readonly driver: BalloonDriver;
  readonly condition: MemoryCondition;
  /** The allocation target P, pages (the VM's size until the first reallocation). */
  allocationPages: number;
  /** The active fraction the last reallocation used. */
  activeFraction = 1;

  constructor(vm: Vm, options: ResolvedManagedVmOptions, s: ResolvedSchedulerOptions, conditionOptions: ConditionOptions, makeRoom: (frames: number) => void) {
    this.vm = vm;
    this.options = options;
    this.allocationPages = options.limitPages;
    const pagesPerPoll = Math.max(1, Math.round(s.balloonPagesPerSec * s.pollPeriodNs / 1e9));
    const maxPages = Math.min(Math.floor(s.balloonMaxFraction * vm.pages), vm.pages - options.reservationPages);
    this.driver = new BalloonDriver(vm, { maxPages, pagesPerPoll, majorFaultNs: s.guestMajorFaultNs, makeRoom });
    this.sampler = new WorkingSetSampler(vm, { samplePages: s.samplePages, fastGain: s.fastGain, slowGain: s.slowGain, seed: (s.seed + vm.id * 0x9e3779b1) >>> 0 }, this.driver.ballooned);
    this.condition = new MemoryCondition(conditionOptions);
  }

  /** Pages the guest OS sees as free: neither ballooned nor holding data. */
  get guestFreePages(): number {
    const resident = this.vm.states.counts().privateFrames;
    return Math.max(0, this.vm.pages - this.driver.actualPages - resident + this.driver.freePages);
  }

  close(): void {
    this.driver.close();
    this.sampler.close();
  }
}

export class MemoryScheduler {
  readonly host: Host;
  readonly clock: Clock;
  readonly options: ResolvedSchedulerOptions;
  readonly pool = new FramePool();
  readonly #vms: ManagedVm[] = [];
  readonly #steps: ReclaimStep[] = [];
  readonly #conditionOptions: ConditionOptions;
  readonly #disposers: Disposer[] = [];
  readonly vmSamples: VmSample[] = [];
  readonly hostSamples: HostSample[] = [];
  #state: ReclaimState = "high";
  #cancelTick: Cancel | null = null;
  #nextSampleNs = 0;
  #nextReallocNs = 0;
  #reclaimedByStepsFrames = 0;

  constructor(host: Host, clock: Clock, options: SchedulerOptions = {}, conditionOptions: ConditionOptions = {}) {
    this.host = host;
    this.clock = clock;
    this.options = resolveSchedulerOptions(options);
    new MemoryCondition(conditionOptions); // checks the options once, before any VM is managed
    this.#conditionOptions = conditionOptions;
    for (const reason of [FaultReason.NotPresent, FaultReason.Cow]) this.#disposers.push(host.onFault(reason, () => this.#guard()));
  }

  get vms(): readonly ManagedVm[] { return this.#vms; }
  get state(): ReclaimState { return this.#state; }
  /** Frames the host has not handed out (pooled frames count as free). */
  get freeFrames(): number { return this.host.maxFrames - this.host.stats().usedFrames + this.pool.size; }
  /** Frames the reclamation steps after ballooning freed. */
  get reclaimedByStepsFrames(): number { return this.#reclaimedByStepsFrames; }

  /** Pages the host can give its VMs: its frames less what it uses itself and the high threshold's free memory. */
  availablePages(): number {
    const guestFrames = this.#vms.reduce((sum, m) => sum + m.vm.states.counts().privateFrames, 0);
    const overhead = this.host.stats().usedFrames - guestFrames - this.pool.size;
    return Math.max(0, this.host.maxFrames - overhead - Math.ceil(this.options.thresholds.high * this.host.maxFrames));
  }

  /** Puts `vm` under the scheduler. ERR_ADMISSION when the reservations would exceed what the host can give. */
  manage(vm: Vm, options: ManagedVmOptions = {}): ManagedVm {
    if (vm.host !== this.host) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id} runs on another host`, { vm: vm.id });
    if (this.#vms.some((m) => m.vm === vm)) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id} is managed already`, { vm: vm.id });
    const resolved = resolveManagedVmOptions(options, vm.pages, this.host.maxFrames, `vm ${vm.id}`);
    // The balloon is the only thing holding a guest under its limit: a limit below what it can take is refused.
    const capPages = Math.floor(this.options.balloonMaxFraction * vm.pages);
    if (vm.pages - resolved.limitPages > capPages) {
      throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id}: a limit of ${resolved.limitPages} pages is below what its balloon can enforce: it may take at most ${capPages} of the guest's ${vm.pages} pages (balloonMaxFraction ${this.options.balloonMaxFraction}), so the guest keeps at least ${vm.pages - capPages}`, { vm: vm.id, limitPages: resolved.limitPages, lowestLimitPages: vm.pages - capPages });
    }
    const reserved = this.#vms.reduce((sum, m) => sum + m.options.reservationPages, resolved.reservationPages);
    const available = this.availablePages();
    if (reserved > available) {
      throw new HypermemError(ErrorCode.Admission, `vm ${vm.id}: a reservation of ${resolved.reservationPages} pages brings the host's reservations to ${reserved} pages, more than the ${available} it can give its VMs`, { vm: vm.id, reservationPages: resolved.reservationPages, reservedPages: reserved, availablePages: available });
    }
    const managed = new ManagedVm(vm, resolved, this.options, this.#conditionOptions, (frames) => this.makeRoom(frames));
    this.#vms.push(managed);
    return managed;
  }

  /** Adds a reclamation step after ballooning (run in order, in the hard and low states). Returns its remover. */
  addReclaimStep(step: ReclaimStep): Disposer {
    this.#steps.push(step);
    return () => {
      const at = this.#steps.indexOf(step);
      if (at >= 0) this.#steps.splice(at, 1);
    };
  }

  /**
   * Starts the control loop on the clock: targets are set now and every
   * balloon inflated to its target at once (the guests boot with their
   * balloons set, as with QEMU's or Firecracker's initial balloon size); the
   * first poll is one poll period from now.
   */
  start(): void {
    if (this.#cancelTick !== null) return;
    const now = this.clock.nowNs;
    this.#nextSampleNs = now + this.options.samplePeriodNs;
    this.#nextReallocNs = now + this.options.reallocPeriodNs;
    this.reallocate();
    for (const m of this.#vms) {
      m.driver.setTarget(m.vm.pages - m.allocationPages);
      m.driver.inflateToTarget(this.pool);
    }
    if (this.#vms.length > 0) this.pool.releaseAll(this.#vms[0].vm);
    this.record();
    const tick = (): void => {
      this.#cancelTick = this.clock.schedule(this.clock.nowNs + this.options.pollPeriodNs, tick);
      const t = this.clock.nowNs;
      if (t >= this.#nextSampleNs) {
        this.sample();
        this.#nextSampleNs += this.options.samplePeriodNs;
      }
      if (t >= this.#nextReallocNs) {
        this.reallocate();
        this.#nextReallocNs += this.options.reallocPeriodNs;
        this.poll();
        this.record();
      } else {
        this.poll();
      }
    };
    this.#cancelTick = this.clock.schedule(now + this.options.pollPeriodNs, tick);
  }

  /** Ends every VM's sampling period. */
  sample(): void {
    for (const m of this.#vms) m.sampler.endPeriod();
  }

  /** Sets every VM's allocation target (proportional share, idle tax) from its active fraction. */
  reallocate(): void {
    if (this.#vms.length === 0) return;
    const useTrue = this.options.trueActiveFraction;
    for (const m of this.#vms) m.activeFraction = useTrue ? m.sampler.trueFraction : m.sampler.estimate;
    const pages = allocate(this.#vms.map((m) => ({
      shares: m.options.shares, activeFraction: m.activeFraction, minPages: m.options.reservationPages, maxPages: m.options.limitPages,
    })), this.availablePages(), this.options.idleTax);
    this.#vms.forEach((m, i) => { m.allocationPages = pages[i]; });
  }

  /** One poll: the reclamation state, balloon moves, steps after ballooning, memory conditions. */
  poll(): void {
    const t = this.options.thresholds;
    this.#state = nextState(this.#state, this.freeFrames / this.host.maxFrames, t, this.options.hysteresis);
    for (const m of this.#vms) m.driver.setTarget(m.vm.pages - m.allocationPages);
    // The guests' applications hear of the new targets before the balloons move.
    for (const m of this.#vms) {
      m.condition.update({
        atNs: this.clock.nowNs, guestPages: m.vm.pages, guestFreePages: m.guestFreePages, balloonTargetPages: m.driver.targetPages,
        balloonActualPages: m.driver.actualPages, hostState: this.#state, stallNs: m.driver.counters.stallNs,
      });
    }
    // In the high state nothing is reclaimed: a balloon inflates only to
    // hand its frames to the balloons deflating in the same poll.
    const deflating = this.#vms.filter((m) => m.driver.actualPages > m.driver.targetPages);
    let budget = this.#state !== "high" ? Infinity
      : deflating.reduce((sum, m) => sum + Math.min(m.driver.pagesPerPoll, m.driver.actualPages - m.driver.targetPages), 0);
    for (const m of this.#vms) if (m.driver.actualPages < m.driver.targetPages && budget > 0) budget -= m.driver.inflate(this.pool, budget);
    for (const m of deflating) m.driver.deflate(this.pool);
    if (this.#vms.length > 0) this.pool.releaseAll(this.#vms[0].vm);
    if (this.#state === "hard" || this.#state === "low") this.#runSteps(Math.ceil(t.soft * this.host.maxFrames) - this.freeFrames);
  }

  /** Adds a point to the time series (every reallocation, and when a run ends). */
  record(): void {
    const atNs = this.clock.nowNs;
    this.hostSamples.push(snapshotHost(this, atNs));
    for (const m of this.#vms) this.vmSamples.push(snapshotVm(m, atNs, sharesPerPage(m.options.shares, m.allocationPages, m.activeFraction, this.options.idleTax)));
  }

  #runSteps(frames: number): number {
    if (frames <= 0 || this.#steps.length === 0) return 0;
    const ctx: ReclaimContext = {
      state: this.#state,
      vms: this.#vms.map((m) => ({ vmId: m.vm.id, targetPages: m.allocationPages, residentPages: m.vm.states.counts().privateFrames })),
    };
    let freed = 0;
    for (const step of this.#steps) {
      if (freed >= frames) break;
      freed += step.reclaim(frames - freed, ctx);
    }
    this.#reclaimedByStepsFrames += freed;
    return freed;
  }

  /** A guest is about to take a frame (first touch, copy on write): make room for it. */
  #guard(): "pass" {
    this.makeRoom(1);
    return "pass";
  }

  /**
   * Makes sure `frames` frames can be taken without going below the low
   * threshold: runs the reclamation steps after ballooning if needed, and
   * throws ERR_HOST_OVERCOMMITTED when they cannot. The scheduler calls it
   * before every first touch and copy on write; a step that brings pages
   * back into memory itself (a swap-in) calls it before taking the frame.
   */
  makeRoom(frames: number): void {
    const lowFrames = Math.ceil(this.options.thresholds.low * this.host.maxFrames);
    if (this.freeFrames - frames >= lowFrames) return;
    this.#runSteps(lowFrames + frames - this.freeFrames);
    if (this.freeFrames - frames >= lowFrames) return;
    this.#state = "low";
    throw new HypermemError(ErrorCode.HostOvercommitted,
      `host over-committed at ${(this.clock.nowNs / 1e9).toFixed(3)} s: ${this.freeFrames} frames free of ${this.host.maxFrames} (the low threshold is ${lowFrames}); ballooning cannot reclaim that fast and ${this.#steps.length === 0 ? "no reclamation step after it (hypervisor swap) is plugged in" : `the steps after it (${this.#steps.map((s) => s.name).join(", ")}) freed too little`}`,
      { freeFrames: this.freeFrames, lowFrames, atNs: this.clock.nowNs });
  }

  /** Stops the loop, gives every balloon back and removes the scheduler's handlers. */
  close(): void {
    this.#cancelTick?.();
    this.#cancelTick = null;
    for (const m of this.#vms) m.close();
    for (const d of this.#disposers) d();
  }
}
