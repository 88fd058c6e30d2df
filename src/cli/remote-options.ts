// The flags of `hypermem remote`, with their units, rules and defaults, and
// the plan they become: the library's remote-memory scenario options.
import { REMOTE_LINK_PRESETS, type RemoteLinkPreset } from "../remote/link.js";
import { REMOTE_DEFAULTS, REMOTE_MAX_GUEST_MIB, type RemoteScenarioOptions } from "../remote/options.js";
import { choice, duration, flag, integer, number, outputFile, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import type { Values } from "./registry.js";
import { verifyTrace, workloadOption } from "./workload-option.js";

export const REMOTE_OPTIONS = {
  guest: size({ help: "guest memory", default: "64MiB", minBytes: 1 << 20, maxBytes: REMOTE_MAX_GUEST_MIB * 2 ** 20, maxWhy: "(the guest, its region and the failover's copy live in this process)", multipleOf: "MiB" }),
  "remote-fraction": number({ help: "share of the guest's pages kept only in the memory host's region, not in the compute host's DRAM", default: "0.5", min: 0, max: 0.99, placeholder: "F" }),
  workload: workloadOption({ help: "what the guest's vCPU touches", default: "hotcold:0.1,0.9" }),
  rate: integer({ help: "guest accesses per simulated second", default: "1000000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": number({ help: "share of accesses that write", default: "0.3", min: 0, max: 1, placeholder: "F" }),
  epoch: duration({ help: "dirty-page lists are published this often (the recovery point's step)", default: "10ms", minNs: 1e5, maxNs: 60e9 }),
  "baseline-every": duration({ help: "a baseline of the region is written to shared storage this often", default: "1s", minNs: 1e5, maxNs: 3600e9 }),
  "fail-at": duration({ help: "simulated time at which the compute host fails", default: "2.5s", minNs: 0, maxNs: 3600e9 }),
  link: choice({ help: "the link to the memory host (one-sided read latency and bandwidth presets)", default: "rdma-56g", choices: Object.keys(REMOTE_LINK_PRESETS) as RemoteLinkPreset[] }),
  "memory-host": size({ help: "the memory host's capacity for regions", defaultNote: "what the region needs", minBytes: 4096, maxBytes: 2 ** 40 }),
  "memory-host-down": flag({ help: "the memory host fails too: recovery has the baseline alone" }),
  baseline: outputFile({ help: "the baseline file on shared storage (kept after the run)", defaultNote: "a temporary file, removed" }),
  seed: integer({ help: "seed of the prefill and the workload", default: "1", min: 0, max: 2 ** 32 - 1 }),
  json: flag({ help: "print one JSON object instead of the table (an error too)" }),
} as const;

export interface RemotePlan {
  readonly options: RemoteScenarioOptions;
  readonly json: boolean;
}

/** The checks that need several values; the scenario's options. */
export function planRemote(v: Values<typeof REMOTE_OPTIONS>, given: ReadonlyMap<string, string>): RemotePlan {
  const guestPages = v.guest / 4096;
  verifyTrace("--workload", v.workload, guestPages);
  if (v["baseline-every"] < v.epoch) {
    throw optionError("--baseline-every", given.get("baseline-every") ?? "1s", `must be at least --epoch ${given.get("epoch") ?? "10ms"}: a baseline holds whole epochs`);
  }
  const spec = v.workload.spec;
  const options: RemoteScenarioOptions = Object.freeze({
    guestMiB: v.guest / 2 ** 20,
    remoteFraction: v["remote-fraction"],
    workload: spec,
    ratePerSec: v.rate ?? REMOTE_DEFAULTS.ratePerSec,
    writeFraction: v["write-fraction"],
    seed: v.seed,
    epochNs: v.epoch,
    baselineEveryNs: v["baseline-every"],
    failAtNs: v["fail-at"],
    memoryHostUnreachable: v["memory-host-down"],
    link: v.link,
    ...(v.baseline === undefined ? {} : { baselinePath: v.baseline }),
    ...(v["memory-host"] === undefined ? {} : { memoryHostMiB: Math.max(1, Math.floor(v["memory-host"] / 2 ** 20)) }),
  });
  return Object.freeze({ options, json: v.json });
}
