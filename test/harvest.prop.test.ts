// The A/D harvest kernel (assembly/harvest.ts) against a plain oracle: the
// bitmap gets exactly the pages whose bit was set OR-ed into what it held,
// every entry loses that bit and nothing else, and the count is the bitmap's.
// Tables of every density follow each other, so the kernel's switch between
// sparse and dense mode happens at table boundaries in every order, and
// every entry position of a table is harvested alone and as the only clean
// one in both modes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, type Host, type Vm } from "../src/index.js";
import { PTE } from "../src/host/pte.js";
import { PTE_A_BIT, PTE_D_BIT } from "../src/wasm/codes.js";

const LEAF = PTE.R | PTE.W | PTE.X | PTE.MT_WB;
const TABLE_ENTRIES = 512;

interface Guest { host: Host; vm: Vm; pages: number; tables: number[]; bitmapPtr: number }

/** A guest of `pages` populated pages (frame g + 1 for page g), its leaf-table addresses in gfn order and a bitmap. */
function guest(pages: number): Guest {
  const host = createHost({ memoryMiB: 16 });
  const vm = host.createVm({ pages });
  const k = host.kernels;
  for (let g = 0; g < pages; g++) k.mmu.set(vm.slot, g, (BigInt(g + 1) << 12n) | LEAF);
  const tables: number[] = [];
  const walk = (table: number, level: number): void => {
    for (let i = 0; i < TABLE_ENTRIES; i++) {
      const lo = k.heap.u32[(table >>> 2) + i * 2];
      if ((lo & 1) === 0) continue;
      const next = k.frames.addr(lo >>> 12);
      if (level === 1) tables.push(next);
      else walk(next, level - 1);
    }
  };
  walk(k.frames.addr(k.mmu.rootFrame(vm.slot)), 3);
  return { host, vm, pages, tables, bitmapPtr: k.frames.allocBuffer(Math.ceil(pages / 8)) };
}

/** Index in the heap's u32 view of the low half of page `g`'s leaf entry. */
const entryIndex = (gu: Guest, g: number): number => (gu.tables[Math.floor(g / TABLE_ENTRIES)] >>> 2) + (g % TABLE_ENTRIES) * 2;

/** Sets `bit` in the leaf entries of `pages` (and clears it in every other one). */
function markPages(gu: Guest, bit: number, pages: Iterable<number>): void {
  const u32 = gu.host.kernels.heap.u32;
  for (let g = 0; g < gu.pages; g++) u32[entryIndex(gu, g)] &= ~(1 << bit);
  for (const g of pages) u32[entryIndex(gu, g)] |= 1 << bit;
}

/** Bits set in bitmap words [0, ceil(pages / 64)) of `bytes`. */
function popcount(bytes: Uint8Array, pages: number): number {
  let n = 0;
  for (let i = 0; i < Math.ceil(pages / 64) * 8; i++) for (let b = bytes[i]; b !== 0; b &= b - 1) n++;
  return n;
}

/**
 * Harvests `bit` into a bitmap holding `before` and checks the bitmap (before | marked), the
 * count, and that every entry equals `entries` (the low halves before) with `bit` cleared.
 */
function harvestAndCheck(gu: Guest, bit: number, marked: Set<number>, before: Set<number>): void {
  const k = gu.host.kernels;
  const bytes = Math.ceil(gu.pages / 64) * 8;
  const entries = Array.from({ length: gu.pages }, (_, g) => k.heap.u32[entryIndex(gu, g)]);
  const highs = Array.from({ length: gu.pages }, (_, g) => k.heap.u32[entryIndex(gu, g) + 1]);
  k.heap.u8.fill(0, gu.bitmapPtr, gu.bitmapPtr + bytes);
  for (const g of before) k.heap.u8[gu.bitmapPtr + (g >>> 3)] |= 1 << (g & 7);
  const expected = new Uint8Array(bytes);
  for (const g of [...before, ...marked]) expected[g >>> 3] |= 1 << (g & 7);
  const found = k.mmu.harvest(gu.vm.slot, gu.bitmapPtr, bit);
  const got = k.heap.copyOut(gu.bitmapPtr, bytes);
  const firstDiff = got.findIndex((b, i) => b !== expected[i]);
  expect(firstDiff, `bitmap byte ${firstDiff}: got ${got[firstDiff]}, expected ${expected[firstDiff]}`).toBe(-1);
  expect(found).toBe(popcount(expected, gu.pages));
  for (let g = 0; g < gu.pages; g++) {
    const i = entryIndex(gu, g);
    if (k.heap.u32[i] !== (entries[g] & ~(1 << bit)) >>> 0 || k.heap.u32[i + 1] !== highs[g]) {
      expect.fail(`page ${g}: entry ${k.heap.u32[i + 1].toString(16)}:${k.heap.u32[i].toString(16)} after the harvest of bit ${bit}`);
    }
  }
}

/** Pages of one table by density: none, one, a few (sparse), many (dense), all. */
function tableArb(): fc.Arbitrary<number[]> {
  return fc.oneof(
    fc.constant<number[]>([]),
    fc.nat(TABLE_ENTRIES - 1).map((e) => [e]),
    fc.uniqueArray(fc.nat(TABLE_ENTRIES - 1), { minLength: 2, maxLength: 12 }),
    fc.uniqueArray(fc.nat(TABLE_ENTRIES - 1), { minLength: 60, maxLength: 300 }),
    fc.constant(Array.from({ length: TABLE_ENTRIES }, (_, e) => e)),
  );
}

describe("harvest kernel against the oracle", () => {
  // 5 full tables and a partial one (65 pages: a last bitmap word of 1 bit).
  const PAGES = 5 * TABLE_ENTRIES + 65;
  const gu = guest(PAGES);

  it("harvests D then A of tables of mixed densities into a bitmap that already holds bits", () => {
    const pagesArb = fc.array(tableArb(), { minLength: 6, maxLength: 6 }).map((tables) =>
      new Set(tables.flatMap((es, t) => es.map((e) => t * TABLE_ENTRIES + e)).filter((g) => g < PAGES)));
    fc.assert(
      fc.property(pagesArb, pagesArb, fc.uniqueArray(fc.nat(PAGES - 1), { maxLength: 40 }), (dirty, accessed, before) => {
        markPages(gu, PTE_D_BIT, dirty);
        markPages(gu, PTE_A_BIT, accessed);
        harvestAndCheck(gu, PTE_D_BIT, dirty, new Set(before));
        harvestAndCheck(gu, PTE_A_BIT, accessed, new Set(before));
        harvestAndCheck(gu, PTE_D_BIT, new Set(), new Set());
      }),
      { numRuns: 40 },
    );
  });

  it("finds every entry position alone and misses it alone, in sparse and in dense mode", () => {
    const all = Array.from({ length: TABLE_ENTRIES }, (_, e) => e);
    for (let e = 0; e < TABLE_ENTRIES; e++) {
      // Table modes: 0 sparse (first), 1 dense (0 was full), 2 sparse (1 had one block),
      // 3 dense, 4 dense (3 was nearly full), 5 sparse (4 had one block).
      const layout = [all, [e], all.filter((x) => x !== e), all.filter((x) => x !== e), [e], [e]];
      const dirty = new Set(layout.flatMap((es, t) => es.map((x) => t * TABLE_ENTRIES + x)).filter((g) => g < PAGES));
      markPages(gu, PTE_D_BIT, dirty);
      harvestAndCheck(gu, PTE_D_BIT, dirty, new Set());
    }
  });
});
