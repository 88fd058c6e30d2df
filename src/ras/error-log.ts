// The log of uncorrectable errors a recovery engine has seen, one entry per
// bad frame, and how each ended, counted the way Linux counts its own
// (mm/memory-failure.c: /sys/devices/system/node/nodeN/memory_failure/
// {total,recovered,ignored,failed,delayed}, and the page type of each):
//
//   Recovered  the page was refilled from its file or rebuilt from parity:
//              the guest never learns of the error
//   Failed     the page is lost and the guest got a virtual machine check
//   Delayed    the page is lost; the guest has not touched it yet and gets
//              the machine check at its first access (late kill)
//   Ignored    a report for a frame already known bad, or one that holds no
//              guest data
//
// A latent error nobody has read yet is "undetected", outside the four.
import type { Vm } from "../host/vm.js";

/** What the page held when the error hit (Linux: clean / dirty LRU page cache, anonymous). */
export type PageType = "cleanFile" | "dirtyFile" | "anonymous";
/** Who found the error: its report (known), the guest's or the hypervisor's read, the scrubber, or a parity rebuild reading its group. */
export type DetectedBy = "report" | "guest" | "hypervisor" | "scrubber" | "rebuild";
export type Outcome = "refill" | "parity" | "lost";
export type LinuxResult = "Recovered" | "Failed" | "Delayed";

export interface ErrorEntry {
  readonly vm: Vm;
  readonly pfn: number;
  /** The bad frame. */
  readonly hfn: number;
  readonly latent: boolean;
  readonly pageType: PageType;
  /** Clock time the error appeared, ns. */
  readonly atNs: number;
  detectedNs: number | null;
  detectedBy: DetectedBy | null;
  outcome: Outcome | null;
  /** Machine checks delivered to the guest for this page. */
  machineChecks: number;
}

/** The Linux result of an entry, or null while it is undetected. */
export function linuxResult(e: ErrorEntry): LinuxResult | null {
  if (e.outcome === "refill" || e.outcome === "parity") return "Recovered";
  if (e.outcome === "lost") return e.machineChecks > 0 ? "Failed" : "Delayed";
  return null;
}

export class ErrorLog {
  readonly #byFrame = new Map<number, ErrorEntry>();
  #ignored = 0;

  /** The entry of bad frame `hfn`. */
  get(hfn: number): ErrorEntry | undefined { return this.#byFrame.get(hfn); }

  /** Adds an entry (the caller checked the frame is not in the log). */
  add(entry: ErrorEntry): ErrorEntry {
    this.#byFrame.set(entry.hfn, entry);
    return entry;
  }

  /** The entry of the lost page `pfn` of `vm`, if any (for machine checks). */
  lostPage(vm: Vm, pfn: number): ErrorEntry | undefined {
    for (const e of this.#byFrame.values()) if (e.vm === vm && e.pfn === pfn && e.outcome === "lost") return e;
    return undefined;
  }

  /** A report that changed nothing (Linux: Ignored). */
  ignore(): void { this.#ignored++; }
  get ignored(): number { return this.#ignored; }

  entries(): ErrorEntry[] { return [...this.#byFrame.values()]; }
}
