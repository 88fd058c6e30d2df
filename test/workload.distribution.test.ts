// Goodness of fit of the workload generators, standing alone: each
// generator's records are tested against the distribution its documentation
// states (assembly/workload.ts header), computed here from that statement,
// never from the TypeScript reference generator (test/reference/workload.ts),
// so a bug shared by the kernel and the reference cannot pass unseen.
//
// Method: Pearson's chi-square test (test/reference/statistics.ts) at
// significance ALPHA = 1e-6 — a correct generator fails a test with
// probability 1e-6, so false failures are negligible — with fixed seeds, so
// every run draws the same sample. Each test draws SAMPLES = 2^19 records
// from a fresh generator (vm.startWorkload, then its AccessGenerator fills
// the host's batch area) and reads the 16-byte records of assembly/mmu.ts:
//
//   0               8        12       14   15   16
//   ┌───────────────┬────────┬────────┬────┬────┐
//   │ u64 gpa       │ u32    │ u16    │ u8 │ u8 │
//   │               │ seed   │ length │ op │ 0  │
//   └───────────────┴────────┴────────┴────┴────┘
//
// Power: a test must also REJECT a null that is slightly wrong, or passing
// it proves little. At 2^19 samples over 10,000 pages, the Zipf test rejects
// the exponent shifted by ±0.01 in both directions (the critical X² at 1e-6
// on 39 df is 96.1); the hot/cold test rejects a hot probability off by 0.01
// and a hot set one page short, the write test a fraction off by 0.01.
// Measured with the seeds below (DEBUG_GOF=1 prints them), X² (df; p):
//
//   zipf s = 0.6   true 39.5 (39; 0.45)   null s-0.01: 249 (p 2e-32)   null s+0.01: 279 (p 6e-38)
//   zipf s = 1     true 34.0 (39; 0.70)   null s-0.01: 482 (p 1e-77)   null s+0.01: 412 (p 8e-64)
//   zipf s = 1.2   true 38.4 (39; 0.50)   null s-0.01: 312 (p 3e-44)   null s+0.01: 448 (p 7e-71)
//   hot/cold, every page 1070 (1023; 0.15)   hot share 0.4 (1; 0.53)
//   uniform pages 1045 (999; 0.15)   write fraction 0.3 (1; 0.61)
//   slots of 8, 64, 512-byte accesses 459 (511; 0.95), 61.1 (63; 0.55), 5.2 (7; 0.63)
//
// Checked by mutation: the kernel's exponent shifted by +0.01 or -0.01 fails
// the three Zipf tests; ⌈f·n⌉ hot pages turned into ⌊f·n⌋ fails three
// hot/cold tests.
//
// The whole file takes about 1.5 s on the project machine.
import { beforeAll, describe, expect, it } from "vitest";
import { createHost, type WorkloadOptions } from "../src/index.js";
import { pearsonTest, type PearsonTest } from "./reference/statistics.js";

const ALPHA = 1e-6;
const SAMPLES = 1 << 19;
/** Records per fill (1 MiB of the host's 8 MiB batch area). */
const BATCH = 1 << 16;
const PAGE = 4096;

/** What the tests read of the records. */
interface Sample {
  /** Page index within the workload's range (gpa page − firstPage). */
  readonly index: Uint32Array;
  /** Byte offset of the access in its page. */
  readonly offset: Uint16Array;
  readonly length: Uint16Array;
  /** 1 write, 0 read. */
  readonly op: Uint8Array;
  /** Records whose reserved byte was not 0 or whose gpa left the range. */
  readonly malformed: number;
}

