// Fault reasons reported by the MMU kernel (mirrored from assembly/pte.ts),
// the Fault record handed to handlers, and what a handler answers.
import type { Vm } from "./vm.js";

export const FaultReason = {
  NotPresent: 1,
  WriteProtect: 2,
  Cow: 3,
  Poisoned: 4,
  Traced: 5,
  Swapped: 6,
  Ballooned: 7,
  BadAccess: 8,
} as const;
export type FaultReason = (typeof FaultReason)[keyof typeof FaultReason];

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
};

export interface Fault {
  readonly reason: FaultReason;
  readonly vm: Vm;
  /** Guest-physical address of the access. */
  readonly gpa: number;
  /** Guest page frame number (gpa >> 12). */
  readonly pfn: number;
  readonly write: boolean;
  /** Index of the access in its batch. */
  readonly index: number;
}

/**
 * What the MMU does after a handler returns: "retry" runs the access again
 * (the handler fixed the mapping); "skip" drops it (e.g. a virtual machine
 * check was delivered to the guest instead).
 */
export type FaultAction = "retry" | "skip";
export type FaultHandler = (fault: Fault) => FaultAction;
