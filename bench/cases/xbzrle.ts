// Bench cases for XBZRLE, in the shapes of ../shared/native/README.md: 256
// distinct old/new page pairs (1 MiB of new pages) where each new page has
// exactly 0, 41 or 819 distinct random bytes changed (new = old ^ r, r in
// 1..255), encoded with dlen = 4096 into one reused output buffer; and the 256
// encodings of the 1% case decoded onto a 1 MiB copy of the old pages. The
// wasm side runs the raw kernels on pages resident in linear memory; the ts
// side runs the byte-at-a-time oracle (test/reference/xbzrle.ts).
//
// Scratch layout (MiB offsets): 0 old pages | 1 new pages | 2 output buffer |
// 3 encodings, one 4 KiB slot per page | 4 decode target pages.
import type { BenchCase, BenchImpl } from "../case.js";
import { PAGE_SIZE } from "../../src/wasm/codes.js";
import { Kernels } from "../../src/wasm/kernels.js";
import { refXbzrleDecode, refXbzrleEncode } from "../../test/reference/xbzrle.js";
import { splitMix32 } from "./prng.js";

const MIB = 1 << 20;
const PAGES = 256;
const SET_BYTES = PAGES * PAGE_SIZE;
const SCRATCH_BYTES = 8 * MIB;
const [OLD, NEW, OUT, ENC, DEC] = [0, 1, 2, 3, 4].map((n) => n * MIB);

/** 256 random old pages and their new pages with `changed` distinct bytes per page altered. */
function makePages(changed: number, seed: number): { oldPages: Uint8Array; newPages: Uint8Array } {
  const next = splitMix32(seed);
  const oldPages = new Uint8Array(SET_BYTES);
  for (let i = 0; i < SET_BYTES; i++) oldPages[i] = next() & 0xff;
  const newPages = oldPages.slice();
  const offsets = Uint16Array.from({ length: PAGE_SIZE }, (_, i) => i);
  for (let p = 0; p < PAGES; p++) {
    for (let j = 0; j < changed; j++) { // partial Fisher-Yates: `changed` distinct offsets
      const pick = j + (next() % (PAGE_SIZE - j));
      [offsets[j], offsets[pick]] = [offsets[pick], offsets[j]];
      newPages[p * PAGE_SIZE + offsets[j]] ^= 1 + (next() % 255);
    }
  }
  return { oldPages, newPages };
}

/** Per-page subarray views of a 1 MiB set, made once so timed loops allocate nothing. */
const pageViews = (bytes: Uint8Array): Uint8Array[] =>
  Array.from({ length: PAGES }, (_, p) => bytes.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));

/** Throws with the page and first differing offset when `a` and `b` differ. */
function assertSame(what: string, a: Uint8Array, b: Uint8Array): void {
  if (a.length === b.length && Buffer.compare(a, b) === 0) return;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  throw new Error(`${what}: lengths ${a.length}/${b.length}, first difference at ${i} (page ${i >> 12})`);
}

/** A Kernels instance holding the old and new pages at scratch OLD and NEW. */
function residentKernels(oldPages: Uint8Array, newPages: Uint8Array): Kernels {
  const k = new Kernels(SCRATCH_BYTES, 16);
  const base = k.layout.scratchBase;
  k.heap.copyIn(base + OLD, oldPages);
  k.heap.copyIn(base + NEW, newPages);
  return k;
}

/**
 * Checks every page: the wasm and ts encodings match, and decoding the wasm
 * encoding onto the old page gives the new page. Returns the encoded lengths.
 */
function checkEncodings(name: string, k: Kernels, base: number, oldPages: Uint8Array, newPages: Uint8Array): number[] {
  const oldViews = pageViews(oldPages);
  const newViews = pageViews(newPages);
  const tsOut = new Uint8Array(PAGE_SIZE);
  const lengths: number[] = [];
  for (let p = 0; p < PAGES; p++) {
    const ret = k.pages.xbzrleEncode(base + OLD + p * PAGE_SIZE, base + NEW + p * PAGE_SIZE, PAGE_SIZE, base + OUT, PAGE_SIZE);
    const tsRet = refXbzrleEncode(oldViews[p], newViews[p], PAGE_SIZE, tsOut, PAGE_SIZE);
    if (ret !== tsRet) throw new Error(`${name}: page ${p} encodes to ${ret} bytes in wasm, ${tsRet} in ts`);
    const encoded = k.heap.copyOut(base + OUT, Math.max(ret, 0));
    assertSame(`${name}: page ${p} wasm vs ts encoding`, encoded, tsOut.subarray(0, Math.max(ret, 0)));
    const page = oldViews[p].slice();
    if (ret > 0 && refXbzrleDecode(encoded, ret, page, PAGE_SIZE) < 0) throw new Error(`${name}: page ${p} does not decode`);
    assertSame(`${name}: page ${p} decoded`, page, newViews[p]);
    lengths.push(ret);
  }
  return lengths;
}

