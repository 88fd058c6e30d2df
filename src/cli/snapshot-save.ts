// `hypermem snapshot save`: builds a guest (prefilled with seeded data,
// running a workload on a simulated timeline), saves it into a snapshot
// file while it runs, and prints the save's figures; with --diff-file it
// lets the guest run on for --diff-after and saves a diff snapshot against
// the first file.
import { createHost } from "../host/host.js";
import type { WorkloadOptions } from "../host/workload.js";
import { Timeline } from "../sim/timeline.js";
import { saveSnapshot, type SaveResult } from "../snapshot/save.js";
import type { SaveProgress } from "../snapshot/save-options.js";
import { tableFrames } from "./fit.js";
import { MAX_GUEST_BYTES } from "./migrate-options.js";
import { choice, duration, flag, fraction, integer, outputFile, size } from "./option-kinds.js";
import { optionError } from "./option-error.js";
import { defineCommand, type TextSink } from "./registry.js";
import { formatColumns } from "./report.js";
import { saveRows } from "./snapshot-report.js";
import { formatCount, PAGE_BYTES, spellSize } from "./units.js";
import { workloadOption, workloadPagesOption } from "./workload-option.js";

/** Frames a host keeps besides the guest's pages and tables: bitmaps, buffers. */
const SLACK_FRAMES = 2048;

const OPTIONS = {
  guest: size({ help: "guest memory", default: "1GiB", minBytes: 4096, maxBytes: MAX_GUEST_BYTES, maxWhy: "(the largest guest)", multipleOf: "page" }),
  file: outputFile({ help: "the snapshot file to write (replaced if it exists)", required: true }),
  prefill: fraction({ help: "share of guest pages written with seeded data first", default: "1" }),
  workload: workloadOption({ help: "what the guest's vCPU touches while it is saved (its state is saved too)", default: "hotcold:0.1,0.9" }),
  "workload-pages": workloadPagesOption({ help: "the workload's range: the first N pages of the guest", defaultNote: "the whole guest" }),
  rate: integer({ help: "guest accesses per simulated second", default: "1000000", min: 1, max: 2 ** 32 - 1 }),
  "write-fraction": fraction({ help: "share of accesses that write", default: "0.3" }),
  "write-size": size({ help: "bytes per access", default: "64", minBytes: 8, maxBytes: 4096, powerOfTwo: "bytes" }),
  seed: integer({ help: "seed of the prefill and the workload", default: "1", min: 0, max: Number.MAX_SAFE_INTEGER }),
  warmup: duration({ help: "simulated time the workload runs before the save", default: "0s", maxNs: 3600e9 }),
  storage: choice({ help: "the storage model the file is written to", default: "nvme", choices: ["nvme", "sata-ssd"] }),
  "diff-file": outputFile({ help: "then save a diff snapshot (the pages written since the first) into this file" }),
  "diff-after": duration({ help: "simulated time the guest runs between the two saves", default: "100ms", minNs: 0, maxNs: 3600e9 }),
  "host-memory": size({ help: "host memory", defaultNote: "what the guest can write + its page tables + 8MiB, at most 4GiB", minBytes: 2 ** 20, maxBytes: 2 ** 32, maxWhy: "per host (one WebAssembly memory)", multipleOf: "MiB" }),
  json: flag({ help: "print one JSON object (an error too)" }),
} as const;

interface SavePlan {
  readonly file: string;
  readonly diffFile: string | null;
  readonly diffAfterNs: number;
  readonly guestPages: number;
  readonly hostMiB: number;
  readonly prefilledPages: number;
  readonly workloadText: string;
  readonly workload: WorkloadOptions;
  readonly warmupNs: number;
  readonly storage: "nvme" | "sata-ssd";
  readonly seed: number;
  readonly json: boolean;
}

