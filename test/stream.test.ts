// The migration stream: round trips source -> receiver (sizes, contents,
// splits, XBZRLE rounds against a model of QEMU's cache), poisoned pages
// (known and latent, A -> B -> C), the digest against an XXH64 oracle,
// record-level corruption with valid checksums, and the host left as before.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, type Host } from "../src/host/host.js";
import type { MachineCheck, Vm } from "../src/host/vm.js";
import { injectMemoryError } from "../src/ras/memory-error.js";
import { PagePacker, type PackStage, type PackStats, emptyPackStats } from "../src/stream/packer.js";
import { DIGEST_TABLE_MAX_PAGES, StreamReceiver } from "../src/stream/receiver.js";
import {
  CHUNK_HEADER_BYTES, END_STREAM_BYTES, FLAG_XBZRLE, POISON_MARK, STREAM_HEADER_BYTES,
  RECORD_HEADER_BYTES, RecordType, decodeHeader, encodeAck, encodeHeader, frameChunk, isAck, readChunkHeader,
} from "../src/stream/format.js";
import { refXbzrleEncode } from "./reference/xbzrle.js";
import { mulberry32 } from "../src/sim/prng.js";
import { independentXxh3 } from "./reference/xxh3-hash-wasm.js";

const PAGE = 4096;

/** Uniform floats in [0, 1) from mulberry32. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 2 ** 32;
}

function randomBytes(n: number, next: () => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

interface Sent { chunks: Uint8Array[]; stats: PackStats; }

/** Packs every pfn of `pfns` (chunk by chunk) and pushes the chunks to `r` (when given). */
function sendPages(p: PagePacker, r: StreamReceiver | null, pfns: readonly number[], stage: PackStage, generation: number): Sent {
  const list = p.scratchList(pfns);
  const stats = emptyPackStats();
  const chunks: Uint8Array[] = [];
  for (let start = 0; start < list.length;) {
    const res = p.packChunk(list, start, list.length - start, stage, generation);
    expect(res.consumed).toBeGreaterThan(0);
    start += res.consumed;
    for (const key of Object.keys(stats) as (keyof PackStats)[]) stats[key] += res.stats[key];
    if (res.chunk) {
      expect(res.stats.wireBytes).toBe(res.chunk.length);
      chunks.push(res.chunk);
      r?.push(res.chunk);
    }
  }
  return { chunks, stats };
}

/** Source -> receiver in one go: header, a bulk pass over every page, END_ROUND 0, END_STREAM. */
function migrate(vm: Vm, dst: Host, options: { xbzrleCacheBytes: number | null } = { xbzrleCacheBytes: null }): { dvm: Vm; stream: Uint8Array[]; stats: PackStats } {
  const p = new PagePacker(vm, options);
  try {
    const r = new StreamReceiver(dst);
    const stream: Uint8Array[] = [p.header()];
    r.push(stream[0]);
    const sent = sendPages(p, r, range(vm.pages), "bulk", 1);
    stream.push(...sent.chunks, p.endRound(0));
    r.push(stream[stream.length - 1]);
    stream.push(p.endStream());
    r.push(stream[stream.length - 1]);
    expect(r.done).toBe(true);
    return { dvm: r.finish(), stream, stats: p.totals };
  } finally {
    p.close();
  }
}

/** Byte-for-byte comparison of two guests, skipping `skip` pages (poisoned: unreadable). */
function expectSameMemory(a: Vm, b: Vm, skip: ReadonlySet<number> = new Set()): void {
  expect(b.pages).toBe(a.pages);
  for (let first = 0; first < a.pages;) {
    if (skip.has(first)) { first++; continue; }
    let end = first;
    while (end < a.pages && !skip.has(end) && end - first < 4096) end++;
    const x = a.read(first * PAGE, (end - first) * PAGE);
    const y = b.read(first * PAGE, (end - first) * PAGE);
    if (Buffer.compare(x, y) !== 0) {
      let at = 0;
      while (x[at] === y[at]) at++;
      expect.fail(`guests differ at gpa 0x${(first * PAGE + at).toString(16)} (page ${first + Math.floor(at / PAGE)}): ${x[at]} vs ${y[at]}`);
    }
    first = end;
  }
}

/** Fills a guest: random writes through vm.write and the MMU, zero pages, read-only (zero-mapped) and untouched pages. */
function fill(vm: Vm, seed: number): void {
  const next = rng(seed);
  const n = vm.pages;
  for (let i = 0; i < Math.max(1, n / 3); i++) {
    const pfn = Math.floor(next() * n);
    const len = 1 + Math.floor(next() * PAGE);
    const off = Math.floor(next() * (PAGE - len + 1));
    vm.write(pfn * PAGE + off, randomBytes(len, next));
  }
  vm.write(Math.floor(next() * n) * PAGE, new Uint8Array(PAGE)); // a private frame full of zeros
  const accesses = range(Math.max(1, n / 4)).map(() => {
    const pfn = Math.floor(next() * n);
    return next() < 0.7
      ? { op: "write" as const, gpa: pfn * PAGE + 8 * Math.floor(next() * 500), length: 8 * (1 + Math.floor(next() * 12)), seed: Math.floor(next() * 1e9) }
      : { op: "read" as const, gpa: pfn * PAGE };
  });
  vm.run(accesses);
}

// ─── Digest oracle: XXH3-64 per page, folded (docs/migration-stream.md) ────
const M64 = (1n << 64n) - 1n;
const P1 = 0x9E3779B185EBCA87n, P2 = 0xC2B2AE3D27D4EB4Fn, P3 = 0x165667B19E3779F9n, P4 = 0x85EBCA77C2B2AE63n, P5 = 0x27D4EB2F165667C5n;
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
let xxh3Independent: (bytes: Uint8Array) => bigint;
beforeAll(async () => { xxh3Independent = await independentXxh3(); });

function refDigest(vm: Vm): bigint {
  let acc = P5 ^ BigInt(vm.pages);
  for (let pfn = 0; pfn < vm.pages; pfn++) {
    const info = vm.pteInfo(pfn);
    const h = info.poisoned || info.latentError ? POISON_MARK : xxh3Independent(vm.read(pfn * PAGE, PAGE));
    const r = (rotl((h * P2) & M64, 31n) * P1) & M64;
    acc = (rotl(acc ^ r, 27n) * P1 + P4) & M64;
  }
  acc ^= acc >> 33n; acc = (acc * P2) & M64; acc ^= acc >> 29n; acc = (acc * P3) & M64; acc ^= acc >> 32n;
  return acc;
}

