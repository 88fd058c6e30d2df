// The memory-error fault handler: what happens when the guest or the
// hypervisor meets a poisoned page. A latent error found by the access
// becomes known (page-state REPORT_LATENT); a guest access then gets a
// virtual machine check and is dropped, as KVM forwards a SIGBUS
// BUS_MCEERR_AR to the vCPU; a hypervisor access (vm.read, the packer's
// exception-safe read) fails instead, with nothing delivered to the guest.
// A latent error found here makes its frame retired (host.retired, and the
// host's store when it has one). Installed host-wide, once, by whoever creates poisoned pages
// (injectMemoryError, a migration destination receiving POISON records);
// recovery handlers (parity rebuild, refill from disk) register in front of
// it and answer "retry" when they repair the page.
import type { Host } from "../host/host.js";
import type { Disposer, Fault, FaultAction } from "../host/faults.js";
import { FaultReason } from "../host/faults.js";

const installed = new WeakMap<Host, Disposer>();

/** The handler: report a latent error, deliver a machine check to a guest access, drop the access. */
export function handlePoisonedAccess(fault: Fault): FaultAction {
  const { vm, pfn } = fault;
  const state = vm.states.of(pfn);
  const foundLatent = state.kind === "poisoned" && state.latent;
  if (foundLatent) {
    vm.states.reportLatent(pfn);
    if (state.hfn !== 0) vm.host.retired.record(state.hfn, "uncorrectable", 1);
  }
  if (fault.by === "guest") vm.raiseMachineCheck({ gpa: fault.gpa, pfn, write: fault.write, foundLatent });
  return "skip";
}

/** Installs handlePoisonedAccess on `host` (once; later calls are no-ops). Returns its disposer. */
export function installMachineCheckHandler(host: Host): Disposer {
  let dispose = installed.get(host);
  if (!dispose) {
    const remove = host.onFault(FaultReason.Poisoned, handlePoisonedAccess);
    dispose = () => {
      remove();
      installed.delete(host);
    };
    installed.set(host, dispose);
  }
  return dispose;
}
