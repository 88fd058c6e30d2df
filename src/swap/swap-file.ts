// The swap file: a real file of 4 KiB slots, created by the swap device
// (mode 0600, refused if the path exists) and removed when it closes. An
// XXH3-64 hash per slot is kept in memory, written with the slot and checked when
// it is read back; a next-fit allocator hands out free slots, so pages
// swapped out together land in neighbouring slots (what readahead reads).
//
//   file:  slot 0        slot 1        ...   slot capacity-1
//         ┌────────────┬────────────┬─────┬────────────┐
//         │ 4096 bytes │ 4096 bytes │ ... │ 4096 bytes │   offset = slot × 4096
//         └────────────┴────────────┴─────┴────────────┘
//   memory: used[slot] (1 byte), hash[slot] (u64, XXH3-64 of the slot's 4096 bytes)
import { closeSync, fchmodSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { xxh3Hash64 } from "../pages/pages.js";
import { PAGE_SIZE } from "../wasm/codes.js";

/** Swap files still open in this process: removed at exit if nobody closed them. */
const openPaths = new Set<string>();
let exitHookInstalled = false;

function removeLeftovers(): void {
  for (const path of openPaths) {
    try { unlinkSync(path); } catch { /* already gone */ }
  }
}

/** The error for a swap path the system refused, naming the path. */
function pathError(path: string, err: unknown): HypermemError {
  const code = (err as NodeJS.ErrnoException)?.code ?? "unknown";
  const why: Record<string, string> = {
    ENOENT: "its folder does not exist",
    ENOTDIR: "a part of it is not a folder",
    EACCES: "it is not writable (permission denied)",
    EPERM: "it is not writable (operation not permitted)",
    EROFS: "it is on a read-only file system",
    EEXIST: "it exists (the swap device creates its own file and removes it on close)",
    EISDIR: "it is a folder",
  };
  return new HypermemError(ErrorCode.SwapPath, `cannot create the swap file ${JSON.stringify(path)}: ${why[code] ?? code}`, { path, errno: code });
}

/** Largest single read or write: 4 MiB (1024 slots). */
const RUN_SLOTS = 1024;

/** Calls fn(firstSlot, firstIndex, count) for each run of consecutive slots in `slots` (at most RUN_SLOTS each). */
function forRuns(slots: ArrayLike<number>, fn: (first: number, from: number, count: number) => void): void {
  for (let i = 0; i < slots.length;) {
    let n = 1;
    while (i + n < slots.length && n < RUN_SLOTS && slots[i + n] === slots[i] + n) n++;
    fn(slots[i], i, n);
    i += n;
  }
}

export class SwapFile {
  readonly path: string;
  readonly capacitySlots: number;
  readonly #used: Uint8Array;
  readonly #hash: BigUint64Array;
  #fd: number;
  #usedSlots = 0;
  #cursor = 0;

  private constructor(path: string, fd: number, capacitySlots: number) {
    this.path = path;
    this.#fd = fd;
    this.capacitySlots = capacitySlots;
    this.#used = new Uint8Array(capacitySlots);
    this.#hash = new BigUint64Array(capacitySlots);
  }

  /** Creates the file at `path` (mode 0600; the path must not exist) for `capacitySlots` slots. */
  static create(path: string, capacitySlots: number): SwapFile {
    let fd: number;
    try {
      fd = openSync(path, "wx+", 0o600);
    } catch (err) {
      throw pathError(path, err);
    }
    try {
      fchmodSync(fd, 0o600);
      ftruncateSync(fd, capacitySlots * PAGE_SIZE);
    } catch (err) {
      closeSync(fd);
      unlinkSync(path);
      throw pathError(path, err);
    }
    openPaths.add(path);
    if (!exitHookInstalled) {
      process.once("exit", removeLeftovers);
      exitHookInstalled = true;
    }
    return new SwapFile(path, fd, capacitySlots);
  }

  get usedSlots(): number { return this.#usedSlots; }
  get freeSlots(): number { return this.capacitySlots - this.#usedSlots; }
  isUsed(slot: number): boolean { return slot >= 0 && slot < this.capacitySlots && this.#used[slot] === 1; }

  #alive(): number {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `the swap file ${this.path} is closed`, { path: this.path });
    return this.#fd;
  }

  /**
   * Writes `count` pages (`pages`, count × 4096 bytes) into free slots,
   * next-fit (neighbouring slots when they are free), one write per run of
   * consecutive slots; returns the slots. ERR_SWAP_FULL when fewer than
   * `count` slots are free: then nothing is written.
   */
  storeMany(pages: Uint8Array, count: number): number[] {
    const fd = this.#alive();
    if (count > this.capacitySlots - this.#usedSlots) {
      throw new HypermemError(ErrorCode.SwapFull, `the swap file ${this.path} is full: ${count} more pages do not fit, ${this.freeSlots} of its ${this.capacitySlots} slots (${this.capacitySlots * 4} KiB) are free`, { capacitySlots: this.capacitySlots, freeSlots: this.freeSlots, pages: count });
    }
    const slots: number[] = [];
    let slot = this.#cursor;
    for (let i = 0; i < count; i++) {
      while (this.#used[slot] === 1) slot = slot + 1 === this.capacitySlots ? 0 : slot + 1;
      slots.push(slot);
      this.#used[slot] = 1;
      this.#hash[slot] = xxh3Hash64(pages.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
      slot = slot + 1 === this.capacitySlots ? 0 : slot + 1;
    }
    this.#usedSlots += count;
    this.#cursor = slot;
    try {
      forRuns(slots, (first, from, n) => {
        for (let done = 0; done < n * PAGE_SIZE;) done += writeSync(fd, pages, from * PAGE_SIZE + done, n * PAGE_SIZE - done, first * PAGE_SIZE + done);
      });
    } catch (err) {
      for (const s of slots) this.#used[s] = 0;
      this.#usedSlots -= count;
      throw err;
    }
    return slots;
  }

  /** Writes one page (4096 bytes) into a free slot and returns it (see storeMany). */
  store(page: Uint8Array): number { return this.storeMany(page, 1)[0]; }

  /**
   * Reads the used slots `slots` into `out` (slot i at byte i × 4096), one
   * read per run of consecutive slots, unchecked: the caller checks each
   * page against hashesOf(slots) (PageStates.bringBackVerified hashes them where
   * they land). Bytes the file no longer has (it was cut short) read as zeros.
   */
  readSlots(slots: ArrayLike<number>, out: Uint8Array): void {
    const fd = this.#alive();
    for (let i = 0; i < slots.length; i++) this.#checkUsed(slots[i]);
    forRuns(slots, (first, from, n) => {
      const end = (from + n) * PAGE_SIZE;
      let at = from * PAGE_SIZE;
      while (at < end) {
        const r = readSync(fd, out, at, end - at, first * PAGE_SIZE + (at - from * PAGE_SIZE));
        if (r === 0) break;
        at += r;
      }
      out.fill(0, at, end);
    });
  }

  /** The XXH3-64s kept for the used slots `slots`: what their 4096 bytes must hash to. */
  hashesOf(slots: ArrayLike<number>): BigUint64Array {
    const out = new BigUint64Array(slots.length);
    for (let i = 0; i < slots.length; i++) {
      this.#checkUsed(slots[i]);
      out[i] = this.#hash[slots[i]];
    }
    return out;
  }

  /** Reads slot `slot` into `out` (4096 bytes); true when its bytes match the checksum kept for it. */
  load(slot: number, out: Uint8Array): boolean {
    this.readSlots([slot], out);
    return xxh3Hash64(out.subarray(0, PAGE_SIZE)) === this.#hash[slot];
  }

  /** Frees slot `slot`. */
  release(slot: number): void {
    this.#alive();
    this.#checkUsed(slot);
    this.#used[slot] = 0;
    this.#usedSlots--;
  }

  #checkUsed(slot: number): void {
    if (!this.isUsed(slot)) throw new HypermemError(ErrorCode.BadOption, `swap slot ${slot} is not in use in ${this.path}`, { slot });
  }

  /** Closes and removes the file. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
    openPaths.delete(this.path);
    try { unlinkSync(this.path); } catch { /* removed by someone else */ }
  }
}
