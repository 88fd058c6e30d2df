// The seam between a host's memory scheduler and the reclamation steps it
// runs after ballooning (ESX's order: sharing, ballooning, compression,
// swapping). It lives with the host so a technique can offer a step
// (hypervisor swap: src/swap/reclaim-step.ts) and another run it (the
// overcommit scheduler: src/balloon/scheduler.ts) without either importing
// the other; whoever sees both plugs one into the other.

/** Reclamation states by free host memory, high (plenty free) to low (Waldspurger OSDI'02 §6). */
export type ReclaimState = "high" | "soft" | "hard" | "low";

/**
 * A reclamation step the scheduler runs after ballooning, in order.
 * It is given the frames still wanted and returns how many it freed.
 * `reclaim` is called every poll period in the hard and low states, and
 * synchronously when a guest needs a frame at the low threshold. A step
 * that brings pages back itself (swap-in) asks the scheduler to make room
 * (MemoryScheduler.makeRoom(1)) before it takes the frame, as first
 * touches do.
 */
export interface ReclaimStep {
  readonly name: string;
  /** Frees up to `frames` host frames now (taking pages from the VMs above their targets first). Returns the frames freed. */
  reclaim(frames: number, ctx: ReclaimContext): number;
}

/** What a reclamation step may know: each VM's allocation target against what it holds. */
export interface ReclaimContext {
  readonly vms: readonly { readonly vmId: number; readonly targetPages: number; readonly residentPages: number }[];
  readonly state: ReclaimState;
}
