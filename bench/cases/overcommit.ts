// Bench cases of memory overcommit (src/balloon, issue 15).
//
// balloon-frame-move-64MiB (kernel case): 16,384 frames moved from VM A's
//   balloon into VM B (BALLOON_HANDOVER then DEFLATE_ONTO, which zeroes each
//   frame before B can read it), the next pass back the other way; against
//   zeroing the same 64 MiB in TypeScript (Uint8Array.fill), the work a move
//   cannot avoid. Counted: the frames' bytes; compare with the native
//   page-copy-256MiB rate (npm run bench:native).
// overcommit-realloc-64x1GiB (scenario): one reallocation period of the
//   memory scheduler (the sampling period ends, targets are set, then the
//   period's 15 polls move the balloons) over 64 VMs of 1 GiB on a 4 GiB
//   host (16x over-committed) at ESX's 65 % balloon cap: 10.9 million pages
//   ballooned at boot. Eight VMs have 8x the shares; each pass four of them
//   run (their applications write every page they have) and the other four
//   go idle (their applications exit, freeing their memory), the next pass
//   the other way round: the idle tax moves ~50,000 pages from each idle
//   one to each active one, the frames handed over balloon to balloon and
//   zeroed. Counted: pages the balloons moved (ops, both ways) and their
//   bytes; the frames moved between VMs are printed by the direct run.
// overcommit-realloc-64x16MiB (scenario): the same period (one poll) over 64
//   VMs of 16 MiB on a 512 MiB host (2x), half of them active each pass.
import type { BenchCase, ScenarioBench } from "../case.js";
import { createHost, MemoryScheduler, Timeline, type ManagedVm, type Vm } from "../../src/index.js";

const PAGE = 4096;
const MOVE_PAGES = 16_384;
const ZEROS = new Uint8Array(1024 * PAGE);

function frameMoveCase(): BenchCase {
  const name = "balloon-frame-move-64MiB";
  return {
    name,
    bytesPerPass: MOVE_PAGES * PAGE,
    opsPerPass: MOVE_PAGES,
    setup() {
      const host = createHost({ memoryMiB: 160 });
      let from: Vm = host.createVm({ pages: MOVE_PAGES });
      let to: Vm = host.createVm({ pages: MOVE_PAGES });
      from.fillPages(0, MOVE_PAGES, (into) => into.fill(0xa5));
      for (let pfn = 0; pfn < MOVE_PAGES; pfn++) to.states.balloon(pfn);
      const zeros = new Uint8Array(MOVE_PAGES * PAGE).fill(1);
      const move = (): void => {
        for (let pfn = 0; pfn < MOVE_PAGES; pfn++) to.states.deflateOnto(pfn, from.states.balloonHandover(pfn));
        [from, to] = [to, from];
      };
      return {
        wasm: { run: move },
        ts: { run: () => { zeros.fill(0); } },
        verify() {
          const frames = Array.from({ length: MOVE_PAGES }, (_, pfn) => (from.states.of(pfn) as { hfn: number }).hfn);
          move();
          const moved = Array.from({ length: MOVE_PAGES }, (_, pfn) => (from.states.of(pfn) as { hfn: number }).hfn);
          if (moved.some((hfn, i) => hfn !== frames[i])) throw new Error(`${name}: the frames did not move from one VM to the other`);
          if (from.readPages(0, MOVE_PAGES).some((b) => b !== 0)) throw new Error(`${name}: a moved frame was not zeroed`);
          if (to.states.counts().balloonedPages !== MOVE_PAGES) throw new Error(`${name}: the source's pages are not all ballooned`);
          zeros.fill(0);
        },
      };
    },
  };
}

/** Pfns of `m`'s guest that are not in its balloon. */
function usablePages(m: ManagedVm): number[] {
  const ballooned = m.driver.ballooned.snapshot();
  const pfns: number[] = [];
  for (let pfn = 0; pfn < m.vm.pages; pfn++) if (!ballooned.has(pfn)) pfns.push(pfn);
  return pfns;
}

/** Pages of `m` without a frame get theirs by one bulk write per run (a first touch per page through the fault chain would dominate the bench). */
function populate(m: ManagedVm, pfns: readonly number[]): void {
  if (m.vm.states.counts().privateFrames >= pfns.length) return;
  const empty = pfns.filter((pfn) => m.vm.states.of(pfn).kind === "unpopulated");
  for (let at = 0; at < empty.length;) {
    let end = at + 1;
    while (end < empty.length && empty[end] === empty[end - 1] + 1) end++;
    m.vm.fillPages(empty[at], end - at, (into) => { into.fill(0x5a); });
    at = end;
  }
}

/** The application of `m` writes every page the guest has, through the MMU (which sets the accessed bits the sampler reads). */
function writeAll(m: ManagedVm): void {
  const pfns = usablePages(m);
  populate(m, pfns);
  m.vm.run(pfns.map((pfn) => ({ op: "write" as const, gpa: pfn * PAGE + 8 })));
}

