// Bench cases of the remaining kernels: bitmap count, OR and AND-NOT over a
// 16 Mi-bit (2 MiB) bitmap, and the seeded workload generators (Zipf and
// hot/cold, 64 Ki access records per pass), each against its TypeScript
// reference (the generators against the BigInt oracle of the tests).
import type { BenchCase } from "../case.js";
import { WORKLOAD_SLOTS_OFFSET } from "../../src/wasm/codes.js";
import { Kernels } from "../../src/wasm/kernels.js";
import { bitmapCountRef } from "../../test/reference/pages.js";
import { ReferenceWorkload, type ReferenceWorkloadParams } from "../../test/reference/workload.js";
import { splitmix } from "./prng.js";

const BITS = 1 << 24;
const WORDS = BITS / 64;
const BYTES = BITS / 8;

/** A bitmap with `set` random bits, as bytes. */
function randomBitmap(seed: bigint, set: number): Uint8Array {
  const u32 = new Uint32Array(BITS / 32);
  const rng = splitmix(seed);
  for (let n = 0; n < set;) {
    const i = Number(rng() & BigInt(BITS - 1));
    if ((u32[i >>> 5] & (1 << (i & 31))) === 0) {
      u32[i >>> 5] |= 1 << (i & 31);
      n++;
    }
  }
  return new Uint8Array(u32.buffer);
}

const bitmapCount: BenchCase = {
  name: "bitmap-count-1pct",
  bytesPerPass: BYTES,
  opsPerPass: BITS,
  setup() {
    const k = new Kernels(4 * BYTES, 16);
    const bytes = randomBitmap(0xc0de1n, BITS / 100);
    const ptr = k.layout.scratchBase;
    k.heap.copyIn(ptr, bytes);
    const u32 = new Uint32Array(bytes.buffer);
    let wasmCount = 0;
    let tsCount = 0;
    const wasmRun = (): void => { wasmCount = k.pages.bitmapCount(ptr, WORDS); };
    const tsRun = (): void => {
      let n = 0;
      for (let i = 0; i < u32.length; i++) {
        let v = u32[i] - ((u32[i] >>> 1) & 0x55555555);
        v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
        n += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
      }
      tsCount = n;
    };
    return {
      wasm: { run: wasmRun },
      ts: { run: tsRun },
      verify() {
        const want = bitmapCountRef(new BigUint64Array(bytes.buffer));
        wasmRun();
        tsRun();
        if (wasmCount !== want || tsCount !== want) throw new Error(`bitmap-count-1pct: wasm ${wasmCount}, ts ${tsCount}, oracle ${want}`);
      },
    };
  },
};

/** dst = dst OP src over 2 MiB (idempotent, so passes need no restore). */
function bitmapMerge(name: string, op: "or" | "andnot"): BenchCase {
  return {
    name,
    bytesPerPass: 2 * BYTES,
    opsPerPass: BITS,
    setup() {
      const k = new Kernels(4 * BYTES, 16);
      const dst = randomBitmap(0xd57n, BITS / 10);
      const src = randomBitmap(0x5bcn, BITS / 10);
      const dstPtr = k.layout.scratchBase;
      const srcPtr = dstPtr + BYTES;
      k.heap.copyIn(dstPtr, dst);
      k.heap.copyIn(srcPtr, src);
      const tsDst = new Uint32Array(dst.slice().buffer);
      const tsSrc = new Uint32Array(src.buffer);
      const wasmRun = op === "or" ? () => k.pages.bitmapOr(dstPtr, srcPtr, WORDS) : () => k.pages.bitmapAndNot(dstPtr, srcPtr, WORDS);
      const tsRun = op === "or"
        ? () => { for (let i = 0; i < tsDst.length; i++) tsDst[i] |= tsSrc[i]; }
        : () => { for (let i = 0; i < tsDst.length; i++) tsDst[i] &= ~tsSrc[i]; };
      return {
        wasm: { run: wasmRun },
        ts: { run: tsRun },
        verify() {
          wasmRun();
          tsRun();
          const want = dst.map((b, i) => (op === "or" ? b | src[i] : b & ~src[i]));
          if (Buffer.compare(k.heap.copyOut(dstPtr, BYTES), want) !== 0) throw new Error(`${name}: wasm result differs from the oracle`);
          if (Buffer.compare(new Uint8Array(tsDst.buffer), want) !== 0) throw new Error(`${name}: reference result differs from the oracle`);
        },
      };
    },
  };
}

const RECORDS = 65536;

/** The seeded generator: 64 Ki access records per pass from wasm, and from the BigInt reference. */
function workloadCase(name: string, params: ReferenceWorkloadParams): BenchCase {
  return {
    name,
    bytesPerPass: RECORDS * 16,
    opsPerPass: RECORDS,
    rateIn: "ops",
    setup() {
      const k = new Kernels(RECORDS * 16 * 2, 16);
      const desc = k.layout.ctrlBase + WORKLOAD_SLOTS_OFFSET;
      const out = k.layout.scratchBase;
      const init = (): void => k.workloads.init(desc, params.kind, params.seed, params.firstPage, params.pageCount, params.writeFraction, params.accessBytes, params.p1, params.p2);
      let ref = new ReferenceWorkload(params);
      return {
        wasm: { run: () => k.workloads.generate(desc, out, RECORDS) },
        ts: { run: () => { ref.next(RECORDS); } },
        verify() {
          init();
          ref = new ReferenceWorkload(params);
          k.workloads.generate(desc, out, RECORDS);
          if (Buffer.compare(k.heap.copyOut(out, RECORDS * 16), ref.next(RECORDS)) !== 0) throw new Error(`${name}: wasm records differ from the reference`);
        },
      };
    },
  };
}

const GUEST = { firstPage: 0, pageCount: 262144, writeFraction: 0.3, accessBytes: 64, seed: 7n };

export const bitmapCases: BenchCase[] = [
  bitmapCount,
  bitmapMerge("bitmap-or-2MiB", "or"),
  bitmapMerge("bitmap-andnot-2MiB", "andnot"),
  workloadCase("workload-zipf", { ...GUEST, kind: 1, p1: 1.1, p2: 0 }),
  workloadCase("workload-hotcold", { ...GUEST, kind: 2, p1: 0.1, p2: 0.9 }),
];