export const snapshotSaveCommand = defineCommand({
  name: ["snapshot", "save"],
  summary: "save a running guest into a snapshot file (traces, copy before write, the active set)",
  description: "Builds a guest (prefilled with seeded data, its workload running on a simulated timeline), saves its memory " +
    "as it was at the instant of the request into a snapshot file while the workload goes on (every page traced: a first " +
    "touch copies the page before the access and marks it active), and prints the save's figures. The file is written to a " +
    "temporary file and renamed into place, so a crash leaves no partial snapshot. With --diff-file, the guest runs on for " +
    "--diff-after and the pages written since go into a diff snapshot.",
  options: OPTIONS,
  rules: { needs: [["diff-after", "diff-file", "the time before the diff snapshot"]] },
  examples: [
    "hypermem snapshot save --guest 64MiB --workload hotcold:0.1,0.9 --file guest.hmsn",
    "hypermem snapshot save --guest 64MiB --file base.hmsn --diff-file diff.hmsn --diff-after 50ms",
  ],
  validate(v, given): SavePlan {
    const guestPages = v.guest / PAGE_BYTES;
    const spec = v.workload.spec;
    if (spec.kind === "trace") throw optionError("--workload", v.workload.text, "a trace replay has no state a snapshot can keep; use a generated workload");
    const pageCount = v["workload-pages"] ?? guestPages;
    if (pageCount > guestPages) {
      throw optionError("--workload-pages", given.get("workload-pages")!, `at most the guest's ${formatCount(guestPages)} pages (--guest ${given.get("guest") ?? "1GiB"})`);
    }
    if (v["diff-file"] !== undefined && v["diff-file"] === v.file) throw optionError("--diff-file", v["diff-file"], "is the --file of the base snapshot");
    const prefilledPages = Math.round(v.prefill * guestPages);
    const written = Math.max(prefilledPages, v["write-fraction"] > 0 ? pageCount : 0);
    const needMiB = Math.ceil((written + tableFrames(Math.max(prefilledPages, pageCount)) + SLACK_FRAMES) / 256);
    const hostMiB = v["host-memory"] === undefined ? needMiB : v["host-memory"] / 2 ** 20;
    if (needMiB > hostMiB || needMiB > 4096) {
      const [name, text] = given.has("host-memory") ? ["--host-memory", given.get("host-memory")!] : ["--guest", given.get("guest") ?? "1GiB"];
      throw optionError(name, text, `the guest can write ${formatCount(written)} pages (${spellSize(written * PAGE_BYTES)}), which with its page tables needs a ${spellSize(needMiB * 2 ** 20)} host; ` +
        `${needMiB > 4096 ? "a host holds at most 4GiB: lower --prefill and --workload-pages" : "give a larger --host-memory"}`, { needMiB, hostMiB });
    }
    const workload: WorkloadOptions = { ...spec, ratePerSec: v.rate, writeFraction: v["write-fraction"], writeBytes: v["write-size"], seed: v.seed, pageCount };
    return Object.freeze({
      file: v.file, diffFile: v["diff-file"] ?? null, diffAfterNs: v["diff-after"], guestPages, hostMiB, prefilledPages,
      workloadText: v.workload.text, workload: Object.freeze(workload), warmupNs: v.warmup, storage: v.storage, seed: v.seed, json: v.json,
    });
  },
  run(plan, ctx) {
    const results = saveGuest(plan, plan.json ? null : ctx.stderr);
    if (plan.json) {
      ctx.stdout.write(`${JSON.stringify(results.length === 1 ? results[0] : { full: results[0], diff: results[1] }, null, 2)}\n`);
    } else {
      const head = `snapshot of a ${spellSize(plan.guestPages * PAGE_BYTES)} guest (${formatCount(plan.guestPages)} pages, ${formatCount(plan.prefilledPages)} prefilled) running ${plan.workloadText} at ${formatCount(plan.workload.ratePerSec ?? 0)} accesses/s`;
      ctx.stdout.write(`${head}\n\n${formatColumns(results.map((r) => r.kind), results.map(saveRows))}\n`);
    }
    return 0;
  },
});

/** Progress of a save on stderr: one line per phase. */
function reporter(out: TextSink | null, file: string): ((p: SaveProgress) => void) | null {
  if (!out) return null;
  let phase = "";
  return (p) => {
    if (p.phase === phase) return;
    phase = p.phase;
    const what = p.phase === "pages" ? "saving pages" : p.phase === "working-set" ? "trace window closed, writing the working set" : "done";
    out.write(`${file}: ${what}\n`);
  };
}

/** Builds the guest of `plan` and saves it (and its diff). */
function saveGuest(plan: SavePlan, progress: TextSink | null): SaveResult[] {
  const vm = createHost({ memoryMiB: plan.hostMiB }).createVm({ pages: plan.guestPages });
  vm.prefillPages(0, plan.prefilledPages, plan.seed);
  const timeline = new Timeline();
  const workload = vm.startWorkload(plan.workload);
  workload.attach(timeline);
  try {
    timeline.advance(plan.warmupNs);
    const options = { timeline, workload, storage: plan.storage } as const;
    const results = [saveSnapshot(vm, plan.file, { ...options, trackDirty: plan.diffFile !== null, onProgress: reporter(progress, plan.file) })];
    if (plan.diffFile !== null) {
      timeline.advance(plan.diffAfterNs);
      results.push(saveSnapshot(vm, plan.diffFile, { ...options, diffOf: plan.file, onProgress: reporter(progress, plan.diffFile) }));
    }
    return results;
  } finally {
    workload.close();
  }
}
