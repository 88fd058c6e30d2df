// The workload generators (assembly/workload.ts) for src/host: descriptor
// slots in the control block, seeding a generator, filling access batches,
// validating replayed trace records, and a generator's state as bytes (its
// whole descriptor: kind, parameters and PRNG state) for save and restore.
import { check, ErrorCode, HypermemError } from "../errors.js";
import type { HvExports } from "./abi.js";
import { MAX_WORKLOADS, WORKLOAD_DESC_BYTES, WORKLOAD_SLOTS_OFFSET } from "./codes.js";
import type { Heap } from "./heap.js";

export class WorkloadKernels {
  readonly #e: HvExports;
  readonly #heap: Heap;
  readonly #ctrlBase: number;

  constructor(exports: HvExports, heap: Heap, ctrlBase: number) {
    this.#e = exports;
    this.#heap = heap;
    this.#ctrlBase = ctrlBase;
  }

  /** Address of workload descriptor slot `slot` (0..MAX_WORKLOADS-1). */
  descAddress(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_WORKLOADS) {
      throw new HypermemError(ErrorCode.BadOption, `workload slot must be an integer in 0..${MAX_WORKLOADS - 1}, got ${String(slot)}`, { option: "workload slot", value: slot });
    }
    return this.#ctrlBase + WORKLOAD_SLOTS_OFFSET + slot * WORKLOAD_DESC_BYTES;
  }

  /** True when `descPtr` is the address of a descriptor slot. */
  isDescAddress(descPtr: number): boolean {
    const rel = descPtr - this.#ctrlBase - WORKLOAD_SLOTS_OFFSET;
    return Number.isInteger(descPtr) && rel >= 0 && rel % WORKLOAD_DESC_BYTES === 0 && rel / WORKLOAD_DESC_BYTES < MAX_WORKLOADS;
  }

  init(descPtr: number, kind: number, seed: bigint, firstPage: number, pageCount: number,
    writeFraction: number, accessBytes: number, p1: number, p2: number): void {
    check(this.#e.workloadInit(descPtr, kind, seed, BigInt(firstPage), BigInt(pageCount), writeFraction, accessBytes, p1, p2), "workloadInit", { kind });
  }
  generate(descPtr: number, outPtr: number, count: number): void { this.#e.workloadGenerate(descPtr, outPtr, count); }
  /** Index of the first invalid record of the `count` at ptr for a guest of `guestPages`, or count. */
  traceValidate(ptr: number, count: number, guestPages: number): number {
    return this.#e.traceValidate(ptr, count, BigInt(guestPages)) >>> 0;
  }

  /** A copy of the descriptor at descPtr: the generator's whole state. */
  saveDesc(descPtr: number): Uint8Array { return this.#heap.copyOut(descPtr, WORKLOAD_DESC_BYTES); }
  /** Overwrites the descriptor at descPtr with a saved state. */
  restoreDesc(descPtr: number, state: Uint8Array): void {
    if (state.length !== WORKLOAD_DESC_BYTES) {
      throw new HypermemError(ErrorCode.Length, `a workload state is ${WORKLOAD_DESC_BYTES} bytes, got ${state.length}`, { bytes: state.length });
    }
    this.#heap.copyIn(descPtr, state);
  }
}
