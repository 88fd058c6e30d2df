// The flags of `hypermem swap`, with their units, rules and defaults, and
// the plan they become: the library's scenario options for one arbitration
// or both (--compare: the same workload and seed under priority and fifo).
import { existsSync } from "node:fs";
import { DEVICE_PRESET_NAMES } from "../swap/device.js";
import { MAX_PAGE_CLUSTER } from "../swap/options.js";
import type { SwapScenarioOptions } from "../swap/scenario.js";
import { choice, duration, flag, fraction, integer, outputFile, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import type { Values } from "./registry.js";
import { PAGE_BYTES, spellSize } from "./units.js";
import { verifyTrace, workloadOption } from "./workload-option.js";

/** The largest guest of `hypermem swap`: it, its tables and the kernels' room fit one host. */
export const SWAP_MAX_GUEST_BYTES = 3 * 2 ** 30;

export const SWAP_OPTIONS = {
  guest: size({ help: "guest memory", default: "64MiB", minBytes: 64 * PAGE_BYTES, maxBytes: SWAP_MAX_GUEST_BYTES, maxWhy: "(one host is one 4 GiB WebAssembly memory)", multipleOf: "page" }),
  "frames-limit": size({ help: "frames the guest may hold (resident pages and its swap cache); the rest is swapped", multipleOf: "page", minBytes: 64 * PAGE_BYTES, defaultNote: "half the guest" }),
  workload: workloadOption({ help: "what each vCPU touches (vCPU i with seed + i)", default: "zipf:0.8" }),
  vcpus: integer({ help: "vCPUs of the guest, each waiting on its own swap-ins", default: "4", min: 1, max: 64 }),
  rate: integer({ help: "guest accesses per simulated second of each vCPU's running time", default: "1000000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  duration: duration({ help: "simulated time the guest runs", default: "200ms", minNs: 1e6, maxNs: 600e9 }),
  burst: size({ help: "the limit drops by this much at each burst, for half a period (write-backs of that many pages at once)", multipleOf: "page", minBytes: 0, defaultNote: "a quarter of --frames-limit" }),
  "burst-period": duration({ help: "time between bursts", minNs: 1e6, maxNs: 600e9, defaultNote: "a quarter of --duration" }),
  device: choice({ help: "the device class of the model (service times, channels, queue depths)", default: "nvme", choices: DEVICE_PRESET_NAMES }),
  queues: choice({ help: "priority: a queue per request type, demand > prefetch > write-back; fifo: one queue (Linux)", default: "priority", choices: ["priority", "fifo"] }),
  compare: flag({ help: "run priority and fifo on the same workload and seed, side by side (--queues is then ignored)" }),
  "page-cluster": integer({ help: "readahead of 2^N slots around each demand read (Linux vm.page-cluster; 0: off)", default: "3", min: 0, max: MAX_PAGE_CLUSTER }),
  io: choice({ help: "simulated: the device model only; real: then replay the run's requests against the swap file with asynchronous I/O and measure them", default: "simulated", choices: ["simulated", "real"] }),
  "swap-file": outputFile({ help: "the swap file to create (it must not exist; removed at the end)", defaultNote: "a new file in the system's temporary folder" }),
  seed: integer({ help: "seed of the workload (vCPU i uses seed + i)", default: "1", min: 0, max: 2 ** 32 - 1 }),
  json: flag({ help: "print one JSON object instead of the table (an error too)" }),
} as const;

export interface SwapPlan {
  readonly runs: ReadonlyArray<SwapScenarioOptions>;
  readonly json: boolean;
}

/** The checks that need several values; the scenario options for each run. */
export function planSwap(v: Values<typeof SWAP_OPTIONS>, given: ReadonlyMap<string, string>): SwapPlan {
  const guestPages = v.guest / PAGE_BYTES;
  verifyTrace("--workload", v.workload, guestPages);
  const limitBytes = v["frames-limit"] ?? Math.max(64 * PAGE_BYTES, Math.floor(guestPages / 2) * PAGE_BYTES);
  if (limitBytes >= v.guest) {
    throw optionError("--frames-limit", given.get("frames-limit") ?? spellSize(limitBytes), `must be less than the guest's ${spellSize(v.guest)} (--guest ${given.get("guest") ?? "64MiB"}), or nothing is swapped`);
  }
  const limitPages = limitBytes / PAGE_BYTES;
  const burstPages = v.burst === undefined ? Math.floor(limitPages / 4) : v.burst / PAGE_BYTES;
  if (burstPages >= limitPages) {
    throw optionError("--burst", given.get("burst")!, `must be less than the frame limit, ${spellSize(limitBytes)}`);
  }
  const path = v["swap-file"];
  if (path !== undefined && existsSync(path)) {
    throw optionError("--swap-file", path, "exists: the swap device creates its own file (mode 0600) and removes it at the end; name a new file");
  }
  const spec = v.workload.spec;
  const base: SwapScenarioOptions = {
    guestPages,
    frameLimitPages: limitPages,
    workload: { ...spec, ratePerSec: v.rate, ...(spec.kind === "trace" ? {} : { writeFraction: v["write-fraction"], seed: v.seed }) },
    vcpus: v.vcpus,
    durationNs: v.duration,
    burstPages,
    ...(v["burst-period"] === undefined ? {} : { burstPeriodNs: v["burst-period"] }),
    io: v.io,
    swap: { device: v.device, pageCluster: v["page-cluster"], ...(path === undefined ? {} : { path }) },
  };
  const modes = v.compare ? (["priority", "fifo"] as const) : [v.queues];
  const runs = modes.map((queues) => Object.freeze({ ...base, swap: Object.freeze({ ...base.swap, queues }) }));
  return Object.freeze({ runs, json: v.json });
}
