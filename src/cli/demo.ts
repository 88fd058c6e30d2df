// `hypermem demo`: a 1 GiB guest runs a Zipf write workload for one simulated
// second on a fresh host; the host's dirty log is harvested; a summary of
// what the host did is printed.
import { createHost } from "../host/host.js";
import { formatBytes, formatCount } from "./units.js";

export interface DemoOptions {
  readonly guestMiB: number;
  readonly seconds: number;
  readonly ratePerSec: number;
  readonly zipfS: number;
  readonly seed: number;
}

export const DEMO_DEFAULTS: DemoOptions = Object.freeze({ guestMiB: 1024, seconds: 1, ratePerSec: 2_000_000, zipfS: 1.1, seed: 1 });

/** Runs the demo and returns the lines it prints. */
export function runDemo(o: DemoOptions = DEMO_DEFAULTS): string[] {
  const started = performance.now();
  const host = createHost({ memoryMiB: o.guestMiB + 256 });
  const vm = host.createVm({ memoryMiB: o.guestMiB });
  const workload = vm.startWorkload({ kind: "zipf", s: o.zipfS, ratePerSec: o.ratePerSec, writeFraction: 1, writeBytes: 64, seed: o.seed });
  const runStart = performance.now();
  const run = workload.runFor(o.seconds * 1e9);
  const runMs = performance.now() - runStart;
  workload.close();
  const harvestStart = performance.now();
  const dirty = vm.harvestDirty();
  const harvestMs = performance.now() - harvestStart;
  const accessed = vm.harvestAccessed();
  const stats = host.stats();
  const c = vm.counters;
  const line = (k: string, v: string): string => `  ${k.padEnd(16)}${v}`;
  return [
    `hypermem demo: Zipf (s=${o.zipfS}) writes on a ${formatBytes(vm.memoryBytes)} guest for ${o.seconds} simulated second(s)`,
    line("host", `${formatBytes(host.memoryMiB * 2 ** 20)} of frames allocated on demand (${formatCount(host.maxFrames)} frames max)`),
    line("workload", `${formatCount(o.ratePerSec)} accesses/s, 100% writes of 64 B, seed ${o.seed}`),
    line("accesses", `${formatCount(run.accesses)} (${formatCount(c.writes)} writes) in ${runMs.toFixed(0)} ms wall = ${(run.accesses / runMs / 1e3).toFixed(1)} M accesses per wall second`),
    line("faults", `not-present ${formatCount(c.faults["not-present"])}, cow ${formatCount(c.faults.cow)} (first touch: a private frame each)`),
    line("frames", `${formatCount(stats.usedFrames)} in use (${formatBytes(stats.usedFrames * 4096)}): guest pages, page tables, bitmaps, the zero frame`),
    line("dirty log", `${formatCount(dirty.count())} pages dirty (${formatBytes(dirty.count() * 4096)}, ${(100 * dirty.count() / vm.pages).toFixed(1)}% of the guest), harvested in ${harvestMs.toFixed(2)} ms`),
    line("accessed", `${formatCount(accessed.count())} pages`),
    line("wall time", `${(performance.now() - started).toFixed(0)} ms in all`),
  ];
}
