// The swap file: a real file of 4 KiB slots, created by the swap device
// (mode 0600, refused if the path exists) and removed when it closes. A
// CRC-32 per slot is kept in memory, written with the slot and checked when
// it is read back; a next-fit allocator hands out free slots, so pages
// swapped out together land in neighbouring slots (what readahead reads).
//
//   file:  slot 0        slot 1        ...   slot capacity-1
//         ┌────────────┬────────────┬─────┬────────────┐
//         │ 4096 bytes │ 4096 bytes │ ... │ 4096 bytes │   offset = slot × 4096
//         └────────────┴────────────┴─────┴────────────┘
//   memory: used[slot] (1 byte), crc[slot] (u32, CRC-32 of the slot's 4096 bytes)
import { closeSync, fchmodSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
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

export class SwapFile {
  readonly path: string;
  readonly capacitySlots: number;
  readonly #used: Uint8Array;
  readonly #crc: Uint32Array;
  #fd: number;
  #usedSlots = 0;
  #cursor = 0;

  private constructor(path: string, fd: number, capacitySlots: number) {
    this.path = path;
    this.#fd = fd;
    this.capacitySlots = capacitySlots;
    this.#used = new Uint8Array(capacitySlots);
    this.#crc = new Uint32Array(capacitySlots);
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

  get closed(): boolean { return this.#fd < 0; }
  get usedSlots(): number { return this.#usedSlots; }
  get freeSlots(): number { return this.capacitySlots - this.#usedSlots; }
  isUsed(slot: number): boolean { return slot >= 0 && slot < this.capacitySlots && this.#used[slot] === 1; }

  #alive(): number {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `the swap file ${this.path} is closed`, { path: this.path });
    return this.#fd;
  }

  /** Writes `page` (4096 bytes) into a free slot and returns it; ERR_SWAP_FULL when there is none (nothing changes). */
  store(page: Uint8Array): number {
    const fd = this.#alive();
    if (this.#usedSlots === this.capacitySlots) {
      throw new HypermemError(ErrorCode.SwapFull, `the swap file ${this.path} is full: all ${this.capacitySlots} slots (${this.capacitySlots * 4} KiB) are in use`, { capacitySlots: this.capacitySlots });
    }
    let slot = this.#cursor;
    while (this.#used[slot] === 1) slot = (slot + 1) % this.capacitySlots;
    let done = 0;
    while (done < PAGE_SIZE) done += writeSync(fd, page, done, PAGE_SIZE - done, slot * PAGE_SIZE + done);
    this.#used[slot] = 1;
    this.#crc[slot] = crc32(page) >>> 0;
    this.#usedSlots++;
    this.#cursor = (slot + 1) % this.capacitySlots;
    return slot;
  }

  /** Reads slot `slot` into `out` (4096 bytes); true when its bytes match the checksum kept for it. */
  load(slot: number, out: Uint8Array): boolean {
    const fd = this.#alive();
    this.#checkUsed(slot);
    let done = 0;
    while (done < PAGE_SIZE) {
      const n = readSync(fd, out, done, PAGE_SIZE - done, slot * PAGE_SIZE + done);
      if (n === 0) break;
      done += n;
    }
    return done === PAGE_SIZE && (crc32(out.subarray(0, PAGE_SIZE)) >>> 0) === this.#crc[slot];
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
