// PageStates: a VM's pages moved between states (present, traced, poisoned,
// swapped, ballooned, elsewhere) through the one page-state kernel
// (assembly/page-state.ts), which frees or allocates frames and keeps the
// VM's counts right. Techniques use this; they never write entries.
import { ErrorCode, HypermemError, KernelStatus } from "../errors.js";
import { requireInt } from "../options.js";
import { PAGE_SIZE, PageOp } from "../wasm/codes.js";
import type { VmCounts } from "../wasm/mmu.js";
import { pageStateOf, type PageState } from "./pte.js";
import type { Vm } from "./vm.js";

/** Largest swap slot or location a non-present entry can hold (40 bits). */
export const MAX_FRAME_FIELD = 2 ** 40 - 1;

/** Most pages per bringBackVerified call (4 MiB of kernel scratch). */
export const MAX_VERIFIED_PAGES = 1024;

const OP_NAMES: Readonly<Record<PageOp, string>> = {
  1: "swap out", 2: "move elsewhere", 3: "bring back", 4: "balloon", 5: "deflate", 6: "poison",
  7: "poison (latent)", 8: "report a latent error on", 9: "poison", 10: "trace", 11: "untrace",
  12: "write-protect", 13: "unprotect", 14: "repair", 15: "migrate",
  16: "place elsewhere", 20: "balloon (frame handed over)", 21: "deflate onto a handed-over frame", 22: "release a handed-over frame for",
  26: "relocate",
};

export class PageStates {
  readonly #vm: Vm;

