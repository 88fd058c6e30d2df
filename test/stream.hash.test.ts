// The packer's chunk checksum hashed while pages are copied (issue 18): the
// streaming XXH3-64 kernels (hashBegin, hashCopyPage, hashFinish) against
// the BigInt oracle for pages at every offset of the buffer, any bytes
// written in between, a payload ending with a page on a stripe boundary,
// finishing at any moment, and a state begun for another buffer; then
// every chunk a packer frames, for a guest of every record type, against
// hash-wasm's XXH3-64 of its payload; and the destination's fingerprint table
// (pages copied and hashed in one pass) against the digest of the source.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../src/host/host.js";
import { injectMemoryError } from "../src/ras/memory-error.js";
import { CHUNK_HEADER_BYTES, checksumOf, readChunkHeader } from "../src/stream/format.js";
import { guestDigest } from "../src/stream/fingerprints.js";
import { PagePacker } from "../src/stream/packer.js";
import { StreamReceiver } from "../src/stream/receiver.js";
import { XXH3_STREAM_STATE_BYTES } from "../src/wasm/codes.js";
import { Kernels } from "../src/wasm/kernels.js";
import { mulberry32 } from "../src/sim/prng.js";
import { xxh3Ref } from "./reference/xxh3.js";
import { independentXxh3 } from "./reference/xxh3-hash-wasm.js";

const PAGE = 4096;

let xxh3Independent: (bytes: Uint8Array) => bigint;
beforeAll(async () => { xxh3Independent = await independentXxh3(); });

function randomBytes(n: number, seed: number): Uint8Array {
  const next = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = next() >>> 24;
  return out;
}

/** One write to the buffer: `bytes` written as they are, or a page copied (and hashed) by the kernel. */
type Write = { kind: "bytes"; length: number; seed: number } | { kind: "page"; seed: number };

/** A kernel instance with a 256 KiB buffer, a source page and a state area. */
function bench(): { k: Kernels; base: number; srcPage: number; state: number } {
  const k = new Kernels(1 << 20, 256);
  const base = k.frames.allocBuffer(256 << 10);
  const srcPage = k.frames.allocBuffer(PAGE);
  const state = k.frames.allocBuffer(PAGE);
  expect(XXH3_STREAM_STATE_BYTES).toBeLessThanOrEqual(PAGE);
  return { k, base, srcPage, state };
}

/** Applies `writes` from `base` on; returns the bytes written, as the buffer holds them. */
function write(b: ReturnType<typeof bench>, writes: readonly Write[], onEach?: (len: number) => void): Uint8Array {
  const { k, base, srcPage, state } = b;
  const parts: Uint8Array[] = [];
  let len = 0;
  for (const w of writes) {
    if (w.kind === "bytes") {
      const bytes = randomBytes(w.length, w.seed);
      k.heap.copyIn(base + len, bytes);
      parts.push(bytes);
      len += bytes.length;
    } else {
      const page = randomBytes(PAGE, w.seed);
      k.heap.copyIn(srcPage, page);
      k.stream.hashCopyPage(state, base + len, srcPage);
      parts.push(page);
      len += PAGE;
    }
    onEach?.(len);
  }
  const all = new Uint8Array(len);
  parts.reduce((at, p) => { all.set(p, at); return at + p.length; }, 0);
  return all;
}

