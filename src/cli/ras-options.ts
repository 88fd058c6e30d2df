// The flags of `hypermem ras`, with their units, rules and defaults, and
// the plan they become: the library's scenario options for one policy or
// both (the same seed, workload and errors for each).
import { readFileSync, statSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { RETIRED_STORE_HEADER } from "../host/retired-store.js";
import { MAX_GROUP_PAGES } from "../ras/options.js";
import type { RasPolicy } from "../ras/options.js";
import type { RasScenarioOptions } from "../ras/scenario.js";
import { choice, custom, duration, flag, fraction, inputFile, integer, outputFile, size } from "./option-kinds.js";
import { optionError, rewrapOptionError } from "./option-error.js";
import type { Values } from "./registry.js";
import { PAGE_BYTES, formatCount } from "./units.js";
import { verifyTrace, workloadOption, workloadPagesOption } from "./workload-option.js";

/** The largest guest of `hypermem ras`: it and its parity fit one 4 GiB host. */
export const RAS_MAX_GUEST_BYTES = 3 * 2 ** 30;

/** PAGES/s: "16384" or "16384/s", an integer from 0 (off) to 2^32 - 1. */
const pagesPerSec = custom({ help: "patrol scrubber: guest pages read per second to find latent errors (0: off)", default: "16384", placeholder: "PAGES/s", rule: "0..4294967295 pages per second" }, (text, flag) => {
  const digits = /^\s*(\d+)\s*(?:\/s)?\s*$/.exec(text);
  const v = digits ? Number(digits[1]) : NaN;
  if (!Number.isSafeInteger(v) || v > 2 ** 32 - 1) throw optionError(flag, text, "must be a whole number of pages per second from 0 to 4294967295, such as 16384 or 16384/s");
  return v;
});

export const RAS_OPTIONS = {
  guest: size({ help: "guest memory", default: "64MiB", minBytes: 4096, maxBytes: RAS_MAX_GUEST_BYTES, maxWhy: "(the guest and its parity fit one 4 GiB host)", multipleOf: "page" }),
  workload: workloadOption({ help: "what the guest's vCPU touches", default: "hotcold:0.1,0.9" }),
  "workload-pages": workloadPagesOption({ help: "the workload's range: the first N pages of the guest", defaultNote: "the whole guest" }),
  rate: integer({ help: "guest accesses per simulated second", min: 1, max: 2 ** 32 - 1, defaultNote: "1000000, or a trace's recorded rate" }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  "write-size": size({ help: "bytes per access", default: "64", minBytes: 8, maxBytes: 4096, powerOfTwo: "bytes" }),
  duration: duration({ help: "simulated time the guest runs while errors arrive", default: "1s", minNs: 1e6, maxNs: 3600e9 }),
  prefill: fraction({ help: "share of the guest written with seeded data first (after the backing file's pages)", default: "1" }),
  errors: integer({ help: "known uncorrectable errors (reported as by a patrol scrub), at seeded times and pages", default: "8", min: 0, max: 1e6 }),
  latent: integer({ help: "latent uncorrectable errors, found by the scrubber or the next read", default: "4", min: 0, max: 1e6 }),
  correctable: integer({ help: "corrected errors, spread over pages so some frames pass --ce-threshold", default: "0", min: 0, max: 1e7 }),
  policy: choice({ help: "linux: refill clean file pages only; parity: also rebuild from parity groups; both: one run of each", default: "both", choices: ["both", "parity", "linux"] }),
  "group-size": integer({ help: "guest pages per parity group (one parity frame each: 1/K more memory)", default: "8", min: 2, max: MAX_GROUP_PAGES, placeholder: "K" }),
  "rejoin-after": duration({ help: "a written page rejoins its parity group after this long without writes", default: "50ms", maxNs: 3600e9 }),
  "backing-file": inputFile({ help: "a file loaded at guest page 0 (as much as fits), its pages clean-backed until written" }),
  "scrub-rate": pagesPerSec,
  "ce-threshold": integer({ help: "corrected errors on one frame that retire it (mcelog: 10 in 24 h)", default: "10", min: 1, max: 2 ** 32 - 1 }),
  store: outputFile({ help: "the retired-frame store (created if missing): frames it names are never used; retirements are appended" }),
  "retired-limit": integer({ help: "warn when retired frames pass 90 % of this (amdgpu's bad_page_threshold)", min: 1, max: 2 ** 32 - 1, defaultNote: "no limit" }),
  seed: integer({ help: "seed of the prefill, the workload and the errors' pages and times", default: "1", min: 0, max: 2 ** 32 - 1 }),
  json: flag({ help: "print one JSON object instead of the table (an error too)" }),
} as const;

export interface RasPlan {
  readonly runs: ReadonlyArray<RasScenarioOptions>;
  readonly json: boolean;
}

/** Refuses, naming --store, a store this hypermem cannot read (another major version, not a store); a damaged one is loaded later. */
function checkStore(path: string): void {
  let head: Uint8Array;
  try {
    head = readFileSync(path);
  } catch {
    return; // a new store (outputFile checked the folder)
  }
  if (head.length === 0) return;
  try {
    RETIRED_STORE_HEADER.checkMagic(head, { source: path });
    RETIRED_STORE_HEADER.decode(head, { source: path });
  } catch (err) {
    if (err instanceof HypermemError && err.code !== ErrorCode.FormatVersion && err.details.field !== "magic") return;
    throw rewrapOptionError("--store", path, err);
  }
}

/** The checks that need several values; the scenario options for each policy run. */
export function planRas(v: Values<typeof RAS_OPTIONS>, given: ReadonlyMap<string, string>): RasPlan {
  const guestPages = v.guest / PAGE_BYTES;
  const spec = v.workload.spec;
  verifyTrace("--workload", v.workload, guestPages);
  const parityMiB = v.policy === "linux" ? 0 : v.guest / 2 ** 20 / v["group-size"];
  if (v.guest / 2 ** 20 + parityMiB + 64 > 4096) {
    throw optionError("--guest", given.get("guest")!, `the guest, its parity (1/${v["group-size"]} of it) and 64MiB of tables and buffers need ${Math.ceil(v.guest / 2 ** 20 + parityMiB + 64)}MiB; one host has at most 4096MiB (one WebAssembly memory)`);
  }
  const workloadPages = v["workload-pages"];
  if (workloadPages !== undefined && workloadPages > guestPages) {
    throw optionError("--workload-pages", given.get("workload-pages")!, `at most the guest's ${formatCount(guestPages)} pages (--guest ${given.get("guest") ?? "64MiB"})`);
  }
  if (workloadPages !== undefined && spec.kind === "trace") throw optionError("--workload-pages", given.get("workload-pages")!, `does not apply to --workload ${v.workload.text} (a trace replays its recorded accesses)`);
  const backing = v["backing-file"];
  const fileBytes = backing === undefined ? 0 : statSync(backing).size;
  if (backing !== undefined && fileBytes < PAGE_BYTES) throw optionError("--backing-file", backing, `is ${fileBytes} bytes, less than one 4 KiB page`);
  const writtenPages = Math.max(Math.round(v.prefill * guestPages), Math.min(guestPages, Math.floor(fileBytes / PAGE_BYTES)));
  const errorPages = v.errors + v.latent + (v.correctable === 0 ? 0 : Math.max(1, Math.floor(v.correctable / v["ce-threshold"])));
  if (errorPages > writtenPages) {
    const name = (["errors", "latent", "correctable"] as const).find((n) => given.has(n)) ?? "errors";
    throw optionError(`--${name}`, given.get(name) ?? String(v[name]), `${formatCount(errorPages)} pages with errors do not fit the ${formatCount(writtenPages)} pages the guest has written (--prefill ${given.get("prefill") ?? "1"} of --guest ${given.get("guest") ?? "64MiB"}${backing === undefined ? "" : ", and the backing file's pages"})`);
  }
  if (v.store !== undefined) checkStore(v.store);
  const policies: RasPolicy[] = v.policy === "both" ? ["linux", "parity"] : [v.policy];
  const runs = policies.map((policy): RasScenarioOptions => Object.freeze({
    guestMiB: v.guest / 2 ** 20,
    workload: spec,
    ...(workloadPages === undefined ? {} : { workloadPages }),
    ...(v.rate === undefined ? {} : { ratePerSec: v.rate }),
    ...(spec.kind === "trace" ? {} : { writeFraction: v["write-fraction"], writeBytes: v["write-size"] }),
    seed: v.seed,
    durationNs: v.duration,
    prefill: v.prefill,
    knownErrors: v.errors,
    latentErrors: v.latent,
    correctableErrors: v.correctable,
    policy,
    groupSizePages: v["group-size"],
    rejoinAfterNs: v["rejoin-after"],
    scrubPagesPerSec: v["scrub-rate"],
    ceThreshold: v["ce-threshold"],
    backingFile: v["backing-file"] ?? null,
    retiredStore: v.store ?? null,
    retiredLimit: v["retired-limit"] ?? null,
  }));
  return Object.freeze({ runs, json: v.json });
}
