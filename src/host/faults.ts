// Faults: what the MMU (or a hypervisor access through a VM's page hook)
// hands to TypeScript, and the chains of handlers that resolve them. Each VM
// has a chain per fault reason, consulted newest first, then the host's
// (host-wide defaults: populate on first touch, copy on write), until a
// handler answers something other than "pass". Registering returns a
// disposer. Handlers may run guest accesses or hypervisor reads themselves:
// the MMU batch is re-entrant (src/host/mmu.ts).
import { ErrorCode, HypermemError } from "../errors.js";
import { FaultReason } from "../wasm/codes.js";
import type { Vm } from "./vm.js";

export { FaultReason };

/** Lower-case names, for messages and statistics. */
export const FAULT_NAMES: Readonly<Record<FaultReason, string>> = {
  1: "not-present",
  2: "write-protect",
  3: "cow",
  4: "poisoned",
  5: "traced",
  6: "swapped",
  7: "ballooned",
  8: "bad-access",
  9: "elsewhere",
};

export interface Fault {
  readonly reason: FaultReason;
  readonly vm: Vm;
  /** Guest-physical address of the access. */
  readonly gpa: number;
  /** Guest page frame number (gpa >> 12). */
  readonly pfn: number;
  readonly write: boolean;
  /**
   * "guest": an access of the guest's workload through the MMU; "hypervisor":
   * vm.read/vm.write, the stream packer, verification (nothing is delivered
   * to the guest for those).
   */
  readonly by: "guest" | "hypervisor";
  /** Index of the access in its batch (-1 for a hypervisor access). */
  readonly index: number;
}

/**
 * What happens after a handler returns: "retry" runs the access again (the
 * handler fixed the mapping); "skip" drops it (e.g. a virtual machine check
 * was delivered instead; a hypervisor access then fails); "pass" hands the
 * fault to the next handler of the chain.
 */
export type FaultAction = "retry" | "skip" | "pass";
export type FaultHandler = (fault: Fault) => FaultAction;

/** Removes a handler registered with onFault. Idempotent. */
export type Disposer = () => void;

/** Handlers per reason, newest first. */
export class FaultChain {
  readonly #handlers = new Map<FaultReason, FaultHandler[]>();

  /** Adds `handler` in front of the chain for `reason`; returns its disposer. */
  add(reason: FaultReason, handler: FaultHandler): Disposer {
    if (!(reason in FAULT_NAMES) || reason === FaultReason.BadAccess) {
      throw new HypermemError(ErrorCode.BadOption, `no handler can be registered for fault reason ${String(reason)}`, { reason });
    }
    if (typeof handler !== "function") {
      throw new HypermemError(ErrorCode.BadOption, `a ${FAULT_NAMES[reason]} fault handler must be a function, got ${typeof handler}`, { reason: FAULT_NAMES[reason] });
    }
    const list = this.#handlers.get(reason) ?? [];
    const entry: FaultHandler = (f) => handler(f);
    list.unshift(entry);
    this.#handlers.set(reason, list);
    return () => {
      const at = list.indexOf(entry);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /** Runs the chain for `fault`; "pass" when every handler passed (or there is none). */
  run(fault: Fault): FaultAction {
    const list = this.#handlers.get(fault.reason);
    if (!list) return "pass";
    for (const handler of [...list]) {
      const action = handler(fault);
      if (action !== "pass") {
        if (action !== "retry" && action !== "skip") {
          throw new HypermemError(ErrorCode.BadOption, `a ${FAULT_NAMES[fault.reason]} fault handler returned ${JSON.stringify(action)}, not "retry", "skip" or "pass"`, { reason: FAULT_NAMES[fault.reason] });
        }
        return action;
      }
    }
    return "pass";
  }
}

/** The error for a fault nobody resolved. */
export function unhandledFault(fault: Fault): HypermemError {
  return new HypermemError(
    ErrorCode.UnhandledFault,
    `vm ${fault.vm.id}: no handler for a ${FAULT_NAMES[fault.reason]} fault at gpa 0x${fault.gpa.toString(16)} (${fault.by} ${fault.write ? "write" : "read"})`,
    { reason: FAULT_NAMES[fault.reason], gpa: fault.gpa, by: fault.by },
  );
}
