// Vm: a guest whose guest-physical memory is mapped by its own nested page
// table. Untouched pages read as zero (they map the shared zero frame, or
// nothing yet) and get a private frame on first write. read/write are the
// hypervisor's own accesses (tools, tests, devices): bounds-checked, and a
// write marks the pages accessed and dirty as a device write would.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import { ACCESS_BYTES, PAGE_SIZE } from "../wasm/kernels.js";
import { bitmapBytes, PageBitmap } from "./bitmap.js";
import { reportLatentError } from "../ras/memory-error.js";
import type { Fault } from "./fault.js";
import { GuestWorkload } from "./guest-workload.js";
import type { Host } from "./host.js";
import { newCounters, runAccessBatch, type MmuCounters } from "./mmu.js";
import { decodePte, PTE, PTE_A_BIT, PTE_D_BIT, pteFrame, type PteInfo } from "./pte.js";
import type { WorkloadOptions } from "./workload.js";

export interface VmOptions {
  /** Guest memory in MiB (a whole number of 4 KiB pages). Give this or `pages`. */
  memoryMiB?: number;
  /** Guest memory in 4 KiB pages. Give this or `memoryMiB`. */
  pages?: number;
}

/** 1 TiB: guest frame numbers fit in u32 and a guest's bitmaps fit in a host. */
export const MAX_GUEST_PAGES = 2 ** 28;

export function resolveVmOptions(options: VmOptions): { readonly pages: number } {
  rejectUnknown(options, ["memoryMiB", "pages"], "createVm");
  if ((options.memoryMiB === undefined) === (options.pages === undefined)) {
    throw new HypermemError(ErrorCode.BadOption, "createVm: give exactly one of memoryMiB and pages", { memoryMiB: options.memoryMiB, pages: options.pages });
  }
  const pages = options.pages !== undefined
    ? requireInt("pages", options.pages, 1, Number.MAX_SAFE_INTEGER)
    : requireNumber("memoryMiB", options.memoryMiB, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER) * 256;
  if (!Number.isInteger(pages)) {
    throw new HypermemError(ErrorCode.BadOption, `memoryMiB ${options.memoryMiB} is not a whole number of 4 KiB pages`, { memoryMiB: options.memoryMiB });
  }
  if (pages > MAX_GUEST_PAGES) {
    throw new HypermemError(
      ErrorCode.GuestTooLarge,
      `a guest of ${pages} pages (${pages / 256} MiB) exceeds the ${MAX_GUEST_PAGES}-page (1 TiB) limit`,
      { pages },
    );
  }
  return Object.freeze({ pages });
}

/** A virtual machine check delivered to the guest: it touched a poisoned page. */
export interface MachineCheck {
  readonly vm: Vm;
  readonly gpa: number;
  readonly pfn: number;
  readonly write: boolean;
  /** True when this access is what found a latent error. */
  readonly foundLatent: boolean;
}

/** One guest access, for Vm.run(). */
export interface Access {
  op: "read" | "write";
  gpa: number;
  /** Bytes, 1 to 4096; must not cross a 4 KiB page. @default 8 */
  length?: number;
  /** Value seed: word j written is ~(gpa + 8j) ^ (seed × 0x9e3779b97f4a7c15). @default 0 */
  seed?: number;
}

export class Vm {
  readonly host: Host;
  /** Index of the VM's descriptor in the host (internal). */
  readonly slot: number;
  readonly id: number;
  /** Guest size in 4 KiB pages. */
  readonly pages: number;
  readonly counters: MmuCounters = newCounters();
  readonly #dirtyPtr: number;
  readonly #accessedPtr: number;
  readonly #mceListeners: Array<(mce: MachineCheck) => void> = [];
  #machineChecks = 0;
  #destroyed = false;

  constructor(host: Host, slot: number, id: number, options: { readonly pages: number }) {
    this.host = host;
    this.slot = slot;
    this.id = id;
    this.pages = options.pages;
    const k = host.kernels;
    const before = k.usedFrames;
    const bytes = bitmapBytes(this.pages);
    let dirtyPtr = -1;
    let accessedPtr = -1;
    try {
      dirtyPtr = k.allocBuffer(bytes);
      accessedPtr = k.allocBuffer(bytes);
      k.vmInit(slot, id, this.pages);
    } catch (err) {
      if (dirtyPtr >= 0) k.freeBuffer(dirtyPtr, bytes);
      if (accessedPtr >= 0) k.freeBuffer(accessedPtr, bytes);
      if (err instanceof HypermemError && err.code === ErrorCode.OutOfFrames) {
        throw new HypermemError(
          ErrorCode.OutOfFrames,
          `host of ${host.memoryMiB} MiB cannot hold the bitmaps and page table of a ${this.pages}-page guest (${k.usedFrames - before} frames taken before failing)`,
          { pages: this.pages },
        );
      }
      throw err;
    }
    this.#dirtyPtr = dirtyPtr;
    this.#accessedPtr = accessedPtr;
  }

