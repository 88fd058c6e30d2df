// The NVM device: a byte-addressable region with its own read and write
// latency and bandwidth, and write endurance counted per block. Its first
// blocks hold the virtblock array (8 bytes per entry); the rest are 4 KiB
// data blocks handed out from a free list. Every write is counted (bytes and
// per-block writes), so the figures can show NVM bytes written, write
// amplification and the most-written block.
//
//  0 ─────────── virtblock array: entries × 8 bytes, rounded up to whole blocks
//  arrayBlocks × 4096 ── data block 0, 1, ... (4096 bytes each)
//
// Costs (simulated): readNs(n) = readLatencyNs + n / readBytesPerSec × 1e9,
// writeNs(n) likewise with the write figures.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";

export const BLOCK_BYTES = 4096;

export interface NvmModel {
  readonly name: string;
  readonly readLatencyNs: number;
  readonly writeLatencyNs: number;
  readonly readBytesPerSec: number;
  readonly writeBytesPerSec: number;
}

/**
 * Intel Optane DC Persistent Memory (100 series), one DIMM, from Izraelevitz
 * et al., "Basic Performance Measurements of the Intel Optane DC Persistent
 * Memory Module" (2019): ~305 ns random read latency, ~94 ns write latency
 * (to the ADR domain), ~6.6 GB/s read and ~2.3 GB/s write bandwidth.
 */
export const OPTANE_PMEM: NvmModel = Object.freeze({ name: "optane-pmem-100", readLatencyNs: 305, writeLatencyNs: 94, readBytesPerSec: 6.6e9, writeBytesPerSec: 2.3e9 });

/** Latencies outside 10 ns .. 1 s and rates outside 1 MB/s .. 1 TB/s are refused. */
export function resolveNvmModel(m: NvmModel | undefined): NvmModel {
  if (m === undefined) return OPTANE_PMEM;
  if (typeof m !== "object" || m === null) throw new HypermemError(ErrorCode.BadOption, `nvm must be a model object, got ${String(m)}`, { option: "nvm" });
  rejectUnknown(m, ["name", "readLatencyNs", "writeLatencyNs", "readBytesPerSec", "writeBytesPerSec"], "nvm model");
  for (const key of ["readLatencyNs", "writeLatencyNs"] as const) {
    const v = m[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 10 || v > 1e9) throw new HypermemError(ErrorCode.BadOption, `nvm ${key} must be from 10 ns to 1 s, got ${String(v)}`, { option: key, value: v });
  }
  for (const key of ["readBytesPerSec", "writeBytesPerSec"] as const) {
    const v = m[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 1e6 || v > 1e12) throw new HypermemError(ErrorCode.BadOption, `nvm ${key} must be from 1e6 to 1e12, got ${String(v)}`, { option: key, value: v });
  }
  return Object.freeze({ name: String(m.name), readLatencyNs: m.readLatencyNs, writeLatencyNs: m.writeLatencyNs, readBytesPerSec: m.readBytesPerSec, writeBytesPerSec: m.writeBytesPerSec });
}

export class NvmDevice {
  readonly model: NvmModel;
  readonly bytes: Uint8Array;
  readonly arrayBlocks: number;
  readonly dataBlocks: number;
  /** Writes per data block (endurance). */
  readonly blockWrites: Uint32Array;
  bytesWritten = 0;
  bytesRead = 0;
  readonly #free: number[] = [];

  constructor(sizeBytes: number, entries: number, model: NvmModel) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % BLOCK_BYTES !== 0 || sizeBytes < 2 * BLOCK_BYTES) {
      throw new HypermemError(ErrorCode.BadOption, `an NVM device is a whole number of 4 KiB blocks, at least 2, got ${String(sizeBytes)} bytes`, { option: "nvmBytes", value: sizeBytes });
    }
    this.model = model;
    this.arrayBlocks = Math.ceil((entries * 8) / BLOCK_BYTES);
    this.dataBlocks = sizeBytes / BLOCK_BYTES - this.arrayBlocks;
    if (this.dataBlocks < 1) {
      throw new HypermemError(ErrorCode.BadOption, `an NVM device of ${sizeBytes} bytes cannot hold a ${entries}-entry virtblock array and a data block`, { option: "nvmBytes", value: sizeBytes });
    }
    this.bytes = new Uint8Array(sizeBytes);
    this.blockWrites = new Uint32Array(this.dataBlocks);
    for (let b = this.dataBlocks - 1; b >= 0; b--) this.#free.push(b);
  }

  get freeBlocks(): number { return this.#free.length; }

  /** A free data block, or -1. */
  allocBlock(): number { return this.#free.pop() ?? -1; }
  freeBlock(block: number): void { this.#free.push(block); }

  #at(block: number): number {
    if (!Number.isInteger(block) || block < 0 || block >= this.dataBlocks) throw new HypermemError(ErrorCode.GpaRange, `NVM block ${String(block)} is outside the device's ${this.dataBlocks} data blocks`, { block });
    return (this.arrayBlocks + block) * BLOCK_BYTES;
  }

  /** Writes a block; returns its simulated cost. */
  writeBlock(block: number, page: Uint8Array): number {
    this.bytes.set(page.subarray(0, BLOCK_BYTES), this.#at(block));
    this.blockWrites[block]++;
    this.bytesWritten += BLOCK_BYTES;
    return this.model.writeLatencyNs + (BLOCK_BYTES / this.model.writeBytesPerSec) * 1e9;
  }

  /** A view of a block (valid until it is written again); counts the read. */
  readBlock(block: number): Uint8Array {
    const at = this.#at(block);
    this.bytesRead += BLOCK_BYTES;
    return this.bytes.subarray(at, at + BLOCK_BYTES);
  }

  get readBlockNs(): number { return this.model.readLatencyNs + (BLOCK_BYTES / this.model.readBytesPerSec) * 1e9; }

  /** The 8-byte word at entry `index` of the virtblock array. */
  readEntry(index: number): number {
    return Number(new DataView(this.bytes.buffer).getBigUint64(index * 8, true));
  }
  writeEntry(index: number, value: number): void {
    new DataView(this.bytes.buffer).setBigUint64(index * 8, BigInt(value), true);
    this.bytesWritten += 8;
  }
}
