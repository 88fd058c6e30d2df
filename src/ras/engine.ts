// The recovery engine: what happens when a guest page's frame holds an
// uncorrectable error, and the bookkeeping of every error and retired frame.
//
//   error on page P (reported, or latent and found by a read or the scrubber)
//     │
//     ├─ P clean-backed (loaded from a file, not written since)?
//     │     └─► read P again from the file (checked against its load hash) ─► REPAIR ─► Recovered (refill)
//     ├─ policy "parity" and P covered by a group whose other covered members are sound?
//     │     └─► XOR of the parity and the k - 1 survivors ─► REPAIR ─► Recovered (parity)
//     └─ otherwise: P is lost ─► the guest's next access gets a virtual machine check
//                                 (Delayed until then, Failed after)
//   REPAIR: the page moves to a new frame with its old bytes; the bad frame is retired.
//   Every bad frame goes to host.retired (and the host's store, when it has one).
//
// The guest never learns of an error that could be repaired: a known error
// is repaired when it is reported, a latent one when the scrubber or the
// first read finds it (the read is then retried on the new frame). The
// engine's fault handler sits on each protected VM's chain, in front of the
// machine-check handler (src/ras/machine-check.ts), which delivers the check
// for a page that could not be repaired. Corrected errors count per frame;
// at the threshold the page moves off the frame (soft offline) and the frame
// is retired too.
import { ErrorCode, HypermemError } from "../errors.js";
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import type { Clock } from "../sim/clock.js";
import { CorrectableErrors } from "./correctable.js";
import { ErrorLog, type DetectedBy, type ErrorEntry, type Outcome, type PageType } from "./error-log.js";
import { installMachineCheckHandler } from "./machine-check.js";
import { injectMemoryError, resolveErrorTarget, type MemoryErrorTarget } from "./memory-error.js";
import { resolveRasOptions, type RasOptions, type ResolvedRasOptions } from "./options.js";
import { ParityGroups } from "./parity-groups.js";
import { buildReport, type RasReport } from "./report.js";
import { PatrolScrubber } from "./scrubber.js";

/** A page repaired without the guest noticing. */
export interface RecoveryEvent {
  readonly vm: Vm;
  readonly pfn: number;
  readonly method: "refill" | "parity";
  readonly badHfn: number;
  readonly newHfn: number;
  /** Wall time of the XOR rebuild (parity) or of the file read (refill), ns. */
  readonly wallNs: number;
}

export type InjectKind = "known" | "latent" | "correctable";

export interface InjectOptions {
  /** "known": reported at once (a patrol-scrub or MCE log report); "latent": found by the next read; "correctable": ECC fixed it, it only counts. @default "known" */
  kind?: InjectKind;
  /** Garble the bad frame's bytes (uncorrectable kinds). @default true */
  corrupt?: boolean;
}

/** What an injection led to. */
export type InjectOutcome =
  | { readonly kind: "known" | "latent"; readonly entry: ErrorEntry }
  | { readonly kind: "ignored"; readonly why: string }
  | { readonly kind: "correctable"; readonly hfn: number; readonly count: number; readonly retired: boolean };

export class RasEngine {
  readonly host: Host;
  readonly clock: Clock;
  readonly options: ResolvedRasOptions;
  readonly vms: readonly Vm[];
  /** The parity groups (policy "parity"), else null. */
  readonly parity: ParityGroups | null;
  readonly scrubber: PatrolScrubber | null;
  readonly log = new ErrorLog();
  readonly correctable: CorrectableErrors;
  readonly #listeners = new Set<(e: RecoveryEvent) => void>();
  readonly #disposers: Disposer[] = [];
  readonly #startNs: number;
  readonly #rebuildWallNs: number[] = [];
  #ceRetired = 0;
  #closed = false;

