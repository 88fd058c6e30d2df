// Uncorrectable memory errors: injection into a host frame, and what happens
// when the guest or the hypervisor meets one. A *known* error was reported
// (as an MCE log or a SIGBUS BUS_MCEERR_AO would): the frame is flagged
// poisoned and the guest page's entry is PSN. A *latent* error sits in the
// frame until something reads it: the entry is LAT (the memory controller's
// view); the first access or exception-safe read finds it and makes it known.
import { ErrorCode, HypermemError } from "../errors.js";
import { requireInt } from "../options.js";
import { FRAME_FLAGS, readFrameInfo, setFrameFlagBits, OWNER_FREE, OWNER_HOST } from "../host/frame.js";
import type { Host } from "../host/host.js";
import { PTE, pteFrame } from "../host/pte.js";
import type { Vm } from "../host/vm.js";

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

/** Marks the frame behind `target` as holding an uncorrectable error. */
export function injectMemoryError(host: Host, target: MemoryErrorTarget, options: { latent?: boolean } = {}): InjectedError {
  const latent = options.latent ?? false;
  const { vm, pfn } = resolveTarget(host, target);
  const k = host.kernels;
  const pte = k.nptLookup(vm.slot, pfn);
  const hfn = pteFrame(pte);
  if ((pte & (PTE.POISONED | PTE.LATENT)) !== 0n) {
    throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: guest page ${pfn} (frame ${hfn}) already holds an uncorrectable error`, { pfn, hfn });
  }
  if ((pte & PTE.R) === 0n || hfn === 0) {
    const why = (pte & PTE.R) === 0n ? "has no frame (never touched, swapped or ballooned)" : "maps the shared zero frame";
    throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: guest page ${pfn} ${why}; only a private frame can be poisoned`, { pfn });
  }
  setFrameFlagBits(k, hfn, FRAME_FLAGS.poisoned | (latent ? 0 : FRAME_FLAGS.poisonKnown));
  const cleared = pte & ~(PTE.R | PTE.W);
  k.nptSet(vm.slot, pfn, cleared | (latent ? PTE.LATENT : PTE.POISONED));
  return { hfn, vm, pfn, latent };
}

/**
 * Makes a latent error on guest page `pfn` of `vm` known (it was just found):
 * the frame is flagged reported and the entry turns from LAT to PSN.
 * Returns true when there was a latent error to report.
 */
export function reportLatentError(vm: Vm, pfn: number): boolean {
  const k = vm.host.kernels;
  const pte = k.nptLookup(vm.slot, pfn);
  if ((pte & PTE.LATENT) === 0n) return false;
  setFrameFlagBits(k, pteFrame(pte), FRAME_FLAGS.poisonKnown);
  k.nptSet(vm.slot, pfn, (pte & ~PTE.LATENT) | PTE.POISONED);
  return true;
}

function resolveTarget(host: Host, target: MemoryErrorTarget): { vm: Vm; pfn: number } {
  if ("vm" in target) {
    if (target.vm.host !== host) throw new HypermemError(ErrorCode.BadOption, `vm ${target.vm.id} does not run on this host`, { vm: target.vm.id });
    requireInt("gpa", target.gpa, 0, target.vm.memoryBytes - 1);
    return { vm: target.vm, pfn: Math.floor(target.gpa / 4096) };
  }
  requireInt("hfn", target.hfn, 1, host.maxFrames - 1);
  const info = readFrameInfo(host.kernels, target.hfn);
  const vm = host.vms.find((v) => v.id === info.owner);
  if (info.owner === OWNER_FREE || info.owner === OWNER_HOST || !vm) {
    throw new HypermemError(ErrorCode.PageState, `host frame ${target.hfn} does not back a guest page (owner ${info.owner})`, { hfn: target.hfn });
  }
  return { vm, pfn: info.gfn };
}
