// The flags of `hypermem ft`, with their units, rules and defaults.
import { choice, custom, duration, fraction, flag, hostPort, inputFile, integer, rate, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import { parseDuration } from "./units.js";
import { workloadOption } from "./workload-option.js";

/** Epoch lengths of --sweep-epoch, ns: a comma-separated list of durations (1ms..10s), at most 12. */
function epochList(text: string, flag: string): number[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length > 12) throw optionError(flag, text, `at most 12 epoch lengths, got ${parts.length}`);
  return parts.map((p) => {
    if (p === "") throw optionError(flag, text, "an empty item in the list");
    const ns = parseDuration(flag, p);
    if (ns < 1e6 || ns > 10e9) throw optionError(flag, text, `each epoch length must be 1ms..10s, got ${p}`);
    return ns;
  });
}

export const FT_OPTIONS = {
  guest: size({ help: "guest memory", default: "64MiB", minBytes: 1 << 20, maxBytes: 2 ** 31, maxWhy: "(a protected guest and its copy live in this process)", multipleOf: "MiB" }),
  prefill: fraction({ help: "share of guest pages written with seeded data first", default: "1" }),
  workload: workloadOption({ help: "what the guest's vCPU touches", default: "hotcold:0.1,0.9" }),
  rate: integer({ help: "guest accesses per simulated second", default: "200000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  epoch: duration({ help: "epoch length: the guest runs this long between pauses (Remus: 25ms)", default: "25ms", minNs: 1e6, maxNs: 10e9 }),
  duration: duration({ help: "simulated time protected, after the initial copy", default: "2s", minNs: 1e6, maxNs: 3600e9 }),
  bandwidth: rate({ help: "replication link rate", default: "1Gbit" }),
  latency: duration({ help: "one-way link latency", default: "100us", maxNs: 10e9 }),
  "in-flight": choice({ help: "a checkpoint still on the wire at the end of an epoch: the guest runs on (wait) or pauses and merges", default: "wait", choices: ["wait", "merge"] }),
  "packets-per-sec": integer({ help: "output packets the guest emits per second (held until committed)", default: "1000", min: 0, max: 1_000_000 }),
  "packet-size": integer({ help: "bytes of guest memory each packet carries", default: "256", min: 1, max: 65536 }),
  "fail-at": duration({ help: "the primary fails at this time (after the initial copy); the backup takes over", maxNs: 3600e9, defaultNote: "no failure" }),
  "heartbeat-timeout": duration({ help: "the backup declares the primary dead after this long without a heartbeat (every 10ms)", default: "100ms", minNs: 11e6, maxNs: 600e9 }),
  "no-diffs": flag({ help: "send every page whole (no XBZRLE deltas against confirmed versions)" }),
  "no-early-send": flag({ help: "send nothing while the guest runs (no early send of stable pages)" }),
  "sweep-epoch": custom({ help: "run once per epoch length and print the overhead and latency curve", placeholder: "LIST", rule: "durations such as 10ms,25ms,100ms" }, epochList),
  seed: integer({ help: "seed of the prefill, the workload and the packets", default: "1", min: 0, max: 0xffff_ffff }),
  json: flag({ help: "print JSON (a record per epoch) instead of the table" }),
  to: hostPort({ help: "protect over TCP with a backup in a `hypermem listen` process (wall-clock epochs) instead of in-process" }),
  "token-file": inputFile({ help: "the listener's shared secret (16 to 4096 bytes once trimmed)" }),
} as const;

const IN_PROCESS = "in-process only (over TCP the guest runs in wall-clock epochs on a real socket)";

/** Flags that need or exclude --to. */
export const FT_RULES = {
  notWith: [
    ["to", "sweep-epoch", IN_PROCESS], ["to", "fail-at", "over TCP the primary fails by being killed (kill -9)"],
    ["to", "bandwidth", IN_PROCESS], ["to", "latency", IN_PROCESS], ["to", "in-flight", IN_PROCESS],
  ],
  needs: [["to", "token-file", "the listener's shared secret"], ["token-file", "to", "the secret of a TCP backup"]],
} as const;