  constructor(host: Host, clock: Clock, options: RasOptions = {}) {
    this.options = resolveRasOptions(options);
    this.host = host;
    this.clock = clock;
    this.vms = this.options.vms ?? host.vms;
    for (const vm of this.vms) {
      if (vm.host !== host) throw new HypermemError(ErrorCode.BadOption, `enableRas: vm ${vm.id} does not run on this host`, { vm: vm.id });
    }
    this.#startNs = clock.nowNs;
    this.correctable = new CorrectableErrors(this.options.ceThreshold, this.options.ceWindowNs);
    installMachineCheckHandler(host);
    for (const vm of this.vms) {
      this.#disposers.push(vm.onFault(FaultReason.Poisoned, (f) => this.#onPoisoned(f)));
      this.#disposers.push(vm.onMachineCheck((mce) => {
        const e = this.log.lostPage(mce.vm, mce.pfn);
        if (e) e.machineChecks++;
      }));
    }
    const o = this.options;
    this.parity = o.policy === "parity"
      ? new ParityGroups(host, clock, this.vms, { groupSizePages: o.groupSizePages, rejoinAfterNs: o.rejoinAfterNs, maintainIntervalNs: o.maintainIntervalNs })
      : null;
    this.scrubber = o.scrubPagesPerSec > 0 ? new PatrolScrubber(clock, this.vms, o.scrubPagesPerSec, (vm, pfn) => this.#found(vm, pfn, "scrubber")) : null;
  }

  /** Calls `listener` for every page repaired; returns its disposer. */
  onRecovery(listener: (e: RecoveryEvent) => void): Disposer {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /**
   * Injects an error into the frame behind `target` (a guest page of a
   * protected VM). A known error is handled at once (repaired, or the page
   * lost); a latent one when something reads it; a correctable one counts
   * towards its frame's threshold. A second uncorrectable error on a frame
   * already bad, or on a page with no frame of its own, is Ignored.
   */
  inject(target: MemoryErrorTarget, options: InjectOptions = {}): InjectOutcome {
    this.#alive();
    const kind = options.kind ?? "known";
    if (kind !== "known" && kind !== "latent" && kind !== "correctable") {
      throw new HypermemError(ErrorCode.BadOption, `inject: kind must be "known", "latent" or "correctable", got ${JSON.stringify(kind)}`, { option: "kind", value: kind });
    }
    const { vm, pfn } = resolveErrorTarget(this.host, target);
    if (!this.vms.includes(vm)) throw new HypermemError(ErrorCode.BadOption, `inject: vm ${vm.id} is not protected by this engine`, { vm: vm.id });
    const state = vm.states.of(pfn);
    if (state.kind !== "present") {
      if (kind !== "correctable") this.log.ignore();
      return { kind: "ignored", why: `guest page ${pfn} of vm ${vm.id} is ${state.kind}: ${state.kind === "poisoned" ? "its frame is already bad" : "it has no frame of its own"}` };
    }
    if (kind === "correctable") return this.#corrected(vm, pfn, state.hfn);
    const entry = this.log.add({
      vm, pfn, hfn: state.hfn, latent: kind === "latent", pageType: this.#pageType(vm, pfn), atNs: this.clock.nowNs,
      detectedNs: null, detectedBy: null, outcome: null, machineChecks: 0,
    });
    injectMemoryError(this.host, { vm, gpa: pfn * 4096 }, { latent: kind === "latent", corrupt: options.corrupt ?? true });
    if (kind === "known") this.#handle(entry, "report");
    return { kind, entry };
  }

  /** The figures so far. */
  report(): RasReport {
    return buildReport({
      policy: this.options.policy,
      log: this.log,
      parity: this.parity,
      scrubber: this.scrubber,
      correctable: this.correctable,
      ceRetired: this.#ceRetired,
      retired: this.host.retired,
      retiredLimit: this.options.retiredLimit,
      rebuildWallNs: this.#rebuildWallNs,
      elapsedNs: this.clock.nowNs - this.#startNs,
      machineChecks: this.vms.reduce((n, vm) => n + vm.machineChecks, 0),
    });
  }

  /** Stops the scrubber and parity maintenance, unprotects the pages and removes the handlers. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.scrubber?.close();
    this.parity?.close();
    for (const d of this.#disposers) d();
  }

  #alive(): void {
    if (this.#closed) throw new HypermemError(ErrorCode.Destroyed, "the recovery engine was closed", {});
  }

  #pageType(vm: Vm, pfn: number): PageType {
    if (vm.files.backingOf(pfn) !== null) return "cleanFile";
    return vm.files.mappedFrom(pfn) !== null ? "dirtyFile" : "anonymous";
  }

  /** A poisoned page was touched: repair it and retry the access, or pass it on to the machine check. */
  #onPoisoned(f: Fault): FaultAction {
    const state = f.vm.states.of(f.pfn);
    if (state.kind !== "poisoned" || state.hfn === 0) return "pass";
    const entry = this.#entryFor(f.vm, f.pfn, state.hfn, state.latent);
    if (entry.outcome === null) this.#handle(entry, f.by === "guest" ? "guest" : "hypervisor", false);
    return entry.outcome === "lost" ? "pass" : "retry";
  }

  /** A latent error found by the scrubber (or by a rebuild reading its group). */
  #found(vm: Vm, pfn: number, by: DetectedBy): void {
    const state = vm.states.of(pfn);
    if (state.kind !== "poisoned" || state.hfn === 0) return;
    const entry = this.#entryFor(vm, pfn, state.hfn, state.latent);
    if (entry.outcome === null) this.#handle(entry, by);
  }

  /** The log entry of bad frame `hfn`, created for an error injected without the engine. */
  #entryFor(vm: Vm, pfn: number, hfn: number, latent: boolean): ErrorEntry {
    return this.log.get(hfn) ?? this.log.add({
      vm, pfn, hfn, latent, pageType: this.#pageType(vm, pfn), atNs: this.clock.nowNs,
      detectedNs: null, detectedBy: null, outcome: null, machineChecks: 0,
    });
  }

  /**
   * Detects `entry` and decides it: refill, rebuild, or lost. A lost page's
   * latent error becomes known here unless the machine-check handler will
   * do it (`reportLost` false: a read is about to take the check).
   */
  #handle(entry: ErrorEntry, by: DetectedBy, reportLost = true): void {
    entry.detectedNs = this.clock.nowNs;
    entry.detectedBy = by;
    this.host.retired.record(entry.hfn, "uncorrectable", 1);
    const outcome = this.#recover(entry);
    entry.outcome = outcome;
    if (outcome !== "lost" || !reportLost) return;
    const state = entry.vm.states.of(entry.pfn);
    if (state.kind === "poisoned" && state.latent) entry.vm.states.reportLatent(entry.pfn);
  }

  #recover(entry: ErrorEntry): Outcome {
    const { vm, pfn } = entry;
    if (vm.files.backingOf(pfn) !== null) {
      const started = performance.now();
      let bytes: Uint8Array | null = null;
      try {
        bytes = vm.files.reread(pfn);
      } catch (err) {
        if (!(err instanceof HypermemError) || err.code !== ErrorCode.BackingFile) throw err;
      }
      if (bytes !== null) {
        this.#repair(entry, bytes, "refill", (performance.now() - started) * 1e6);
        return "refill";
      }
    }
    if (this.parity !== null) {
      const r = this.parity.rebuild(vm, pfn);
      if (r.ok) {
        this.#rebuildWallNs.push(r.wallNs);
        this.#repair(entry, r.bytes, "parity", r.wallNs);
        return "parity";
      }
      if (r.why === "peers unsound") {
        this.parity.lose([{ vm, pfn }, ...r.unsound]);
        for (const peer of r.unsound) this.#found(peer.vm, peer.pfn, "rebuild");
      } else {
        this.parity.lose([{ vm, pfn }]);
      }
    }
    return "lost";
  }

  #repair(entry: ErrorEntry, bytes: Uint8Array, method: "refill" | "parity", wallNs: number): void {
    const newHfn = entry.vm.states.repair(entry.pfn, bytes);
    entry.vm.files.refilled(entry.pfn, newHfn);
    const event: RecoveryEvent = { vm: entry.vm, pfn: entry.pfn, method, badHfn: entry.hfn, newHfn, wallNs };
    for (const l of [...this.#listeners]) l(event);
  }

  /** One corrected error on the frame of page `pfn`: at the threshold, the page moves off it and the frame is retired. */
  #corrected(vm: Vm, pfn: number, hfn: number): InjectOutcome {
    const verdict = this.correctable.note(hfn, this.clock.nowNs);
    if (!verdict.overThreshold) return { kind: "correctable", hfn, count: verdict.count, retired: false };
    const newHfn = vm.states.migrate(pfn);
    vm.files.refilled(pfn, newHfn);
    this.host.retired.record(hfn, "correctable", verdict.count);
    this.#ceRetired++;
    return { kind: "correctable", hfn, count: verdict.count, retired: true };
  }
}

/**
 * Turns on memory-error recovery for the VMs of `host` (options.vms, or
 * every VM it runs now), with parity maintenance and the scrubber on `clock`.
 */
export function enableRas(host: Host, clock: Clock, options: RasOptions = {}): RasEngine {
  return new RasEngine(host, clock, options);
}
