// Bench cases for the page kernels: XOR parity, zero test, XXH64, compare,
// copy and the bitmap scan. Shapes and counted units are those of
// ../shared/native/README.md ("Cases"). The wasm side calls the raw kernels
// on data resident in linear memory; the ts side runs a plain TypeScript
// version of the same work on Uint8Arrays (or Node's native code where that
// is what a TypeScript program would use).
import type { BenchCase, BenchImpl } from "../case.js";
import { PAGE_SIZE } from "../../src/wasm/codes.js";
import { Kernels } from "../../src/wasm/kernels.js";
import { bitmapScanRef, firstDiffRef, isZeroRef, xorParityRef, xxh64Ref } from "../../test/reference/pages.js";
import { xxh3Ref } from "../../test/reference/xxh3.js";
import { fillRandom, splitMix32 } from "./prng.js";

const MIB = 1 << 20;
const PAGE_WORDS32 = PAGE_SIZE / 4;

/** Throws with the first differing offset when `a` and `b` differ. */
function assertSameBytes(what: string, a: Uint8Array, b: Uint8Array): void {
  if (a.length === b.length && Buffer.compare(a, b) === 0) return;
  throw new Error(`${what}: results differ (lengths ${a.length}/${b.length}, first difference at ${firstDiffRef(a.subarray(0, b.length), b.subarray(0, a.length))})`);
}

/** `count` views of PAGE_SIZE bytes over `bytes`. */
function pageViews(bytes: Uint8Array, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, p) => bytes.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
}

/**
 * XOR parity, k = 8: `groups` groups of 8 contiguous random pages, one parity
 * page per group in a separate buffer. The ts side is an unrolled 8-stream
 * Uint32Array loop.
 */
function xorParityCase(name: string, groups: number, seed: number): BenchCase {
  const srcBytes = groups * 8 * PAGE_SIZE;
  return {
    name,
    bytesPerPass: srcBytes,
    opsPerPass: groups,
    setup() {
      const frames = (srcBytes + groups * PAGE_SIZE) / PAGE_SIZE + 16;
      let k: Kernels | undefined = new Kernels(Math.max(MIB, groups * 32), frames);
      const srcPtr = k.frames.allocBuffer(srcBytes);
      const parityPtr = k.frames.allocBuffer(groups * PAGE_SIZE);
      const listPtr = k.layout.scratchBase;
      const u8 = k.heap.u8;
      fillRandom(u8.subarray(srcPtr, srcPtr + srcBytes), seed);
      u8.fill(0xa5, parityPtr, parityPtr + groups * PAGE_SIZE);
      const list = new Uint32Array(u8.buffer, listPtr, groups * 8);
      for (let i = 0; i < groups * 8; i++) list[i] = srcPtr + i * PAGE_SIZE;

      let src: Uint32Array | undefined = new Uint32Array(srcBytes / 4);
      let parity: Uint32Array | undefined = new Uint32Array(groups * PAGE_WORDS32);
      new Uint8Array(src.buffer).set(u8.subarray(srcPtr, srcPtr + srcBytes));
      parity.fill(0x5a5a5a5a);

      const wasm: BenchImpl = {
        run() {
          const kk = k!;
          for (let g = 0; g < groups; g++) kk.pages.xorParity(parityPtr + g * PAGE_SIZE, listPtr + g * 32, 8, PAGE_SIZE);
        },
      };
      const ts: BenchImpl = {
        run() {
          const s = src!;
          const out = parity!;
          for (let g = 0; g < groups; g++) {
            const b = g * 8 * PAGE_WORDS32;
            const d = g * PAGE_WORDS32;
            for (let w = 0; w < PAGE_WORDS32; w++) {
              out[d + w] = s[b + w] ^ s[b + PAGE_WORDS32 + w] ^ s[b + 2 * PAGE_WORDS32 + w] ^ s[b + 3 * PAGE_WORDS32 + w] ^
                s[b + 4 * PAGE_WORDS32 + w] ^ s[b + 5 * PAGE_WORDS32 + w] ^ s[b + 6 * PAGE_WORDS32 + w] ^ s[b + 7 * PAGE_WORDS32 + w];
            }
          }
        },
      };
      return {
        wasm,
        ts,
        verify() {
          wasm.run();
          ts.run();
          const got = k!.heap.borrow(parityPtr, groups * PAGE_SIZE);
          const tsBytes = new Uint8Array(parity!.buffer);
          assertSameBytes(`${name} wasm vs ts`, got, tsBytes);
          const srcU8 = new Uint8Array(src!.buffer);
          for (const g of new Set([0, 1, groups >> 1, groups - 1])) {
            const pages = pageViews(srcU8.subarray(g * 8 * PAGE_SIZE), 8);
            assertSameBytes(`${name} group ${g} vs oracle`, got.subarray(g * PAGE_SIZE, (g + 1) * PAGE_SIZE), xorParityRef(pages));
          }
        },
        teardown() {
          k = undefined;
          src = undefined;
          parity = undefined;
        },
      };
    },
  };
}

