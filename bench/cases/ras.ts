// Bench cases for memory-error recovery: the rebuild of one lost page from
// its group's parity page and the k - 1 survivors (k = 4, 8, 16), the XOR the
// recovery engine runs through the parity kernel (src/ras/parity-groups.ts
// rebuild, host.framePages.xorOf). Shape, as ../shared/native's
// xor-parity-k8-1MiB: 1 MiB of random source pages in groups of k contiguous
// pages (the parity first, then the survivors), one rebuilt page per group
// into a separate buffer; counted: the source bytes read (1 MiB per pass) and
// the pages rebuilt. For k = 8 it is exactly the native case's shape. The ts
// side XORs the group's pages into the output four streams at a time
// (Uint32Array, unrolled: k is 4, 8 or 16).
import type { BenchCase, BenchImpl } from "../case.js";
import { PAGE_SIZE } from "../../src/wasm/codes.js";
import { Kernels } from "../../src/wasm/kernels.js";
import { rebuildRef } from "../../test/reference/pages.js";
import { fillRandom } from "./prng.js";

const SOURCE_BYTES = 1 << 20;
const PAGE_WORDS32 = PAGE_SIZE / 4;

function rebuildCase(k: number): BenchCase {
  const groups = SOURCE_BYTES / (k * PAGE_SIZE);
  const name = `parity-rebuild-k${k}`;
  return {
    name,
    bytesPerPass: SOURCE_BYTES,
    opsPerPass: groups,
    setup() {
      let kernels: Kernels | undefined = new Kernels(1 << 20, SOURCE_BYTES / PAGE_SIZE + groups + 16);
      const srcPtr = kernels.frames.allocBuffer(SOURCE_BYTES);
      const outPtr = kernels.frames.allocBuffer(groups * PAGE_SIZE);
      const listPtr = kernels.layout.scratchBase;
      fillRandom(kernels.heap.u8.subarray(srcPtr, srcPtr + SOURCE_BYTES), 0x4ab + k);
      kernels.pages.listWrite(listPtr, Array.from({ length: groups * k }, (_, i) => srcPtr + i * PAGE_SIZE));
      let src: Uint32Array | undefined = new Uint32Array(SOURCE_BYTES / 4);
      new Uint8Array(src.buffer).set(kernels.heap.u8.subarray(srcPtr, srcPtr + SOURCE_BYTES));
      let out: Uint32Array | undefined = new Uint32Array(groups * PAGE_WORDS32);

      const wasm: BenchImpl = {
        run() {
          const kk = kernels!;
          for (let g = 0; g < groups; g++) kk.pages.xorParity(outPtr + g * PAGE_SIZE, listPtr + g * k * 4, k, PAGE_SIZE);
        },
      };
      const ts: BenchImpl = {
        run() {
          const s = src!;
          const o = out!;
          const P = PAGE_WORDS32;
          for (let g = 0; g < groups; g++) {
            const d = g * P;
            let b = g * k * P;
            for (let w = 0; w < P; w++) o[d + w] = s[b + w] ^ s[b + P + w] ^ s[b + 2 * P + w] ^ s[b + 3 * P + w];
            for (let p = 4; p < k; p += 4) {
              b += 4 * P;
              for (let w = 0; w < P; w++) o[d + w] ^= s[b + w] ^ s[b + P + w] ^ s[b + 2 * P + w] ^ s[b + 3 * P + w];
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
          const got = kernels!.heap.borrow(outPtr, groups * PAGE_SIZE);
          const tsBytes = new Uint8Array(out!.buffer);
          if (Buffer.compare(got, tsBytes) !== 0) throw new Error(`${name}: wasm and ts rebuilt pages differ`);
          const srcU8 = new Uint8Array(src!.buffer);
          for (const g of new Set([0, groups >> 1, groups - 1])) {
            const pages = Array.from({ length: k }, (_, p) => srcU8.subarray((g * k + p) * PAGE_SIZE, (g * k + p + 1) * PAGE_SIZE));
            if (Buffer.compare(got.subarray(g * PAGE_SIZE, (g + 1) * PAGE_SIZE), rebuildRef(pages[0], pages.slice(1))) !== 0) {
              throw new Error(`${name}: group ${g} differs from the oracle (parity XOR survivors)`);
            }
          }
        },
        teardown() {
          kernels = undefined;
          src = undefined;
          out = undefined;
        },
      };
    },
  };
}

export const rasCases: readonly BenchCase[] = [rebuildCase(4), rebuildCase(8), rebuildCase(16)];
