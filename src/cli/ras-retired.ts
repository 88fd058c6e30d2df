// `hypermem ras retired --store FILE`: lists the frames a retired-frame store
// keeps out of use (frame, cause, when, errors counted), and what loading it
// dropped if it was torn or corrupted; `--clear FRAME|all` forgets frames
// after the memory was replaced, as the WHEA bad-page list and amdgpu's
// EEPROM table are cleared by hand. With --limit, a warning past 90 % of it.
import { RetiredStore, type RetiredFrame } from "../host/retired-store.js";
import { retirementWarning } from "../ras/retirement.js";
import { ExitStatus } from "./failure.js";
import { custom, flag, inputFile, integer } from "./option-kinds.js";
import { optionError, rewrapOptionError } from "./option-error.js";
import { defineCommand } from "./registry.js";
import { formatCount } from "./units.js";

const clearOption = custom({ help: "forget one retired frame, or all of them (the memory was replaced)", placeholder: "FRAME|all", rule: "a frame number, or all" }, (text, flag): number | "all" => {
  if (text === "all") return "all";
  const v = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < 1) throw optionError(flag, text, "must be a frame number (1 or more) or all");
  return v;
});

function frameLine(f: RetiredFrame): string {
  return `${String(f.hfn).padStart(10)}  ${f.cause.padEnd(13)}  ${new Date(f.timeMs).toISOString()}  ${formatCount(f.errorCount).padStart(6)}`;
}

export const rasRetiredCommand = defineCommand({
  name: ["ras", "retired"],
  summary: "list the frames a retired-frame store keeps out of use, or clear them",
  description: "Lists the frames of a retired-frame store (written by `hypermem ras --store` or createHost({ retiredStore })): " +
    "frame number, cause (uncorrectable, or corrected errors past the threshold), when, and the errors counted. A torn or " +
    "corrupted store loads what is good and says what it dropped. --clear FRAME|all forgets frames after the memory was " +
    "replaced (the store is rewritten crash-safely).",
  options: {
    store: inputFile({ help: "the retired-frame store", required: true }),
    clear: clearOption,
    limit: integer({ help: "warn when the retired frames pass 90 % of this (amdgpu's bad_page_threshold)", min: 1, max: 2 ** 32 - 1, defaultNote: "no limit" }),
    json: flag({ help: "print one JSON object (an error too)" }),
  },
  examples: ["hypermem ras --guest 16MiB --errors 3 --latent 0 --duration 100ms --store retired.hmrf", "hypermem ras retired --store retired.hmrf --limit 4", "hypermem ras retired --store retired.hmrf --clear all"],
  validate(v) {
    try {
      return { ...v, opened: RetiredStore.open(v.store) };
    } catch (err) {
      throw rewrapOptionError("--store", v.store, err);
    }
  },
  run({ opened: store, clear, limit, json }, ctx) {
    const load = store.loadReport;
    const dropped = [
      ...load.dropped.map((d) => `${d.reason}: ${d.bytes} bytes at offset ${d.offset}`),
      ...load.invalid,
    ];
    for (const d of dropped) ctx.stderr.write(`ras retired: ${store.path}: dropped ${d}\n`);
    const cleared = clear === undefined ? 0 : store.clear(clear === "all" ? "all" : [clear]);
    if (clear !== undefined && clear !== "all" && cleared === 0) ctx.stderr.write(`ras retired: frame ${clear} was not in the store\n`);
    const frames = store.list();
    const warning = retirementWarning(frames.length, limit ?? null);
    if (warning) ctx.stderr.write(`ras retired: warning: ${warning}\n`);
    if (json) {
      ctx.stdout.write(`${JSON.stringify({ path: store.path, frames, cleared, dropped, limit: limit ?? null, warning }, null, 2)}\n`);
    } else {
      const lines = [`retired-frame store ${store.path}: ${frames.length} frames${clear === undefined ? "" : ` (${cleared} cleared)`}`];
      if (frames.length > 0) lines.push(`${"frame".padStart(10)}  ${"cause".padEnd(13)}  ${"retired at".padEnd(24)}  errors`, ...frames.map(frameLine));
      ctx.stdout.write(`${lines.join("\n")}\n`);
    }
    return ExitStatus.ok;
  },
});
