// One-sided access to a remote-memory region (layout in region-layout.ts):
// what an RDMA READ or WRITE of the region's bytes does, from the compute
// host or a failover host, while the memory host's thread sleeps. Every
// access first checks the link (ERR_REMOTE_UNREACHABLE when it is down) and
// is counted (operations and bytes), so the caller can charge it to a link
// model. Page checksums are XXH3-64 (layout version 2, region-layout.ts).
import { crc32 } from "node:zlib";
import { ErrorCode, HypermemError } from "../errors.js";
import { xxh3Pages } from "../pages/page-window.js";
import {
  E, H, LIST_CRC_BYTES, LIST_ENTRY_BYTES, LIST_ENTRY_WORDS, LIST_HEADER_BYTES, LIST_MAGIC, listBytes, M, META_WORDS, PAGE_BYTES,
  REGION_HEADER_BYTES, REGION_LAYOUT_VERSION, REGION_MAGIC, regionGeometry, type RegionGeometry,
} from "./region-layout.js";

/** A published dirty-page list, as read back. */
export interface DirtyList {
  readonly epoch: number;
  readonly generation: number;
  /** count × LIST_ENTRY_WORDS (6) u32: pfn, version, stagingSlot, reserved, xxh3 low, xxh3 high (E names them). */
  readonly entries: Uint32Array;
}

/** The header words, read in one operation. */
export interface RegionHeader {
  readonly pages: number;
  readonly stagingPages: number;
  readonly baselineGeneration: number;
  readonly baselineEpoch: number;
  readonly listCount: number;
  readonly listLogUsedBytes: number;
  readonly lastPublishedEpoch: number;
}

/** A home page's metadata: its version and the XXH3-64 of its bytes. */
export interface PageMeta {
  readonly version: number;
  readonly hash: bigint;
}

