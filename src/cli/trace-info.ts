// `hypermem trace info FILE`: a trace file's header (format, guest size,
// record count, recorded rate and the duration it stands for) and whether its
// records pass the checks a replay makes (CRC-32, every record inside the
// guest). Exit status 1 when they do not.
import { HypermemError } from "../errors.js";
import { readTraceHeader, TraceReader, TRACE_HEADER_BYTES, TRACE_MAGIC, type TraceHeader } from "../host/trace.js";
import { ExitStatus } from "./failure.js";
import { flag, inputFile } from "./option-kinds.js";
import { rewrapOptionError } from "./option-error.js";
import { defineCommand } from "./registry.js";
import { formatBytes, formatCount, PAGE_BYTES } from "./units.js";

/** The lines describing a trace header. */
export function traceRows(h: TraceHeader): string[] {
  const line = (k: string, v: string): string => `  ${k.padEnd(12)}${v}`;
  return [
    line("format", `${TRACE_MAGIC} version ${h.version}, ${h.recordBytes}-byte records`),
    line("guest", `${formatBytes(h.guestPages * PAGE_BYTES)} (${formatCount(h.guestPages)} pages)`),
    line("records", `${formatCount(h.recordCount)} accesses (${formatBytes(TRACE_HEADER_BYTES + h.recordCount * h.recordBytes)} file)`),
    line("rate", `${formatCount(h.ratePerSec)} accesses/s`),
    line("duration", `${(h.recordCount / h.ratePerSec).toFixed(3)} s at the recorded rate`),
    line("crc32", `0x${h.crc32.toString(16).padStart(8, "0")}`),
  ];
}

export const traceInfoCommand = defineCommand({
  name: ["trace", "info"],
  summary: "describe a trace file and check its records",
  description: "Prints a trace file's header (format, guest size, record count, recorded rate and the duration it " +
    "stands for) and checks its CRC-32 and every record against the guest, as a replay would. Exit status 1 when " +
    "the check fails.",
  options: { json: flag({ help: "print one JSON object (an error too)" }) },
  positionals: { file: inputFile({ help: "the trace file", required: true }) },
  examples: ["hypermem trace info run.hmtr"],
  validate(v) {
    try {
      return { ...v, header: readTraceHeader(v.file) };
    } catch (err) {
      throw rewrapOptionError("FILE", v.file, err);
    }
  },
  run({ file, header, json }, ctx) {
    let failure: HypermemError | null = null;
    try {
      TraceReader.open(file).close();
    } catch (err) {
      if (!(err instanceof HypermemError)) throw err;
      failure = err;
    }
    const check = failure ? { verified: false, error: { code: failure.code, message: failure.message } } : { verified: true };
    if (json) {
      ctx.stdout.write(`${JSON.stringify({ path: file, ...header, durationSec: header.recordCount / header.ratePerSec, ...check })}\n`);
    } else {
      const verdict = failure ? `FAILED: ${failure.code}: ${failure.message}` : "ok: CRC-32 and every record checked";
      ctx.stdout.write(`${[`trace ${file}`, ...traceRows(header), `  ${"check".padEnd(12)}${verdict}`].join("\n")}\n`);
    }
    return failure ? ExitStatus.failed : ExitStatus.ok;
  },
});