/** The digest carried by the END_STREAM record at the end of `chunk`. */
function endStreamOf(chunk: Uint8Array): { digest: bigint; pages: number; poisoned: number } {
  const v = new DataView(chunk.buffer, chunk.byteOffset + chunk.length - END_STREAM_BYTES, END_STREAM_BYTES);
  expect(chunk[chunk.length - END_STREAM_BYTES - RECORD_HEADER_BYTES]).toBe(RecordType.EndStream);
  return { digest: v.getBigUint64(0, true), pages: v.getUint32(8, true), poisoned: v.getUint32(12, true) };
}

/** Parses the records of one framed chunk. */
function records(chunk: Uint8Array): Array<{ type: number; pfn: number; len: number; at: number }> {
  const h = readChunkHeader(chunk);
  const out: Array<{ type: number; pfn: number; len: number; at: number }> = [];
  const v = new DataView(chunk.buffer, chunk.byteOffset);
  for (let at = CHUNK_HEADER_BYTES; at < CHUNK_HEADER_BYTES + h.payloadBytes;) {
    const rec = { type: v.getUint8(at), len: v.getUint16(at + 2, true), pfn: v.getUint32(at + 4, true), at };
    out.push(rec);
    at += RECORD_HEADER_BYTES + rec.len;
  }
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.length)) >= 0;
}

function expectStreamError(fn: () => unknown, code: string, text?: string | RegExp): HypermemError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    const e = err as HypermemError;
    expect({ code: e.code, message: e.message }).toMatchObject({ code, message: text ? expect.stringMatching(text) : expect.any(String) });
    return e;
  }
  return expect.fail(`expected ${code}`);
}

describe("stream format", () => {
  it("header round trip, and each bad field is named", () => {
    const h = encodeHeader({ flags: FLAG_XBZRLE, guestPages: 12345, vmId: 7 });
    expect(h.length).toBe(STREAM_HEADER_BYTES);
    expect(STREAM_HEADER_BYTES).toBe(36);
    expect(Buffer.from(h.subarray(0, 4)).toString("latin1")).toBe("HMMS");
    expect(decodeHeader(h, 1 << 20)).toEqual({ version: 3, flags: FLAG_XBZRLE, pageBytes: PAGE, guestPages: 12345, vmId: 7 });
    const patched = (at: number, write: (v: DataView) => void): Uint8Array => {
      const b = h.slice();
      const v = new DataView(b.buffer);
      write(v);
      if (at !== 32) v.setUint32(32, crc32(b.subarray(0, 32)), true);
      return b;
    };
    expectStreamError(() => decodeHeader(patched(0, (v) => v.setUint32(0, 0x53534d48, true)), 1 << 20), ErrorCode.StreamCorrupt, /field magic/);
    expectStreamError(() => decodeHeader(patched(32, (v) => v.setUint8(20, 1)), 1 << 20), ErrorCode.StreamCorrupt, /field crc/);
    expectStreamError(() => decodeHeader(patched(4, (v) => v.setUint16(4, 2, true)), 1 << 20), ErrorCode.FormatVersion, /version 2 is an old stream version/);
    expectStreamError(() => decodeHeader(patched(4, (v) => v.setUint16(4, 4, true)), 1 << 20), ErrorCode.FormatVersion, /version 4\.0 is not supported/);
    expectStreamError(() => decodeHeader(patched(6, (v) => v.setUint16(6, 1, true)), 1 << 20), ErrorCode.FormatVersion, /version 3\.1 is not supported/);
    expectStreamError(() => decodeHeader(patched(8, (v) => v.setUint32(8, 40, true)), 1 << 20), ErrorCode.StreamCorrupt, /field headerBytes/);
    expectStreamError(() => decodeHeader(patched(12, (v) => v.setUint32(12, 6, true)), 1 << 20), ErrorCode.StreamCorrupt, /field flags .*0x6 set unknown bits/);
    expectStreamError(() => decodeHeader(patched(16, (v) => v.setUint32(16, 8192, true)), 1 << 20), ErrorCode.StreamCorrupt, /field pageBytes .*page size 8192/);
    expectStreamError(() => decodeHeader(patched(20, (v) => v.setBigUint64(20, 0n, true)), 1 << 20), ErrorCode.StreamCorrupt, /field guestPages/);
    expectStreamError(() => decodeHeader(patched(20, (v) => v.setBigUint64(20, 1n << 40n, true)), 1 << 20), ErrorCode.StreamLimit, /guestPages .* is 1099511627776/);
    expectStreamError(() => decodeHeader(patched(20, (v) => v.setBigUint64(20, 1n << 60n, true)), 1 << 20), ErrorCode.StreamCorrupt, /field guestPages .*above 2\^53-1/);
    expectStreamError(() => decodeHeader(h, 12344), ErrorCode.StreamLimit, /limit of 12344 pages/);
  });
});

