// `hypermem snapshot restore`: restores a snapshot file (and the bases of a
// diff) in one mode, or in all three side by side with --compare, runs the
// first N accesses of the workload saved with it, and prints the restore's
// figures: time until the guest runs, time until its first N accesses
// complete (simulated with the storage model, and wall-clock on the real
// file), faults served, bytes read. Exit status 1 when the modes of a
// --compare leave different guest memory.
import { ErrorCode, HypermemError } from "../errors.js";
import { guestDigest } from "../stream/fingerprints.js";
import { committedHost, compareRestoreModes, measureColdStart, type ColdStart } from "../snapshot/cold-start.js";
import { snapshotInfo, type SnapshotInfo } from "../snapshot/info.js";
import { RESTORE_MODES } from "../snapshot/restore-options.js";
import { restoreSnapshot } from "../snapshot/restore.js";
import { ExitStatus } from "./failure.js";
import { choice, flag, inputFile, integer } from "./option-kinds.js";
import { optionError, rewrapOptionError } from "./option-error.js";
import { defineCommand } from "./registry.js";
import { formatColumns } from "./report.js";
import { coldStartRows, reapLine } from "./snapshot-report.js";
import { formatBytes, PAGE_BYTES } from "./units.js";

const OPTIONS = {
  file: inputFile({ help: "the snapshot file (a diff's bases are found beside it)", required: true }),
  mode: choice({ help: "read every page first, fault pages in as touched, or the active set first", default: "active-first", choices: RESTORE_MODES }),
  compare: flag({ help: "restore in all three modes, side by side, on the same snapshot and workload" }),
  storage: choice({ help: "the storage model the file is read from", default: "nvme", choices: ["nvme", "sata-ssd"] }),
  accesses: integer({ help: "the N of the cold-start measure: time until the first N accesses complete", default: "100000", min: 1, max: 1e9 }),
  prefetch: flag({ help: "read the pages left after the active set in the background (active-first)" }),
  json: flag({ help: "print one JSON object (an error too)" }),
} as const;

interface RestorePlan {
  readonly file: string;
  readonly info: SnapshotInfo;
  readonly modes: readonly (typeof RESTORE_MODES)[number][];
  readonly compare: boolean;
  readonly storage: "nvme" | "sata-ssd";
  readonly accesses: number;
  readonly prefetch: boolean;
  readonly json: boolean;
}

interface RestoreReport {
  readonly file: string;
  readonly rows: readonly ColdStart[];
  readonly digests: readonly string[];
  readonly identicalMemory: boolean;
}

export const snapshotRestoreCommand = defineCommand({
  name: ["snapshot", "restore"],
  summary: "restore a snapshot eager, lazy or active-first, and measure the guest's cold start",
  description: "Restores a snapshot (every file checked before the guest is created) in --mode, or in the three modes side " +
    "by side with --compare, then runs the first --accesses accesses of the workload saved with it. Prints the time until " +
    "the guest runs and until those accesses complete, in simulated time with the --storage model and in wall-clock time " +
    "on the real file, the page faults served and the bytes read, and the guest's memory digest once every page is in.",
  options: OPTIONS,
  rules: { notWith: [["mode", "compare", "--compare restores in every mode"]] },
  examples: [
    "hypermem snapshot restore --file guest.hmsn --mode lazy --accesses 10000",
    "hypermem snapshot restore --file guest.hmsn --compare --storage sata-ssd --accesses 10000",
  ],
  validate(v): RestorePlan {
    let info: SnapshotInfo;
    try {
      info = snapshotInfo(v.file);
    } catch (err) {
      throw rewrapOptionError("--file", v.file, err);
    }
    if (info.workload === null) throw optionError("--file", v.file, "holds no workload to run after the restore (save it with hypermem snapshot save)");
    if (v.prefetch && !v.compare && v.mode === "eager") {
      throw new HypermemError(ErrorCode.BadOption, "--prefetch: not with --mode eager (every page is read before the guest runs)", { option: "--prefetch", conflictsWith: "--mode eager" });
    }
    return Object.freeze({
      file: v.file, info, modes: v.compare ? RESTORE_MODES : [v.mode], compare: v.compare, storage: v.storage,
      accesses: v.accesses, prefetch: v.prefetch, json: v.json,
    });
  },
  run(plan, ctx) {
    ctx.stderr.write(`restoring ${plan.file} (${formatBytes(plan.info.guestPages * PAGE_BYTES)} guest, ${plan.info.chain.length} file${plan.info.chain.length > 1 ? "s" : ""}) ${plan.compare ? "in each mode" : plan.modes[0]}\n`);
    const report = plan.compare ? compared(plan) : single(plan);
    if (plan.json) {
      ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const rows = report.rows.map((r, i) => [...coldStartRows(r), ["memory digest", report.digests[i]]] as Array<[string, string]>);
      const reap = plan.compare ? reapLine(report.rows) : null;
      const verdict = plan.compare ? `\nguest memory after every page was loaded: ${report.identicalMemory ? "identical in the three modes" : "DIFFERENT between the modes"}` : "";
      ctx.stdout.write(`${formatColumns(report.rows.map((r) => r.mode), rows)}\n${reap ? `\n${reap}` : ""}${verdict}\n`);
    }
    return report.identicalMemory ? ExitStatus.ok : ExitStatus.failed;
  },
});

const hex = (d: bigint): string => `0x${d.toString(16).padStart(16, "0")}`;

function compared(plan: RestorePlan): RestoreReport {
  const c = compareRestoreModes(plan.file, { storage: plan.storage, accesses: plan.accesses, prefetch: plan.prefetch });
  return { file: plan.file, rows: c.rows, digests: c.digests.map(hex), identicalMemory: c.identicalMemory };
}

function single(plan: RestorePlan): RestoreReport {
  const host = committedHost(plan.info.guestPages);
  const restored = restoreSnapshot(host, plan.file, { mode: plan.modes[0], storage: plan.storage, prefetch: plan.prefetch });
  try {
    const row = measureColdStart(restored, plan.accesses);
    restored.loadAll();
    return { file: plan.file, rows: [row], digests: [hex(guestDigest(restored.vm).digest)], identicalMemory: true };
  } finally {
    restored.workload?.close();
    restored.close();
  }
}
