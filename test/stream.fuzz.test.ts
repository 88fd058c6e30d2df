// Fuzzing the stream receiver (fast-check): mutations of a valid stream (bit
// flips anywhere, truncation, duplicated and reordered chunks, absurd chunk
// and record lengths, garbage, a huge guest) pushed in random splits. Every
// outcome is a HypermemError with a stream code, never another exception or
// a hang; the partial guest is discarded (the host is back to its frame
// count); and the valid stream then arrives intact into the same host.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, injectMemoryError, type Vm } from "../src/index.js";
import { PagePacker, type PackStage } from "../src/stream/packer.js";
import { StreamReceiver } from "../src/stream/receiver.js";
import { crc32 } from "node:zlib";
import { CHUNK_HEADER_BYTES, RECORD_HEADER_BYTES, STREAM_HEADER_BYTES, frameChunk, readChunkHeader } from "../src/stream/format.js";

const PAGE = 4096;
const PAGES = 24;
const STREAM_CODES: readonly string[] = [ErrorCode.StreamCorrupt, ErrorCode.StreamTruncated, ErrorCode.StreamLimit, ErrorCode.StreamDigest];
/** Runs per property; STREAM_FUZZ_RUNS raises it for a long local soak. */
const RUNS = Number(process.env.STREAM_FUZZ_RUNS ?? 200);

const src = createHost({ memoryMiB: 8 });
const dst = createHost({ memoryMiB: 8 });
let source: Vm;
/** The valid stream: header, then framed chunks. */
let parts: Uint8Array[];
let stream: Uint8Array;
let sourceMemory: Map<number, Uint8Array>;

beforeAll(() => {
  source = src.createVm({ pages: PAGES });
  for (let pfn = 0; pfn < PAGES; pfn++) {
    if (pfn % 4 === 3) continue; // untouched
    const page = new Uint8Array(PAGE);
    for (let i = 0; i < PAGE; i += 7) page[i] = (pfn * 31 + i) & 0xff;
    source.write(pfn * PAGE, pfn % 5 === 0 ? new Uint8Array(PAGE) : page);
  }
  injectMemoryError(src, { vm: source, gpa: 1 * PAGE });
  injectMemoryError(src, { vm: source, gpa: 2 * PAGE }, { latent: true });
  const p = new PagePacker(source, { xbzrleCacheBytes: 8 * PAGE });
  const send = (pfns: number[], stage: PackStage, gen: number): Uint8Array[] => {
    const list = p.scratchList(pfns);
    const out: Uint8Array[] = [];
    for (let start = 0; start < list.length;) {
      const r = p.packChunk(list, start, list.length - start, stage, gen);
      start += r.consumed;
      if (r.chunk) out.push(r.chunk);
    }
    return out;
  };
  const all = Array.from({ length: PAGES }, (_, i) => i);
  parts = [p.header(), ...send(all, "bulk", 1), p.endRound(0)];
  source.write(5 * PAGE + 10, Uint8Array.of(1, 2, 3));
  source.write(6 * PAGE + 10, Uint8Array.of(1, 2, 3));
  parts.push(...send([5, 6, 7], "iterate", 2), p.endRound(1));
  source.write(5 * PAGE + 99, Uint8Array.of(4));
  source.write(6 * PAGE, new Uint8Array(PAGE).fill(0x33));
  parts.push(...send([5, 6, 9], "final", 3), p.endStream());
  p.close();
  stream = new Uint8Array(Buffer.concat(parts)); // a plain copy: Buffer#slice would be a view
  sourceMemory = new Map(all.filter((pfn) => pfn !== 1 && pfn !== 2).map((pfn) => [pfn, source.read(pfn * PAGE, PAGE)]));
});

/** Pushes `bytes` in pieces of the given sizes (cycled), then finishes. Returns the error, or the guest. */
function receive(bytes: Uint8Array, sizes: readonly number[]): { error: unknown; vm: Vm | null } {
  const r = new StreamReceiver(dst, { maxGuestPages: 4096 });
  try {
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const n = sizes.length ? sizes[i % sizes.length] : bytes.length;
      r.push(bytes.subarray(at, at + n));
      at += n;
    }
    return { error: null, vm: r.finish() };
  } catch (error) {
    expect(r.vm).toBeNull();
    expect(() => r.push(new Uint8Array(1))).toThrow(HypermemError);
    return { error, vm: null };
  }
}

function expectGuestIntact(vm: Vm): void {
  for (const [pfn, page] of sourceMemory) {
    if (Buffer.compare(vm.read(pfn * PAGE, PAGE), page) !== 0) expect.fail(`page ${pfn} differs`);
  }
  expect(vm.pteInfo(1).poisoned && vm.pteInfo(2).poisoned).toBe(true);
}

/**
 * The outcome of a mutated stream: a stream-coded HypermemError, the host as
 * before, then the valid stream arrives. With `mayPass`, a mutation may also
 * be accepted if the guest that arrives is intact (records rewritten behind
 * a valid crc that change nothing, e.g. a duplicate POISON).
 */
