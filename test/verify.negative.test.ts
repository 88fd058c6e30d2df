// Negative tests of migration verification (verifyGuests): a destination
// that differs from its source in exactly one page must fail, naming that
// page, wherever the page lies: the first, a middle one, the last, and the
// two pages either side of the edge between verification windows (32,768
// pages each, so the guests here are larger than one window and mostly
// untouched). Poisoned pages count when poisoned on both sides and are a
// mismatch when poisoned on one; guests of different sizes never verify.
// Every negative case is paired with the positive one it was made from, so
// a verification that always says "mismatch" fails too.
import { beforeAll, describe, expect, it } from "vitest";
import { createHost, injectMemoryError, type Host, type Vm } from "../src/index.js";
import { verifyGuests } from "../src/stream/verify.js";

const PAGE = 4096;
/** Pages per verification window (src/migration/verify.ts). */
const WINDOW = 32768;
const GUEST = 40_000; // one full window and a partial one
/** Pages the source writes: both window edges, the ends, and a few others. */
const WRITTEN = [0, 1, 777, 20_000, WINDOW - 1, WINDOW, WINDOW + 1, GUEST - 2, GUEST - 1];

/** The bytes every test guest holds at `pfn` (a page of its own, never all zero). */
function pageContents(pfn: number): Uint8Array {
  const page = new Uint8Array(PAGE);
  for (let i = 0; i < PAGE; i++) page[i] = ((pfn * 2654435761 + i * 40503) >>> 13) & 0xff | 1;
  return page;
}

/** A guest of `pages` pages on `host` with `written` pages filled. */
function guest(host: Host, pages: number, written: readonly number[]): Vm {
  const vm = host.createVm({ pages });
  for (const pfn of written) vm.write(pfn * PAGE, pageContents(pfn));
  return vm;
}

/** Flips one bit of the byte at `gpa` of `vm`; returns the undo. */
function flipBit(vm: Vm, gpa: number): () => void {
  const before = vm.read(gpa, 1);
  vm.write(gpa, Uint8Array.of(before[0] ^ 0x10));
  return () => vm.write(gpa, before);
}

describe("verifyGuests: one differing page is found and named", () => {
  const sourceHost = createHost({ memoryMiB: 64 });
  const destinationHost = createHost({ memoryMiB: 64 });
  let source: Vm;
  let destination: Vm;

  beforeAll(() => {
    source = guest(sourceHost, GUEST, WRITTEN);
    destination = guest(destinationHost, GUEST, WRITTEN);
  });

  it("equal guests verify: every page compared, none poisoned", () => {
    expect(verifyGuests(source, destination)).toEqual({ method: "page-hash", ok: true, pagesCompared: GUEST, poisonedPages: 0, firstMismatchPfn: null });
  });

  const cases: ReadonlyArray<readonly [string, number]> = [
    ["the first byte of the first page", 0],
    ["the last byte of the first page", PAGE - 1],
    ["a written page in the middle", 777 * PAGE + 2048],
    ["an untouched page in the middle", 12_345 * PAGE + 100],
    ["the last page of the first window", (WINDOW - 1) * PAGE + 4000],
    ["the first page of the second window", WINDOW * PAGE],
    ["an untouched page in the second window", 36_000 * PAGE + 7],
    ["the last byte of the last page", GUEST * PAGE - 1],
    ["the first byte of the last page", (GUEST - 1) * PAGE],
  ];
  for (const [where, gpa] of cases) {
    const pfn = Math.floor(gpa / PAGE);
    it(`${where} (pfn ${pfn}), changed on the destination or on the source`, () => {
      for (const changed of [destination, source]) {
        const undo = flipBit(changed, gpa);
        try {
          // pagesCompared: the pages found equal before the mismatch
          expect(verifyGuests(source, destination)).toEqual({ method: "page-hash", ok: false, pagesCompared: pfn, poisonedPages: 0, firstMismatchPfn: pfn });
        } finally {
          undo();
        }
        expect(verifyGuests(source, destination)).toMatchObject({ ok: true, firstMismatchPfn: null });
      }
    });
  }

  it("with several differences, the first one is named, across the window edge", () => {
    const pairs: ReadonlyArray<readonly [number, number]> = [[5, WINDOW - 1], [WINDOW - 1, WINDOW], [WINDOW, GUEST - 1], [0, GUEST - 1]];
    for (const [a, b] of pairs) {
      const undoB = flipBit(destination, b * PAGE + 9);
      const undoA = flipBit(destination, a * PAGE + 9);
      try {
        expect(verifyGuests(source, destination), `pages ${a} and ${b}`).toMatchObject({ ok: false, firstMismatchPfn: a });
      } finally {
        undoA();
        undoB();
      }
    }
    expect(verifyGuests(source, destination).ok).toBe(true);
  });

  it("a private page of zeros equals an untouched page; one non-zero byte does not", () => {
    destination.write(30_000 * PAGE, new Uint8Array(PAGE));
    expect(verifyGuests(source, destination)).toMatchObject({ ok: true, pagesCompared: GUEST });
    destination.write(30_000 * PAGE + PAGE - 1, Uint8Array.of(1));
    expect(verifyGuests(source, destination)).toMatchObject({ ok: false, firstMismatchPfn: 30_000 });
    destination.write(30_000 * PAGE + PAGE - 1, Uint8Array.of(0));
    expect(verifyGuests(source, destination).ok).toBe(true);
  });
});