const PAGES = 256;

/** 256 all-zero pages (written before use); the ts side ORs Uint32 words per 256-byte chunk. */
const zeroPage: BenchCase = {
  name: "zero-page",
  bytesPerPass: PAGES * PAGE_SIZE,
  opsPerPass: PAGES,
  setup() {
    const k = new Kernels(MIB, PAGES + 16);
    const ptr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    const u8 = k.heap.u8;
    u8.fill(0xff, ptr, ptr + PAGES * PAGE_SIZE);
    u8.fill(0, ptr, ptr + PAGES * PAGE_SIZE);
    const words = new Uint32Array(PAGES * PAGE_WORDS32);
    words.fill(1);
    words.fill(0);
    let wasmZero = 0;
    let tsZero = 0;
    const isZeroTs = (base: number): boolean => {
      for (let c = base; c < base + PAGE_WORDS32; c += 64) {
        let a = 0, b = 0, d = 0, e = 0;
        for (let i = c; i < c + 64; i += 4) {
          a |= words[i]; b |= words[i + 1]; d |= words[i + 2]; e |= words[i + 3];
        }
        if ((a | b | d | e) !== 0) return false;
      }
      return true;
    };
    const wasm: BenchImpl = {
      run() {
        let n = 0;
        for (let p = 0; p < PAGES; p++) if (k.pages.isZero(ptr + p * PAGE_SIZE, PAGE_SIZE)) n++;
        wasmZero = n;
      },
    };
    const ts: BenchImpl = {
      run() {
        let n = 0;
        for (let p = 0; p < PAGES; p++) if (isZeroTs(p * PAGE_WORDS32)) n++;
        tsZero = n;
      },
    };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        if (wasmZero !== PAGES || tsZero !== PAGES) throw new Error(`zero-page: ${wasmZero} (wasm) / ${tsZero} (ts) of ${PAGES} pages zero`);
        // One non-zero byte anywhere must be seen by both.
        const view = new Uint8Array(words.buffer);
        for (const off of [0, 1, 7, 8, 255, 256, 2048, 4088, 4095]) {
          const at = 3 * PAGE_SIZE + off;
          k.heap.u8[ptr + at] = 1;
          view[at] = 1;
          const w = k.pages.isZero(ptr + 3 * PAGE_SIZE, PAGE_SIZE);
          const t = isZeroTs(3 * PAGE_WORDS32);
          k.heap.u8[ptr + at] = 0;
          view[at] = 0;
          if (w || t || isZeroRef(k.heap.borrow(ptr + 3 * PAGE_SIZE, PAGE_SIZE)) !== true) {
            throw new Error(`zero-page: non-zero byte at ${off} missed (wasm ${w}, ts ${t})`);
          }
        }
      },
    };
  },
};

/** XXH64 (seed 0) of 256 random pages into a u64 array; the ts side is the BigInt oracle. */
const pageHash: BenchCase = {
  name: "page-hash",
  bytesPerPass: PAGES * PAGE_SIZE,
  opsPerPass: PAGES,
  setup() {
    const k = new Kernels(MIB, PAGES + 16);
    const ptr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    const outPtr = k.frames.allocBuffer(PAGES * 8);
    fillRandom(k.heap.borrow(ptr, PAGES * PAGE_SIZE), 0x4a5b);
    k.heap.u8.fill(0xee, outPtr, outPtr + PAGES * 8);
    const bytes = k.heap.copyOut(ptr, PAGES * PAGE_SIZE);
    const pages = pageViews(bytes, PAGES);
    const tsOut = new BigUint64Array(PAGES).fill(0xeeeeeeeeeeeeeeeen);
    const wasm: BenchImpl = { run() { k.pages.hashPages(ptr, PAGE_SIZE, PAGES, outPtr); } };
    const ts: BenchImpl = { run() { for (let p = 0; p < PAGES; p++) tsOut[p] = xxh64Ref(pages[p]); } };
    return {
      wasm,
      ts,
      verify() {
        const known: [string, bigint][] = [["", 0xEF46DB3751D8E999n], ["a", 0xD24EC4F1A98C6E5Bn], ["abc", 0x44BC2CF5AD770999n]];
        for (const [text, want] of known) {
          const b = new TextEncoder().encode(text);
          const s = k.layout.scratchBase;
          k.heap.copyIn(s, b);
          if (k.pages.hash64(s, b.length) !== want || xxh64Ref(b) !== want) throw new Error(`page-hash: XXH64("${text}") wrong`);
        }
        wasm.run();
        ts.run();
        const got = new BigUint64Array(k.heap.u8.buffer, outPtr, PAGES);
        for (let p = 0; p < PAGES; p++) {
          if (got[p] !== tsOut[p]) throw new Error(`page-hash: page ${p}: wasm ${got[p].toString(16)} vs oracle ${tsOut[p].toString(16)}`);
        }
      },
    };
  },
};

