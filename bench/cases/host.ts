// Bench cases of the host model: dirty-bit harvest over a VM's nested page
// table, and the MMU write path (walk, A/D, 8-byte store), in the shapes of
// ../shared/native/README.md. The harvest reference does the same work on
// the same page tables through Uint32Array views of the host's memory; the
// MMU reference is the tests' oracle, a plain model of guest memory (a hand-
// tuned TypeScript page walk was as memory-latency-bound as the kernel, so
// their ratio swung from 1.5x to 4x between runs).
import type { BenchCase } from "../case.js";
import { createHost, type Host, type Vm } from "../../src/index.js";
import { PTE } from "../../src/host/pte.js";
import { ACCESS_BYTES } from "../../src/wasm/codes.js";
import { splitmix } from "./prng.js";
import { GuestModel } from "../../test/reference/mmu.js";

const GUEST_PAGES = 262_144; // 1 GiB guest, 512 leaf tables
const LEAF = PTE.R | PTE.W | PTE.X | PTE.MT_WB;
const D_BIT = 9;

/** Address of the PML4 of `vm` (its descriptor's rootFrame). */
function rootAddr(host: Host, vm: Vm): number {
  const k = host.kernels;
  return k.frames.addr(k.mmu.rootFrame(vm.slot));
}

/** Leaf-table addresses of `vm` in gfn order, found by walking its page table. */
function leafTables(host: Host, vm: Vm): number[] {
  const k = host.kernels;
  const tables: number[] = [];
  const walk = (table: number, level: number): void => {
    for (let i = 0; i < 512; i++) {
      const lo = k.heap.u32[(table >>> 2) + i * 2];
      if ((lo & 1) === 0) continue;
      const next = k.frames.addr(lo >>> 12);
      if (level === 1) tables.push(next);
      else walk(next, level - 1);
    }
  };
  walk(rootAddr(host, vm), 3);
  return tables;
}

/** Plain TypeScript harvest over leaf tables: fetch and clear D, set the bitmap bit. */
function harvestRef(u32: Uint32Array, tables: number[], bitmap: Uint32Array): number {
  let found = 0;
  for (let t = 0; t < tables.length; t++) {
    const base = tables[t] >>> 2;
    for (let i = 0; i < 512; i++) {
      const lo = u32[base + i * 2];
      if ((lo & (1 << D_BIT)) !== 0) {
        u32[base + i * 2] = lo & ~(1 << D_BIT);
        const g = t * 512 + i;
        bitmap[g >>> 5] |= 1 << (g & 31);
        found++;
      }
    }
  }
  return found;
}

function harvestCase(name: string, dirtyCount: number): BenchCase {
  return {
    name,
    bytesPerPass: GUEST_PAGES * 8,
    opsPerPass: GUEST_PAGES,
    setup() {
      const host = createHost({ memoryMiB: 64 });
      const vm = host.createVm({ pages: GUEST_PAGES });
      const k = host.kernels;
      for (let g = 0; g < GUEST_PAGES; g++) k.mmu.set(vm.slot, g, (BigInt(g + 1) << 12n) | LEAF);
      const rng = splitmix(0xd1e7n + BigInt(dirtyCount));
      const dirty = new Set<number>();
      while (dirty.size < dirtyCount) dirty.add(Number(rng() % BigInt(GUEST_PAGES)));
      const dirtyList = [...dirty];
      const tables = leafTables(host, vm);
      const bitmapPtr = k.frames.allocBuffer(GUEST_PAGES / 8);
      const refBitmap = new Uint32Array(GUEST_PAGES / 32);
      const dirtyLows = Int32Array.from(dirtyList, (g) => (tables[g >>> 9] >>> 2) + (g & 511) * 2);
      const AD = Number(PTE.A | PTE.D);
      const redirty = (): void => {
        const u32 = k.heap.u32;
        for (let i = 0; i < dirtyLows.length; i++) u32[dirtyLows[i]] |= AD;
      };
      let wasmFound = 0;
      let tsFound = 0;
      return {
        wasm: {
          beforeEach: () => { redirty(); k.heap.u8.fill(0, bitmapPtr, bitmapPtr + GUEST_PAGES / 8); },
          run: () => { wasmFound = k.mmu.harvest(vm.slot, bitmapPtr, D_BIT); },
        },
        ts: {
          beforeEach: () => { redirty(); refBitmap.fill(0); },
          run: () => { tsFound = harvestRef(k.heap.u32, tables, refBitmap); },
        },
        verify() {
          const expected = new Uint8Array(GUEST_PAGES / 8);
          for (const g of dirtyList) expected[g >>> 3] |= 1 << (g & 7);
          redirty();
          k.heap.u8.fill(0, bitmapPtr, bitmapPtr + GUEST_PAGES / 8);
          wasmFound = k.mmu.harvest(vm.slot, bitmapPtr, D_BIT);
          if (wasmFound !== dirtyCount || Buffer.compare(k.heap.copyOut(bitmapPtr, GUEST_PAGES / 8), expected) !== 0) {
            throw new Error(`${name}: wasm harvest found ${wasmFound}, bitmap mismatch`);
          }
          if (vm.harvestDirty().count() !== 0) throw new Error(`${name}: wasm harvest left dirty bits`);
          redirty();
          refBitmap.fill(0);
          tsFound = harvestRef(k.heap.u32, tables, refBitmap);
          if (tsFound !== dirtyCount || Buffer.compare(new Uint8Array(refBitmap.buffer), expected) !== 0) {
            throw new Error(`${name}: reference harvest found ${tsFound}, bitmap mismatch`);
          }
        },
      };
    },
  };
}

