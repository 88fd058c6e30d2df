// `hypermem disk send --to HOST:PORT --token-file F IMAGE`: sends a raw disk
// image to a `hypermem listen --disk-dir DIR` destination (src/storage/
// sender.ts): resumes from a matching fragment there, retries a failed
// attempt, and prints the figures (bytes sent and re-sent, the attempts and
// why each offer was taken or refused, throughput, time to resume, the
// SHA-256 both ends agree on). Progress on stderr.
import { sendDisk, type SendDiskResult } from "../storage/sender.js";
import { DISK_DEFAULTS } from "../storage/options.js";
import { ByteProgress } from "./disk-progress.js";
import { ExitStatus } from "./failure.js";
import { duration, flag, hostPort, inputFile, integer, size, text } from "./option-kinds.js";
import { defineCommand } from "./registry.js";
import { formatColumns } from "./report.js";
import { printWarnings, readTokenFile } from "./token-file.js";
import { formatBytes } from "./units.js";

/** The retry delays for N retries: tus-js-client's, then 5 s each. */
function retryDelays(retries: number): number[] {
  return Array.from({ length: retries }, (_, i) => DISK_DEFAULTS.retryDelaysMs[i] ?? 5000);
}

function rows(r: SendDiskResult): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ["image", `${r.name}, ${formatBytes(r.sizeBytes)}`],
    ["sha256", r.sha256],
    ["bytes sent", `${formatBytes(r.dataBytesSent)} of data pages (${formatBytes(r.blockBytesSent)} of image in blocks), ${formatBytes(r.wireBytes)} on the wire`],
    ["re-sent", formatBytes(r.resentBytes)],
    ["throughput", `${r.mibPerSec.toFixed(1)} MiB/s of image, ${(r.wallMs / 1e3).toFixed(2)} s`],
  ];
  r.attempts.forEach((a, i) => {
    out.push([`attempt ${i + 1}`, `offered ${formatBytes(a.offeredBytes)} (${a.offer}), started at ${formatBytes(a.startedAtBytes)} after ${a.timeToResumeMs.toFixed(0)} ms, sent to ${formatBytes(a.sentBytes)}${a.error ? `: ${a.error.code}: ${a.error.message}` : ""}`]);
  });
  if (r.conflicts > 0) out.push(["conflicts", String(r.conflicts)]);
  return out;
}

export const diskSendCommand = defineCommand({
  name: ["disk", "send"],
  summary: "send a raw disk image to hypermem listen --disk-dir over TCP, resumable after a failure of either side",
  description: "Sends IMAGE (a raw file; runs of zero pages travel as a bit each and stay holes at the destination) to a " +
    "`hypermem listen --disk-dir DIR` destination, which stores it in DIR under its name. The destination fsyncs and " +
    "records its progress every interval before acknowledging it; after a failure (a cut connection, a kill -9 of " +
    "either side, a timeout) it keeps the partial file as a fragment, and the next send of the same, unchanged image " +
    "resumes at the committed offset once both ends checked the committed blocks' hashes. The finished file's SHA-256 " +
    "is checked by both ends and printed.",
  options: {
    to: hostPort({ help: "the destination (hypermem listen --disk-dir)", required: true }),
    "token-file": inputFile({ help: "shared secret, 16 to 4096 bytes once trimmed; the destination must use the same", required: true }),
    name: text({ help: "the name the image gets at the destination", defaultNote: "the image's file name", placeholder: "NAME" }),
    block: size({ help: "the unit of hashing and sending", default: "1MiB", minBytes: 64 * 1024, maxBytes: 16 * 2 ** 20, powerOfTwo: "bytes" }),
    retries: integer({ help: "attempts after a failed one (after 0 s, 1 s, 3 s, 5 s, then 5 s each)", default: "4", min: 0, max: 100 }),
    "idle-timeout": duration({ help: "fail an attempt after this long without socket activity", default: "30s", minNs: 1e6, maxNs: 86400e9 }),
    "no-encryption": flag({ help: "authenticate the stream without encrypting it (the destination must agree)" }),
    json: flag({ help: "print the result as one JSON object (an error too)" }),
  },
  positionals: {
    image: inputFile({ help: "the raw disk image to send", required: true }),
  },
  examples: ["hypermem disk send --to 127.0.0.1:7000 --token-file secret.txt disk.raw"],
  validate: async (v) => ({ ...v, tokenFile: await readTokenFile(v["token-file"]) }),
  async run(v, ctx) {
    printWarnings("disk send", v.tokenFile.warnings, ctx.stderr);
    const progress = new ByteProgress("disk send", ctx.stderr);
    let lastAck = -1;
    const r = await sendDisk(v.image, {
      host: v.to.host, port: v.to.port, token: v.tokenFile.token, encryption: !v["no-encryption"], name: v.name, blockBytes: v.block,
      idleTimeoutMs: v["idle-timeout"] / 1e6, retryDelaysMs: retryDelays(v.retries),
      onProgress: (p) => {
        progress.bar(p.sentBytes, p.sizeBytes, `acknowledged ${formatBytes(p.ackedBytes)}, attempt ${p.attempt + 1}`);
        if (p.ackedBytes !== lastAck) progress.line(`acknowledged ${formatBytes(p.ackedBytes)} of ${formatBytes(p.sizeBytes)} (attempt ${p.attempt + 1})`);
        lastAck = p.ackedBytes;
      },
    }).finally(() => progress.done());
    ctx.stdout.write(v.json ? `${JSON.stringify(r)}\n` : `${formatColumns(["disk send"], [rows(r)])}\n`);
    return ExitStatus.ok;
  },
});
