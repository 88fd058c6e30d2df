// The workload flags shared by `migrate` and `trace record`: --workload SPEC
// (uniform | zipf:S | hotcold:F,P | sequential | trace:FILE, read by the
// library's parseWorkload; a trace file is checked and its header read when
// the flag is parsed) and --workload-pages N|SIZE (the workload's page range,
// from guest page 0).
import { HypermemError } from "../errors.js";
import { readTraceHeader, TraceReader, type TraceHeader } from "../host/trace.js";
import { MAX_WORKLOAD_PAGES, parseWorkload, type WorkloadSpec } from "../host/workload.js";
import { checkInputFile } from "./file-checks.js";
import { custom, type Common } from "./option-kinds.js";
import { optionError, rewrapOptionError } from "./option-error.js";
import { PAGE_BYTES, parseSize, spellSize } from "./units.js";

/** A parsed --workload: the spec, the user's text, and the header of a trace. */
export interface WorkloadChoice {
  readonly spec: WorkloadSpec;
  readonly text: string;
  /** The trace's header (checked) for trace:FILE, else null. */
  readonly trace: TraceHeader | null;
}

/** Runs `read` on the trace file of `flag`; its errors come back naming the flag and the text. */
function readingTrace<T>(flag: string, text: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof HypermemError) throw rewrapOptionError(flag, text, err);
    const code = (err as NodeJS.ErrnoException)?.code;
    if (typeof code === "string") throw optionError(flag, text, `cannot read the trace: ${code}`, { errno: code });
    throw err;
  }
}

/** The library's message without its own `bad workload "…": ` lead, which the flag and text replace. */
function withoutLead(message: string, text: string): string {
  const lead = `bad workload ${JSON.stringify(text)}: `;
  return message.startsWith(lead) ? message.slice(lead.length) : message;
}

/** --workload SPEC. */
export function workloadOption<const C extends Common>(c: C) {
  return custom({ ...c, placeholder: "SPEC", rule: "uniform | zipf:S | hotcold:F,P | sequential | trace:FILE" }, (text, flag): WorkloadChoice => {
    let spec: WorkloadSpec;
    try {
      spec = parseWorkload(text);
    } catch (err) {
      if (!(err instanceof HypermemError)) throw err;
      throw optionError(flag, text, withoutLead(err.message, text), { ...err.details, option: flag, value: text }, err.code);
    }
    if (spec.kind !== "trace") return Object.freeze({ spec, text, trace: null });
    const path = spec.path;
    checkInputFile(flag, text, path);
    return Object.freeze({ spec, text, trace: readingTrace(flag, text, () => readTraceHeader(path)) });
  });
}

/**
 * Reads the whole trace of `choice` once and checks its CRC and every record
 * against a guest of `guestPages` pages, as replaying it would, but before
 * any work: a bad trace fails here naming the flag.
 */
export function verifyTrace(flag: string, choice: WorkloadChoice, guestPages: number): void {
  if (choice.spec.kind !== "trace") return;
  const path = choice.spec.path;
  readingTrace(flag, choice.text, () => TraceReader.open(path, { guestPages }).close());
}

/** --workload-pages N|SIZE: a page count ("524288") or a size with a unit ("2GiB"), whole 4 KiB pages. */
export function workloadPagesOption<const C extends Common>(c: C) {
  return custom({ ...c, placeholder: "N|SIZE", rule: "a page count, or a size such as 2GiB (whole 4 KiB pages)" }, (text, flag): number => {
    const bytes = /^\s*\d+\s*$/.test(text) ? Number(text) * PAGE_BYTES : parseSize(flag, text);
    const pages = bytes / PAGE_BYTES;
    if (!Number.isSafeInteger(pages)) throw optionError(flag, text, "not a whole number of 4 KiB pages");
    if (pages < 1) throw optionError(flag, text, "at least 1 page (4KiB)");
    if (pages > MAX_WORKLOAD_PAGES) throw optionError(flag, text, `at most ${MAX_WORKLOAD_PAGES} pages (${spellSize(MAX_WORKLOAD_PAGES * PAGE_BYTES)})`);
    return pages;
  });
}