/** XXH3-64 of 64 KiB of random bytes (the stream's chunk checksum, in small); the ts side is the BigInt oracle. */
const XXH3_BYTES = 64 * 1024;
const xxh3Case: BenchCase = {
  name: "xxh3-64KiB",
  bytesPerPass: XXH3_BYTES,
  opsPerPass: 1,
  setup() {
    const k = new Kernels(MIB, 32);
    const ptr = k.frames.allocBuffer(XXH3_BYTES);
    fillRandom(k.heap.borrow(ptr, XXH3_BYTES), 0x3c3d);
    const bytes = k.heap.copyOut(ptr, XXH3_BYTES);
    let wasmOut = 0n;
    let tsOut = 1n;
    const wasm: BenchImpl = { run() { wasmOut = k.pages.xxh3(ptr, XXH3_BYTES); } };
    const ts: BenchImpl = { run() { tsOut = xxh3Ref(bytes); } };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        if (wasmOut !== tsOut) throw new Error(`xxh3-64KiB: wasm ${wasmOut.toString(16)} vs oracle ${tsOut.toString(16)}`);
      },
    };
  },
};

/** 256 pairs of equal random pages; the ts side is Buffer.compare plus a byte scan (Node's native code). */
const pageCompare: BenchCase = {
  name: "page-compare",
  bytesPerPass: 2 * PAGES * PAGE_SIZE,
  opsPerPass: PAGES,
  setup() {
    const k = new Kernels(MIB, 2 * PAGES + 16);
    const aPtr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    const bPtr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    fillRandom(k.heap.borrow(aPtr, PAGES * PAGE_SIZE), 0x7c0e);
    k.heap.u8.copyWithin(bPtr, aPtr, aPtr + PAGES * PAGE_SIZE);
    const a = pageViews(k.heap.copyOut(aPtr, PAGES * PAGE_SIZE), PAGES);
    const b = pageViews(k.heap.copyOut(bPtr, PAGES * PAGE_SIZE), PAGES);
    const wasmOut = new Int32Array(PAGES);
    const tsOut = new Int32Array(PAGES);
    const firstDiffTs = (x: Uint8Array, y: Uint8Array): number => {
      if (Buffer.compare(x, y) === 0) return -1;
      let i = 0;
      while (x[i] === y[i]) i++;
      return i;
    };
    const wasm: BenchImpl = {
      run() { for (let p = 0; p < PAGES; p++) wasmOut[p] = k.pages.compare(aPtr + p * PAGE_SIZE, bPtr + p * PAGE_SIZE, PAGE_SIZE); },
    };
    const ts: BenchImpl = { run() { for (let p = 0; p < PAGES; p++) tsOut[p] = firstDiffTs(a[p], b[p]); } };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        for (let p = 0; p < PAGES; p++) {
          if (wasmOut[p] !== -1 || tsOut[p] !== -1) throw new Error(`page-compare: page ${p}: ${wasmOut[p]} (wasm) / ${tsOut[p]} (ts), want -1`);
        }
        for (const [i, j] of [[0, 4095], [1, 17], [255, 256], [256, 4000], [2048, 2049], [4095, 4095]]) {
          const pa = aPtr + 5 * PAGE_SIZE;
          const pb = bPtr + 5 * PAGE_SIZE;
          const u8 = k.heap.u8;
          u8[pb + i] ^= 0x10;
          u8[pb + j] ^= 0x01;
          const want = firstDiffRef(k.heap.borrow(pa, PAGE_SIZE), k.heap.borrow(pb, PAGE_SIZE));
          const got = k.pages.compare(pa, pb, PAGE_SIZE);
          const viaTs = firstDiffTs(k.heap.borrow(pa, PAGE_SIZE), k.heap.borrow(pb, PAGE_SIZE));
          u8[pb + i] ^= 0x10;
          u8[pb + j] ^= 0x01;
          if (got !== want || viaTs !== want) throw new Error(`page-compare: differences at ${i}, ${j}: wasm ${got}, ts ${viaTs}, want ${want}`);
        }
      },
    };
  },
};

/**
 * 256 page copies of 4096 bytes between two 1 MiB buffers, against one
 * native memcpy of the same MiB (Uint8Array.prototype.set of the whole
 * buffer). The baseline is not a `set` per page: V8 pays a per-call cost
 * for a small `set` in some processes and not in others (the same loop ran
 * at 1.5-2.7 GB/s after the cases before it in one process and at 22-26
 * GB/s alone), which made this gate a coin toss; one call of 1 MiB runs at
 * memcpy speed in both.
 */