describe("streaming XXH3-64 of a buffer written front to back", () => {
  it("a page at every offset of a stripe, ending the buffer or followed by bytes, hashes as the whole buffer does", () => {
    const b = bench();
    for (let head = 0; head < 64; head++) {
      for (const tail of [0, 1, 8, 63, 64, 65]) {
        b.k.stream.hashBegin(b.state, b.base);
        const writes: Write[] = [{ kind: "bytes", length: head, seed: head }, { kind: "page", seed: 1000 + head }, { kind: "bytes", length: tail, seed: tail }];
        const bytes = write(b, writes);
        const got = b.k.stream.hashFinish(b.state, b.base, bytes.length);
        expect([head, tail, got]).toEqual([head, tail, xxh3Ref(bytes)]);
      }
    }
  });

  it("any mix of pages and bytes, finished at any moment, equals the oracle (fast-check)", () => {
    const b = bench();
    const writeArb: fc.Arbitrary<Write> = fc.oneof(
      fc.record({ kind: fc.constant("bytes" as const), length: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 9000 })), seed: fc.integer() }),
      fc.record({ kind: fc.constant("page" as const), seed: fc.integer() }),
    );
    fc.assert(fc.property(fc.array(writeArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 11 }), (writes, finishAfter) => {
      b.k.stream.hashBegin(b.state, b.base);
      const early: Array<[number, bigint]> = [];
      const bytes = write(b, writes, (len) => {
        if (early.length === 0 && finishAfter-- === 0 && len > 0) early.push([len, b.k.stream.hashFinish(b.state, b.base, len)]);
      });
      for (const [len, h] of early) expect(h).toBe(xxh3Ref(bytes.subarray(0, len)));
      expect(b.k.stream.hashFinish(b.state, b.base, bytes.length)).toBe(xxh3Ref(bytes));
    }), { numRuns: 60, seed: 18 });
  });

  it("a state begun for another buffer, or hashed past the length asked for, is ignored: the buffer is hashed whole", () => {
    const b = bench();
    b.k.stream.hashBegin(b.state, b.base);
    const bytes = write(b, [{ kind: "bytes", length: 100, seed: 1 }, { kind: "page", seed: 2 }, { kind: "page", seed: 3 }]);
    expect(b.k.stream.hashFinish(b.state, b.base + 4, bytes.length - 4)).toBe(xxh3Ref(bytes.subarray(4)));
    expect(b.k.stream.hashFinish(b.state, b.base, 300)).toBe(xxh3Ref(bytes.subarray(0, 300)));
    expect(b.k.stream.hashFinish(b.state, b.base, bytes.length)).toBe(xxh3Ref(bytes));
  });
});

describe("the packer's chunks and the receiver's fingerprint table", () => {
  it("every chunk carries XXH3-64 of its payload; the destination's digest equals the source's", () => {
    const src = createHost({ memoryMiB: 64 });
    const dst = createHost({ memoryMiB: 64 });
    const vm = src.createVm({ pages: 600 });
    const next = mulberry32(7);
    for (let pfn = 0; pfn < vm.pages; pfn++) {
      const kind = next() % 4; // 0 untouched, 1 zero-filled, 2 random, 3 random with an odd length
      if (kind === 1) vm.write(pfn * PAGE, new Uint8Array(PAGE));
      if (kind >= 2) vm.write(pfn * PAGE, randomBytes(kind === 2 ? PAGE : 1 + (next() % PAGE), next()));
    }
    vm.write(5 * PAGE, randomBytes(PAGE, 5));
    vm.write(6 * PAGE, randomBytes(PAGE, 6));
    injectMemoryError(src, { vm, gpa: 5 * PAGE });
    injectMemoryError(src, { vm, gpa: 6 * PAGE }, { latent: true });
    const packer = new PagePacker(vm, { xbzrleCacheBytes: 1024 * PAGE });
    const receiver = new StreamReceiver(dst);
    let chunks = 0;
    const check = (chunk: Uint8Array | null): void => {
      if (!chunk) return;
      for (let at = 0; at < chunk.length;) {
        const h = readChunkHeader(chunk, at);
        const payload = chunk.subarray(at + CHUNK_HEADER_BYTES, at + CHUNK_HEADER_BYTES + h.payloadBytes);
        expect(h.checksum).toBe(checksumOf(xxh3Independent(payload)));
        at += CHUNK_HEADER_BYTES + h.payloadBytes;
        chunks++;
      }
      receiver.push(chunk);
    };
    try {
      receiver.push(packer.header());
      const all = packer.scratchList(Array.from({ length: vm.pages }, (_, i) => i));
      for (const [generation, stage] of (["bulk", "iterate", "iterate"] as const).entries()) {
        for (let start = 0; start < all.length;) {
          const r = packer.packChunk(all, start, all.length - start, stage, generation + 1);
          start += r.consumed;
          check(r.chunk);
        }
        if (generation < 2) for (let pfn = 7; pfn < vm.pages; pfn += 3) vm.write(pfn * PAGE + (pfn % 4000), randomBytes(1 + (pfn % 90), pfn * 7 + generation)); // XBZRLE deltas next
      }
      check(packer.endStream());
      expect(packer.totals.xbzrlePages).toBeGreaterThan(0);
      expect(packer.totals.zeroPages).toBeGreaterThan(0);
      expect(packer.totals.poisonedPages).toBeGreaterThan(0);
      expect(chunks).toBeGreaterThan(4);
      expect(receiver.done).toBe(true);
      const dvm = receiver.finish();
      expect(guestDigest(dvm)).toEqual(guestDigest(vm));
    } finally {
      packer.close();
    }
  });
});
