// The flags of `hypermem nvm`, with their units, rules and defaults, and the
// plan they become: the library's NVM scenario options, run once or twice
// (--compare: with and without virtblocks, on the same seed).
import type { NvmScenarioOptions } from "../nvm/scenario.js";
import { custom, duration, flag, integer, number, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import type { Values } from "./registry.js";
import { parseDecimal } from "./units.js";
import { verifyTrace, workloadOption } from "./workload-option.js";

/** LOW,HIGH: free-NVM fractions, 0 <= LOW < HIGH <= 0.95. */
const watermarks = custom({ help: "free-NVM watermarks: purging starts below LOW and stops at HIGH (fractions of the NVM's blocks)", default: "0.1,0.2", placeholder: "LOW,HIGH", rule: "0 <= LOW < HIGH <= 0.95" }, (text, flagName): readonly [number, number] => {
  const parts = text.split(",");
  if (parts.length !== 2) throw optionError(flagName, text, "must be two fractions LOW,HIGH such as 0.1,0.2");
  const [low, high] = parts.map((p) => parseDecimal(flagName, p.trim()));
  if (!(low >= 0 && high > low && high <= 0.95)) throw optionError(flagName, text, "must satisfy 0 <= LOW < HIGH <= 0.95");
  return Object.freeze([low, high] as const);
});

export const NVM_OPTIONS = {
  guest: size({ help: "guest memory (an NVM region)", default: "16MiB", minBytes: 1 << 20, maxBytes: 2 ** 30, maxWhy: "(the guest, its oracle and its snapshots live in one host)", multipleOf: "MiB" }),
  nvm: size({ help: "the NVM device (its virtblock array included)", default: "12MiB", minBytes: 1 << 20, maxBytes: 2 ** 32, multipleOf: "MiB" }),
  dram: size({ help: "DRAM for the guest's pages (less than --nvm: a page in DRAM keeps its block)", default: "8MiB", minBytes: 4096, maxBytes: 2 ** 30, multipleOf: "page" }),
  workload: workloadOption({ help: "what the guest's vCPU touches", default: "zipf:1.1" }),
  rate: integer({ help: "guest accesses per simulated second", default: "200000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": number({ help: "share of accesses that write", default: "0.3", min: 0, max: 1, placeholder: "F" }),
  duration: duration({ help: "simulated time the guest runs", default: "500ms", minNs: 0, maxNs: 3600e9 }),
  watermarks,
  "purge-rate": integer({ help: "purges at most this many blocks per simulated second", default: "100000", min: 1, max: 1e9, placeholder: "BLOCKS/s" }),
  snapshots: integer({ help: "snapshot VMs mapping the same blocks (mappings a purge without virtblocks rewrites)", default: "1", min: 0, max: 16 }),
  storage: size({ help: "capacity of the storage file purged blocks go to", defaultNote: "the guest's size", minBytes: 4096, maxBytes: 2 ** 40, multipleOf: "MiB" }),
  compare: flag({ help: "run with and without virtblocks on the same seed, side by side" }),
  "no-virtblocks": flag({ help: "purge by rewriting every mapping (the baseline) instead of virtblock entries" }),
  seed: integer({ help: "seed of the prefill and the workload", default: "1", min: 0, max: 2 ** 32 - 1 }),
  json: flag({ help: "print one JSON object instead of the table (an error too)" }),
} as const;

export interface NvmPlan {
  readonly runs: ReadonlyArray<NvmScenarioOptions>;
  readonly json: boolean;
}

export function planNvm(v: Values<typeof NVM_OPTIONS>, given: ReadonlyMap<string, string>): NvmPlan {
  verifyTrace("--workload", v.workload, v.guest / 4096);
  if (v.dram >= v.nvm) throw optionError("--dram", given.get("dram") ?? "8MiB", `must be less than --nvm ${given.get("nvm") ?? "12MiB"}: a page in DRAM keeps its NVM block`);
  if (v.dram > v.guest) throw optionError("--dram", given.get("dram") ?? "8MiB", `at most the guest's ${given.get("guest") ?? "16MiB"}`);
  if (v.compare && v["no-virtblocks"]) throw optionError("--no-virtblocks", "", "does not go with --compare (which runs both)");
  const base: NvmScenarioOptions = {
    guestMiB: v.guest / 2 ** 20,
    nvmMiB: v.nvm / 2 ** 20,
    dramMiB: v.dram / 2 ** 20,
    workload: v.workload.spec,
    ratePerSec: v.rate,
    writeFraction: v["write-fraction"],
    durationNs: v.duration,
    watermarks: v.watermarks,
    purgeBlocksPerSec: v["purge-rate"],
    snapshots: v.snapshots,
    seed: v.seed,
    ...(v.storage === undefined ? {} : { storageMiB: v.storage / 2 ** 20 }),
  };
  const modes = v.compare ? [true, false] : [!v["no-virtblocks"]];
  return Object.freeze({ runs: modes.map((virtblocks) => Object.freeze({ ...base, virtblocks })), json: v.json });
}
