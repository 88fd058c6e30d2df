// The mass-storage device: a real file of `capacityBlocks` 4 KiB slots that
// purged NVM blocks are written to (pwrite at slot × 4096) and fetched back
// from. Slots are handed out from a free list; a purge with no free slot is
// ERR_NVM_STORAGE_FULL. Costs are simulated from a storage model (first-byte
// latency plus bytes over the rate); the bytes really go through the file.
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError, FILE_MODE } from "../format/atomic-file.js";
import { BLOCK_BYTES } from "./device.js";

export interface StorageModel {
  readonly name: string;
  readonly latencyNs: number;
  readonly readBytesPerSec: number;
  readonly writeBytesPerSec: number;
}

/** Samsung 980 PRO 1 TB (PCIe 4.0) data sheet: 7,000 MB/s read, 5,000 MB/s write; 22,000 4 KiB reads/s at QD1 (~45 µs). */
export const NVME_SSD: StorageModel = Object.freeze({ name: "nvme", latencyNs: 45_000, readBytesPerSec: 7e9, writeBytesPerSec: 5e9 });

export class StorageFile {
  readonly path: string;
  readonly capacityBlocks: number;
  readonly model: StorageModel;
  bytesWritten = 0;
  bytesRead = 0;
  #fd: number;
  readonly #free: number[] = [];

  constructor(path: string, capacityBlocks: number, model: StorageModel = NVME_SSD) {
    if (!Number.isSafeInteger(capacityBlocks) || capacityBlocks < 1) {
      throw new HypermemError(ErrorCode.BadOption, `a storage file holds at least one 4 KiB block, got ${String(capacityBlocks)}`, { option: "storageBlocks", value: capacityBlocks });
    }
    this.path = path;
    this.capacityBlocks = capacityBlocks;
    this.model = model;
    try {
      this.#fd = openSync(path, "w+", FILE_MODE);
      ftruncateSync(this.#fd, 0);
    } catch (err) {
      throw fileIoError(path, "open", err);
    }
    for (let s = capacityBlocks - 1; s >= 0; s--) this.#free.push(s);
  }

  get freeSlots(): number { return this.#free.length; }

  /** Writes `block` (4096 bytes) to a free slot; returns the slot and the simulated cost. */
  write(block: Uint8Array): { slot: number; ns: number } {
    const slot = this.#free.pop();
    if (slot === undefined) {
      throw new HypermemError(ErrorCode.NvmStorageFull, `the storage file ${this.path} is full: all ${this.capacityBlocks} blocks (${this.capacityBlocks * BLOCK_BYTES} bytes) hold purged blocks`, { path: this.path, capacityBlocks: this.capacityBlocks });
    }
    try {
      let done = 0;
      while (done < BLOCK_BYTES) done += writeSync(this.#fd, block, done, BLOCK_BYTES - done, slot * BLOCK_BYTES + done);
    } catch (err) {
      this.#free.push(slot);
      throw fileIoError(this.path, "write", err, { slot });
    }
    this.bytesWritten += BLOCK_BYTES;
    return { slot, ns: this.model.latencyNs + (BLOCK_BYTES / this.model.writeBytesPerSec) * 1e9 };
  }

  /** Reads slot `slot` into `into` and frees the slot; returns the simulated cost. */
  readAndFree(slot: number, into: Uint8Array): number {
    this.read(slot, into);
    this.#free.push(slot);
    this.bytesRead += BLOCK_BYTES;
    return this.model.latencyNs + (BLOCK_BYTES / this.model.readBytesPerSec) * 1e9;
  }

  /** Reads slot `slot` into `into` (a look, not counted: the slot stays in use). */
  read(slot: number, into: Uint8Array): void {
    try {
      let done = 0;
      while (done < BLOCK_BYTES) {
        const n = readSync(this.#fd, into, done, BLOCK_BYTES - done, slot * BLOCK_BYTES + done);
        if (n === 0) throw Object.assign(new Error(`slot ${slot} is past the end of the file`), { code: "EOF" });
        done += n;
      }
    } catch (err) {
      throw fileIoError(this.path, "read", err, { slot });
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
