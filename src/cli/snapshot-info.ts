// `hypermem snapshot info`: what a snapshot file holds (version, id, the
// chain of files a restore reads, the pages by kind, the active set, the
// saved workload), every structural check made; with --verify every stored
// page of the chain is read and checked against its checksum. Exit status
// 1 when that check fails.
import { HypermemError } from "../errors.js";
import { snapshotInfo, verifySnapshot, type SnapshotInfo } from "../snapshot/info.js";
import { ExitStatus } from "./failure.js";
import { flag, inputFile } from "./option-kinds.js";
import { rewrapOptionError } from "./option-error.js";
import { defineCommand } from "./registry.js";
import { formatBytes, formatCount, PAGE_BYTES } from "./units.js";

/** The lines describing a snapshot. */
function infoRows(i: SnapshotInfo): string[] {
  const line = (k: string, v: string): string => `  ${k.padEnd(14)}${v}`;
  const w = i.workload;
  return [
    line("format", `HMSN version ${i.version}, ${formatBytes(i.fileBytes)}`),
    line("snapshot", `${i.snapshotId} (${i.kind})`),
    line("chain", i.chain.join(" <- ")),
    line("guest", `${formatBytes(i.guestPages * PAGE_BYTES)} (${formatCount(i.guestPages)} pages)`),
    line("pages", `${formatCount(i.entries.data)} data, ${formatCount(i.entries.zero)} zero entries, ${formatCount(i.entries.poisoned)} poisoned, ${formatCount(i.entries.ballooned)} ballooned (${formatCount(i.dataSlots)} slots)`),
    line("active set", `${formatCount(i.activePages)} pages in ${formatCount(i.activeRuns)} runs; working set ${formatCount(i.workingSetPages)} pages`),
    line("workload", w === null ? "none" : `${w.kind} at ${formatCount(w.ratePerSec ?? 0)} accesses/s, seed ${String(w.seed)}`),
  ];
}

export const snapshotInfoCommand = defineCommand({
  name: ["snapshot", "info"],
  summary: "describe a snapshot file and check it",
  description: "Prints a snapshot file's version, id, the chain of files a restore reads (a diff and its bases), its pages " +
    "by kind, its active set and the workload saved with it, after every check a restore makes before it creates a guest. " +
    "--verify also reads every stored page and checks its checksum; exit status 1 when that fails.",
  options: {
    file: inputFile({ help: "the snapshot file", required: true }),
    verify: flag({ help: "read every stored page of the chain and check its checksum" }),
    json: flag({ help: "print one JSON object (an error too)" }),
  },
  examples: ["hypermem snapshot info --file guest.hmsn --verify"],
  validate(v) {
    try {
      return { ...v, info: snapshotInfo(v.file) };
    } catch (err) {
      throw rewrapOptionError("--file", v.file, err);
    }
  },
  run({ file, info, verify, json }, ctx) {
    let check: { verified: boolean; pagesChecked?: number; error?: { code: string; message: string } } | null = null;
    if (verify) {
      try {
        check = { verified: true, pagesChecked: verifySnapshot(file).pagesChecked };
      } catch (err) {
        if (!(err instanceof HypermemError)) throw err;
        check = { verified: false, error: { code: err.code, message: err.message } };
      }
    }
    if (json) {
      // The workload's seed is a bigint: written as a decimal string.
      ctx.stdout.write(`${JSON.stringify({ ...info, ...(check ?? {}) }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
    } else {
      const verdict = check === null ? [] : [`  ${"check".padEnd(14)}${check.verified ? `ok: ${formatCount(check.pagesChecked ?? 0)} pages match their checksums` : `FAILED: ${check.error?.code}: ${check.error?.message}`}`];
      ctx.stdout.write(`${[`snapshot ${file}`, ...infoRows(info), ...verdict].join("\n")}\n`);
    }
    return check?.verified === false ? ExitStatus.failed : ExitStatus.ok;
  },
});
