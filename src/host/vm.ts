// Vm: a guest whose guest-physical memory is mapped by its own nested page
// table. Untouched pages read as zero (they map the shared zero frame, or
// nothing yet) and get a private frame on first write. The VM owns its
// fault chain (src/host/faults.ts), its dirty and accessed logs with named
// readers (src/host/page-log.ts) and its page states (page-states.ts).
// read/write are the hypervisor's own accesses (tools, tests, devices):
// bounds-checked, through the page hook (a page that lives elsewhere is
// brought back by the VM's fault chain, not refused), and a write marks the
// pages accessed and dirty as a device write would.
import { check, ErrorCode, HypermemError, KernelStatus } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import { ACCESS_BYTES, PAGE_SIZE, PTE, PageOp } from "../wasm/codes.js";
import type { AccessSpec } from "../wasm/mmu.js";
import { PageBitmap } from "./bitmap.js";
import { FileBacking } from "./file-backing.js";
import { FAULT_NAMES, FaultChain, FaultReason, unhandledFault, type Disposer, type Fault, type FaultAction, type FaultHandler } from "./faults.js";
import { GuestWorkload } from "./guest-workload.js";
import { HostBuffer } from "./host-buffer.js";
import type { Host } from "./host.js";
import { newCounters, runAccessBatch, type MmuCounters } from "./mmu.js";
import { PageLog } from "./page-log.js";
import { PageSet } from "./page-set.js";
import { PageStates } from "./page-states.js";
import { decodePte, pteFrame, type PteInfo } from "./pte.js";
import type { WorkloadOptions } from "./workload.js";

export interface VmOptions {
  /** Guest memory in MiB (a whole number of 4 KiB pages). Give this or `pages`. */
  memoryMiB?: number;
  /** Guest memory in 4 KiB pages. Give this or `memoryMiB`. */
  pages?: number;
}

/** 1 TiB: guest frame numbers fit in u32 and a guest's bitmaps fit in a host. */
export const MAX_GUEST_PAGES = 2 ** 28;

/** Access records per batch of Vm.run (1 MiB of scratch). */
export const RUN_BATCH_RECORDS = 65_536;

/** Pages per kernel call of readPages and writePages (4 MiB of scratch). */
const PAGE_IO_BATCH = 1024;

/**
 * Pages per kernel call of gatherPages (1 MiB of scratch): the batch is
 * still in cache when it is copied out (1024-page batches ran 20 % slower).
 */
const GATHER_BATCH = 256;

/** Pages per kernel call of gatherPagesInto: only their list goes through scratch. */
const GATHER_INTO_BATCH = 4096;

/** Times the page hook lets a handler "retry" one page before it is a fault loop. */
const HOOK_RETRIES = 4;

