// The flags of `hypermem overcommit` and the plan they make. --vm may be given
// once per VM:
//
//   --vm SIZE[,shares=N][,reservation=SIZE][,limit=SIZE][,workload=SPEC][,rate=N][,prefill=F]
//
// SPEC is what `migrate --workload` takes (uniform, zipf:S, hotcold:F,P,
// sequential, trace:FILE) or `idle` (the default: the guest touches nothing
// after boot); rate is its accesses per second (default 10000); prefill the
// fraction of the guest written at boot. A hotcold SPEC's comma is kept
// (`workload=hotcold:0.1,0.9`): a part without `=` continues the value before.
import { existsSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import type { OvercommitVmConfig } from "../balloon/run.js";
import { parseWorkload } from "../host/workload.js";
import { optionError } from "./option-error.js";
import { choice, custom, duration, flag, integer, number, outputFile, repeated, size } from "./option-kinds.js";
import type { Values } from "./registry.js";
import { PAGE_BYTES, parseDecimal, parseSize, spellSize } from "./units.js";

const MAX_VM_BYTES = 4 * 2 ** 30;
const VM_KEYS = ["shares", "reservation", "limit", "workload", "rate", "prefill"];

/** One --vm: the VM's configuration and the user's text (for messages). */
export interface VmChoice {
  readonly config: OvercommitVmConfig;
  readonly text: string;
}

function pagesOf(flag: string, text: string, key: string, value: string): number {
  const bytes = parseSize(flag, value);
  if (bytes % PAGE_BYTES !== 0 || bytes < 0) throw optionError(flag, text, `${key} ${value} is not a whole number of 4 KiB pages`);
  return bytes / PAGE_BYTES;
}

/** Parses one --vm text. */
export function parseVmSpec(text: string, flag: string): VmChoice {
  const parts: string[] = [];
  for (const piece of text.split(",")) {
    if (parts.length > 1 && !piece.includes("=")) parts[parts.length - 1] += `,${piece}`;
    else parts.push(piece);
  }
  const bytes = parseSize(flag, parts[0]);
  if (bytes % PAGE_BYTES !== 0 || bytes < 16 * PAGE_BYTES || bytes > MAX_VM_BYTES) {
    throw optionError(flag, text, `the guest size ${parts[0]} must be whole 4 KiB pages from 64KiB to ${spellSize(MAX_VM_BYTES)}`);
  }
  const pages = bytes / PAGE_BYTES;
  const seen = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (eq < 0 || !VM_KEYS.includes(key)) throw optionError(flag, text, `unknown setting ${JSON.stringify(part)} (known: ${VM_KEYS.map((k) => `${k}=`).join(", ")})`);
    if (seen.has(key)) throw optionError(flag, text, `${key}= is given twice`);
    seen.set(key, part.slice(eq + 1));
  }
  const sharesText = seen.get("shares") ?? "1000";
  const shares = Number(sharesText);
  if (!/^-?\d+$/.test(sharesText) || !Number.isSafeInteger(shares) || shares < 1) {
    throw optionError(flag, text, `shares must be a whole number of at least 1, got ${sharesText}`, { shares: sharesText });
  }
  const limitPages = seen.has("limit") ? pagesOf(flag, text, "limit", seen.get("limit")!) : pages;
  if (limitPages < 1 || limitPages > pages) throw optionError(flag, text, `limit ${seen.get("limit")} must be from 4KiB to the guest's size ${parts[0]}`);
  const reservationPages = seen.has("reservation") ? pagesOf(flag, text, "reservation", seen.get("reservation")!) : 0;
  if (reservationPages > limitPages) throw optionError(flag, text, `reservation ${seen.get("reservation")} is more than the guest may have (${spellSize(limitPages * PAGE_BYTES)})`);
  const rateText = seen.get("rate") ?? "10000";
  const rate = Number(rateText);
  if (!/^\d+$/.test(rateText) || rate < 1 || rate > 2 ** 32 - 1) throw optionError(flag, text, `rate must be whole accesses per second from 1 to ${2 ** 32 - 1}, got ${rateText}`);
  const prefill = seen.has("prefill") ? parseDecimal(flag, seen.get("prefill")!) : 0;
  if (!(prefill >= 0 && prefill <= 1)) throw optionError(flag, text, `prefill must be a fraction from 0 to 1, got ${seen.get("prefill")}`);
  const workloadText = seen.get("workload") ?? "idle";
  let workload: OvercommitVmConfig["workload"] = "idle";
  if (workloadText !== "idle") {
    try {
      const spec = parseWorkload(workloadText);
      workload = { ...spec, ratePerSec: rate };
    } catch (err) {
      if (!(err instanceof HypermemError)) throw err;
      throw optionError(flag, text, `workload ${JSON.stringify(workloadText)}: ${err.message.replace(/^bad workload "[^"]*": /, "")}, or idle`, { workload: workloadText });
    }
  }
  return Object.freeze({ text, config: Object.freeze({ pages, shares, reservationPages, limitPages, workload, prefill }) });
}

