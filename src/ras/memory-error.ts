// Uncorrectable memory errors: injection into a host frame. A *known* error
// was reported (as an MCE log or a SIGBUS BUS_MCEERR_AO would): the frame is
// flagged poisoned and the guest page's entry is PSN. A *latent* error sits
// in the frame until something reads it: the entry is LAT (the memory
// controller's view); the first access or exception-safe read finds it and
// makes it known (src/ras/machine-check.ts, installed by the injection).
// The frame's bytes stay as they were unless `corrupt` asks for them to be
// garbled (every byte inverted), as a real multi-bit error leaves them: a
// recovery that read the bad frame instead of rebuilding would then show.
// A known error's frame is recorded as retired (host.retired, and the
// host's store when it has one): it never holds data again.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { requireInt } from "../options.js";
import { OWNER_FREE, OWNER_HOST, PAGE_SIZE } from "../wasm/codes.js";
import { installMachineCheckHandler } from "./machine-check.js";

export type MemoryErrorTarget =
  /** The frame that backs guest address `gpa` of `vm`. */
  | { vm: Vm; gpa: number }
  /** Host frame `hfn` (it must back a guest page). */
  | { hfn: number };

export interface InjectedError {
  readonly hfn: number;
  readonly vm: Vm;
  readonly pfn: number;
  readonly latent: boolean;
}

/**
 * Marks the frame behind `target` on `host` as holding an uncorrectable
 * error, known or latent (options.latent). Only a page with a private frame
 * can hold one: an untouched or zero-mapped page is refused, naming why.
 */
export function injectMemoryError(host: Host, target: MemoryErrorTarget, options: { latent?: boolean; corrupt?: boolean } = {}): InjectedError {
  const latent = options.latent ?? false;
  const { vm, pfn } = resolveErrorTarget(host, target);
  const state = vm.states.of(pfn);
  if (state.kind === "poisoned") {
    throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: guest page ${pfn} (frame ${state.hfn}) already holds an uncorrectable error`, { pfn, hfn: state.hfn });
  }
  if (state.kind !== "present") {
    const why = state.kind === "zero-mapped" ? "maps the shared zero frame" : state.kind === "unpopulated" ? "has no frame (never written)" : `has no frame of its own (${state.kind})`;
    throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: guest page ${pfn} ${why}; only a private frame can be poisoned (write the page first)`, { pfn, state: state.kind });
  }
  installMachineCheckHandler(host);
  if (options.corrupt === true) host.framePages.write(state.hfn, host.framePages.read(state.hfn).map((b) => b ^ 0xff));
  vm.states.poison(pfn, latent);
  if (!latent) host.retired.record(state.hfn, "uncorrectable", 1);
  return { hfn: state.hfn, vm, pfn, latent };
}

/** The VM and guest page behind `target`, checked: ERR_BAD_OPTION for a bad target, ERR_PAGE_STATE for a frame that backs no guest page. */
export function resolveErrorTarget(host: Host, target: MemoryErrorTarget): { vm: Vm; pfn: number } {
  if (typeof target !== "object" || target === null) {
    throw new HypermemError(ErrorCode.BadOption, `injectMemoryError: target must be { vm, gpa } or { hfn }, got ${String(target)}`, { option: "target" });
  }
  if ("vm" in target) {
    if (target.vm.host !== host) throw new HypermemError(ErrorCode.BadOption, `vm ${target.vm.id} does not run on this host`, { vm: target.vm.id });
    requireInt("gpa", target.gpa, 0, target.vm.memoryBytes - 1);
    return { vm: target.vm, pfn: Math.floor(target.gpa / PAGE_SIZE) };
  }
  requireInt("hfn", target.hfn, 1, host.maxFrames - 1);
  const info = host.frameInfo(target.hfn);
  const vm = host.vms.find((v) => v.id === info.owner);
  if (info.owner === OWNER_FREE || info.owner === OWNER_HOST || !vm) {
    throw new HypermemError(ErrorCode.PageState, `host frame ${target.hfn} does not back a guest page (owner ${info.owner})`, { hfn: target.hfn });
  }
  return { vm, pfn: info.gfn };
}