export function resolveVmOptions(options: VmOptions): { readonly pages: number } {
  if (typeof options !== "object" || options === null) {
    throw new HypermemError(ErrorCode.BadOption, `createVm: options must be an object ({ memoryMiB } or { pages }), got ${String(options)}`, { option: "options" });
  }
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
export type Access = AccessSpec;

/** Entry bits of a page the hypervisor cannot touch until a handler brings it back or repairs it. */
const NOT_ACCESSIBLE = PTE.POISONED | PTE.LATENT | PTE.SWAPPED | PTE.ELSEWHERE | PTE.BALLOONED;

/** The fault reason of an inaccessible entry. */
function reasonOf(pte: bigint): FaultReason {
  if ((pte & (PTE.POISONED | PTE.LATENT)) !== 0n) return FaultReason.Poisoned;
  if ((pte & PTE.SWAPPED) !== 0n) return FaultReason.Swapped;
  if ((pte & PTE.ELSEWHERE) !== 0n) return FaultReason.Elsewhere;
  return FaultReason.Ballooned;
}

export class Vm {
  readonly host: Host;
  /** Index of the VM's descriptor in the host (internal). */
  readonly slot: number;
  readonly id: number;
  /** Guest size in 4 KiB pages. */
  readonly pages: number;
  readonly counters: MmuCounters = newCounters();
  /** The dirty log: open a reader for each client (migration, checkpoint...). */
  readonly dirtyLog: PageLog;
  /** The accessed log: working-set sampling, idle-memory tax, active-page tracking. */
  readonly accessedLog: PageLog;
  /** Page-state moves (swap, balloon, poison, trace, elsewhere) that keep frames and counts right. */
  readonly states: PageStates;
  /** Pages loaded from files (mapFile) and which of them are still clean-backed. */
  readonly files: FileBacking;
  readonly #faults = new FaultChain();
  readonly #mceListeners = new Set<(mce: MachineCheck) => void>();
  #machineChecks = 0;
  #destroyed = false;
  #paused = false;

  constructor(host: Host, slot: number, id: number, options: { readonly pages: number }) {
    this.host = host;
    this.slot = slot;
    this.id = id;
    this.pages = options.pages;
    const k = host.kernels;
    const before = k.frames.used;
    try {
      k.mmu.vmInit(slot, id, this.pages);
    } catch (err) {
      if (err instanceof HypermemError && err.code === ErrorCode.OutOfFrames) {
        throw new HypermemError(
          ErrorCode.OutOfFrames,
          `host of ${host.memoryMiB} MiB cannot hold the page table of a ${this.pages}-page guest (${k.frames.used - before} frames taken before failing)`,
          { pages: this.pages },
        );
      }
      throw err;
    }
    this.dirtyLog = new PageLog(k, slot, this.pages, "dirty");
    this.accessedLog = new PageLog(k, slot, this.pages, "accessed");
    this.states = new PageStates(this);
    this.files = new FileBacking(this);
  }

  /** Guest memory in bytes. */
  get memoryBytes(): number { return this.pages * PAGE_SIZE; }

  get destroyed(): boolean { return this.#destroyed; }

  /** A paused VM's vCPUs do not run: its workloads skip their turns and run() refuses guest accesses. */
  get paused(): boolean { return this.#paused; }
  /** Stops the VM's vCPUs (stop-and-copy, a checkpoint's pause). Idempotent. */
  pause(): void { this.#paused = true; }
  /** Lets the VM's vCPUs run again. Idempotent. */
  resume(): void { this.#paused = false; }

  #alive(): void {
    if (this.#destroyed) throw new HypermemError(ErrorCode.Destroyed, `vm ${this.id} was destroyed`, { vm: this.id });
  }

  #running(): void {
    this.#alive();
    if (this.#paused) throw new HypermemError(ErrorCode.VmPaused, `vm ${this.id} is paused: its vCPUs run no guest accesses until resume()`, { vm: this.id });
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
    return this.host.kernels.mmu.lookup(this.slot, pfn);
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

  /**
   * The page hook: makes guest page `pfn` accessible to a hypervisor read
   * (or write) and returns its entry. A page that is poisoned, swapped,
   * elsewhere or ballooned is handed to the fault chain as a "hypervisor"
   * fault: a handler that brings it back (or repairs it) answers "retry".
   * Otherwise the access fails: ERR_MEMORY_POISONED for a poisoned page,
   * ERR_PAGE_STATE naming the state for the others. A hypervisor write to a
   * write-protected page is first handed to the write-protect chain, once
   * (a technique that tracks writes by protection, such as parity groups,
   * must hear of it before the bytes change); whatever it answers, the write
   * then goes through, as a device's DMA would.
   */
  accessPage(pfn: number, write: boolean): bigint {
    const mmu = this.host.kernels.mmu;
    let protectionHeard = false;
    for (let attempt = 0; ; attempt++) {
      const pte = mmu.lookup(this.slot, pfn);
      if ((pte & NOT_ACCESSIBLE) === 0n) {
        if (!write || protectionHeard || (pte & PTE.WP) === 0n) return pte;
        protectionHeard = true;
        this.#resolve({ reason: FaultReason.WriteProtect, vm: this, gpa: pfn * PAGE_SIZE, pfn, write, by: "hypervisor", index: -1 });
        continue;
      }
      const reason = reasonOf(pte);
      if (attempt === HOOK_RETRIES) {
        throw new HypermemError(ErrorCode.FaultLoop, `vm ${this.id}: the ${FAULT_NAMES[reason]} handler returned "retry" ${HOOK_RETRIES} times but guest page ${pfn} is still not accessible`, { pfn, reason: FAULT_NAMES[reason] });
      }
      const fault: Fault = { reason, vm: this, gpa: pfn * PAGE_SIZE, pfn, write, by: "hypervisor", index: -1 };
      const action = this.#resolve(fault);
      if (action === "retry") continue;
      throw this.#inaccessible(pfn, pte, mmu.lookup(this.slot, pfn));
    }
  }

  #inaccessible(pfn: number, before: bigint, after: bigint): HypermemError {
    if ((after & (PTE.POISONED | PTE.LATENT)) !== 0n) {
      const found = (before & PTE.LATENT) !== 0n && (after & PTE.LATENT) === 0n ? " (a latent error, found by this read)" : "";
      return new HypermemError(ErrorCode.MemoryPoisoned, `vm ${this.id}: guest page ${pfn} (gpa 0x${(pfn * PAGE_SIZE).toString(16)}) is poisoned${found}`, { pfn });
    }
    const state = this.states.of(pfn).kind;
    return new HypermemError(ErrorCode.PageState, `vm ${this.id}: guest page ${pfn} is ${state === "swapped" ? "swapped out" : state} and no fault handler brought it back`, { pfn, state });
  }

  /** Copies `length` bytes of guest memory at `gpa` (untouched pages read as zeros). */
  read(gpa: number, length: number): Uint8Array {
    this.#checkRange(gpa, length);
    const k = this.host.kernels;
    const out = new Uint8Array(length);
    this.#pieces(gpa, length, (pfn, off, at, n) => {
      const pte = this.accessPage(pfn, false);
      if ((pte & (PTE.R | PTE.TRACED)) === 0n) return;
      out.set(k.heap.borrow(k.frames.addr(pteFrame(pte)) + off, n), at);
    });
    return out;
  }

  /**
   * Writes `bytes` (a Uint8Array) at `gpa`, giving untouched or shared pages
   * a private frame and marking every written page accessed and dirty.
   * Everything is checked first (the argument, the range, every page's
   * state, the frames the write and its page tables need): a write happens
   * completely or changes nothing.
   */
  write(gpa: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      const what = bytes === null ? "null" : typeof bytes === "object" ? (bytes as object).constructor?.name ?? "object" : typeof bytes;
      throw new HypermemError(ErrorCode.BadOption, `vm.write takes a Uint8Array of bytes, got ${what}`, { option: "bytes", got: what });
    }
    this.#checkRange(gpa, bytes.length);
    const k = this.host.kernels;
    let needFrames = 0;
    this.#pieces(gpa, bytes.length, (pfn) => {
      const pte = this.accessPage(pfn, true);
      if (((pte & PTE.R) === 0n && (pte & PTE.TRACED) === 0n) || (pte & PTE.COW) !== 0n) needFrames++;
    });
    if (bytes.length > 0) {
      needFrames += k.mmu.tablesNeeded(this.slot, Math.floor(gpa / PAGE_SIZE), Math.floor((gpa + bytes.length - 1) / PAGE_SIZE) - Math.floor(gpa / PAGE_SIZE) + 1);
    }
    const available = this.host.maxFrames - k.frames.used;
    if (needFrames > available) {
      throw new HypermemError(ErrorCode.OutOfFrames, `vm ${this.id}: writing ${bytes.length} bytes at gpa ${gpa} needs ${needFrames} new frames (pages and page tables), the host has ${available}`, { gpa, needFrames, available });
    }
    this.#pieces(gpa, bytes.length, (pfn, off, at, n) => {
      let pte = k.mmu.lookup(this.slot, pfn);
      if ((pte & PTE.R) === 0n && (pte & PTE.TRACED) === 0n) k.mmu.populate(this.slot, pfn, true);
      else if ((pte & PTE.COW) !== 0n) k.mmu.breakCow(this.slot, pfn);
      pte = k.mmu.lookup(this.slot, pfn);
      k.mmu.set(this.slot, pfn, pte | PTE.A | PTE.D);
      k.heap.copyIn(k.frames.addr(pteFrame(pte)) + off, bytes.subarray(at, at + n));
    });
  }

  /**
   * Loads `lengthBytes` of the file at `path`, from byte `offsetBytes`, into
   * guest memory at `gpa` (all whole 4 KiB pages), and keeps the pages marked
   * clean-backed until they are written (vm.files): a lost frame of such a
   * page can be refilled from the file. Checks everything first; a missing
   * or unreadable file, or one shorter than offsetBytes + lengthBytes, is
   * ERR_BACKING_FILE naming it. Returns the pages mapped.
   */
  mapFile(gpa: number, path: string, offsetBytes: number, lengthBytes: number): number {
    this.#alive();
    return this.files.map(gpa, path, offsetBytes, lengthBytes);
  }

  #checkPages(firstPfn: number, count: number): void {
    this.#alive();
    if (!Number.isSafeInteger(firstPfn) || firstPfn < 0 || firstPfn >= this.pages) {
      throw new HypermemError(ErrorCode.GpaRange, `pfn ${String(firstPfn)} is outside the ${this.pages}-page guest of vm ${this.id}`, { pfn: firstPfn });
    }
    if (!Number.isSafeInteger(count) || count < 0 || firstPfn + count > this.pages) {
      throw new HypermemError(ErrorCode.Length, `${String(count)} pages from pfn ${firstPfn} run past the end of the ${this.pages}-page guest`, { pfn: firstPfn, count });
    }
  }

  /**
   * Copies whole pages [firstPfn, firstPfn + count) into `out` (count ×
   * 4096 bytes; a new array when not given), as vm.read does (untouched
   * pages read as zeros, a page that lives elsewhere comes back through the
   * page hook), in one kernel call per 1024 pages.
   */
  readPages(firstPfn: number, count: number, out?: Uint8Array): Uint8Array {
    this.#checkPages(firstPfn, count);
    const bytes = count * PAGE_SIZE;
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < bytes)) {
      throw new HypermemError(ErrorCode.Length, `readPages of ${count} pages needs a Uint8Array of ${bytes} bytes, got ${out instanceof Uint8Array ? out.length : typeof out}`, { count });
    }
    const dst = out ?? new Uint8Array(bytes);
    const k = this.host.kernels;
    k.scratch.with(Math.min(count, PAGE_IO_BATCH) * PAGE_SIZE, `vm ${this.id} readPages`, (ptr) => {
      for (let done = 0; done < count;) {
        const n = Math.min(count - done, PAGE_IO_BATCH);
        const got = check(k.guestPages.read(this.slot, firstPfn + done, n, ptr), "readPages", { pfn: firstPfn + done });
        dst.set(k.heap.borrow(ptr, got * PAGE_SIZE), done * PAGE_SIZE);
        done += got;
        if (got < n) this.accessPage(firstPfn + done, false);
      }
    });
    return dst;
  }

  /**
   * Copies the pages listed in `pfns` (any order, repeats allowed) into
   * `out`, page i at byte i × 4096 (a new array when not given), as vm.read
   * does (untouched pages read as zeros, a page that lives elsewhere comes
   * back through the page hook), in one kernel call per 256 pages. With
   * `zeroFlags` (one byte per page), flag i is set to 1 when page pfns[i]
   * has no frame of its own (untouched, or mapped to the zero frame) and so
   * read as zeros, else to 0.
   */
  gatherPages(pfns: ArrayLike<number>, out?: Uint8Array, zeroFlags?: Uint8Array): Uint8Array {
    const bytes = this.#checkGather("gatherPages", pfns, zeroFlags);
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < bytes)) {
      throw new HypermemError(ErrorCode.Length, `gatherPages of ${pfns.length} pages needs a Uint8Array of ${bytes} bytes, got ${out instanceof Uint8Array ? out.length : typeof out}`, { count: pfns.length });
    }
    const dst = out ?? new Uint8Array(bytes);
    this.#gather(pfns, zeroFlags, null, dst);
    return dst;
  }

  /**
   * gatherPages into a buffer in host frames: each page is copied once,
   * from its frame straight into `into` (no scratch in between), in one
   * kernel call per 4096 pages: the pause copy of a checkpoint.
   */
  gatherPagesInto(pfns: ArrayLike<number>, into: HostBuffer, zeroFlags?: Uint8Array): void {
    const bytes = this.#checkGather("gatherPagesInto", pfns, zeroFlags);
    if (!(into instanceof HostBuffer) || into.freed || into.byteLength < bytes) {
      throw new HypermemError(ErrorCode.Length, `gatherPagesInto of ${pfns.length} pages needs a live host buffer of ${bytes} bytes, got ${into instanceof HostBuffer ? `${into.byteLength}${into.freed ? " (freed)" : ""}` : typeof into}`, { count: pfns.length });
    }
    this.#gather(pfns, zeroFlags, into, null);
  }

  /** Checks a gather's pfns and zero flags; returns the bytes it copies. */
  #checkGather(what: string, pfns: ArrayLike<number>, zeroFlags: Uint8Array | undefined): number {
    this.#alive();
    const count = pfns.length;
    for (let i = 0; i < count; i++) {
      const pfn = pfns[i];
      if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.pages) {
        throw new HypermemError(ErrorCode.GpaRange, `${what}: pfn ${String(pfn)} (entry ${i}) is outside the ${this.pages}-page guest of vm ${this.id}`, { pfn, index: i });
      }
    }
    if (zeroFlags !== undefined && (!(zeroFlags instanceof Uint8Array) || zeroFlags.length < count)) {
      throw new HypermemError(ErrorCode.Length, `${what} of ${count} pages needs ${count} zero flags, got ${zeroFlags instanceof Uint8Array ? zeroFlags.length : typeof zeroFlags}`, { count });
    }
    return count * PAGE_SIZE;
  }

  /** The gather loop: pages into `into` directly, or through scratch into `dst`. */
  #gather(pfns: ArrayLike<number>, zeroFlags: Uint8Array | undefined, into: HostBuffer | null, dst: Uint8Array | null): void {
    const count = pfns.length;
    const k = this.host.kernels;
    const batch = Math.min(count, into === null ? GATHER_BATCH : GATHER_INTO_BATCH);
    const pageRoom = into === null ? batch * PAGE_SIZE : 0;
    k.scratch.with(pageRoom + batch * (4 + 1), `vm ${this.id} gatherPages`, (ptr) => {
      const pfnPtr = ptr + pageRoom;
      const zeroPtr = zeroFlags === undefined ? 0 : pfnPtr + batch * 4;
      for (let done = 0; done < count;) {
        const n = Math.min(count - done, batch);
        const part = pfns instanceof Uint32Array ? pfns.subarray(done, done + n) : Uint32Array.from(Array.prototype.slice.call(pfns, done, done + n) as number[]);
        k.heap.copyIn(pfnPtr, new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
        const outPtr = into === null ? ptr : into.ptr + done * PAGE_SIZE;
        const got = check(k.gather.gather(this.slot, pfnPtr, n, outPtr, zeroPtr), "gatherPages", { pfn: pfns[done] });
        if (dst !== null) dst.set(k.heap.borrow(ptr, got * PAGE_SIZE), done * PAGE_SIZE);
        if (zeroFlags !== undefined) zeroFlags.set(k.heap.borrow(zeroPtr, got), done);
        done += got;
        if (got < n) this.accessPage(pfns[done], false);
      }
    });
  }

  /**
   * Writes whole pages from `firstPfn` (bytes.length a multiple of 4096),
   * marking them accessed and dirty as vm.write does, in one kernel call
   * per 1024 pages. Every page must be untouched or in memory (present,
   * traced): a page swapped out, elsewhere, ballooned or poisoned is
   * ERR_PAGE_STATE (use vm.write, which brings such pages back). Checked
   * first, with the frames it needs: it writes everything or nothing.
   * With `fingerprints` (one u64 per page), each page's fingerprint
   * (XXH3-64, as verification computes it) is put there, hashed while the
   * bytes pass through the kernel.
   */
  writePages(firstPfn: number, bytes: Uint8Array, fingerprints?: BigUint64Array): void {
    if (!(bytes instanceof Uint8Array) || bytes.length % PAGE_SIZE !== 0) {
      throw new HypermemError(ErrorCode.PageSize, `writePages takes whole 4 KiB pages, got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes}`, { pfn: firstPfn });
    }
    this.fillPages(firstPfn, bytes.length / PAGE_SIZE, (into, pfn) => {
      const at = (pfn - firstPfn) * PAGE_SIZE;
      into.set(bytes.subarray(at, at + into.length));
    }, fingerprints);
  }

  /**
   * writePages with the bytes made in place: `fill(into, pfn)` is called for
   * each batch of up to 1024 pages from `pfn`, with a view of the kernel's
   * scratch memory that it must fill (a file read straight into it saves a
   * copy). The view is valid during the call only, and `fill` must not call
   * into the host meanwhile. Checks, all or nothing, and fingerprints as
   * writePages.
   */
  fillPages(firstPfn: number, count: number, fill: (into: Uint8Array, pfn: number) => void, fingerprints?: BigUint64Array): void {
    this.#checkPages(firstPfn, count);
    if (fingerprints !== undefined && (!(fingerprints instanceof BigUint64Array) || fingerprints.length < count)) {
      throw new HypermemError(ErrorCode.Length, `writing ${count} pages needs a BigUint64Array of ${count} fingerprints, got ${fingerprints instanceof BigUint64Array ? fingerprints.length : typeof fingerprints}`, { count });
    }
    const k = this.host.kernels;
    const needFrames = k.guestPages.check(this.slot, firstPfn, count);
    if (needFrames === -KernelStatus.PageState) {
      const pfn = firstPfn + k.guestPages.refusedIndex;
      throw new HypermemError(ErrorCode.PageState, `vm ${this.id}: writePages cannot write guest page ${pfn}: it is ${this.states.of(pfn).kind} (vm.write brings such pages back)`, { pfn, state: this.states.of(pfn).kind });
    }
    check(needFrames, "writePages", { pfn: firstPfn, count });
    const available = this.host.maxFrames - k.frames.used;
    if (needFrames > available) {
      throw new HypermemError(ErrorCode.OutOfFrames, `vm ${this.id}: writing ${count} pages from pfn ${firstPfn} needs ${needFrames} new frames (pages and page tables), the host has ${available}`, { pfn: firstPfn, needFrames, available });
    }
    const batch = Math.min(count, PAGE_IO_BATCH);
    const hashBytes = fingerprints === undefined ? 0 : batch * 8;
    k.scratch.with(batch * PAGE_SIZE + hashBytes, `vm ${this.id} writePages`, (ptr) => {
      const hashPtr = fingerprints === undefined ? 0 : ptr + batch * PAGE_SIZE;
      for (let done = 0; done < count; done += PAGE_IO_BATCH) {
        const n = Math.min(count - done, PAGE_IO_BATCH);
        fill(k.heap.borrow(ptr, n * PAGE_SIZE), firstPfn + done);
        check(k.guestPages.write(this.slot, firstPfn + done, n, ptr, hashPtr), "writePages", { pfn: firstPfn + done, count: n });
        if (fingerprints !== undefined) fingerprints.set(new BigUint64Array(k.heap.copyOut(hashPtr, n * 8).buffer), done);
      }
    });
  }

  /** Runs guest accesses through the MMU, dispatching faults to the VM's fault chain. */
  run(accesses: readonly Access[]): void {
    this.#running();
    const k = this.host.kernels;
    for (let first = 0; first < accesses.length; first += RUN_BATCH_RECORDS) {
      const chunk = accesses.slice(first, first + RUN_BATCH_RECORDS);
      k.scratch.with(chunk.length * ACCESS_BYTES, `vm ${this.id} run`, (batch) => {
        k.mmu.writeBatch(batch, chunk);
        runAccessBatch(this, batch, chunk.length, this.counters);
      });
    }
  }

  /** Runs `count` access records already laid out at `batchPtr` (for workloads). */
  runBatch(batchPtr: number, count: number): void {
    this.#running();
    runAccessBatch(this, batchPtr, count, this.counters);
  }

  /**
   * Registers `handler` for faults of `reason` on this VM, in front of the
   * VM's earlier handlers and of the host's. It may answer "pass" to hand
   * the fault on. Returns the disposer that removes it.
   */
  onFault(reason: FaultReason, handler: FaultHandler): Disposer {
    this.#alive();
    return this.#faults.add(reason, handler);
  }

  /** Resolves a fault: this VM's chain, then the host's; "pass" when nobody took it. */
  #resolve(fault: Fault): FaultAction {
    const mine = this.#faults.run(fault);
    return mine !== "pass" ? mine : this.host.faults.run(fault);
  }

  /** Resolves a guest fault (the MMU loop calls this); unhandled is a typed error. */
  dispatchFault(fault: Fault): FaultAction {
    const action = this.#resolve(fault);
    if (action === "pass") throw unhandledFault(fault);
    return action;
  }

  /** Calls `listener` for every virtual machine check delivered to this guest; returns its disposer. */
  onMachineCheck(listener: (mce: MachineCheck) => void): Disposer {
    this.#mceListeners.add(listener);
    return () => { this.#mceListeners.delete(listener); };
  }

  /** Virtual machine checks delivered so far. */
  get machineChecks(): number { return this.#machineChecks; }

  /** Delivers a virtual machine check to the guest (what a memory-error handler does for an unrecoverable page). */
  raiseMachineCheck(mce: Omit<MachineCheck, "vm">): void {
    this.#machineChecks++;
    const full: MachineCheck = { vm: this, ...mce };
    for (const listener of [...this.#mceListeners]) listener(full);
  }

  /** Starts a workload on this guest; drive it with runFor(ns) and close() it when done. */
  startWorkload(options: WorkloadOptions): GuestWorkload {
    this.#alive();
    return new GuestWorkload(this, options);
  }

  /**
   * Writes pages [firstPage, firstPage + pageCount) once each, a whole page
   * per access (each faults its page in), in one simulated second of a
   * sequential workload seeded by `seed`: a guest that has touched its memory.
   */
  prefillPages(firstPage: number, pageCount: number, seed: number): void {
    if (pageCount === 0) return;
    const fill = this.startWorkload({ kind: "sequential", firstPage, pageCount, ratePerSec: pageCount, writeFraction: 1, writeBytes: PAGE_SIZE, seed });
    try {
      fill.runFor(1e9);
    } finally {
      fill.close();
    }
  }

  /** Pages dirtied since the dirty log's last sync (fetch-and-clear; open readers get them too). */
  harvestDirty(): PageBitmap {
    this.#alive();
    return this.dirtyLog.collect();
  }

  /** Pages accessed since the accessed log's last sync (working-set estimation). */
  harvestAccessed(): PageBitmap {
    this.#alive();
    return this.accessedLog.collect();
  }

  #updateMany(pages: PageBitmap, op: PageOp): number {
    this.#alive();
    if (!(pages instanceof PageBitmap)) {
      throw new HypermemError(ErrorCode.BadOption, `vm ${this.id}: the pages must be a PageBitmap, got ${String(pages)}`, { option: "pages" });
    }
    if (pages.pages !== this.pages) {
      throw new HypermemError(ErrorCode.Length, `a bitmap of ${pages.pages} pages does not fit vm ${this.id} of ${this.pages} pages`, { pages: pages.pages });
    }
    const set = new PageSet(this.host.kernels, this.pages);
    try {
      set.load(pages);
      return this.host.kernels.mmu.updateMany(this.slot, set.ptr, op);
    } finally {
      set.free();
    }
  }

  /** Write-protects the populated pages set in `pages` (writes then fault as write-protect). Returns entries changed. */
  writeProtect(pages: PageBitmap): number { return this.#updateMany(pages, PageOp.WriteProtect); }
  /** Undoes writeProtect. */
  unprotect(pages: PageBitmap): number { return this.#updateMany(pages, PageOp.Unprotect); }
  /** Traces the present pages set in `pages`: any access faults with reason traced. */
  trace(pages: PageBitmap): number { return this.#updateMany(pages, PageOp.Trace); }
  /** Removes traces. */
  untrace(pages: PageBitmap): number { return this.#updateMany(pages, PageOp.Untrace); }

  /** Frees the VM's frames, page table and logs. The Vm cannot be used afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    this.dirtyLog.close();
    this.accessedLog.close();
    this.host.kernels.mmu.vmDestroy(this.slot);
    this.#destroyed = true;
    this.host.releaseSlot(this.slot);
  }
}
