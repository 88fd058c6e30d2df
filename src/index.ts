// hypermem: the package root. Hosts, VMs and their MMU; the page kernels as
// plain functions on Uint8Arrays; the one error type.
export { ErrorCode, HypermemError } from "./errors.js";
export { createHost, Host, MAX_HOST_MIB, type HostOptions, type HostStats } from "./host/host.js";
export { Vm, MAX_GUEST_PAGES, type Access, type VmOptions } from "./host/vm.js";
export { PageBitmap } from "./host/bitmap.js";
export { FaultReason, FAULT_NAMES, type Fault, type FaultAction, type FaultHandler } from "./host/fault.js";
export { FRAME_FLAGS, type FrameFlag, type FrameInfo } from "./host/frame.js";
export { PTE, decodePte, type PteInfo } from "./host/pte.js";
export type { MmuCounters } from "./host/mmu.js";