const pageCopy: BenchCase = {
  name: "page-copy-1MiB",
  bytesPerPass: PAGES * PAGE_SIZE,
  opsPerPass: PAGES,
  setup() {
    const k = new Kernels(MIB, 2 * PAGES + 16);
    const srcPtr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    const dstPtr = k.frames.allocBuffer(PAGES * PAGE_SIZE);
    fillRandom(k.heap.borrow(srcPtr, PAGES * PAGE_SIZE), 0x3c3c);
    k.heap.u8.fill(0x11, dstPtr, dstPtr + PAGES * PAGE_SIZE);
    const srcBytes = k.heap.copyOut(srcPtr, PAGES * PAGE_SIZE);
    const dst = new Uint8Array(PAGES * PAGE_SIZE).fill(0x22);
    const wasm: BenchImpl = {
      run() { for (let p = 0; p < PAGES; p++) k.pages.copy(dstPtr + p * PAGE_SIZE, srcPtr + p * PAGE_SIZE, PAGE_SIZE); },
    };
    const ts: BenchImpl = { run() { dst.set(srcBytes); } };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        assertSameBytes("page-copy-1MiB wasm", k.heap.borrow(dstPtr, PAGES * PAGE_SIZE), srcBytes);
        assertSameBytes("page-copy-1MiB ts", dst, srcBytes);
      },
    };
  },
};

const SCAN_BITS = 16_777_216;
const SCAN_SET = 167_772;

/**
 * A 2 MiB bitmap with exactly 167,772 of 16,777,216 bits set, uniform at
 * random; every index goes to a u32 array. The ts side scans 32-bit halves
 * with clz32 of the lowest set bit.
 */
const bitmapScan: BenchCase = {
  name: "bitmap-scan-1pct",
  bytesPerPass: SCAN_BITS / 8,
  opsPerPass: SCAN_BITS,
  setup() {
    const k = new Kernels(MIB, Math.ceil((SCAN_BITS / 8 + SCAN_SET * 4) / PAGE_SIZE) + 16);
    const words = SCAN_BITS / 64;
    const mapPtr = k.frames.allocBuffer(SCAN_BITS / 8);
    const outPtr = k.frames.allocBuffer(SCAN_SET * 4);
    const bits = new Uint32Array(SCAN_BITS / 32).fill(0); // written, so no page is the kernel's zero page
    const next = splitMix32(0xb175);
    for (let set = 0; set < SCAN_SET;) {
      const i = next() & (SCAN_BITS - 1);
      const m = 1 << (i & 31);
      if ((bits[i >>> 5] & m) === 0) {
        bits[i >>> 5] |= m;
        set++;
      }
    }
    k.heap.copyIn(mapPtr, new Uint8Array(bits.buffer));
    k.heap.u8.fill(0xcc, outPtr, outPtr + SCAN_SET * 4);
    const tsOut = new Uint32Array(SCAN_SET).fill(0xcccccccc);
    let wasmCount = 0;
    let tsCount = 0;
    const wasm: BenchImpl = { run() { wasmCount = k.pages.bitmapScan(mapPtr, words, outPtr); } };
    const ts: BenchImpl = {
      run() {
        let n = 0;
        for (let w = 0; w < bits.length; w++) {
          let v = bits[w];
          while (v !== 0) {
            tsOut[n++] = w * 32 + 31 - Math.clz32(v & -v);
            v &= v - 1;
          }
        }
        tsCount = n;
      },
    };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        const want = bitmapScanRef(new BigUint64Array(bits.buffer));
        if (wasmCount !== SCAN_SET || tsCount !== SCAN_SET || want.length !== SCAN_SET) {
          throw new Error(`bitmap-scan-1pct: counts wasm ${wasmCount}, ts ${tsCount}, oracle ${want.length}, want ${SCAN_SET}`);
        }
        const got = new Uint32Array(k.heap.u8.buffer, outPtr, SCAN_SET);
        for (let i = 0; i < SCAN_SET; i++) {
          if (got[i] !== want[i] || tsOut[i] !== want[i]) throw new Error(`bitmap-scan-1pct: index ${i}: wasm ${got[i]}, ts ${tsOut[i]}, want ${want[i]}`);
        }
      },
    };
  },
};

export const pageCases: BenchCase[] = [
  xorParityCase("xor-parity-k8-1MiB", 32, 0x1001),
  xorParityCase("xor-parity-k8-256MiB", 8192, 0x2002),
  zeroPage,
  pageHash,
  xxh3Case,
  pageCompare,
  pageCopy,
  bitmapScan,
];