describe("round trip", () => {
  const dst = createHost({ memoryMiB: 64 });
  const src = createHost({ memoryMiB: 64 });

  it.each([1, 2, 511, 512, 513, 1025, 3000])("a %i-page guest arrives byte for byte, pushed in random splits", (pages) => {
    const vm = src.createVm({ pages });
    fill(vm, pages);
    const before = dst.stats();
    const p = new PagePacker(vm, { xbzrleCacheBytes: null });
    const bytes = Buffer.concat([p.header(), ...sendPages(p, null, range(pages), "bulk", 0).chunks, p.endRound(0), p.endStream()]);
    p.close();
    const r = new StreamReceiver(dst);
    const next = rng(pages * 7);
    for (let at = 0; at < bytes.length;) {
      const n = Math.min(bytes.length - at, 1 + Math.floor(next() ** 3 * 300_000));
      r.push(bytes.subarray(at, at + n));
      at += n;
    }
    const dvm = r.finish();
    expectSameMemory(vm, dvm);
    const end = endStreamOf(bytes);
    expect(end).toEqual({ digest: refDigest(vm), pages, poisoned: 0 });
    expect(r.round).toBe(0);
    dvm.destroy();
    vm.destroy();
    expect(dst.stats().usedFrames).toBe(before.usedFrames);
  });

  it("random guests (fast-check): contents and page states survive", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1200 }),
        fc.array(fc.record({ pfn: fc.nat(), off: fc.nat(PAGE - 1), data: fc.uint8Array({ minLength: 1, maxLength: 600 }) }), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (pages, writes, reads) => {
          const vm = src.createVm({ pages });
          for (const w of writes) {
            const gpa = (w.pfn % pages) * PAGE + w.off;
            vm.write(gpa, w.data.subarray(0, Math.min(w.data.length, pages * PAGE - gpa)));
          }
          vm.run(reads.map((pfn) => ({ op: "read" as const, gpa: (pfn % pages) * PAGE })));
          const { dvm, stats } = migrate(vm, dst);
          expectSameMemory(vm, dvm);
          expect(stats.pages).toBe(pages);
          expect(stats.zeroPages + stats.normalPages).toBe(pages);
          dvm.destroy();
          vm.destroy();
        },
      ),
      { numRuns: 25 },
    );
    expect(dst.stats().vms).toBe(0);
  });

  it("zero and untouched pages travel as ZERO records, others as PAGE records", () => {
    const vm = src.createVm({ pages: 8 });
    vm.write(1 * PAGE, new Uint8Array(PAGE)); // private, all zero
    vm.write(2 * PAGE + 5, Uint8Array.of(1)); // private, non-zero
    vm.run([{ op: "read", gpa: 3 * PAGE }]); // zero-mapped
    const { dvm, stream, stats } = migrate(vm, dst);
    expect(stats).toMatchObject({ pages: 8, zeroPages: 7, normalPages: 1, normalBytes: PAGE, poisonedPages: 0 });
    const recs = records(stream[1]);
    expect(recs.map((x) => [x.type, x.pfn])).toEqual(range(8).map((pfn) => [pfn === 2 ? RecordType.Page : RecordType.Zero, pfn]));
    expect(dvm.pteInfo(1).present).toBe(false); // a ZERO never allocates on the destination
    expect(dvm.read(2 * PAGE, 8)).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0));
    expect(stats.wireBytes).toBe(stream.reduce((n, c) => n + c.length, 0));
    dvm.destroy();
    vm.destroy();
  });

  it("packing leaves the source guest unchanged (entries and bytes)", () => {
    const vm = src.createVm({ pages: 700 });
    fill(vm, 99);
    const ptes = range(700).map((pfn) => vm.pte(pfn));
    const mem = vm.read(0, 700 * PAGE);
    const p = new PagePacker(vm, { xbzrleCacheBytes: 64 * PAGE });
    sendPages(p, null, range(700), "bulk", 1);
    sendPages(p, null, range(700), "iterate", 2);
    sendPages(p, null, range(700), "iterate", 3);
    sendPages(p, null, range(700), "final", 4);
    p.endStream();
    p.close();
    expect(range(700).map((pfn) => vm.pte(pfn))).toEqual(ptes);
    expect(Buffer.compare(vm.read(0, 700 * PAGE), mem)).toBe(0);
    vm.destroy();
  });

  it("the packer's buffers live in the source host and close() frees them", () => {
    const vm = src.createVm({ pages: 4 });
    const used = src.stats().usedFrames;
    const p = new PagePacker(vm, { xbzrleCacheBytes: 16 * PAGE });
    expect(src.stats().usedFrames).toBeGreaterThan(used + 16);
    const list = p.scratchList(range(5000));
    p.close();
    p.close();
    expect(src.stats().usedFrames).toBe(used);
    expect(() => p.packChunk(list, 0, 0, "bulk", 0)).toThrow(expect.objectContaining({ code: ErrorCode.Destroyed }));
    vm.destroy();
  });

  it("rejects bad packer options and calls", () => {
    const vm = src.createVm({ pages: 4 });
    for (const bad of [0, 4095, 3 * PAGE, 4097, -PAGE]) {
      expect(() => new PagePacker(vm, { xbzrleCacheBytes: bad })).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    }
    expect(() => new PagePacker(vm, { xbzrleCacheBytes: null, extra: 1 } as never)).toThrow(expect.objectContaining({ code: ErrorCode.UnknownOption }));
    const p = new PagePacker(vm, { xbzrleCacheBytes: null });
    const list = p.scratchList([0, 1, 4]);
    expect(() => p.packChunk(list, 0, 3, "bulk", 0)).toThrow(expect.objectContaining({ code: ErrorCode.GpaRange, message: expect.stringContaining("entry 2 is pfn 4") }));
    expect(() => p.packChunk(list, 0, 3, "warm" as PackStage, 0)).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    expect(() => p.endRound(1)).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    p.endRound(0);
    p.endRound(1);
    p.endStream();
    expect(() => p.endStream()).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    p.close();
    vm.destroy();
  });
});

// ─── XBZRLE: QEMU's cache semantics, against a TypeScript model ────────────

/** QEMU page_cache.c + ram.c save_xbzrle_page, on plain arrays. */
class CacheModel {
  readonly tags: number[];
  readonly ages: number[];
  readonly data: Uint8Array[];
  constructor(readonly slots: number) {
    this.tags = Array(slots).fill(-1);
    this.ages = Array(slots).fill(0);
    this.data = range(slots).map(() => new Uint8Array(PAGE));
  }
  #insert(pfn: number, page: Uint8Array, gen: number): void {
    const s = pfn & (this.slots - 1);
    if (this.tags[s] !== -1 && this.tags[s] !== pfn && this.ages[s] + 2 > gen) return;
    this.data[s].set(page);
    this.tags[s] = pfn;
    this.ages[s] = gen;
  }
  pack(pfn: number, page: Uint8Array, stage: PackStage, gen: number, s: PackStats): void {
    const useCache = stage !== "bulk";
    const last = stage === "final";
    if (page.every((b) => b === 0)) {
      s.zeroPages++;
      s.pages++;
      if (useCache) this.#insert(pfn, page, gen);
      return;
    }
    const slot = pfn & (this.slots - 1);
    if (!useCache || this.tags[slot] !== pfn) {
      if (useCache) {
        s.xbzrleCacheMiss++;
        if (!last) this.#insert(pfn, page, gen);
      }
      s.normalPages++;
      s.pages++;
      return;
    }
    this.ages[slot] = gen;
    const n = refXbzrleEncode(this.data[slot], page, PAGE, new Uint8Array(2 * PAGE), PAGE - 1);
    if (n === 0) { s.xbzrleUnchanged++; return; }
    if (!last) this.data[slot].set(page);
    s.pages++;
    if (n < 0) { s.xbzrleOverflow++; s.normalPages++; return; }
    s.xbzrlePages++;
    s.xbzrleBytes += n;
  }
}

