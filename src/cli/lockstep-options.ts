// The flags of `hypermem lockstep`, with their units, rules and defaults.
import { custom, duration, flag, fraction, integer, number, rate, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import { parseDecimal } from "./units.js";
import { workloadOption } from "./workload-option.js";

/** Rates of --sweep-nondeterminism, events per second: a comma-separated list of numbers 0..1e6, at most 12. */
function rateList(text: string, flag: string): number[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length > 12) throw optionError(flag, text, `at most 12 rates, got ${parts.length}`);
  return parts.map((p) => {
    if (p === "") throw optionError(flag, text, "an empty item in the list");
    const v = parseDecimal(flag, p);
    if (v < 0 || v > 1e6) throw optionError(flag, text, `each rate must be 0..1000000 events per second, got ${p}`);
    return v;
  });
}

export const LOCKSTEP_OPTIONS = {
  guest: size({ help: "guest memory", default: "16MiB", minBytes: 1 << 20, maxBytes: 2 ** 30, maxWhy: "(the guest, its secondary and the secondary's cache live in this process)", multipleOf: "MiB" }),
  prefill: fraction({ help: "share of guest pages written with seeded data first", default: "1" }),
  workload: workloadOption({ help: "what both copies' vCPUs touch (a generated pattern: both replay the same seed)", default: "hotcold:0.1,0.9" }),
  rate: integer({ help: "guest accesses per simulated second", default: "200000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  duration: duration({ help: "simulated time run, after the initial synchronisation", default: "1s", minNs: 1e6, maxNs: 3600e9 }),
  nondeterminism: number({ help: "nondeterministic events per second (timer reads, interrupt timing, I/O completion order), each on one copy", default: "0", min: 0, max: 1e6, placeholder: "RATE" }),
  "packets-per-sec": integer({ help: "output packets each copy emits per second", default: "1000", min: 0, max: 1_000_000 }),
  "packet-size": integer({ help: "payload bytes of a packet", default: "256", min: 8, max: 16384 }),
  connections: integer({ help: "connections the packets are spread over (compared separately)", default: "4", min: 1, max: 1024 }),
  "compare-timeout": duration({ help: "a primary packet without a secondary counterpart this long forces a checkpoint (COLO compare_timeout)", default: "3s", minNs: 10e3, maxNs: 600e9 }),
  "max-queue": integer({ help: "a connection's queue of this many packets forces a checkpoint (COLO MAX_QUEUE_SIZE)", default: "1024", min: 1, max: 1 << 20 }),
  "checkpoint-delay": duration({ help: "longest time between two checkpoints (COLO x-checkpoint-delay)", default: "20s", minNs: 1e6, maxNs: 3600e9 }),
  "fail-at": duration({ help: "the primary fails at this time (after the initial synchronisation); the secondary takes over", maxNs: 3600e9, defaultNote: "no failure" }),
  bandwidth: rate({ help: "link rate between the hosts", default: "1Gbit", maxBytesPerSec: 1e12 }),
  latency: duration({ help: "one-way link latency", default: "100us", maxNs: 10e9 }),
  "compare-checkpointing": flag({ help: "also run plain checkpointing (25ms epochs) on the same workload and seed, side by side" }),
  "sweep-nondeterminism": custom({ help: "run once per nondeterminism rate and print the curve beside checkpointing", placeholder: "LIST", rule: "rates such as 0,1,10,100,1000" }, rateList),
  seed: integer({ help: "seed of the prefill, the workload, the packets and the nondeterministic events", default: "1", min: 0, max: 0xffff_ffff }),
  json: flag({ help: "print JSON (a record per resync) instead of the table" }),
} as const;