export const OVERCOMMIT_OPTIONS = {
  "host-memory": size({ help: "the host's memory", minBytes: 2 ** 20, maxBytes: 4 * 2 ** 30, maxWhy: "per host (one WebAssembly memory)", multipleOf: "MiB" }),
  vm: repeated(custom({ help: "a VM: SIZE[,shares=N][,reservation=SIZE][,limit=SIZE][,workload=SPEC|idle][,rate=N][,prefill=F]", placeholder: "SPEC" }, parseVmSpec)),
  "idle-tax": number({ help: "idle-memory tax rate τ, percent (ESX Mem.IdleTax)", min: 0, max: 99, default: "75", placeholder: "PERCENT" }),
  "sample-period": duration({ help: "working-set sampling period (ESX Mem.SamplePeriod)", default: "30s", minNs: 1e9, maxNs: 3600e9 }),
  "realloc-period": duration({ help: "how often the scheduler sets targets", default: "15s", minNs: 1e9, maxNs: 3600e9 }),
  "sample-pages": integer({ help: "pages sampled per VM per period", min: 1, max: 100_000, default: "100" }),
  "balloon-max": number({ help: "most of a guest its balloon may take, percent (ESX Mem.CtlMaxPercent)", min: 0, max: 100, default: "65", placeholder: "PERCENT" }),
  duration: duration({ help: "simulated time to run", default: "2min", minNs: 1e9, maxNs: 24 * 3600e9 }),
  seed: integer({ help: "seed of the page sampling and the workloads", default: "1", min: 0, max: 2 ** 32 - 1 }),
  "swap-file": outputFile({ help: "hypervisor swap as the last step below ballooning (ESX's order), to this swap file (it must not exist; mode 0600, removed at the end)" }),
  "swap-size": size({ help: "the swap file's size (with --swap-file)", multipleOf: "page", minBytes: 4096, maxBytes: 2 ** 40, maxWhy: "(2^28 slots)", defaultNote: "the VMs' memory added up" }),
  experiment: choice({ help: "a reproduction instead of your own VMs: idle-tax (Waldspurger's), condition (an application following the memory condition)", choices: ["idle-tax", "condition"] }),
  json: flag({ help: "print the result (time series included) as JSON" }),
} as const;

export type OvercommitValues = Values<typeof OVERCOMMIT_OPTIONS>;

export type OvercommitPlan =
  | { readonly kind: "run"; readonly values: OvercommitValues; readonly vms: readonly VmChoice[]; readonly swap: { readonly path: string; readonly capacityPages: number } | null }
  | { readonly kind: "experiment"; readonly values: OvercommitValues; readonly experiment: "idle-tax" | "condition" };

/** The checks between flags: a run needs the host and at least one VM; reservations must fit the host; --swap-size needs --swap-file, which must not exist. */
export function planOvercommit(values: OvercommitValues, given: ReadonlyMap<string, string>): OvercommitPlan {
  if (values.experiment !== undefined) {
    for (const f of ["host-memory", "vm", "swap-file", "swap-size"]) {
      if (given.has(f)) throw new HypermemError(ErrorCode.BadOption, `--${f}: not with --experiment (the experiment sets its own host and VMs)`, { option: `--${f}`, conflictsWith: "--experiment" });
    }
    return { kind: "experiment", values, experiment: values.experiment };
  }
  if (values["host-memory"] === undefined) throw new HypermemError(ErrorCode.Usage, "missing --host-memory SIZE (or --experiment NAME)", { option: "--host-memory" });
  const vms = given.has("vm") ? (values.vm ?? []) : [];
  if (vms.length === 0) throw new HypermemError(ErrorCode.Usage, "missing --vm SPEC (one per VM, at least one)", { option: "--vm" });
  const hostPages = values["host-memory"] / PAGE_BYTES;
  let reserved = 0;
  for (const v of vms) {
    reserved += v.config.reservationPages ?? 0;
    if ((v.config.reservationPages ?? 0) > hostPages) {
      throw optionError("--vm", v.text, `a reservation of ${spellSize((v.config.reservationPages ?? 0) * PAGE_BYTES)} is more than the host's memory (--host-memory ${spellSize(values["host-memory"])})`, { reservationBytes: (v.config.reservationPages ?? 0) * PAGE_BYTES }, ErrorCode.Admission);
    }
  }
  if (reserved > hostPages * 0.94) {
    throw new HypermemError(ErrorCode.Admission, `--vm: the reservations add up to ${spellSize(reserved * PAGE_BYTES)}, more than the ${spellSize(Math.floor(hostPages * 0.94) * PAGE_BYTES)} the host can give its VMs (--host-memory ${spellSize(values["host-memory"])} less the 6 % kept free)`, { option: "--vm", reservedBytes: reserved * PAGE_BYTES });
  }
  const swapFile = values["swap-file"];
  if (swapFile === undefined && values["swap-size"] !== undefined) {
    throw new HypermemError(ErrorCode.BadOption, `--swap-size ${given.get("swap-size")}: only with --swap-file PATH (hypervisor swap is off without it)`, { option: "--swap-size", needs: "--swap-file" });
  }
  if (swapFile !== undefined && existsSync(swapFile)) {
    throw optionError("--swap-file", swapFile, "exists: the swap device creates its own file (mode 0600) and removes it at the end; name a new file");
  }
  const swap = swapFile === undefined ? null
    : Object.freeze({ path: swapFile, capacityPages: values["swap-size"] === undefined ? vms.reduce((sum, v) => sum + v.config.pages, 0) : values["swap-size"] / PAGE_BYTES });
  return { kind: "run", values, vms, swap };
}