describe("XBZRLE", () => {
  const src = createHost({ memoryMiB: 32 });
  const dst = createHost({ memoryMiB: 32 });

  it("rounds: misses first, then XBZRLE records for sparse changes, overflow for dense ones, unchanged pages skipped", () => {
    const pages = 64;
    const vm = src.createVm({ pages });
    const next = rng(5);
    for (let pfn = 0; pfn < pages; pfn++) vm.write(pfn * PAGE, randomBytes(PAGE, next));
    const p = new PagePacker(vm, { xbzrleCacheBytes: 64 * PAGE });
    const r = new StreamReceiver(dst);
    r.push(p.header());
    expect(r.header?.flags).toBe(FLAG_XBZRLE);
    const bulk = sendPages(p, r, range(pages), "bulk", 1).stats;
    expect(bulk).toMatchObject({ normalPages: pages, xbzrleCacheMiss: 0, xbzrlePages: 0 });
    r.push(p.endRound(0));
    const sparse = (gen: number): void => {
      for (let pfn = 0; pfn < 32; pfn++) vm.write(pfn * PAGE + 100 * (pfn + gen), randomBytes(20, next));
    };
    sparse(1);
    const first = sendPages(p, r, range(32), "iterate", 2);
    expect(first.stats).toMatchObject({ xbzrleCacheMiss: 32, normalPages: 32, xbzrlePages: 0 });
    r.push(p.endRound(1));
    sparse(2);
    for (let pfn = 32; pfn < 40; pfn++) vm.write(pfn * PAGE, randomBytes(PAGE, next)); // dense: misses now
    const second = sendPages(p, r, range(40), "iterate", 3);
    expect(second.stats).toMatchObject({ xbzrleCacheMiss: 8, xbzrlePages: 32, normalPages: 8 });
    expect(second.stats.xbzrleBytes).toBeLessThan(32 * 40);
    expect(second.chunks.flatMap(records).filter((x) => x.type === RecordType.Xbzrle).map((x) => x.pfn)).toEqual(range(32));
    r.push(p.endRound(2));
    for (let pfn = 32; pfn < 40; pfn++) { // every second byte changes: too dense for XBZRLE
      const page = vm.read(pfn * PAGE, PAGE);
      for (let i = 0; i < PAGE; i += 2) page[i] ^= 0x5a;
      vm.write(pfn * PAGE, page);
    }
    const third = sendPages(p, r, range(48), "final", 4); // 0..31 unchanged since round 2
    expect(third.stats).toMatchObject({ xbzrleOverflow: 8, normalPages: 8 + 8, xbzrleUnchanged: 32, xbzrleCacheMiss: 8, pages: 16 });
    r.push(p.endStream());
    const dvm = r.finish();
    expectSameMemory(vm, dvm);
    expect(p.totals.xbzrlePages).toBe(32);
    p.close();
    dvm.destroy();
    vm.destroy();
  });

  it("matches QEMU's cache semantics step by step, and the destination follows (fast-check)", () => {
    const pages = 16;
    const step = fc.record({
      writes: fc.array(fc.record({ pfn: fc.nat(pages - 1), off: fc.nat(PAGE - 64), len: fc.integer({ min: 1, max: 64 }), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
      dense: fc.array(fc.nat(pages - 1), { maxLength: 2 }),
      zeroed: fc.array(fc.nat(pages - 1), { maxLength: 1 }),
      extra: fc.array(fc.nat(pages - 1), { maxLength: 6 }),
      genStep: fc.integer({ min: 0, max: 2 }),
    });
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.array(step, { minLength: 1, maxLength: 6 }), fc.boolean(), (slots, steps, finalLast) => {
        const vm = src.createVm({ pages });
        const next = rng(slots * 31 + steps.length);
        for (let pfn = 0; pfn < pages; pfn += 2) vm.write(pfn * PAGE, randomBytes(PAGE, next));
        const model = new CacheModel(slots);
        const p = new PagePacker(vm, { xbzrleCacheBytes: slots * PAGE });
        const r = new StreamReceiver(dst);
        try {
          r.push(p.header());
          let gen = 1;
          const run = (list: number[], stage: PackStage): void => {
            const expected = emptyPackStats();
            for (const pfn of list) model.pack(pfn, vm.read(pfn * PAGE, PAGE), stage, gen, expected);
            const got = sendPages(p, r, list, stage, gen).stats;
            expect({ ...got, wireBytes: 0 }).toEqual({ ...expected, normalBytes: expected.normalPages * PAGE });
          };
          run(range(pages), "bulk");
          steps.forEach((s, i) => {
            const dirty = new Set<number>(s.extra);
            for (const w of s.writes) { vm.write(w.pfn * PAGE + w.off, new Uint8Array(w.len).fill(w.byte)); dirty.add(w.pfn); }
            for (const pfn of s.dense) { vm.write(pfn * PAGE, randomBytes(PAGE, next)); dirty.add(pfn); }
            for (const pfn of s.zeroed) { vm.write(pfn * PAGE, new Uint8Array(PAGE)); dirty.add(pfn); }
            gen += s.genStep;
            const last = finalLast && i === steps.length - 1;
            run([...dirty], last ? "final" : "iterate");
            expectSameMemory(vm, r.vm!);
          });
          r.push(p.endStream());
          r.finish().destroy();
        } finally {
          p.close();
          r.abort();
          vm.destroy();
        }
      }),
      { numRuns: 40 },
    );
  });

  it("a stream without the XBZRLE flag may not carry XBZRLE records", () => {
    const vm = src.createVm({ pages: 2 });
    vm.write(0, new Uint8Array(PAGE).fill(1));
    const p = new PagePacker(vm, { xbzrleCacheBytes: 2 * PAGE });
    const header = p.header();
    sendPages(p, null, [0], "iterate", 1); // miss: cached
    vm.write(8, Uint8Array.of(9));
    const chunk = sendPages(p, null, [0], "iterate", 2).chunks[0];
    expect(records(chunk)[0].type).toBe(RecordType.Xbzrle);
    p.close();
    const noFlag = encodeHeader({ flags: 0, guestPages: 2, vmId: 1 });
    const r = new StreamReceiver(dst);
    r.push(noFlag);
    const renumbered = frameChunk(0, chunk.subarray(CHUNK_HEADER_BYTES));
    expectStreamError(() => r.push(renumbered), ErrorCode.StreamCorrupt, /XBZRLE record in a stream whose header does not enable XBZRLE/);
    expect(header[12] & FLAG_XBZRLE).toBe(FLAG_XBZRLE);
    vm.destroy();
    expect(dst.stats().vms).toBe(0);
  });
});

// ─── Poisoned pages ────────────────────────────────────────────────────────

/** A page whose bytes no stream may carry. */
function secretPage(tag: number): Uint8Array {
  const page = new Uint8Array(PAGE);
  const marker = Buffer.from(`SECRET-PAGE-${tag.toString().padStart(4, "0")}`, "latin1");
  for (let i = 0; i + marker.length <= PAGE; i += marker.length) page.set(marker, i);
  return page;
}

describe("poisoned pages", () => {
  it("known and latent errors go out as POISON records, never as bytes; the destination gets PSN pages that raise machine checks", () => {
    const a = createHost({ memoryMiB: 16 });
    const b = createHost({ memoryMiB: 16 });
    const vm = a.createVm({ pages: 600 });
    fill(vm, 3);
    const secrets = [10, 11, 520, 599];
    for (const pfn of secrets) vm.write(pfn * PAGE, secretPage(pfn));
    const known = injectMemoryError(a, { vm, gpa: 10 * PAGE });
    const latent = [11, 520, 599].map((pfn) => injectMemoryError(a, { vm, gpa: pfn * PAGE + 7 }, { latent: true }));
    const p = new PagePacker(vm, { xbzrleCacheBytes: 8 * PAGE });
    const r = new StreamReceiver(b);
    const stream: Uint8Array[] = [p.header()];
    r.push(stream[0]);
    // the bulk pass meets 11 and 520; 599 is met only by endStream's sweep
    const sent = sendPages(p, r, range(599), "bulk", 1);
    expect(sent.stats).toMatchObject({ poisonedPages: 3, latentFound: 2 });
    stream.push(...sent.chunks);
    const tail = p.endStream();
    expect(p.totals).toMatchObject({ poisonedPages: 3 + 4, latentFound: 3 });
    stream.push(tail);
    r.push(tail);
    for (const pfn of secrets) {
      for (const chunk of stream) expect(contains(chunk, secretPage(pfn).subarray(0, 64))).toBe(false);
      expect(records(stream[1]).find((x) => x.pfn === pfn && x.type !== RecordType.Poison)).toBeUndefined();
    }
    // the source found the latent errors: now known, as a guest access would have made them
    for (const e of latent) {
      expect(vm.pteInfo(e.pfn)).toMatchObject({ poisoned: true, latentError: false });
      expect(a.frameInfo(e.hfn).flags).toEqual(expect.arrayContaining(["poisoned", "poisonKnown"]));
    }
    expect(a.frameInfo(known.hfn).flags).toContain("poisonKnown");
    expect(endStreamOf(tail)).toEqual({ digest: refDigest(vm), pages: 600, poisoned: 4 });
    const dvm = r.finish();
    for (const pfn of secrets) expect(dvm.pteInfo(pfn)).toMatchObject({ poisoned: true, present: false, hfn: 0 });
    expectSameMemory(vm, dvm, new Set(secrets));
    const mces: MachineCheck[] = [];
    dvm.onMachineCheck((m) => mces.push(m));
    dvm.run([{ op: "read", gpa: 520 * PAGE + 64 }, { op: "write", gpa: 10 * PAGE }, { op: "read", gpa: 0 }]);
    expect(mces.map((m) => [m.pfn, m.write, m.foundLatent])).toEqual([[520, false, false], [10, true, false]]);
    expect(() => dvm.read(599 * PAGE, 1)).toThrow(expect.objectContaining({ code: ErrorCode.MemoryPoisoned }));
    p.close();
  });

  it("a page poisoned on the source after it was sent has its frame freed on the destination", () => {
    const a = createHost({ memoryMiB: 8 });
    const b = createHost({ memoryMiB: 8 });
    const vm = a.createVm({ pages: 8 });
    vm.write(0, new Uint8Array(8 * PAGE).fill(3));
    const p = new PagePacker(vm, { xbzrleCacheBytes: null });
    const r = new StreamReceiver(b);
    r.push(p.header());
    sendPages(p, r, range(8), "bulk", 1);
    const used = b.stats().usedFrames;
    injectMemoryError(a, { vm, gpa: 5 * PAGE }, { latent: true });
    sendPages(p, r, [5], "final", 2);
    expect(b.stats().usedFrames).toBe(used - 1);
    r.push(p.endStream());
    expect(r.finish().pteInfo(5)).toMatchObject({ poisoned: true, hfn: 0 });
    p.close();
  });

  it("endStream's poison sweep spans several list batches and chunks", () => {
    const pages = 140_000;
    const b = createHost({ memoryMiB: 16 });
    const r = new StreamReceiver(b);
    r.push(encodeHeader({ flags: 0, guestPages: pages, vmId: 9 }));
    let seq = 0;
    for (let first = 0; first < pages; first += 100_000) {
      const n = Math.min(100_000, pages - first);
      const payload = new Uint8Array(n * RECORD_HEADER_BYTES);
      const v = new DataView(payload.buffer);
      for (let i = 0; i < n; i++) {
        v.setUint8(i * RECORD_HEADER_BYTES, RecordType.Poison);
        v.setUint32(i * RECORD_HEADER_BYTES + 4, first + i, true);
      }
      r.push(frameChunk(seq++, payload));
    }
    let acc = P5 ^ BigInt(pages);
    const mark = (rotl((POISON_MARK * P2) & M64, 31n) * P1) & M64;
    for (let i = 0; i < pages; i++) acc = (rotl(acc ^ mark, 27n) * P1 + P4) & M64;
    acc ^= acc >> 33n; acc = (acc * P2) & M64; acc ^= acc >> 29n; acc = (acc * P3) & M64; acc ^= acc >> 32n;
    const end = new Uint8Array(RECORD_HEADER_BYTES + END_STREAM_BYTES);
    const ev = new DataView(end.buffer);
    ev.setUint8(0, RecordType.EndStream);
    ev.setUint16(2, END_STREAM_BYTES, true);
    ev.setBigUint64(8, acc, true);
    ev.setUint32(16, pages, true);
    ev.setUint32(20, pages, true);
    r.push(frameChunk(seq, end));
    const bvm = r.finish();
    const p = new PagePacker(bvm, { xbzrleCacheBytes: null });
    const c = createHost({ memoryMiB: 16 });
    const rc = new StreamReceiver(c);
    rc.push(p.header());
    const tail = p.endStream();
    const sizes: number[] = [];
    for (let at = 0; at < tail.length; at += CHUNK_HEADER_BYTES + readChunkHeader(tail, at).payloadBytes) sizes.push(readChunkHeader(tail, at).payloadBytes);
    expect(sizes.length).toBe(2);
    expect(p.totals).toMatchObject({ poisonedPages: pages, latentFound: 0, wireBytes: STREAM_HEADER_BYTES + tail.length });
    rc.push(tail);
    const cvm = rc.finish();
    expect([cvm.pteInfo(0).poisoned, cvm.pteInfo(pages - 1).poisoned]).toEqual([true, true]);
    p.close();
  });

  it("A -> B -> C keeps poisoned pages poisoned", () => {
    const hosts = [createHost({ memoryMiB: 8 }), createHost({ memoryMiB: 8 }), createHost({ memoryMiB: 8 })];
    const vmA = hosts[0].createVm({ pages: 300 });
    fill(vmA, 77);
    vmA.write(40 * PAGE, secretPage(40));
    vmA.write(290 * PAGE, secretPage(290));
    injectMemoryError(hosts[0], { vm: vmA, gpa: 40 * PAGE });
    injectMemoryError(hosts[0], { vm: vmA, gpa: 290 * PAGE }, { latent: true });
    const ab = migrate(vmA, hosts[1], { xbzrleCacheBytes: 4 * PAGE });
    const bc = migrate(ab.dvm, hosts[2]);
    for (const pfn of [40, 290]) {
      expect(ab.dvm.pteInfo(pfn).poisoned).toBe(true);
      expect(bc.dvm.pteInfo(pfn)).toMatchObject({ poisoned: true, present: false });
      for (const chunk of [...ab.stream, ...bc.stream]) expect(contains(chunk, secretPage(pfn).subarray(0, 64))).toBe(false);
    }
    expect(bc.stats.poisonedPages).toBe(2 + 2); // bulk pass + endStream sweep
    expect(bc.stats.latentFound).toBe(0);
    expectSameMemory(vmA, bc.dvm, new Set([40, 290]));
    expect(endStreamOf(bc.stream[bc.stream.length - 1]).digest).toBe(endStreamOf(ab.stream[ab.stream.length - 1]).digest);
  });
});

// ─── Errors: typed, named, and the destination host left as before ─────────

describe("receiver errors", () => {
  const src = createHost({ memoryMiB: 16 });
  const dst = createHost({ memoryMiB: 16 });
  let valid: Uint8Array[];
  let vm: Vm;

  beforeAll(() => {
    vm = src.createVm({ pages: 40 });
    fill(vm, 11);
    for (let pfn = 0; pfn < 40; pfn += 3) vm.write(pfn * PAGE, randomBytes(PAGE, rng(pfn)));
    injectMemoryError(src, { vm, gpa: 3 * PAGE });
    const p = new PagePacker(vm, { xbzrleCacheBytes: 8 * PAGE });
    valid = [p.header(), ...sendPages(p, null, range(40), "bulk", 1).chunks, p.endRound(0)];
    vm.write(6 * PAGE + 9, Uint8Array.of(1, 2, 3));
    valid.push(...sendPages(p, null, [6], "iterate", 2).chunks); // a miss: cached
    vm.write(6 * PAGE + 900, Uint8Array.of(4, 5));
    valid.push(...sendPages(p, null, [6, 9], "iterate", 3).chunks, p.endRound(1)); // 6 as XBZRLE
    valid.push(p.endStream());
    p.close();
  });

  /** Pushes `chunks` into a fresh receiver and expects `code`; checks the host is back as it was. */
  function expectRejected(chunks: Uint8Array[], code: string, text?: RegExp, finish = false): HypermemError {
    const before = dst.stats().usedFrames;
    const r = new StreamReceiver(dst);
    const e = expectStreamError(() => { for (const c of chunks) r.push(c); if (finish) r.finish(); }, code, text);
    expect(r.vm).toBeNull();
    expect(dst.stats()).toMatchObject({ usedFrames: before, vms: 0 });
    expect(() => r.push(valid[0])).toThrow(expect.objectContaining({ code, message: expect.stringContaining("already failed") }));
    expect(() => r.finish()).toThrow(HypermemError);
    return e;
  }

  /** A chunk with a rewritten payload, re-framed with a valid checksum. */
  function reframed(index: number, edit: (payload: Uint8Array, view: DataView) => Uint8Array | void): Uint8Array {
    const payload = valid[index].slice(CHUNK_HEADER_BYTES);
    const out = edit(payload, new DataView(payload.buffer)) ?? payload;
    return frameChunk(readChunkHeader(valid[index]).sequence, out);
  }
  const withChunk = (index: number, chunk: Uint8Array): Uint8Array[] => valid.map((c, i) => (i === index ? chunk : c));

  it("the valid stream arrives, and the receiver reports where it is", () => {
    const r = new StreamReceiver(dst);
    for (const c of valid) r.push(c);
    expect(r.done).toBe(true);
    expect(r.round).toBe(1);
    expect(r.chunks).toBe(valid.length - 1);
    expect(r.bytesReceived).toBe(valid.reduce((n, c) => n + c.length, 0));
    const dvm = r.finish();
    expectSameMemory(vm, dvm, new Set([3]));
    dvm.destroy();
  });

  it("framing: magic, sequence, length limits, checksum, trailing bytes, truncation", () => {
    expectRejected([Uint8Array.of(0x48, 0x4d, 0x4d, 0x58)], ErrorCode.StreamCorrupt, /stream header field magic \(offset 0\) is "HMMX"/);
    const badMagic = valid[1].slice(); badMagic[2] ^= 1;
    expectRejected(withChunk(1, badMagic), ErrorCode.StreamCorrupt, /chunk 0 \(stream offset 36\): field magic/);
    expectRejected([valid[0], valid[2]], ErrorCode.StreamCorrupt, /field sequence \(stream offset 40\) is 1, expected 0: chunk 0 is missing/);
    const huge = valid[1].slice(); new DataView(huge.buffer).setUint32(8, 0xfffffff0, true);
    expectRejected(withChunk(1, huge), ErrorCode.StreamLimit, /field payloadBytes \(stream offset 44\) is 4294967280, above the limit of 1114112/);
    const tiny = valid[1].slice(0, CHUNK_HEADER_BYTES); new DataView(tiny.buffer).setUint32(8, 4, true);
    expectRejected([valid[0], tiny], ErrorCode.StreamCorrupt, /payloadBytes \(stream offset 44\) is 4, below the minimum of 8/);
    const flipped = valid[1].slice(); flipped[100] ^= 0x10;
    expectRejected(withChunk(1, flipped), ErrorCode.StreamCorrupt, /chunk 0 \(stream offset 36\): field checksum/);
    expectRejected([...valid, Uint8Array.of(0)], ErrorCode.StreamCorrupt, /1 bytes at stream offset \d+, after chunk \d+ ended the stream/);
    const all = Buffer.concat(valid);
    expectRejected([all.subarray(0, all.length - 1)], ErrorCode.StreamTruncated, /without END_STREAM/, true);
    expectRejected([all.subarray(0, 20)], ErrorCode.StreamTruncated, /in its stream header \(20 of 36 bytes\)/, true);
    expectRejected(valid.slice(0, 2), ErrorCode.StreamTruncated, /before chunk 1/, true);
  });

  it("records: every field is checked before anything is written", () => {
    const cases: Array<[number, (p: Uint8Array, v: DataView) => Uint8Array | void, string, RegExp]> = [
      [1, (p) => { p[0] = 9; }, ErrorCode.StreamCorrupt, /chunk 0 \(stream offset 36\), record at payload offset 0 \(stream offset 52\): unknown type 9, pfn 0.*unknown record type/],
      [1, (p) => { p[1] = 1; }, ErrorCode.StreamCorrupt, /flags 1: record flags must be 0/],
      [1, (_p, v) => v.setUint16(2, 100, true), ErrorCode.StreamCorrupt, /payload length 100: record payload length is wrong/],
      [1, (_p, v) => v.setUint32(4, 40, true), ErrorCode.StreamCorrupt, /pfn 40, .*page index past the end of the guest/],
      [1, (p) => p.subarray(0, p.length - 5), ErrorCode.StreamCorrupt, /record payload runs past the end of the chunk|record header runs past/],
      [1, (p) => Buffer.concat([p, Uint8Array.of(2, 0, 0)]), ErrorCode.StreamCorrupt, /record header runs past the end of the chunk/],
      [valid.length - 1, (p) => Buffer.concat([p, p.subarray(p.length - 24)]), ErrorCode.StreamCorrupt, /24 bytes follow it in the chunk/],
      [valid.length - 1, (_p, v) => v.setUint32(v.byteLength - 8, 41, true), ErrorCode.StreamCorrupt, /field guestPages is 41, the header said 40/],
      [valid.length - 1, (_p, v) => v.setUint32(v.byteLength - 4, 0, true), ErrorCode.StreamDigest, /with 0 poisoned pages, the received guest's is .* with 1/],
      [valid.length - 1, (_p, v) => v.setBigUint64(v.byteLength - 16, 12345n, true), ErrorCode.StreamDigest, /digest is 0x3039/],
      [valid.length - 1, (_p, v) => v.setUint32(v.byteLength - 20, 1, true), ErrorCode.StreamCorrupt, /END_STREAM record field must be 0/],
    ];
    for (const [index, edit, code, text] of cases) expectRejected(withChunk(index, reframed(index, edit)), code, text);
  });

  it("rounds must count up by one from 0", () => {
    const endRound = valid.findIndex((c, i) => i > 0 && records(c).some((x) => x.type === RecordType.EndRound));
    expectRejected(withChunk(endRound, reframed(endRound, (_p, v) => v.setUint32(4, 1, true))), ErrorCode.StreamCorrupt, /END_ROUND .*round 1, expected 0/);
  });

  it("a changed page byte with a valid checksum is caught by the digest", () => {
    const first = records(valid[1]).find((x) => x.type === RecordType.Page)!;
    expectRejected(withChunk(1, reframed(1, (p) => { p[first.at - CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES + 17] ^= 1; })), ErrorCode.StreamDigest, /memory digest/);
  });

  it("an invalid XBZRLE payload and a record for a poisoned page are rejected", () => {
    const x = valid.findIndex((c, i) => i > 0 && records(c).some((r) => r.type === RecordType.Xbzrle));
    expect(x).toBeGreaterThan(0);
    const rec = records(valid[x]).find((r) => r.type === RecordType.Xbzrle)!;
    expectRejected(withChunk(x, reframed(x, (p) => { p[rec.at - CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES] = 0xff; p[rec.at - CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES + 1] = 0xff; })),
      ErrorCode.StreamCorrupt, /XBZRLE, pfn 6, .*not a valid XBZRLE stream/);
    const poison = records(valid[1]).find((r) => r.type === RecordType.Poison)!;
    const page = records(valid[1]).find((r) => r.type === RecordType.Zero && r.at > poison.at)!;
    expectRejected(withChunk(1, reframed(1, (_p, v) => v.setUint32(page.at - CHUNK_HEADER_BYTES + 4, poison.pfn, true))),
      ErrorCode.StreamCorrupt, /ZERO, pfn 3, .*state it cannot apply to/);
  });

  it("guest size limits: the receiver's and the host's", () => {
    const big = encodeHeader({ flags: 0, guestPages: 2 ** 28 + 1, vmId: 1 });
    expectRejected([big], ErrorCode.StreamLimit, /guestPages .* is 268435457/);
    const r = new StreamReceiver(dst, { maxGuestPages: 39 });
    expectStreamError(() => r.push(valid[0]), ErrorCode.StreamLimit, /limit of 39 pages/);
    // A host with no frame left for the new guest's page table cannot take it.
    const full = createHost({ memoryMiB: 1 });
    const filler = full.createVm({ pages: 1024 });
    for (let pfn = 0; pfn < 1024 && full.stats().usedFrames < full.maxFrames; pfn++) filler.write(pfn * PAGE, Uint8Array.of(1));
    const refused = new StreamReceiver(full);
    expectStreamError(() => refused.push(encodeHeader({ flags: 0, guestPages: 2 ** 28, vmId: 1 })), ErrorCode.StreamLimit, /destination host cannot take the guest/);
    expect(full.stats().vms).toBe(1);
    expect(() => new StreamReceiver(dst, { maxChunkBytes: 64 << 20 })).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    expect(() => new StreamReceiver(dst, { maxFrames: 1 } as never)).toThrow(expect.objectContaining({ code: ErrorCode.UnknownOption }));
  });

  it("a guest too large for a digest table is digested by reading it at END_STREAM, which still catches a changed page", () => {
    const pages = DIGEST_TABLE_MAX_PAGES + 512;
    const big = src.createVm({ pages });
    const touched = [0, 1, 777, DIGEST_TABLE_MAX_PAGES - 1, DIGEST_TABLE_MAX_PAGES, pages - 1];
    for (const pfn of touched) big.write(pfn * PAGE, randomBytes(PAGE, rng(pfn + 1)));
    injectMemoryError(src, { vm: big, gpa: 777 * PAGE });
    const p = new PagePacker(big, { xbzrleCacheBytes: null });
    const stream = [p.header(), ...sendPages(p, null, touched, "bulk", 1).chunks, p.endRound(0), p.endStream()];
    p.close();
    expect(endStreamOf(stream[stream.length - 1])).toMatchObject({ pages, poisoned: 1 });
    const r = new StreamReceiver(dst);
    for (const c of stream) r.push(c);
    const dvm = r.finish();
    for (const pfn of touched.filter((x) => x !== 777)) expect(Buffer.compare(dvm.read(pfn * PAGE, PAGE), big.read(pfn * PAGE, PAGE))).toBe(0);
    expect(dvm.pteInfo(777).poisoned).toBe(true);
    dvm.destroy();
    const first = records(stream[1])[0];
    expect(first).toMatchObject({ type: RecordType.Page, pfn: 0 });
    const payload = stream[1].slice(CHUNK_HEADER_BYTES);
    payload[first.at - CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES + 17] ^= 1;
    const bad = stream.map((c, i) => (i === 1 ? frameChunk(readChunkHeader(c).sequence, payload) : c));
    const before = dst.stats().usedFrames;
    const r2 = new StreamReceiver(dst);
    expectStreamError(() => { for (const c of bad) r2.push(c); }, ErrorCode.StreamDigest, /memory digest/);
    expect(dst.stats()).toMatchObject({ usedFrames: before, vms: 0 });
    big.destroy();
  });

  it("a destination that runs out of frames fails with ERR_STREAM_LIMIT, not a trap", () => {
    const big = src.createVm({ pages: 600 });
    big.write(0, new Uint8Array(600 * PAGE).fill(1));
    // 2 MiB: room for the 1 MiB payload buffer, not for the guest; 1 MiB: not even for the buffer.
    for (const [memoryMiB, error] of [[2, /PAGE, pfn \d+.*ran out of frames/], [1, /payloadBytes is \d+: the destination host has no room for a \d+-byte chunk payload/]] as const) {
      const small = createHost({ memoryMiB });
      const p = new PagePacker(big, { xbzrleCacheBytes: null });
      const before = small.stats().usedFrames;
      const r = new StreamReceiver(small);
      r.push(p.header());
      expectStreamError(() => sendPages(p, r, range(600), "bulk", 1), ErrorCode.StreamLimit, error);
      expect(small.stats()).toMatchObject({ usedFrames: before, vms: 0 });
      p.close();
    }
    big.destroy();
  });

  it("abort() discards the partial guest; finish() hands the guest over for good", () => {
    const before = dst.stats().usedFrames;
    const r = new StreamReceiver(dst);
    for (const c of valid.slice(0, 3)) r.push(c);
    expect(r.vm).not.toBeNull();
    r.abort("link down");
    expect(dst.stats()).toMatchObject({ usedFrames: before, vms: 0 });
    expectStreamError(() => r.push(valid[3]), ErrorCode.MigrationFailed, /link down/);
    const ok = new StreamReceiver(dst);
    for (const c of valid) ok.push(c);
    const dvm = ok.finish();
    ok.abort();
    expect(dst.stats().vms).toBe(1);
    dvm.destroy();
  });
});

// Behaviour a mutation run of src/stream found untested (docs/contributing.md, "Mutation scores").
describe("stream format: exact errors and little-endian chunk headers", () => {
  const fields = (fn: () => unknown): unknown => {
    try { fn(); } catch (err) { const e = err as HypermemError; return { code: e.code, message: e.message, details: e.details }; }
    return "none";
  };

  it("a header of guestPages 0, over the receiver's limit, or shorter than 36 bytes: the message and details name the field", () => {
    const h = encodeHeader({ flags: 0, guestPages: 512, vmId: 1 });
    expect(fields(() => decodeHeader(h, 511))).toEqual({
      code: ErrorCode.StreamLimit,
      message: "stream header field guestPages (byte offset 20) is 512 (2 MiB), above the receiver's limit of 511 pages",
      details: { field: "guestPages", value: 512, limit: 511 },
    });
    expect(decodeHeader(h, 512).guestPages).toBe(512);
    expect(fields(() => decodeHeader(h.subarray(0, 35), 512))).toEqual({
      code: ErrorCode.StreamTruncated, message: "stream header: 35 of 36 bytes", details: { bytes: 35 },
    });
    const zero = h.slice();
    const v = new DataView(zero.buffer);
    v.setBigUint64(20, 0n, true);
    v.setUint32(32, crc32(zero.subarray(0, 32)), true);
    expect(fields(() => decodeHeader(zero, 512))).toMatchObject({ code: ErrorCode.StreamCorrupt, message: expect.stringContaining("guestPages 0 (a guest has at least one page)") });
  });

  it("readChunkHeader reads the four u32 fields little endian, at any offset", () => {
    const chunk = frameChunk(0x01020304, new Uint8Array([9, 8, 7]));
    const at = 5;
    const bytes = new Uint8Array(at + chunk.length);
    bytes.set(chunk, at);
    const v = new DataView(chunk.buffer, chunk.byteOffset);
    const h = readChunkHeader(bytes, at);
    expect(h).toEqual({ magic: 0x4b434d48, sequence: 0x01020304, payloadBytes: 3, checksum: v.getUint32(12, true) });
    // "HMCK" in the first four bytes, the sequence's low byte first.
    expect([...chunk.subarray(0, 8)]).toEqual([0x48, 0x4d, 0x43, 0x4b, 4, 3, 2, 1]);
  });

  it("isAck is false, not merely falsy, for anything but a valid acknowledgement", () => {
    expect(isAck(encodeAck())).toBe(true);
    const bad = encodeAck();
    bad[0] ^= 1;
    expect(isAck(bad)).toBe(false);
    expect(isAck(new Uint8Array(3))).toBe(false);
  });
});
