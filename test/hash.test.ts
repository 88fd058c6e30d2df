// XXH64: the wasm kernel (through pageHash64 and the raw hash64/hashPages)
// against the specification's test values, the BigInt oracle and the
// independent xxhash-wasm implementation. XXH3-64: the wasm kernel against
// its BigInt oracle and the independent hash-wasm implementation, in every
// length class and across block boundaries.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import xxhash from "xxhash-wasm";
import { createXXHash3, type IHasher } from "hash-wasm";
import { pageHash64 } from "../src/pages/pages.js";
import { Kernels } from "../src/wasm/kernels.js";
import { xxh64Ref } from "./reference/pages.js";
import { xxh3Ref } from "./reference/xxh3.js";

type H64Raw = (input: Uint8Array, seed?: bigint) => bigint;
let h64Raw: H64Raw;
let h3: IHasher;
beforeAll(async () => {
  ({ h64Raw } = await xxhash());
  h3 = await createXXHash3(0, 0);
});

/** XXH3-64 (seed 0) by hash-wasm. */
function xxh3Independent(bytes: Uint8Array): bigint {
  h3.init();
  h3.update(bytes);
  return BigInt(`0x${h3.digest("hex")}`);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function randomBytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x297a2d39) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe("XXH64", () => {
  const known: [string, bigint][] = [
    ["", 0xEF46DB3751D8E999n],
    ["a", 0xD24EC4F1A98C6E5Bn],
    ["abc", 0x44BC2CF5AD770999n],
  ];

  it.each(known)("of %j is the specification's value", (input, want) => {
    expect(pageHash64(text(input))).toBe(want);
    expect(xxh64Ref(text(input))).toBe(want);
    expect(h64Raw(text(input), 0n)).toBe(want);
  });

  it("matches xxhash-wasm and the oracle for every length 0..300 (every tail of 8, 4 and 1 bytes)", () => {
    for (let len = 0; len <= 300; len++) {
      const bytes = randomBytes(len, len * 2654435761);
      const want = h64Raw(bytes, 0n);
      expect(pageHash64(bytes), `length ${len}`).toBe(want);
      expect(xxh64Ref(bytes), `oracle, length ${len}`).toBe(want);
    }
  });

  it("matches xxhash-wasm on pages and larger buffers", () => {
    for (const len of [4096, 8192, 4096 * 3 + 7, 65536]) {
      const bytes = randomBytes(len, len);
      expect(pageHash64(bytes), `length ${len}`).toBe(h64Raw(bytes, 0n));
    }
  });

  it("matches xxhash-wasm for random seeds, lengths and unaligned start addresses (raw hash64)", () => {
    const kernels = new Kernels(1 << 20, 16);
    const base = kernels.layout.scratchBase;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 15 }),
        (bytes, seed, misalign) => {
          kernels.heap.copyIn(base + misalign, bytes);
          expect(kernels.pages.hash64(base + misalign, bytes.length, seed)).toBe(h64Raw(bytes, seed));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("hashPages writes the hash of each page to the u64 array", () => {
    const kernels = new Kernels(1 << 20, 16);
    const base = kernels.layout.scratchBase;
    for (const [pageBytes, count] of [[4096, 5], [100, 9], [1, 3]]) {
      const bytes = randomBytes(pageBytes * count, pageBytes);
      kernels.heap.copyIn(base, bytes);
      const outPtr = base + 65536;
      kernels.heap.u8.fill(0xab, outPtr, outPtr + 8 * (count + 1));
      kernels.pages.hashPages(base, pageBytes, count, outPtr);
      const out = new BigUint64Array(kernels.heap.u8.buffer, outPtr, count + 1);
      for (let i = 0; i < count; i++) {
        expect(out[i], `page ${i} of ${pageBytes} bytes`).toBe(h64Raw(bytes.subarray(i * pageBytes, (i + 1) * pageBytes), 0n));
      }
      expect(out[count]).toBe(0xababababababababn); // nothing past the last hash
    }
  });
});

describe("XXH3-64", () => {
  const kernels = new Kernels(4 << 20, 16);
  const base = kernels.layout.scratchBase;
  const wasmXxh3 = (bytes: Uint8Array, misalign = 0): bigint => {
    kernels.heap.copyIn(base + misalign, bytes);
    return kernels.pages.xxh3(base + misalign, bytes.length);
  };

  it("of the empty input and of \"abc\" is hash-wasm's value, and the oracle's", () => {
    for (const input of [text(""), text("abc")]) {
      const want = xxh3Independent(input);
      expect(wasmXxh3(input)).toBe(want);
      expect(xxh3Ref(input)).toBe(want);
    }
  });

  it("matches hash-wasm and the oracle for every length 0..1100 (every class: 1-3, 4-8, 9-16, 17-128, 129-240, stripes, a whole 1024-byte block and past it)", () => {
    for (let len = 0; len <= 1100; len++) {
      const bytes = randomBytes(len, len * 40503 + 7);
      const want = xxh3Independent(bytes);
      expect(wasmXxh3(bytes), `length ${len}`).toBe(want);
      if (len <= 300 || len % 64 <= 1 || len % 1024 <= 1) expect(xxh3Ref(bytes), `oracle, length ${len}`).toBe(want);
    }
  });

  it("matches hash-wasm on pages, chunk-sized buffers and block boundaries, at unaligned start addresses", () => {
    for (const len of [4096, 4097, 8191, 65536, 1024 * 1024 + 4104, 3 * 1024 * 1024 + 1]) {
      const bytes = randomBytes(len, len);
      expect(wasmXxh3(bytes, len % 13), `length ${len}`).toBe(xxh3Independent(bytes));
    }
  });

  it("matches hash-wasm for random inputs and start addresses (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 5000 }), fc.integer({ min: 0, max: 15 }), (bytes, misalign) => {
        expect(wasmXxh3(bytes, misalign)).toBe(xxh3Independent(bytes));
      }),
      { numRuns: 300 },
    );
  });
});
