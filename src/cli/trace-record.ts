// `hypermem trace record`: records `rate × duration` accesses of a workload
// into a trace file with the library's recordTrace (crash-safe: a temporary
// file renamed into place), for `migrate --workload trace:FILE` to replay.
import { TRACE_MAX_READ_BYTES, TRACE_RECORD_BYTES } from "../host/trace.js";
import { recordTrace, WORKLOAD_DEFAULTS, type WorkloadOptions } from "../host/workload.js";
import { MAX_GUEST_BYTES } from "./migrate-options.js";
import { duration, flag, fraction, integer, outputFile, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import { defineCommand } from "./registry.js";
import { traceRows } from "./trace-info.js";
import { formatBytes, formatCount, PAGE_BYTES, spellDuration } from "./units.js";
import { verifyTrace, workloadOption, workloadPagesOption } from "./workload-option.js";

/** The most accesses one recording holds: 1 GiB of records, what readTrace() loads whole. */
const MAX_RECORDED_ACCESSES = TRACE_MAX_READ_BYTES / TRACE_RECORD_BYTES;

const OPTIONS = {
  workload: workloadOption({ help: "what to record (a trace:FILE is re-recorded at --rate)", required: true }),
  duration: duration({ help: "simulated time to record: --rate × this many accesses", required: true, minNs: 1 }),
  out: outputFile({ help: "the trace file to write (replaced if it exists)", required: true }),
  guest: size({ help: "guest memory the accesses fall in", default: "1GiB", minBytes: 4096, maxBytes: MAX_GUEST_BYTES, maxWhy: "(the largest guest)", multipleOf: "page" }),
  "workload-pages": workloadPagesOption({ help: "the workload's range: the first N pages of the guest", defaultNote: "the whole guest" }),
  rate: integer({ help: "accesses per simulated second, stored in the trace", min: 1, max: 2 ** 32 - 1, defaultNote: "1000000, or a trace's recorded rate" }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  "write-size": size({ help: "bytes per access", default: "64", minBytes: 8, maxBytes: 4096, powerOfTwo: "bytes" }),
  seed: integer({ help: "seed of the workload", default: "1", min: 0, max: Number.MAX_SAFE_INTEGER }),
  json: flag({ help: "print the written trace's header as one JSON object (an error too)" }),
} as const;

interface RecordPlan {
  readonly out: string;
  readonly workloadText: string;
  readonly options: WorkloadOptions;
  readonly guestPages: number;
  readonly count: number;
  readonly json: boolean;
}

export const traceRecordCommand = defineCommand({
  name: ["trace", "record"],
  summary: "record a workload's accesses into a trace file, for migrate --workload trace:FILE",
  description: "Records --rate × --duration accesses of a workload on a guest of --guest into a trace file (written " +
    "to a temporary file and renamed into place, so a crash leaves no partial trace). `hypermem migrate --workload " +
    "trace:FILE` replays it; `hypermem trace info FILE` describes it.",
  options: OPTIONS,
  examples: [
    "hypermem trace record --workload zipf:1.2 --duration 2s --rate 500000 --guest 64MiB --out run.hmtr",
    "hypermem migrate --workload trace:run.hmtr --guest 64MiB",
  ],
  validate(v, given): RecordPlan {
    const guestPages = v.guest / PAGE_BYTES;
    const spec = v.workload.spec;
    if (spec.kind === "trace") {
      for (const name of ["write-fraction", "write-size", "seed", "workload-pages"] as const) {
        const text = given.get(name);
        if (text !== undefined) throw optionError(`--${name}`, text, `does not apply to --workload ${v.workload.text} (a trace replays its recorded accesses)`);
      }
      verifyTrace("--workload", v.workload, guestPages);
    }
    const pageCount = v["workload-pages"];
    if (pageCount !== undefined && pageCount > guestPages) {
      throw optionError("--workload-pages", given.get("workload-pages")!, `at most the guest's ${formatCount(guestPages)} pages (--guest ${given.get("guest") ?? OPTIONS.guest.default})`);
    }
    const ratePerSec = v.rate ?? v.workload.trace?.ratePerSec ?? WORKLOAD_DEFAULTS.ratePerSec;
    const count = Math.round(ratePerSec * v.duration / 1e9);
    const durationText = given.get("duration")!;
    if (count < 1) {
      throw optionError("--duration", durationText, `records no access at ${formatCount(ratePerSec)} accesses/s (at least ${spellDuration(1e9 / ratePerSec)})`);
    }
    if (count > MAX_RECORDED_ACCESSES) {
      throw optionError("--duration", durationText, `${formatCount(count)} accesses at ${formatCount(ratePerSec)}/s; a trace holds at most ${formatCount(MAX_RECORDED_ACCESSES)} (1 GiB of records)`);
    }
    const options: WorkloadOptions = spec.kind === "trace"
      ? { ...spec, ratePerSec }
      : { ...spec, ratePerSec, writeFraction: v["write-fraction"], writeBytes: v["write-size"], seed: v.seed, pageCount };
    return Object.freeze({ out: v.out, workloadText: v.workload.text, options: Object.freeze(options), guestPages, count, json: v.json });
  },
  run(plan, ctx) {
    ctx.stderr.write(`recording ${formatCount(plan.count)} accesses (${formatBytes(plan.count * TRACE_RECORD_BYTES)}) of ${plan.workloadText} into ${plan.out}\n`);
    const started = performance.now();
    const header = recordTrace(plan.out, plan.options, plan.guestPages, plan.count);
    const wallMs = performance.now() - started;
    if (plan.json) {
      ctx.stdout.write(`${JSON.stringify({ path: plan.out, ...header, durationSec: header.recordCount / header.ratePerSec, wallMs })}\n`);
    } else {
      ctx.stdout.write(`${[`recorded ${plan.workloadText} into ${plan.out} in ${(wallMs / 1e3).toFixed(2)} s wall`, ...traceRows(header)].join("\n")}\n`);
    }
    return 0;
  },
});