  /** Guest memory in bytes. */
  get memoryBytes(): number { return this.pages * PAGE_SIZE; }

  #alive(): void {
    if (this.#destroyed) throw new HypermemError(ErrorCode.Destroyed, `vm ${this.id} was destroyed`, { vm: this.id });
  }

  #checkRange(gpa: number, length: number): void {
    this.#alive();
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa >= this.memoryBytes) {
      throw new HypermemError(ErrorCode.GpaRange, `gpa ${String(gpa)} is outside the ${this.memoryBytes}-byte guest of vm ${this.id}`, { gpa });
    }
    if (!Number.isSafeInteger(length) || length < 0 || gpa + length > this.memoryBytes) {
      throw new HypermemError(ErrorCode.Length, `length ${String(length)} at gpa ${gpa} runs past the end of the ${this.memoryBytes}-byte guest`, { gpa, length });
    }
  }

  /** The raw leaf entry of guest page `pfn` (0n when unpopulated). */
  pte(pfn: number): bigint {
    this.#alive();
    requireInt("pfn", pfn, 0, this.pages - 1);
    return this.host.kernels.nptLookup(this.slot, pfn);
  }

  /** The decoded leaf entry of guest page `pfn`. */
  pteInfo(pfn: number): PteInfo { return decodePte(this.pte(pfn)); }

  /** Calls fn(pfn, offsetInPage, offsetInBuffer, bytes) for each page piece of [gpa, gpa+length). */
  #pieces(gpa: number, length: number, fn: (pfn: number, off: number, at: number, n: number) => void): void {
    for (let at = 0; at < length;) {
      const addr = gpa + at;
      const off = addr % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - at);
      fn(Math.floor(addr / PAGE_SIZE), off, at, n);
      at += n;
    }
  }

  #refuseUnreadable(pfn: number, pte: bigint): void {
    if ((pte & (PTE.POISONED | PTE.LATENT)) !== 0n) {
      const found = reportLatentError(this, pfn) ? " (a latent error, found by this read)" : "";
      throw new HypermemError(ErrorCode.MemoryPoisoned, `vm ${this.id}: guest page ${pfn} (gpa 0x${(pfn * PAGE_SIZE).toString(16)}) is poisoned${found}`, { pfn });
    }
    if ((pte & (PTE.SWAPPED | PTE.BALLOONED)) !== 0n) {
      const state = (pte & PTE.SWAPPED) !== 0n ? "swapped out" : "ballooned";
      throw new HypermemError(ErrorCode.PageState, `vm ${this.id}: guest page ${pfn} is ${state}`, { pfn, state });
    }
  }

  /** Copies `length` bytes of guest memory at `gpa` (untouched pages read as zeros). */
  read(gpa: number, length: number): Uint8Array {
    this.#checkRange(gpa, length);
    const k = this.host.kernels;
    const out = new Uint8Array(length);
    this.#pieces(gpa, length, (pfn, off, at, n) => {
      const pte = k.nptLookup(this.slot, pfn);
      this.#refuseUnreadable(pfn, pte);
      if ((pte & PTE.R) === 0n && (pte & PTE.TRACED) === 0n) return;
      const src = k.frameAddr(pteFrame(pte)) + off;
      out.set(k.heap.u8.subarray(src, src + n), at);
    });
    return out;
  }

  /**
   * Writes `bytes` at `gpa`, giving untouched or shared pages a private frame
   * and marking every written page accessed and dirty. Checks every page
   * before changing any.
   */
  write(gpa: number, bytes: Uint8Array): void {
    this.#checkRange(gpa, bytes.length);
    const k = this.host.kernels;
    let needFrames = 0;
    this.#pieces(gpa, bytes.length, (pfn) => {
      const pte = k.nptLookup(this.slot, pfn);
      this.#refuseUnreadable(pfn, pte);
      if ((pte & PTE.R) === 0n || (pte & PTE.COW) !== 0n) needFrames++;
    });
    const available = this.host.maxFrames - k.usedFrames;
    if (needFrames > available) {
      throw new HypermemError(ErrorCode.OutOfFrames, `vm ${this.id}: writing ${bytes.length} bytes at gpa ${gpa} needs ${needFrames} new frames, the host has ${available}`, { gpa, needFrames, available });
    }
    this.#pieces(gpa, bytes.length, (pfn, off, at, n) => {
      let pte = k.nptLookup(this.slot, pfn);
      if ((pte & PTE.R) === 0n && (pte & PTE.TRACED) === 0n) k.nptPopulate(this.slot, pfn, true);
      else if ((pte & PTE.COW) !== 0n) k.nptBreakCow(this.slot, pfn);
      pte = k.nptLookup(this.slot, pfn);
      k.nptSet(this.slot, pfn, pte | PTE.A | PTE.D);
      k.heap.u8.set(bytes.subarray(at, at + n), k.frameAddr(pteFrame(pte)) + off);
    });
  }

  /** Runs guest accesses through the MMU, dispatching faults to the host's handlers. */
  run(accesses: readonly Access[]): void {
    this.#alive();
    const k = this.host.kernels;
    const capacity = Math.floor(k.layout.scratchBytes / 2 / ACCESS_BYTES);
    const batch = k.layout.scratchBase;
    for (let first = 0; first < accesses.length; first += capacity) {
      const chunk = accesses.slice(first, first + capacity);
      const view = k.heap.view;
      chunk.forEach((a, i) => {
        const rec = batch + i * ACCESS_BYTES;
        view.setBigUint64(rec, BigInt(a.gpa), true);
        view.setUint32(rec + 8, (a.seed ?? 0) >>> 0, true);
        view.setUint16(rec + 12, a.length ?? 8, true);
        view.setUint8(rec + 14, a.op === "write" ? 1 : 0);
        view.setUint8(rec + 15, 0);
      });
      runAccessBatch(this, batch, chunk.length, this.counters);
    }
  }

  /** Runs `count` access records already laid out at `batchPtr` (for workloads). */
  runBatch(batchPtr: number, count: number): void {
    this.#alive();
    runAccessBatch(this, batchPtr, count, this.counters);
  }

  /** Calls `listener` for every virtual machine check delivered to this guest. */
  onMachineCheck(listener: (mce: MachineCheck) => void): void {
    this.#mceListeners.push(listener);
  }

  /** Virtual machine checks delivered so far. */
  get machineChecks(): number { return this.#machineChecks; }

  /** The default poisoned-fault handler: reports a latent error, then tells the guest. */
  deliverMachineCheck(fault: Fault): void {
    const foundLatent = reportLatentError(this, fault.pfn);
    this.#machineChecks++;
    const mce: MachineCheck = { vm: this, gpa: fault.gpa, pfn: fault.pfn, write: fault.write, foundLatent };
    for (const listener of this.#mceListeners) listener(mce);
  }

  /** Starts a workload on this guest; drive it with runFor(ns) and close() it when done. */
  startWorkload(options: WorkloadOptions): GuestWorkload {
    this.#alive();
    return new GuestWorkload(this, options);
  }

  #harvest(bufferPtr: number, bit: number): PageBitmap {
    this.#alive();
    const k = this.host.kernels;
    const bytes = bitmapBytes(this.pages);
    k.heap.u8.fill(0, bufferPtr, bufferPtr + bytes);
    k.harvestBit(this.slot, bufferPtr, bit);
    return new PageBitmap(this.pages, k.heap.copyOut(bufferPtr, bytes));
  }

  /**
   * Fetches and clears the dirty bits into the bitmap at `bitmapPtr` in this
   * host's memory, OR-ed into what it holds (for migration and checkpoints).
   * Returns the number of bits set in that bitmap afterwards.
   */
  harvestDirtyInto(bitmapPtr: number): number {
    this.#alive();
    return this.host.kernels.harvestBit(this.slot, bitmapPtr, PTE_D_BIT);
  }

  /** Fetches and clears the dirty bits of every populated leaf (a dirty-log read). */
  harvestDirty(): PageBitmap { return this.#harvest(this.#dirtyPtr, PTE_D_BIT); }

  /** Fetches and clears the accessed bits (working-set estimation). */
  harvestAccessed(): PageBitmap { return this.#harvest(this.#accessedPtr, PTE_A_BIT); }

  #update(pages: PageBitmap, mode: number): number {
    this.#alive();
    if (pages.pages !== this.pages) {
      throw new HypermemError(ErrorCode.Length, `a bitmap of ${pages.pages} pages does not fit vm ${this.id} of ${this.pages} pages`, { pages: pages.pages });
    }
    const k = this.host.kernels;
    k.heap.copyIn(this.#dirtyPtr, pages.bytes);
    return k.ptesUpdate(this.slot, this.#dirtyPtr, mode);
  }

  /** Write-protects the populated pages set in `pages` (writes then fault as write-protect). Returns entries changed. */
  writeProtect(pages: PageBitmap): number { return this.#update(pages, 0); }
  /** Undoes writeProtect. */
  unprotect(pages: PageBitmap): number { return this.#update(pages, 1); }
  /** Traces the present pages set in `pages`: any access faults with reason traced. */
  trace(pages: PageBitmap): number { return this.#update(pages, 2); }
  /** Removes traces. */
  untrace(pages: PageBitmap): number { return this.#update(pages, 3); }

  /** Frees the VM's frames and page table. The Vm cannot be used afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    const k = this.host.kernels;
    k.vmDestroy(this.slot);
    k.freeBuffer(this.#dirtyPtr, bitmapBytes(this.pages));
    k.freeBuffer(this.#accessedPtr, bitmapBytes(this.pages));
    this.#destroyed = true;
    this.host.releaseSlot(this.slot);
  }
}