describe("verifyGuests: guests that end exactly at a window edge, and a one-page guest", () => {
  it.each([2 * WINDOW, WINDOW, 1])("a %i-page guest: its last page is compared", (pages) => {
    const hosts = [createHost({ memoryMiB: 16 }), createHost({ memoryMiB: 16 })];
    const written = [...new Set([0, pages - 1])];
    const [a, b] = hosts.map((h) => guest(h, pages, written));
    expect(verifyGuests(a, b)).toMatchObject({ ok: true, pagesCompared: pages });
    flipBit(b, pages * PAGE - 1);
    expect(verifyGuests(a, b)).toMatchObject({ ok: false, firstMismatchPfn: pages - 1 });
  });
});

describe("verifyGuests: poisoned pages", () => {
  const hosts = [createHost({ memoryMiB: 64 }), createHost({ memoryMiB: 64 })];
  const pair = (): [Vm, Vm] => [guest(hosts[0], GUEST, WRITTEN), guest(hosts[1], GUEST, WRITTEN)];
  const poison = (vm: Vm, pfn: number, latent = false): void => { injectMemoryError(vm.host, { vm, gpa: pfn * PAGE + 64 }, { latent }); };

  it("a last page poisoned on both sides verifies and is counted", () => {
    const [a, b] = pair();
    poison(a, GUEST - 1);
    poison(b, GUEST - 1);
    expect(verifyGuests(a, b)).toMatchObject({ ok: true, pagesCompared: GUEST, poisonedPages: 1, firstMismatchPfn: null });
  });

  it("pages poisoned on both sides either side of the window edge and at both ends are all counted", () => {
    const [a, b] = pair();
    for (const pfn of [0, WINDOW - 1, WINDOW, GUEST - 1]) {
      poison(a, pfn);
      poison(b, pfn, pfn === WINDOW); // a latent error is an error too
    }
    expect(verifyGuests(a, b)).toMatchObject({ ok: true, pagesCompared: GUEST, poisonedPages: 4 });
  });

  for (const [side, index] of [["destination", 1], ["source", 0]] as const) {
    it(`a page poisoned only on the ${side} is a mismatch at that page (the last, then the window edge)`, () => {
      for (const pfn of [GUEST - 1, WINDOW]) {
        const vms = pair();
        poison(vms[index], pfn);
        expect(verifyGuests(vms[0], vms[1]), `pfn ${pfn}`).toMatchObject({ ok: false, firstMismatchPfn: pfn });
        for (const vm of vms) vm.destroy();
      }
    });
  }
});

describe("verifyGuests: guests of different sizes", () => {
  it("never verify, whichever side is larger, and name the first page only one of them has", () => {
    const hosts = [createHost({ memoryMiB: 16 }), createHost({ memoryMiB: 16 })];
    const large = guest(hosts[0], GUEST, []);
    const small = guest(hosts[1], GUEST - 1, []);
    expect(verifyGuests(large, small)).toMatchObject({ method: "page-hash", ok: false, firstMismatchPfn: GUEST - 1 });
    expect(verifyGuests(small, large)).toMatchObject({ ok: false, firstMismatchPfn: GUEST - 1 });
    const same = guest(hosts[1], GUEST, []);
    expect(verifyGuests(large, same)).toMatchObject({ ok: true, pagesCompared: GUEST });
  });
});