/** Draws `count` records of `options` on a guest of `guestPages` pages. */
function sample(options: WorkloadOptions, guestPages: number, count = SAMPLES): Sample {
  const host = createHost({ memoryMiB: 64 });
  const vm = host.createVm({ pages: guestPages });
  const workload = vm.startWorkload(options);
  const first = options.firstPage ?? 0;
  const range = options.pageCount ?? guestPages - first;
  const s = { index: new Uint32Array(count), offset: new Uint16Array(count), length: new Uint16Array(count), op: new Uint8Array(count), malformed: 0 };
  const ptr = host.kernels.layout.scratchBase;
  try {
    for (let done = 0; done < count; done += BATCH) {
      const n = Math.min(BATCH, count - done);
      expect(workload.generator.fill(ptr, n)).toBe(n);
      const words = new Uint32Array(host.kernels.heap.copyOut(ptr, n * 16).buffer);
      for (let i = 0; i < n; i++) {
        const lo = words[i * 4];
        const page = words[i * 4 + 1] * 2 ** 20 + (lo >>> 12) - first;
        const tail = words[i * 4 + 3];
        if (page < 0 || page >= range || tail >>> 24 !== 0) s.malformed++;
        s.index[done + i] = page;
        s.offset[done + i] = lo & (PAGE - 1);
        s.length[done + i] = tail & 0xffff;
        s.op[done + i] = (tail >>> 16) & 0xff;
      }
    }
  } finally {
    workload.close();
    vm.destroy();
  }
  return s;
}

/** Count of each value in [0, cells). */
function histogram(values: ArrayLike<number>, cells: number): Float64Array {
  const counts = new Float64Array(cells);
  for (let i = 0; i < values.length; i++) counts[values[i]]++;
  return counts;
}

/** The page scramble of assembly/workload.ts: M, the first integer ≥ max(1, ⌊n × 0.618…⌋) coprime with n. */
function scrambleMultiplier(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let m = Math.max(1, Math.floor(n * 0.6180339887498949));
  while (gcd(m, n) !== 1) m++;
  return m;
}

/** j ↦ j × M mod n for j in [0, n): the page index of Zipf rank j + 1 or of hot/cold slot j. */
function scrambledOrder(n: number): Uint32Array {
  const m = scrambleMultiplier(n);
  const order = new Uint32Array(n);
  const seen = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    order[j] = Number((BigInt(j) * BigInt(m)) % BigInt(n));
    seen[order[j]] = 1;
  }
  expect(seen.every((v) => v === 1), "the scramble is a bijection").toBe(true);
  return order;
}

const uniformCells = (cells: number): Float64Array => new Float64Array(cells).fill(1 / cells);

function expectFits(t: PearsonTest, what: string): void {
  expect(t.pValue, `${what}: X² ${t.statistic.toFixed(1)} on ${t.df} df`).toBeGreaterThan(ALPHA);
}

function expectRejects(t: PearsonTest, what: string): void {
  expect(t.pValue, `${what}: X² ${t.statistic.toFixed(1)} on ${t.df} df should be rejected`).toBeLessThan(ALPHA);
}

/** Two cells: how often `hits` of `n` happened, against probability `p`. */
const binomialTest = (hits: number, n: number, p: number): PearsonTest => pearsonTest([hits, n - hits], [p, 1 - p]);

function report(label: string, t: PearsonTest): void {
  if (process.env.DEBUG_GOF) console.log(`${label}: X² ${t.statistic.toFixed(1)} (${t.df} df; p ${t.pValue.toExponential(2)})`);
}

// ─── Zipf ──────────────────────────────────────────────────────────────────

/**
 * Rank cells: ranks 1..16 one by one (where most of the mass is), then 24
 * log-spaced cells up to n, so every cell expects thousands of samples and
 * the cells follow the ln k trend a wrong exponent shows up in.
 */
function rankCellEdges(n: number): number[] {
  const edges: number[] = [];
  for (let k = 1; k <= 16; k++) edges.push(k);
  const ratio = (n / 17) ** (1 / 24);
  for (let k = 17; k <= n; k = Math.max(k + 1, Math.round(k * ratio))) edges.push(k);
  edges.push(n + 1);
  return edges;
}

/** P(rank in each cell) for p_k ∝ k^-s, k = 1..n. */
function zipfCellProbabilities(n: number, s: number, edges: readonly number[]): Float64Array {
  const weights = new Float64Array(n + 1);
  let total = 0;
  for (let k = n; k >= 1; k--) { // smallest terms first
    weights[k] = k ** -s;
    total += weights[k];
  }
  const cells = new Float64Array(edges.length - 1);
  for (let c = 0; c < cells.length; c++) {
    let mass = 0;
    for (let k = edges[c + 1] - 1; k >= edges[c]; k--) mass += weights[k];
    cells[c] = mass / total;
  }
  return cells;
}