function expectRejected(bytes: Uint8Array, sizes: readonly number[], only?: string, mayPass = false): void {
  const before = dst.stats().usedFrames;
  const { error, vm } = receive(bytes, sizes);
  if (vm) {
    if (mayPass) expectGuestIntact(vm);
    vm.destroy();
    expect(mayPass, "a mutated stream was accepted").toBe(true);
    return;
  }
  if (!(error instanceof HypermemError)) throw error;
  expect(STREAM_CODES).toContain(error.code);
  if (only) expect(error.code).toBe(only);
  expect(dst.stats()).toMatchObject({ usedFrames: before, vms: 0 });
  const retry = receive(stream, sizes);
  expect(retry.error).toBeNull();
  expectGuestIntact(retry.vm!);
  retry.vm!.destroy();
  expect(dst.stats()).toMatchObject({ usedFrames: before, vms: 0 });
}

const splits = fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 8 });
/** Chunk indices into `parts` (1.. = chunks; 0 is the header). */
const chunkIndex = (): fc.Arbitrary<number> => fc.integer({ min: 1, max: parts.length - 1 });

describe("stream receiver fuzz", () => {
  it("the valid stream arrives in any split", () => {
    fc.assert(fc.property(splits, (sizes) => {
      const { error, vm } = receive(stream, sizes);
      expect(error).toBeNull();
      expectGuestIntact(vm!);
      vm!.destroy();
    }), { numRuns: 30 });
    expect(parts.length).toBeGreaterThan(6);
  });

  it("bit flips anywhere", () => {
    fc.assert(fc.property(fc.uniqueArray(fc.nat(stream.length * 8 - 1), { minLength: 1, maxLength: 4 }), splits, (bits, sizes) => {
      const bytes = stream.slice();
      for (const bit of bits) bytes[bit >>> 3] ^= 1 << (bit & 7);
      expectRejected(bytes, sizes);
    }), { numRuns: RUNS });
  });

  it("truncation at any offset", () => {
    fc.assert(fc.property(fc.nat(stream.length - 1), splits, (len, sizes) => {
      expectRejected(stream.subarray(0, len), sizes, ErrorCode.StreamTruncated);
    }), { numRuns: RUNS });
  });

  it("duplicated and reordered chunks", () => {
    fc.assert(fc.property(chunkIndex(), chunkIndex(), fc.boolean(), splits, (i, j, duplicate, sizes) => {
      const list = [...parts];
      if (duplicate) list.splice(j, 0, parts[i]);
      else if (i !== j) [list[i], list[j]] = [list[j], list[i]];
      else list.splice(i, 1); // a lost chunk
      const lostLast = !duplicate && i === j && i === parts.length - 1;
      expectRejected(Buffer.concat(list), sizes, lostLast ? ErrorCode.StreamTruncated : ErrorCode.StreamCorrupt);
    }), { numRuns: RUNS });
  });

  it("absurd chunk lengths", () => {
    fc.assert(fc.property(chunkIndex(), fc.nat(0xffff_ffff), splits, (i, len, sizes) => {
      const list = [...parts];
      const chunk = list[i].slice();
      fc.pre(len !== readChunkHeader(chunk).payloadBytes);
      new DataView(chunk.buffer).setUint32(8, len, true);
      list[i] = chunk;
      expectRejected(Buffer.concat(list), sizes);
    }), { numRuns: RUNS });
  });

  it("absurd record lengths, types, flags and pfns behind a valid checksum: rejected, or harmless", () => {
    fc.assert(fc.property(chunkIndex(), fc.nat(), fc.nat(3), fc.nat(0xffff_ffff), splits, (i, pick, field, value, sizes) => {
      const payload = parts[i].slice(CHUNK_HEADER_BYTES);
      const v = new DataView(payload.buffer);
      const starts: number[] = [];
      for (let at = 0; at < payload.length; at += RECORD_HEADER_BYTES + v.getUint16(at + 2, true)) starts.push(at);
      const at = starts[pick % starts.length];
      if (field === 0) v.setUint16(at + 2, value & 0xffff, true);
      else if (field === 1) v.setUint8(at, value & 0xff);
      else if (field === 2) v.setUint8(at + 1, value & 0xff);
      else v.setUint32(at + 4, PAGES + (value % 100_000), true);
      fc.pre(Buffer.compare(payload, parts[i].subarray(CHUNK_HEADER_BYTES)) !== 0);
      const list = [...parts];
      list[i] = frameChunk(readChunkHeader(parts[i]).sequence, payload);
      expectRejected(Buffer.concat(list), sizes, undefined, true);
    }), { numRuns: RUNS });
  });

  it("random garbage, alone or spliced between chunks", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 6000 }), fc.nat(), splits, (garbage, where, sizes) => {
      const at = where % parts.length; // 0 = instead of the header
      const list = at === 0 ? [garbage, ...parts.slice(1)] : [...parts.slice(0, at), garbage, ...parts.slice(at)];
      expectRejected(Buffer.concat(list), sizes);
    }), { numRuns: RUNS });
  });

  it("a header claiming a huge guest", () => {
    fc.assert(fc.property(fc.bigInt({ min: 4097n, max: (1n << 64n) - 1n }), splits, (pages, sizes) => {
      const header = parts[0].slice();
      const v = new DataView(header.buffer);
      v.setBigUint64(20, pages, true);
      v.setUint32(32, crc32(header.subarray(0, 32)), true);
      expectRejected(Buffer.concat([header, ...parts.slice(1)]), sizes, pages <= BigInt(Number.MAX_SAFE_INTEGER) ? ErrorCode.StreamLimit : ErrorCode.StreamCorrupt);
    }), { numRuns: 60 });
    expect(STREAM_HEADER_BYTES).toBe(36);
  });
});