function periodScenario1GiB(): ScenarioBench {
  const vmPages = 262_144;
  const busyVms = 4;
  return {
    name: "overcommit-realloc-64x1GiB",
    passes: 3,
    warmupPasses: 1,
    async setup() {
      const host = createHost({ memoryMiB: 4096 });
      const s = new MemoryScheduler(host, new Timeline(), { trueActiveFraction: true, idleTax: 0.75 });
      const vms: ManagedVm[] = [];
      for (let i = 0; i < 64; i++) vms.push(s.manage(host.createVm({ pages: vmPages }), { shares: i < busyVms ? 50_000 : 1000 }));
      s.start();
      for (const m of vms.slice(0, busyVms)) writeAll(m);
      s.sample();
      const pollsPerPeriod = s.options.reallocPeriodNs / s.options.pollPeriodNs;
      let pass = 0;
      return {
        async run() {
          const active = vms.slice(0, busyVms).filter((_, i) => i % 2 === pass % 2);
          const idle = vms.slice(0, busyVms).filter((_, i) => i % 2 !== pass % 2);
          pass++;
          for (const m of idle) m.driver.releaseAll();
          for (const m of active) {
            m.driver.reuseAll();
            writeAll(m);
          }
          const before = vms.map((m) => m.driver.actualPages);
          const usableBefore = active.map((m) => new Set(usablePages(m)));
          const movedBefore = s.pool.movedFrames;
          const t0 = performance.now();
          s.sample();
          s.reallocate();
          for (let poll = 0; poll < pollsPerPeriod; poll++) s.poll();
          const wallMs = performance.now() - t0;
          const moved = vms.reduce((sum, m, i) => sum + Math.abs(m.driver.actualPages - before[i]), 0);
          const framesMoved = s.pool.movedFrames - movedBefore;
          for (const m of vms) {
            if (m.driver.actualPages > m.driver.maxPages) throw new Error(`vm ${m.vm.id}: balloon past its cap`);
          }
          // The pages an active VM got back read zeros (one in eight checked): none of the idle VMs' bytes.
          active.forEach((m, i) => {
            const given = usablePages(m).filter((pfn, j) => j % 8 === 0 && !usableBefore[i].has(pfn));
            for (let at = 0; at < given.length; at += 1024) {
              const pages = m.vm.gatherPages(given.slice(at, at + 1024));
              if (Buffer.compare(pages, ZEROS.subarray(0, pages.length)) !== 0) throw new Error(`vm ${m.vm.id}: a page given back holds another VM's bytes`);
            }
          });
          if (pass > 1 && framesMoved === 0) throw new Error("no frame moved between VMs");
          // Pages given back without a frame (none once frames move) get one; the sampling
          // period ends here (ESX samples on its own period, not the reallocation's).
          for (const m of active) populate(m, usablePages(m));
          s.sample();
          lastFramesMoved = framesMoved;
          return { bytes: moved * PAGE, ops: moved, wallMs };
        },
      };
    },
  };
}

/** Frames moved between VMs in the last pass of the 1 GiB scenario (printed by the direct run). */
let lastFramesMoved = 0;

function reallocScenario(vmPages: number, hostMiB: number, balloonMaxFraction: number, touchPages: number): ScenarioBench {
  return {
    name: `overcommit-realloc-64x${vmPages * PAGE / 2 ** 20}MiB`,
    passes: 5,
    warmupPasses: 1,
    async setup() {
      const host = createHost({ memoryMiB: hostMiB });
      const timeline = new Timeline();
      const s = new MemoryScheduler(host, timeline, { trueActiveFraction: true, balloonMaxFraction, idleTax: 0.75 });
      const vms: ManagedVm[] = [];
      for (let i = 0; i < 64; i++) vms.push(s.manage(host.createVm({ pages: vmPages })));
      s.start();
      const touch = (m: ManagedVm) => m.vm.run(Array.from({ length: touchPages }, (_, p) => ({ op: "write" as const, gpa: p * PAGE })));
      let pass = 0;
      return {
        async run() {
          for (const [i, m] of vms.entries()) if (i % 2 === pass % 2) touch(m);
          pass++;
          const before = vms.map((m) => m.driver.actualPages);
          const t0 = performance.now();
          s.sample();
          s.reallocate();
          s.poll();
          const wallMs = performance.now() - t0;
          const moved = vms.reduce((sum, m, i) => sum + Math.abs(m.driver.actualPages - before[i]), 0);
          for (const m of vms) {
            if (m.driver.actualPages > m.driver.maxPages) throw new Error(`vm ${m.vm.id}: balloon past its cap`);
          }
          return { bytes: moved * PAGE, ops: moved, wallMs };
        },
      };
    },
  };
}

export const overcommitCases: readonly BenchCase[] = [frameMoveCase()];
export const overcommitScenarios: readonly ScenarioBench[] = [
  periodScenario1GiB(),
  reallocScenario(4096, 512, 0.65, 1024),
];

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const sc of overcommitScenarios.filter((c) => process.argv.length < 3 || c.name === process.argv[2])) {
    const built = await sc.setup();
    for (let i = 0; i < (sc.warmupPasses ?? 0) + sc.passes; i++) {
      const r = await built.run();
      const frames = sc.name.endsWith("1GiB") ? `, ${lastFramesMoved} frames moved between VMs (${(lastFramesMoved / r.wallMs * 1000).toFixed(0)}/s, ${(lastFramesMoved * PAGE / r.wallMs / 1e6).toFixed(2)} GB/s)` : "";
      console.log(sc.name, `pass ${i}: ${r.wallMs.toFixed(1)} ms, ${r.ops} pages moved${frames}`);
    }
  }
}