describe("zipf: rank k is drawn with probability ∝ k^-s", () => {
  const guestPages = 12_000;
  const firstPage = 1000;
  const pages = 10_000;
  const rankOfIndex = new Uint32Array(pages);
  scrambledOrder(pages).forEach((index, j) => { rankOfIndex[index] = j + 1; });
  const edges = rankCellEdges(pages);

  for (const [s, seed] of [[0.6, 11], [1, 12], [1.2, 13]] as const) {
    it(`s = ${s}: fits at alpha 1e-6, and rejects s - 0.01 and s + 0.01`, () => {
      const drawn = sample({ kind: "zipf", s, seed, firstPage, pageCount: pages, writeFraction: 0.3 }, guestPages);
      expect(drawn.malformed).toBe(0);
      const cellOf = new Uint32Array(pages + 1);
      for (let c = 0; c + 1 < edges.length; c++) for (let k = edges[c]; k < edges[c + 1]; k++) cellOf[k] = c;
      const counts = new Float64Array(edges.length - 1);
      for (const index of drawn.index) counts[cellOf[rankOfIndex[index]]]++;
      const fit = pearsonTest(counts, zipfCellProbabilities(pages, s, edges));
      report(`zipf s=${s} true`, fit);
      expectFits(fit, `zipf s=${s}`);
      for (const shifted of [s - 0.01, s + 0.01]) {
        const wrong = pearsonTest(counts, zipfCellProbabilities(pages, shifted, edges));
        report(`zipf s=${s} null ${shifted.toFixed(2)}`, wrong);
        expectRejects(wrong, `zipf s=${s} tested as s=${shifted.toFixed(2)}`);
      }
    });
  }

  it("the hottest rank is the page the scramble names, and the range is the one asked for", () => {
    const drawn = sample({ kind: "zipf", s: 1.2, seed: 14, firstPage, pageCount: pages }, guestPages, 1 << 16);
    const counts = histogram(drawn.index, pages);
    let hottest = 0;
    for (let i = 1; i < pages; i++) if (counts[i] > counts[hottest]) hottest = i;
    expect(rankOfIndex[hottest]).toBe(1);
    expect(drawn.malformed).toBe(0);
  });
});

// ─── Hot/cold ──────────────────────────────────────────────────────────────

describe("hot/cold: a hot set of ⌈f·n⌉ pages takes probability P, uniformly; the cold pages share the rest uniformly", () => {
  const pages = 1024;
  const hotFraction = 0.1; // ⌈102.4⌉ = 103 hot pages
  const hotPages = 103;
  const hotProbability = 0.9;
  const order = scrambledOrder(pages);
  const isHot = new Uint8Array(pages);
  for (let j = 0; j < hotPages; j++) isHot[order[j]] = 1;
  let drawn: Sample;
  let counts: Float64Array;
  beforeAll(() => {
    drawn = sample({ kind: "hotcold", hotFraction, hotProbability, seed: 21 }, pages);
    counts = histogram(drawn.index, pages);
  });

  /** Per-page probabilities with `hot` hot pages (the first `hot` of the scrambled order) taking `p`. */
  function pageProbabilities(hot: number, p: number): Float64Array {
    const hotSet = new Uint8Array(pages);
    for (let j = 0; j < hot; j++) hotSet[order[j]] = 1;
    return Float64Array.from(hotSet, (h) => (h ? p / hot : (1 - p) / (pages - hot)));
  }

  it("every page: fits at alpha 1e-6; a hot set one page short is rejected", () => {
    expect(drawn.malformed).toBe(0);
    const fit = pearsonTest(counts, pageProbabilities(hotPages, hotProbability));
    report("hotcold all pages", fit);
    expectFits(fit, "hotcold, all pages");
    expectRejects(pearsonTest(counts, pageProbabilities(hotPages - 1, hotProbability)), "hotcold with 102 hot pages");
  });

  it("the hot share is P (binomial), and P ± 0.01 is rejected", () => {
    let hits = 0;
    for (const index of drawn.index) hits += isHot[index];
    const fit = binomialTest(hits, SAMPLES, hotProbability);
    report("hotcold hot share", fit);
    expectFits(fit, "hot share");
    for (const p of [hotProbability - 0.01, hotProbability + 0.01]) expectRejects(binomialTest(hits, SAMPLES, p), `hot share as ${p}`);
  });

  it("uniform within the hot set and within the cold set", () => {
    const hot = counts.filter((_, i) => isHot[i] === 1);
    const cold = counts.filter((_, i) => isHot[i] === 0);
    expect([hot.length, cold.length]).toEqual([hotPages, pages - hotPages]);
    expectFits(pearsonTest(hot, uniformCells(hot.length)), "within the hot set");
    expectFits(pearsonTest(cold, uniformCells(cold.length)), "within the cold set");
  });

  it("P = 0 never draws a hot page, P = 1 never a cold one, f = 1 is uniform over the range", () => {
    const count = 1 << 16;
    const never = sample({ kind: "hotcold", hotFraction, hotProbability: 0, seed: 22 }, pages, count);
    expect(never.index.filter((i) => isHot[i] === 1).length).toBe(0);
    const always = sample({ kind: "hotcold", hotFraction, hotProbability: 1, seed: 23 }, pages, count);
    expect(always.index.filter((i) => isHot[i] === 0).length).toBe(0);
    const all = sample({ kind: "hotcold", hotFraction: 1, hotProbability: 0.5, seed: 24 }, pages, count);
    expectFits(pearsonTest(histogram(all.index, pages), uniformCells(pages)), "hotcold f=1");
  });
});