/** The u64 of a low and a high u32 word. */
export function hashOf(low: number, high: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

/**
 * The entries of a dirty list (LIST_ENTRY_WORDS u32 each, E names them):
 * page i is pfns[i] at versions[i] with XXH3-64 pair i of `hashes` (as
 * xxh3Pages returns them), staged in slot i.
 */
export function dirtyListEntries(pfns: ArrayLike<number>, versions: ArrayLike<number>, hashes: Uint32Array): Uint32Array {
  const entries = new Uint32Array(pfns.length * LIST_ENTRY_WORDS);
  for (let i = 0, at = 0; i < pfns.length; i++, at += LIST_ENTRY_WORDS) {
    entries[at + E.pfn] = pfns[i];
    entries[at + E.version] = versions[i];
    entries[at + E.stagingSlot] = i;
    entries[at + E.hashLow] = hashes[i * 2];
    entries[at + E.hashHigh] = hashes[i * 2 + 1];
  }
  return entries;
}

/** One-sided traffic so far. */
export interface RegionTraffic {
  readOps: number;
  readBytes: number;
  writeOps: number;
  writeBytes: number;
}

export class RemoteRegion {
  readonly buffer: SharedArrayBuffer;
  readonly geometry: RegionGeometry;
  readonly traffic: RegionTraffic = { readOps: 0, readBytes: 0, writeOps: 0, writeBytes: 0 };
  readonly #u8: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #reachable: () => boolean;

  private constructor(buffer: SharedArrayBuffer, geometry: RegionGeometry, reachable: () => boolean) {
    this.buffer = buffer;
    this.geometry = geometry;
    this.#u8 = new Uint8Array(buffer);
    this.#u32 = new Uint32Array(buffer, 0, geometry.homeBase / 4);
    this.#reachable = reachable;
  }

  /** Lays a new region out in `buffer` (zeroed, as the memory host hands it out). */
  static format(buffer: SharedArrayBuffer, geometry: RegionGeometry, reachable: () => boolean = () => true): RemoteRegion {
    if (buffer.byteLength < geometry.totalBytes) {
      throw new HypermemError(ErrorCode.RemoteCapacity, `a region of ${geometry.pages} pages needs ${geometry.totalBytes} bytes, the buffer has ${buffer.byteLength}`, { bytes: buffer.byteLength });
    }
    const region = new RemoteRegion(buffer, geometry, reachable);
    const u32 = region.#u32;
    u32[H.pages] = geometry.pages;
    u32[H.stagingPages] = geometry.stagingPages;
    u32[H.listLogBytes] = geometry.listLogBytes;
    u32[H.layoutVersion] = REGION_LAYOUT_VERSION;
    Atomics.store(u32, H.magic, REGION_MAGIC);
    return region;
  }

  /** Attaches to a region another host laid out (a failover host): its header gives the geometry. */
  static attach(buffer: SharedArrayBuffer, reachable: () => boolean = () => true): RemoteRegion {
    if (!reachable()) throw new HypermemError(ErrorCode.RemoteUnreachable, "the memory host is unreachable: cannot read the region's header", {});
    const head = new Uint32Array(buffer, 0, REGION_HEADER_BYTES / 4);
    if (Atomics.load(head, H.magic) !== REGION_MAGIC) {
      throw new HypermemError(ErrorCode.RemoteDirtyList, `the region's magic is 0x${head[H.magic].toString(16)}, not "HMRG"`, { magic: head[H.magic] });
    }
    const version = head[H.layoutVersion] === 0 ? 1 : head[H.layoutVersion];
    if (version !== REGION_LAYOUT_VERSION) {
      throw new HypermemError(ErrorCode.FormatVersion, `the region's layout is version ${version}; this build reads version ${REGION_LAYOUT_VERSION} (XXH3-64 page checksums)`, { version, expected: REGION_LAYOUT_VERSION });
    }
    return new RemoteRegion(buffer, regionGeometry(head[H.pages], head[H.stagingPages], head[H.listLogBytes]), reachable);
  }

  #link(): void {
    if (!this.#reachable()) throw new HypermemError(ErrorCode.RemoteUnreachable, "the memory host is unreachable (its link is down)", {});
  }
  #read(bytes: number): void { this.#link(); this.traffic.readOps++; this.traffic.readBytes += bytes; }
  #write(bytes: number): void { this.#link(); this.traffic.writeOps++; this.traffic.writeBytes += bytes; }

  #pfn(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.geometry.pages) {
      throw new HypermemError(ErrorCode.GpaRange, `page ${String(pfn)} is outside the region's ${this.geometry.pages} pages`, { pfn });
    }
  }

  /** The header, one read. */
  readHeader(): RegionHeader {
    this.#read(REGION_HEADER_BYTES);
    const u = this.#u32;
    return {
      pages: u[H.pages], stagingPages: u[H.stagingPages], baselineGeneration: Atomics.load(u, H.baselineGeneration),
      baselineEpoch: u[H.baselineEpoch], listCount: Atomics.load(u, H.listCount), listLogUsedBytes: Atomics.load(u, H.listLogUsedBytes),
      lastPublishedEpoch: u[H.lastPublishedEpoch],
    };
  }

  /** The version and XXH3-64 of home page `pfn` (no link charge: read with the page, or by the owner). */
  meta(pfn: number): PageMeta {
    this.#pfn(pfn);
    const at = this.geometry.metaBase / 4 + pfn * META_WORDS;
    return { version: this.#u32[at + M.version], hash: hashOf(this.#u32[at + M.hashLow], this.#u32[at + M.hashHigh]) };
  }

  /** The version of home page `pfn` (no link charge, no allocation: the recovery's per-page check). */
  homeVersion(pfn: number): number {
    this.#pfn(pfn);
    return this.#u32[this.geometry.metaBase / 4 + pfn * META_WORDS + M.version];
  }

  /** Reads home page `pfn` (and its metadata) into `out` at `outOffset`: one read. */
  readHome(pfn: number, out: Uint8Array, outOffset = 0): PageMeta {
    this.readHomeRun(pfn, 1, out, outOffset);
    return this.meta(pfn);
  }

  /**
   * Reads the `count` home pages from `firstPfn` into `out` at `outOffset`,
   * one copy: charged as `count` one-sided page reads (the link model
   * queues the pages of a recovery one by one).
   */
  readHomeRun(firstPfn: number, count: number, out: Uint8Array, outOffset = 0): void {
    this.#pfn(firstPfn);
    this.#pfn(firstPfn + count - 1);
    this.#link();
    this.traffic.readOps += count;
    this.traffic.readBytes += count * PAGE_BYTES;
    const at = this.geometry.homeBase + firstPfn * PAGE_BYTES;
    out.set(this.#u8.subarray(at, at + count * PAGE_BYTES), outOffset);
  }

  /** Reads home page `pfn` and checks it against its own XXH3-64: ERR_REMOTE_CHECKSUM when it does not match. */
  readHomeVerified(pfn: number, out: Uint8Array, outOffset = 0): number {
    const { version, hash } = this.readHome(pfn, out, outOffset);
    const got = xxh3Pages(out.subarray(outOffset, outOffset + PAGE_BYTES));
    const gotHash = hashOf(got[0], got[1]);
    if (gotHash !== hash) throw new HypermemError(ErrorCode.RemoteChecksum, `region page ${pfn} (version ${version}) has XXH3-64 0x${gotHash.toString(16)}, its metadata says 0x${hash.toString(16)}`, { pfn, version });
    return version;
  }

  /** Writes home page `pfn` with its version and XXH3-64 (u32 pair `hashIndex` of `hashes`, as xxh3Pages returns them): one write. */
  writeHome(pfn: number, page: Uint8Array, version: number, hashes: Uint32Array, hashIndex = 0): void {
    this.#pfn(pfn);
    this.#write(PAGE_BYTES);
    this.#u8.set(page.subarray(0, PAGE_BYTES), this.geometry.homeBase + pfn * PAGE_BYTES);
    const at = this.geometry.metaBase / 4 + pfn * META_WORDS;
    this.#u32[at + M.version] = version;
    this.#u32[at + M.hashLow] = hashes[hashIndex * 2];
    this.#u32[at + M.hashHigh] = hashes[hashIndex * 2 + 1];
  }

  /** Writes staging slot `slot`: one write. */
  writeStaged(slot: number, page: Uint8Array): void {
    this.#slot(slot);
    this.#write(PAGE_BYTES);
    this.#u8.set(page.subarray(0, PAGE_BYTES), this.geometry.stagingBase + slot * PAGE_BYTES);
  }

  /** Reads staging slot `slot` into `out`: one read. */
  readStaged(slot: number, out: Uint8Array, outOffset = 0): void {
    this.#slot(slot);
    this.#read(PAGE_BYTES);
    const at = this.geometry.stagingBase + slot * PAGE_BYTES;
    out.set(this.#u8.subarray(at, at + PAGE_BYTES), outOffset);
  }

  #slot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.geometry.stagingPages) {
      throw new HypermemError(ErrorCode.GpaRange, `staging slot ${String(slot)} is outside the region's ${this.geometry.stagingPages} staging pages`, { slot });
    }
  }

  /** True when a list of `count` entries still fits the log. */
  listFits(count: number): boolean {
    return this.#u32[H.listLogUsedBytes] + listBytes(count) <= this.geometry.listLogBytes;
  }

  /**
   * Publishes the list of `epoch`: its bytes (entries, then its crc32), then
   * the header's log end and count. `entries` holds count × 6 u32 (E: pfn,
   * version, stagingSlot, reserved, xxh3 low, xxh3 high). Two writes.
   */
  publishList(epoch: number, entries: Uint32Array): void {
    if (entries.length % LIST_ENTRY_WORDS !== 0) {
      throw new HypermemError(ErrorCode.Length, `a dirty list's entries are ${LIST_ENTRY_WORDS} u32 each, got ${entries.length} u32`, { length: entries.length });
    }
    const count = entries.length / LIST_ENTRY_WORDS;
    if (!this.listFits(count)) {
      throw new HypermemError(ErrorCode.RemoteCapacity, `a list of ${count} entries does not fit the region's ${this.geometry.listLogBytes}-byte list log (${this.#u32[H.listLogUsedBytes]} used): take a baseline first`, { count });
    }
    const u = this.#u32;
    const at = this.geometry.listLogBase + u[H.listLogUsedBytes];
    const size = listBytes(count);
    this.#write(size);
    const view = new DataView(this.buffer, at, size);
    view.setUint32(0, LIST_MAGIC, true);
    view.setUint32(4, REGION_LAYOUT_VERSION, true);
    view.setUint32(8, epoch, true);
    view.setUint32(12, u[H.baselineGeneration], true);
    view.setUint32(16, count, true);
    this.#u8.set(new Uint8Array(entries.buffer, entries.byteOffset, entries.byteLength), at + LIST_HEADER_BYTES);
    view.setUint32(size - LIST_CRC_BYTES, crc32(this.#u8.subarray(at, at + size - LIST_CRC_BYTES)), true);
    this.#write(12);
    u[H.lastPublishedEpoch] = epoch;
    Atomics.store(u, H.listLogUsedBytes, u[H.listLogUsedBytes] + size);
    Atomics.add(u, H.listCount, 1);
  }

  /**
   * Reads every published list (one read of the log's used bytes) and checks
   * each: magic, crc32, layout version, generation equal to the header's, epochs increasing
   * past the baseline's, entries inside the region. ERR_REMOTE_DIRTY_LIST
   * names the first that fails.
   */
  readLists(header: RegionHeader = this.readHeader()): DirtyList[] {
    const used = header.listLogUsedBytes;
    if (used > this.geometry.listLogBytes) throw new HypermemError(ErrorCode.RemoteDirtyList, `the region says ${used} bytes of lists, its log holds ${this.geometry.listLogBytes}`, { used });
    this.#read(used);
    const log = this.#u8.slice(this.geometry.listLogBase, this.geometry.listLogBase + used);
    const view = new DataView(log.buffer);
    const lists: DirtyList[] = [];
    let previous = header.baselineEpoch;
    for (let at = 0, i = 0; i < header.listCount; i++) {
      const fail = (why: string, extra: Record<string, unknown> = {}) => new HypermemError(ErrorCode.RemoteDirtyList, `dirty list ${i} (at byte ${at} of the log): ${why}`, { list: i, ...extra });
      if (at + LIST_HEADER_BYTES + LIST_CRC_BYTES > used) throw fail(`runs past the ${used} published bytes`);
      const magic = view.getUint32(at, true);
      if (magic !== LIST_MAGIC) throw fail(`magic 0x${magic.toString(16)}, not "DLST"`, { magic });
      const count = view.getUint32(at + 16, true);
      const size = listBytes(count);
      if (at + size > used) throw fail(`${count} entries run past the ${used} published bytes`, { count });
      const stored = view.getUint32(at + size - LIST_CRC_BYTES, true);
      const computed = crc32(log.subarray(at, at + size - LIST_CRC_BYTES));
      if (stored !== computed) throw fail(`crc32 0x${computed.toString(16)} does not match the stored 0x${stored.toString(16)}`, { reason: "crc" });
      const version = view.getUint32(at + 4, true);
      if (version !== REGION_LAYOUT_VERSION) throw fail(`layout version ${version}; this build reads version ${REGION_LAYOUT_VERSION}`, { reason: "version", version });
      const epoch = view.getUint32(at + 8, true);
      const generation = view.getUint32(at + 12, true);
      if (generation !== header.baselineGeneration) throw fail(`generation ${generation}, the region's baseline is generation ${header.baselineGeneration}`, { reason: "generation", generation });
      if (epoch <= previous) throw fail(`epoch ${epoch} does not follow epoch ${previous}`, { reason: "epoch", epoch });
      const entries = new Uint32Array(log.buffer.slice(at + LIST_HEADER_BYTES, at + LIST_HEADER_BYTES + count * LIST_ENTRY_BYTES));
      for (let e = 0; e < count; e++) {
        if (entries[e * LIST_ENTRY_WORDS + E.pfn] >= this.geometry.pages) throw fail(`entry ${e} names page ${entries[e * LIST_ENTRY_WORDS + E.pfn]} of a ${this.geometry.pages}-page region`, { reason: "entry" });
      }
      lists.push({ epoch, generation, entries });
      previous = epoch;
      at += size;
    }
    return lists;
  }

  /** After a baseline of `generation` holding up to `epoch` is durable: empties the list log. */
  startGeneration(generation: number, epoch: number): void {
    this.#write(16);
    const u = this.#u32;
    Atomics.store(u, H.listCount, 0);
    Atomics.store(u, H.listLogUsedBytes, 0);
    u[H.baselineEpoch] = epoch;
    u[H.lastPublishedEpoch] = epoch;
    Atomics.store(u, H.baselineGeneration, generation);
  }

  /** The home pages and their metadata (META_WORDS u32 per page), for writing a baseline (a copy-free view; the owner's read). */
  homeView(): { pages: Uint8Array; meta: Uint32Array } {
    const g = this.geometry;
    return { pages: this.#u8.subarray(g.homeBase, g.homeBase + g.pages * PAGE_BYTES), meta: new Uint32Array(this.buffer, g.metaBase, g.pages * META_WORDS) };
  }
}