/** An encode case: every page encoded against its old page into one reused buffer (dlen 4096). */
function encodeCase(name: string, changed: number, seed: number): BenchCase {
  return {
    name,
    bytesPerPass: SET_BYTES,
    opsPerPass: PAGES,
    setup() {
      const { oldPages, newPages } = makePages(changed, seed);
      let k: Kernels | undefined = residentKernels(oldPages, newPages);
      const base = k.layout.scratchBase;
      const oldViews = pageViews(oldPages);
      const newViews = pageViews(newPages);
      const tsOut = new Uint8Array(PAGE_SIZE);
      const wasm: BenchImpl = {
        run() {
          const kk = k!;
          for (let p = 0; p < PAGES; p++) {
            kk.pages.xbzrleEncode(base + OLD + p * PAGE_SIZE, base + NEW + p * PAGE_SIZE, PAGE_SIZE, base + OUT, PAGE_SIZE);
          }
        },
      };
      const ts: BenchImpl = {
        run() {
          for (let p = 0; p < PAGES; p++) refXbzrleEncode(oldViews[p], newViews[p], PAGE_SIZE, tsOut, PAGE_SIZE);
        },
      };
      return {
        wasm,
        ts,
        verify() {
          const lengths = checkEncodings(name, k!, base, oldPages, newPages);
          if (changed === 0 && lengths.some((n) => n !== 0)) throw new Error(`${name}: an identical page did not encode to 0`);
          if (changed > 0 && lengths.some((n) => n <= 0)) throw new Error(`${name}: a changed page did not encode`);
        },
        teardown() {
          k = undefined;
        },
      };
    },
  };
}

/** The decode case: the 256 encodings of the 1% case, each in its own slot, applied to the old pages. */
const decodeCase: BenchCase = {
  name: "xbzrle-decode-1pct",
  bytesPerPass: SET_BYTES,
  opsPerPass: PAGES,
  setup() {
    const { oldPages, newPages } = makePages(41, 0x1c7);
    let k: Kernels | undefined = residentKernels(oldPages, newPages);
    const base = k.layout.scratchBase;
    const lengths = checkEncodings("xbzrle-decode-1pct", k, base, oldPages, newPages);
    const encodings = new Uint8Array(SET_BYTES);
    const tsDecoded = oldPages.slice();
    const encViews = pageViews(encodings);
    const decViews = pageViews(tsDecoded);
    for (let p = 0; p < PAGES; p++) {
      k.pages.xbzrleEncode(base + OLD + p * PAGE_SIZE, base + NEW + p * PAGE_SIZE, PAGE_SIZE, base + ENC + p * PAGE_SIZE, PAGE_SIZE);
      encViews[p].set(k.heap.borrow(base + ENC + p * PAGE_SIZE, lengths[p]));
    }
    k.heap.copyIn(base + DEC, oldPages);
    const wasm: BenchImpl = {
      run() {
        const kk = k!;
        for (let p = 0; p < PAGES; p++) kk.pages.xbzrleDecode(base + ENC + p * PAGE_SIZE, lengths[p], base + DEC + p * PAGE_SIZE, PAGE_SIZE);
      },
    };
    const ts: BenchImpl = {
      run() {
        for (let p = 0; p < PAGES; p++) refXbzrleDecode(encViews[p], lengths[p], decViews[p], PAGE_SIZE);
      },
    };
    return {
      wasm,
      ts,
      verify() {
        wasm.run();
        ts.run();
        assertSame("xbzrle-decode-1pct: wasm decode", k!.heap.borrow(base + DEC, SET_BYTES), newPages);
        assertSame("xbzrle-decode-1pct: ts decode", tsDecoded, newPages);
      },
      teardown() {
        k = undefined;
      },
    };
  },
};

/** The XBZRLE cases, named as in the native harness. */
export const xbzrleCases: BenchCase[] = [
  encodeCase("xbzrle-encode-identical", 0, 0x1c5),
  encodeCase("xbzrle-encode-1pct", 41, 0x1c7),
  encodeCase("xbzrle-encode-20pct", 819, 0x1c9),
  decodeCase,
];