  constructor(vm: Vm) { this.#vm = vm; }

  /** The state of page `pfn`, decoded from its entry. */
  of(pfn: number): PageState { return pageStateOf(this.#vm.pte(pfn)); }

  /** The VM's page counts per state. */
  counts(): VmCounts { return this.#vm.host.kernels.mmu.vmCounts(this.#vm.slot); }

  #apply(pfn: number, op: PageOp, arg = 0, srcPtr = 0): number {
    const vm = this.#vm;
    requireInt("pfn", pfn, 0, vm.pages - 1);
    const status = vm.host.kernels.mmu.setState(vm.slot, pfn, op, arg, srcPtr);
    if (status >= 0) return status;
    if (-status === KernelStatus.PageState) {
      throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: cannot ${OP_NAMES[op]} guest page ${pfn}: it is ${this.of(pfn).kind}`, { pfn, state: this.of(pfn).kind, op: OP_NAMES[op] });
    }
    throw new HypermemError(ErrorCode.OutOfFrames, `vm ${vm.id}: cannot ${OP_NAMES[op]} guest page ${pfn}: the host has no free frame`, { pfn, op: OP_NAMES[op] });
  }

  /** A present page goes to swap slot `slot`: its frame is freed (the caller saved its bytes first). */
  swapOut(pfn: number, slot: number): void { this.#apply(pfn, PageOp.SwapOut, requireInt("slot", slot, 0, MAX_FRAME_FIELD)); }

  /** A present page now lives elsewhere, at `location` (the caller's own numbering): its frame is freed. */
  moveElsewhere(pfn: number, location: number): void {
    this.#apply(pfn, PageOp.MoveElsewhere, requireInt("location", location, 0, MAX_FRAME_FIELD));
  }

  /**
   * An untouched (unpopulated or zero-mapped) page whose contents live
   * elsewhere from the start, at `location` (a snapshot restored lazily):
   * no frame is taken; an access faults elsewhere, as for moveElsewhere.
   */
  placeElsewhere(pfn: number, location: number): void {
    this.#apply(pfn, PageOp.PlaceElsewhere, requireInt("location", location, 0, MAX_FRAME_FIELD));
  }

  /**
   * An elsewhere page's contents moved to `location`: only its entry's
   * frame field changes (A, D and WP kept), no frame is involved. One
   * page-table write, as a hypervisor rewriting a mapping does.
   */
  relocateElsewhere(pfn: number, location: number): void {
    this.#apply(pfn, PageOp.RelocateElsewhere, requireInt("location", location, 0, MAX_FRAME_FIELD));
  }

  /** A swapped or elsewhere page comes back holding `bytes` (4096; null: zeros). Returns its new frame. */
  bringBack(pfn: number, bytes: Uint8Array | null): number {
    if (bytes === null) return this.#apply(pfn, PageOp.BringBack);
    if (!(bytes instanceof Uint8Array) || bytes.length !== PAGE_SIZE) {
      throw new HypermemError(ErrorCode.PageSize, `bringBack needs a ${PAGE_SIZE}-byte Uint8Array, got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes}`, { pfn });
    }
    const k = this.#vm.host.kernels;
    return k.scratch.with(PAGE_SIZE, "bringBack", (ptr) => {
      k.heap.copyIn(ptr, bytes);
      return this.#apply(pfn, PageOp.BringBack, 0, ptr);
    });
  }

  /**
   * Swapped pages come back from bytes read straight into linear memory
   * (hypervisor swap-in): `fill(into)` gets a view of pfns.length × 4096
   * bytes of kernel scratch (page i at byte i × 4096; valid only during
   * the call) to read the pages into; then, in one kernel call, each page's
   * XXH3-64 is computed where it lies and it is brought back only when that
   * equals hashes[i]. A page that does not match stays swapped (the caller
   * decides what it becomes: its bytes never reach a frame). Returns one
   * flag per page: 1 brought back, 0 hash mismatch, 2 not tried because
   * the host ran out of frames (still swapped). The pages must be
   * distinct and swapped (checked before anything changes), at most
   * MAX_VERIFIED_PAGES of them.
   */
  bringBackVerified(pfns: ArrayLike<number>, hashes: ArrayLike<bigint>, fill: (into: Uint8Array) => void): Uint8Array {
    const vm = this.#vm;
    const count = requireInt("pfns.length", pfns.length, 0, MAX_VERIFIED_PAGES);
    if (hashes.length !== count) throw new HypermemError(ErrorCode.Length, `bringBackVerified: ${count} pages but ${hashes.length} hashes`, { pages: count, hashes: hashes.length });
    const seen = new Set<number>();
    for (let i = 0; i < count; i++) {
      const pfn = requireInt("pfn", pfns[i], 0, vm.pages - 1);
      if (seen.has(pfn)) throw new HypermemError(ErrorCode.BadOption, `vm ${vm.id}: bringBackVerified lists guest page ${pfn} twice`, { pfn });
      seen.add(pfn);
    }
    const k = vm.host.kernels;
    return k.scratch.with(count * (PAGE_SIZE + 8 + 4 + 1), `vm ${vm.id} bringBackVerified`, (srcPtr) => {
      const hashPtr = srcPtr + count * PAGE_SIZE;
      const pfnPtr = hashPtr + count * 8;
      const okPtr = pfnPtr + count * 4;
      k.heap.copyIn(hashPtr, new Uint8Array(BigUint64Array.from(hashes).buffer));
      k.heap.copyIn(pfnPtr, new Uint8Array(Uint32Array.from(pfns).buffer));
      fill(k.heap.borrow(srcPtr, count * PAGE_SIZE));
      const status = k.swapIn.bringBackVerified(vm.slot, pfnPtr, hashPtr, srcPtr, count, okPtr);
      if (status === -KernelStatus.PageState) {
        const pfn = Array.from(pfns).find((x) => this.of(x).kind !== "swapped")!;
        throw new HypermemError(ErrorCode.PageState, `vm ${vm.id}: cannot bring back guest page ${pfn}: it is ${this.of(pfn).kind}, not swapped`, { pfn, state: this.of(pfn).kind, op: "bring back" });
      }
      return k.heap.copyOut(okPtr, count);
    });
  }

  /** The page goes to the balloon (its frame, if private, back to the host). */
  balloon(pfn: number): void { this.#apply(pfn, PageOp.Balloon); }
  /** A ballooned page is given back to the guest: it reads as zero. */
  deflate(pfn: number): void { this.#apply(pfn, PageOp.Deflate); }
  /**
   * overcommit: the page goes to the balloon and its private frame, if it
   * had one, is handed to the host instead of freed (owned by the host,
   * flagged `handover`), for deflateOnto() into another VM. Returns the
   * frame, or 0 when the page had none.
   */
  balloonHandover(pfn: number): number { return this.#apply(pfn, PageOp.BalloonHandover); }
  /**
   * overcommit: a ballooned page becomes present on handed-over frame `hfn`
   * (from balloonHandover() of any VM on this host). The kernel zeroes the
   * frame before mapping it: the guest reads zeros, never the previous
   * owner's bytes. Returns `hfn`.
   */
  deflateOnto(pfn: number, hfn: number): number { return this.#apply(pfn, PageOp.DeflateOnto, requireInt("hfn", hfn, 1, MAX_FRAME_FIELD)); }
  /** overcommit: handed-over frame `hfn` goes back to the host's free list (`pfn`, any page of this VM, is not touched). */
  releaseHandover(pfn: number, hfn: number): void { this.#apply(pfn, PageOp.ReleaseHandover, requireInt("hfn", hfn, 1, MAX_FRAME_FIELD)); }
  /** The page's frame holds an uncorrectable error: known (reported) or latent (found on next read). */
  poison(pfn: number, latent: boolean): void { this.#apply(pfn, latent ? PageOp.PoisonLatent : PageOp.Poison); }
  /**
   * A page that arrives poisoned (a snapshot's poisoned entry, as a
   * migration's POISON record): poisoned with no frame; a private frame it
   * had is freed.
   */
  receivePoisoned(pfn: number): void { this.#apply(pfn, PageOp.PoisonNoFrame); }
  /** A latent error was found: it becomes known. */
  reportLatent(pfn: number): void { this.#apply(pfn, PageOp.ReportLatent); }
  /**
   * A poisoned page (known or latent, with a frame) is repaired: it moves to
   * a new frame holding `bytes` (4096, what the page held before the error:
   * refilled from its file or rebuilt from parity), and the bad frame is
   * retired for good. Write protection stays. Returns the new frame.
   */
  repair(pfn: number, bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array) || bytes.length !== PAGE_SIZE) {
      throw new HypermemError(ErrorCode.PageSize, `repair needs a ${PAGE_SIZE}-byte Uint8Array, got ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes}`, { pfn });
    }
    const k = this.#vm.host.kernels;
    return k.scratch.with(PAGE_SIZE, "repair", (ptr) => {
      k.heap.copyIn(ptr, bytes);
      return this.#apply(pfn, PageOp.Repair, 0, ptr);
    });
  }
  /** A present page moves to a new frame holding a copy of its bytes, and the old frame is retired (soft offline). Returns the new frame. */
  migrate(pfn: number): number { return this.#apply(pfn, PageOp.Migrate); }
  /** Write-protects one populated page: a write then faults write-protect. */
  writeProtect(pfn: number): void { this.#apply(pfn, PageOp.WriteProtect); }
  /** Undoes writeProtect for one page. */
  unprotect(pfn: number): void { this.#apply(pfn, PageOp.Unprotect); }
  /** Any guest access to the page faults (traced) until untrace(). */
  trace(pfn: number): void { this.#apply(pfn, PageOp.Trace); }
  untrace(pfn: number): void { this.#apply(pfn, PageOp.Untrace); }
}
