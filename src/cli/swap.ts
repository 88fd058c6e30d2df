// `hypermem swap`: a guest over its frame limit runs a workload while its
// pages are swapped to a real file through a device with typed queues
// (demand, prefetch, write-back); prints the latency per request type, the
// queue depths, prefetch hits and waste, stall time and the swap counters
// (or JSON). --compare runs priority and fifo on the same workload and seed.
import { runSwapScenario, type SwapRunResult } from "../swap/scenario.js";
import { ExitStatus } from "./failure.js";
import { defineCommand } from "./registry.js";
import { planSwap, SWAP_OPTIONS } from "./swap-options.js";
import { swapReport } from "./swap-report.js";
import { formatBytes, formatCount } from "./units.js";

export const swapCommand = defineCommand({
  name: "swap",
  summary: "hypervisor swap with prioritised queues: demand reads ahead of prefetch and write-back",
  description: "Runs a guest larger than --frames-limit: its pages are swapped out (clock over accessed bits) to a real swap file " +
    "(4 KiB slots, an XXH3-64 hash each, mode 0600, removed at the end) and back in on its faults. Every I/O is a demand read, a prefetch " +
    "(readahead of 2^--page-cluster slots) or a write-back, served by a simulated --device with one queue per type in strict " +
    "priority (--queues priority; write-back first when free frames run low) or one FIFO queue (Linux). Every --burst-period the " +
    "limit drops by --burst for half a period: a burst of write-backs. Prints latency per request type (p50, p99, p99.9, " +
    "histogram), queue depths over time, prefetch hits and waste, guest stall, swap_in, swap_out, major_faults. " +
    "--io real then replays the run's requests against the swap file with asynchronous I/O and measures them.",
  options: SWAP_OPTIONS,
  examples: [
    "hypermem swap --guest 8MiB --frames-limit 4MiB --duration 20ms --compare",
    "hypermem swap --guest 8MiB --frames-limit 4MiB --duration 20ms --device sata-ssd --io real --json",
  ],
  validate: planSwap,
  async run(plan, ctx) {
    const results: Array<{ result: SwapRunResult; wallMs: number }> = [];
    for (const options of plan.runs) {
      ctx.stderr.write(`swap: queues ${options.swap?.queues}: ${(options.durationNs / 1e9).toFixed(3)} s of guest time on ${formatBytes(options.guestPages * 4096)}, limit ${formatBytes(options.frameLimitPages * 4096)}\n`);
      const started = performance.now();
      const result = await runSwapScenario({
        ...options,
        onSimulated: (requests) => { if (options.io === "real") ctx.stderr.write(`swap: replaying ${formatCount(requests)} requests against the swap file\n`); },
      });
      results.push({ result, wallMs: performance.now() - started });
    }
    if (plan.json) ctx.stdout.write(`${JSON.stringify({ runs: results.map(({ result, wallMs }) => ({ ...result, wallMs })) }, null, 2)}\n`);
    else ctx.stdout.write(`${swapReport(results)}\n`);
    return ExitStatus.ok;
  },
});