// ─── Uniform, op, length and offset ────────────────────────────────────────

describe("uniform pages, write fraction, access sizes and alignment", () => {
  it("uniform: every page of the range equally likely (1000 pages from page 7)", () => {
    const drawn = sample({ kind: "uniform", seed: 31, firstPage: 7, pageCount: 1000 }, 1010);
    expect(drawn.malformed).toBe(0);
    const fit = pearsonTest(histogram(drawn.index, 1000), uniformCells(1000));
    report("uniform", fit);
    expectFits(fit, "uniform pages");
  });

  it("writeFraction 0.3: writes are binomial(n, 0.3) and 0.29, 0.31 are rejected; 0 and 1 are exact", () => {
    const drawn = sample({ kind: "uniform", seed: 32, writeFraction: 0.3 }, 512);
    let writes = 0;
    for (const op of drawn.op) writes += op;
    expect(drawn.op.every((op) => op <= 1)).toBe(true);
    const fit = binomialTest(writes, SAMPLES, 0.3);
    report("writeFraction", fit);
    expectFits(fit, "write fraction 0.3");
    for (const w of [0.29, 0.31]) expectRejects(binomialTest(writes, SAMPLES, w), `write fraction as ${w}`);
    for (const w of [0, 1]) {
      const exact = sample({ kind: "zipf", s: 1, seed: 33, writeFraction: w }, 512, 1 << 16);
      expect(exact.op.every((op) => op === w)).toBe(true);
    }
  });

  for (const writeBytes of [8, 64, 512, 4096]) {
    it(`writeBytes ${writeBytes}: every access is ${writeBytes} bytes, aligned, inside its page, at a uniform slot`, () => {
      const drawn = sample({ kind: "hotcold", hotFraction: 0.2, hotProbability: 0.8, seed: 40 + writeBytes, writeBytes }, 300, 1 << 17);
      expect(drawn.malformed).toBe(0);
      expect(drawn.length.every((len) => len === writeBytes)).toBe(true);
      expect(drawn.offset.every((off) => off % writeBytes === 0 && off + writeBytes <= PAGE)).toBe(true);
      const slots = PAGE / writeBytes;
      if (slots === 1) return;
      const fit = pearsonTest(histogram(Uint32Array.from(drawn.offset, (off) => off / writeBytes), slots), uniformCells(slots));
      report(`slots ${writeBytes}`, fit);
      expectFits(fit, `slot of ${writeBytes}-byte accesses`);
    });
  }
});