const ACCESSES = 1_000_000;

const mmuWrite: BenchCase = {
  name: "mmu-write",
  bytesPerPass: ACCESSES * 8,
  opsPerPass: ACCESSES,
  rateIn: "ops",
  setup() {
    const host = createHost({ memoryMiB: 1100 });
    const vm = host.createVm({ pages: GUEST_PAGES });
    const k = host.kernels;
    for (let g = 0; g < GUEST_PAGES; g++) k.mmu.populate(vm.slot, g, true);
    const rng = splitmix(0x3311n);
    const gpas = new Float64Array(ACCESSES);
    const batch = k.frames.allocBuffer(ACCESSES * ACCESS_BYTES);
    const model = new GuestModel(GUEST_PAGES);
    const view = k.heap.view;
    for (let i = 0; i < ACCESSES; i++) {
      const gpa = Number(rng() % BigInt(GUEST_PAGES * 512)) * 8;
      gpas[i] = gpa;
      const rec = batch + i * ACCESS_BYTES;
      view.setBigUint64(rec, BigInt(gpa), true);
      view.setUint32(rec + 8, 0, true);
      view.setUint16(rec + 12, 8, true);
      view.setUint8(rec + 14, 1);
    }
    const check = (what: string): void => {
      const v = k.heap.view;
      for (let i = 0; i < ACCESSES; i += 997) {
        const got = v.getBigUint64(hostAddr(gpas[i]), true);
        if (got !== BigInt.asUintN(64, ~BigInt(gpas[i]))) throw new Error(`mmu-write ${what}: gpa ${gpas[i]} holds ${got}`);
      }
    };
    const hostAddr = (gpa: number): number => k.frames.addr(Number((vm.pte(Math.floor(gpa / 4096)) & PTE.FRAME_MASK) >> 12n)) + (gpa % 4096);
    const clear = (): void => {
      for (let i = 0; i < ACCESSES; i += 997) k.heap.view.setBigUint64(hostAddr(gpas[i]), 0n, true);
    };
    return {
      wasm: { run: () => { if (k.mmu.run(vm.slot, batch, 0, ACCESSES) !== ACCESSES) throw new Error("mmu-write: fault"); } },
      ts: { run: () => { for (let i = 0; i < ACCESSES; i++) model.apply({ op: "write", gpa: gpas[i], length: 8, seed: 0 }); } },
      verify() {
        vm.run([{ op: "write", gpa: 0 }]);
        clear();
        vm.runBatch(batch, ACCESSES);
        check("wasm");
        const touched = vm.harvestDirty().count();
        const pages = new Set(Array.from(gpas, (g) => Math.floor(g / 4096)));
        const expected = pages.has(0) ? pages.size : pages.size + 1;
        if (touched !== expected) throw new Error(`mmu-write: ${touched} dirty pages, expected ${expected}`);
        for (let i = 0; i < ACCESSES; i++) model.apply({ op: "write", gpa: gpas[i], length: 8, seed: 0 });
        for (let i = 0; i < ACCESSES; i += 997) {
          const want = new Uint8Array(new BigUint64Array([BigInt.asUintN(64, ~BigInt(gpas[i]))]).buffer);
          if (Buffer.compare(model.read(gpas[i], 8), want) !== 0) throw new Error(`mmu-write reference: gpa ${gpas[i]} does not hold ~gpa`);
        }
        if (model.harvestDirty().length !== pages.size) throw new Error("mmu-write reference: dirty pages differ");
      },
    };
  },
};

export const hostCases: BenchCase[] = [harvestCase("harvest-dirty-1pct", 2621), harvestCase("harvest-dirty-10pct", 26214), mmuWrite];
