// The flags of `hypermem migrate`, with their units, rules and defaults, and
// the rules between them. migrate-plan.ts turns their values into the
// library's scenario and migration options.
import { MAX_GUEST_PAGES } from "../host/vm.js";
import { choice, duration, flag, fraction, hostPort, inputFile, integer, rate, size } from "./option-kinds.js";
import type { PairRule } from "./registry.js";
import { PAGE_BYTES } from "./units.js";
import { workloadOption, workloadPagesOption } from "./workload-option.js";

/** The largest guest (MAX_GUEST_PAGES pages, 1 TiB), bytes. */
export const MAX_GUEST_BYTES = MAX_GUEST_PAGES * PAGE_BYTES;

export const MIGRATE_OPTIONS = {
  guest: size({ help: "guest memory", default: "1GiB", minBytes: 4096, maxBytes: MAX_GUEST_BYTES, maxWhy: "(the largest guest)", multipleOf: "page" }),
  "host-memory": size({
    help: "memory of each host", defaultNote: "the pages the guest can write + XBZRLE cache + 256MiB, at most 4GiB",
    minBytes: 2 ** 20, maxBytes: 2 ** 32, maxWhy: "per host (one WebAssembly memory)", multipleOf: "MiB",
  }),
  prefill: fraction({ help: "share of guest pages written with seeded data first", default: "1" }),
  workload: workloadOption({ help: "what the guest's vCPU touches", default: "hotcold:0.1,0.9" }),
  "workload-pages": workloadPagesOption({ help: "the workload's range: the first N pages of the guest", defaultNote: "the whole guest" }),
  rate: integer({ help: "guest accesses per second: simulated, or wall-clock with --to", min: 1, max: 2 ** 32 - 1, defaultNote: "1000000, or a trace's recorded rate" }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  "write-size": size({ help: "bytes per access", default: "64", minBytes: 8, maxBytes: 4096, powerOfTwo: "bytes" }),
  bandwidth: rate({ help: "simulated link rate", default: "10Gbit" }),
  latency: duration({ help: "simulated one-way link latency", default: "100us", maxNs: 60e9 }),
  "downtime-limit": duration({ help: "QEMU downtime-limit: the longest the guest may stop", default: "300ms", minNs: 1, maxNs: 3600e9 }),
  "max-bandwidth": rate({ help: "QEMU max-bandwidth: a cap on the migration's traffic", defaultNote: "no cap" }),
  policy: choice({ help: "stop rule: QEMU's expected downtime, or Xen's rounds and volume", default: "qemu", choices: ["qemu", "xen"] }),
  xbzrle: flag({ help: "XBZRLE delta compression of re-sent pages" }),
  "xbzrle-cache": size({ help: "XBZRLE cache size (turns on --xbzrle)", default: "64MiB", minBytes: 4096, maxBytes: 2 ** 32, powerOfTwo: "pages" }),
  "auto-converge": flag({ help: "throttle the guest while it dirties faster than the link drains" }),
  "inject-errors": integer({ help: "known uncorrectable memory errors in prefilled guest pages", default: "0", min: 0, max: MAX_GUEST_PAGES }),
  "latent-errors": integer({ help: "latent uncorrectable memory errors in prefilled guest pages", default: "0", min: 0, max: MAX_GUEST_PAGES }),
  "max-rounds": integer({ help: "give up after N rounds, leaving the source running", min: 1, max: 1e6, defaultNote: "no limit" }),
  "max-time": duration({ help: "give up after this much time (simulated, or wall-clock with --to)", minNs: 1, maxNs: 864000e9, defaultNote: "no limit" }),
  seed: integer({ help: "seed of the prefill, the workload and the error placement", default: "1", min: 0, max: Number.MAX_SAFE_INTEGER }),
  json: flag({ help: "print one JSON object instead of the table (an error too)" }),
  to: hostPort({ help: "migrate over TCP to a `hypermem listen` destination instead of in-process" }),
  "token-file": inputFile({ help: "the destination's shared secret (16 to 4096 bytes once trimmed)" }),
  "idle-timeout": duration({ help: "fail after this long without socket activity", default: "10s", minNs: 1e6, maxNs: 86400e9 }),
  "no-encryption": flag({ help: "authenticate the stream without encrypting it (guest memory in clear); the destination must say the same" }),
} as const;

type Flag = keyof typeof MIGRATE_OPTIONS;
const SIMULATED_LINK = "the link of an in-process migration is simulated; over TCP it is real (--max-bandwidth caps its rate)";

export const MIGRATE_RULES: { readonly notWith: ReadonlyArray<PairRule<Flag>>; readonly needs: ReadonlyArray<PairRule<Flag>> } = {
  notWith: [
    ["bandwidth", "to", SIMULATED_LINK],
    ["latency", "to", SIMULATED_LINK],
  ],
  needs: [
    ["to", "token-file", "the destination's shared secret"],
    ["token-file", "to", "the secret of a TCP destination"],
    ["idle-timeout", "to", "it times out a TCP connection"],
    ["no-encryption", "to", "it sets how a TCP connection is protected"],
  ],
};
