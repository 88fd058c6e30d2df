// Opening one snapshot file: every check on its structure happens here,
// before anything is allocated for the guest. The header (magic, version,
// crc, each field), the file size against the layout the header gives, the
// trailer and the crc of the metadata it covers, then the index (every
// entry inside the guest and every data slot inside the file), the active
// set (inside the guest) and the config. Page data is read later, slot by
// slot, and checked against each page's checksum by whoever reads it.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError } from "../format/atomic-file.js";
import { MIN_HEADER_BYTES } from "../format/header.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import { decodeConfig, type SnapshotConfig } from "./config.js";
import {
  checkTrailer, corrupt, decodeHeader, decodeIndex, decodeRuns, HEADER_BYTES, SNAPSHOT_HEADER, sectionsOf,
  type ActiveRuns, type SectionOffsets, type SnapshotHeader, type SnapshotIndex,
} from "./format.js";

/** Reads exactly dst.length bytes at `position`; a short file is a truncated snapshot. */
function readFully(fd: number, dst: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < dst.length) {
    let n: number;
    try {
      n = readSync(fd, dst, done, dst.length - done, position + done);
    } catch (err) {
      throw fileIoError(path, "read", err);
    }
    if (n === 0) throw corrupt(path, "fileSize", `truncated: the file ends at byte ${position + done}, inside a section that runs to ${position + dst.length}`, { value: position + done });
    done += n;
  }
}

export class SnapshotFile {
  readonly path: string;
  readonly header: SnapshotHeader;
  readonly sections: SectionOffsets;
  readonly index: SnapshotIndex;
  readonly activeRuns: ActiveRuns;
  readonly config: SnapshotConfig;
  #fd: number;

  private constructor(path: string, fd: number, header: SnapshotHeader, sections: SectionOffsets, index: SnapshotIndex, activeRuns: ActiveRuns, config: SnapshotConfig) {
    this.path = path;
    this.#fd = fd;
    this.header = header;
    this.sections = sections;
    this.index = index;
    this.activeRuns = activeRuns;
    this.config = config;
  }

  /** Opens and checks the snapshot at `path` (not its base: see openChain). */
  static open(path: string): SnapshotFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw fileIoError(path, "open", err);
    }
    try {
      return SnapshotFile.#read(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  static #read(path: string, fd: number): SnapshotFile {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes < MIN_HEADER_BYTES) {
      throw corrupt(path, "fileSize", `truncated: ${fileBytes} bytes, fewer than the ${HEADER_BYTES}-byte header`, { value: fileBytes });
    }
    // Magic and headerBytes first, so a file of another format or version says so rather than "truncated".
    const prefix = new Uint8Array(MIN_HEADER_BYTES);
    readFully(fd, prefix, 0, path);
    const { headerBytes } = SNAPSHOT_HEADER.decodePrefix(prefix, { source: path });
    if (fileBytes < headerBytes) {
      throw corrupt(path, "fileSize", `truncated: ${fileBytes} bytes, fewer than the ${headerBytes}-byte header`, { value: fileBytes });
    }
    const head = new Uint8Array(headerBytes);
    readFully(fd, head, 0, path);
    const header = decodeHeader(head, path);
    const sections = sectionsOf(header);
    if (fileBytes !== sections.fileBytes) {
      const why = fileBytes < sections.fileBytes ? "truncated" : "trailing bytes";
      throw corrupt(path, "fileSize", `${why}: the header lays out ${sections.fileBytes} bytes (${header.dataPages} data pages, ${header.indexEntries} index entries, ${header.activeRuns} active runs, a ${header.configBytes}-byte config), the file has ${fileBytes}`,
        { value: fileBytes, expected: sections.fileBytes });
    }
    const tail = new Uint8Array(sections.fileBytes - sections.indexOffset);
    readFully(fd, tail, sections.indexOffset, path);
    const metaBytes = sections.trailerOffset - sections.indexOffset;
    checkTrailer(tail.subarray(metaBytes), tail.subarray(0, metaBytes), sections.fileBytes, path);
    const at = (offset: number): number => offset - sections.indexOffset;
    const index = decodeIndex(tail.subarray(0, at(sections.activeOffset)), header, path);
    const runs = decodeRuns(tail.subarray(at(sections.activeOffset), at(sections.configOffset)), header, path);
    const config = decodeConfig(tail.subarray(at(sections.configOffset), at(sections.trailerOffset)), header.guestPages, path);
    if (header.diff !== (config.base !== null)) {
      throw corrupt(path, "config", header.diff ? "a diff snapshot whose config names no base" : "a full snapshot whose config names a base");
    }
    return new SnapshotFile(path, fd, header, sections, index, runs, config);
  }

  /** Bytes of the whole file. */
  get fileBytes(): number { return this.sections.fileBytes; }
  /** Byte offset of data slot `slot`. */
  slotOffset(slot: number): number { return this.sections.dataOffset + slot * PAGE_SIZE; }

  /** Reads `count` data slots from `firstSlot` into `into` (or a new array). */
  readSlots(firstSlot: number, count: number, into?: Uint8Array): Uint8Array {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `snapshot ${this.path} was closed`, { path: this.path });
    if (!Number.isInteger(firstSlot) || firstSlot < 0 || count < 0 || firstSlot + count > this.header.dataPages) {
      throw new HypermemError(ErrorCode.Length, `slots ${firstSlot}..${firstSlot + count - 1} are outside the ${this.header.dataPages} data slots of ${this.path}`, { firstSlot, count });
    }
    const out = into?.subarray(0, count * PAGE_SIZE) ?? new Uint8Array(count * PAGE_SIZE);
    readFully(this.#fd, out, this.slotOffset(firstSlot), this.path);
    return out;
  }

  /** Bytes of the tail: index, active set, config and trailer (read in one request). */
  get tailBytes(): number { return this.sections.fileBytes - this.sections.indexOffset; }
  /** Bytes of the metadata a restore reads before anything else: the header and the tail. */
  get metadataBytes(): number { return HEADER_BYTES + this.tailBytes; }

  /** Pages of the working set: slots [workingSetSlot, dataPages). */
  get workingSetPages(): number { return this.header.dataPages - this.header.workingSetSlot; }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
