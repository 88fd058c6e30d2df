// `hypermem demo host`: the host alone. A Zipf write workload runs on a guest
// (1 GiB by default) for one simulated second; then the dirty log is harvested
// and the host's figures are printed: accesses, faults, frames, dirty pages.
import { createHost, MAX_HOST_MIB } from "../host/host.js";
import { defineCommand } from "./registry.js";
import { integer, number, size } from "./option-kinds.js";
import { formatBytes, formatCount, PAGE_BYTES } from "./units.js";

interface DemoOptions {
  readonly guestMiB: number;
  readonly seconds: number;
  readonly ratePerSec: number;
  readonly zipfS: number;
  readonly seed: number;
}

/** Host memory beyond the guest: page tables, dirty and accessed logs. */
const HOST_SLACK_MIB = 256;

/** Runs the demo and returns the lines it prints. */
function runHostDemo(o: DemoOptions): string[] {
  const started = performance.now();
  const host = createHost({ memoryMiB: Math.ceil(o.guestMiB) + HOST_SLACK_MIB });
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
    line("frames", `${formatCount(stats.usedFrames)} in use (${formatBytes(stats.usedFrames * PAGE_BYTES)}): guest pages, page tables, bitmaps, the zero frame`),
    line("dirty log", `${formatCount(dirty.count())} pages dirty (${formatBytes(dirty.count() * PAGE_BYTES)}, ${(100 * dirty.count() / vm.pages).toFixed(1)}% of the guest), harvested in ${harvestMs.toFixed(2)} ms`),
    line("accessed", `${formatCount(accessed.count())} pages`),
    line("wall time", `${(performance.now() - started).toFixed(0)} ms in all`),
  ];
}

export const demoHostCommand = defineCommand({
  name: ["demo", "host"],
  summary: "run a Zipf write workload on a guest for one simulated second and summarise what the host did",
  description: "Runs a Zipf write workload (every access a 64-byte write) on a guest for one simulated second on a host " +
    "of the guest's size plus 256MiB, then harvests the dirty log and prints the accesses, faults, frames in use and " +
    "dirty pages.",
  options: {
    guest: size({
      help: "guest memory", default: "1GiB", minBytes: 4096, maxBytes: (MAX_HOST_MIB - HOST_SLACK_MIB) * 2 ** 20,
      maxWhy: "(the demo's host holds the guest plus 256MiB, and a host has at most 4GiB)", multipleOf: "page",
    }),
    rate: integer({ help: "accesses per simulated second", default: "2000000", min: 1, max: 2 ** 32 - 1 }),
    zipf: number({ help: "Zipf exponent of page popularity", default: "1.1", min: 0.01, max: 100, placeholder: "S" }),
    seed: integer({ help: "seed of the workload", default: "1", min: 0, max: Number.MAX_SAFE_INTEGER }),
  },
  examples: ["hypermem demo host", "hypermem demo host --guest 256MiB --zipf 0.8"],
  run(v, ctx) {
    const lines = runHostDemo({ guestMiB: v.guest / 2 ** 20, seconds: 1, ratePerSec: v.rate, zipfS: v.zipf, seed: v.seed });
    ctx.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  },
});
