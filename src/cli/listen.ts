// `hypermem listen`: a destination host that accepts authenticated
// migrations over TCP (encrypted unless --no-encryption), one at a time,
// verifies each received guest (the end-of-stream digest), reports it,
// destroys it to free the host for the next one, and keeps running until
// SIGINT/SIGTERM. Handshakes run several at once under a deadline, and an
// authenticated transfer must keep a minimum rate (src/migration/listener.ts).
// A protection stream (hypermem ft --to) is served by src/checkpoint/
// tcp-backup.ts on the same port: failovers are reported here. With
// --disk-dir, disk transfers (hypermem disk send) are served on the same port
// too, after the same handshake, into that folder (src/storage/receiver.ts).
import { isIP } from "node:net";
import { serveProtection, type ProtectionReport } from "../checkpoint/tcp-backup.js";
import { PROTECTION_MAGIC } from "../checkpoint/tcp-format.js";
import { statSync } from "node:fs";
import { DISK_MAGIC } from "../storage/protocol.js";
import type { DiskReport } from "../storage/options.js";
import { lockDiskFolder } from "../storage/folder-lock.js";
import { diskStreamHandler } from "../storage/receiver.js";
import { LISTENER_DEFAULTS, listenForMigrations, type ListenerReport } from "../migration/listener.js";
import { duration, flag, inputFile, integer, rate, size, text } from "./option-kinds.js";
import { defineCommand } from "./registry.js";
import { printWarnings, readTokenFile } from "./token-file.js";
import { formatBytes } from "./units.js";

function formatReport(r: ListenerReport): string {
  switch (r.event) {
    case "received":
      return `received ${formatBytes(r.guestBytes)} guest from ${r.peer}: digest verified, ${formatBytes(r.streamBytes)} in ${r.chunks} chunks, ` +
        `${(r.wallMs / 1e3).toFixed(2)} s wall (${r.mibPerSec.toFixed(0)} MiB/s)${r.kept ? "" : ", guest destroyed"}`;
    case "refused":
      return `refused ${r.peer}: ${r.error.code}: ${r.error.message}`;
    case "failed":
      return `failed ${r.peer} after ${formatBytes(r.streamBytes)}: ${r.error.code}: ${r.error.message} (partial guest discarded)`;
    case "cancelled":
      return `cancelled by ${r.peer} after ${formatBytes(r.streamBytes)}: ${r.reason} (partial guest discarded)`;
  }
}

function formatProtection(r: ProtectionReport): string {
  switch (r.event) {
    case "protecting":
      return `protecting a ${formatBytes(r.guestPages * 4096)} guest for ${r.peer} (heartbeat timeout ${r.heartbeatTimeoutMs} ms)`;
    case "protection-ended":
      return `protection by ${r.peer} ended after checkpoint ${r.committed} (${formatBytes(r.streamBytes)}); backup guest destroyed`;
    case "protection-failed":
      return `protection by ${r.peer} failed at checkpoint ${r.committed}: ${r.error.code}: ${r.error.message}`;
    case "failover":
      return r.checkpoint < 0 ? `failover from ${r.peer} (${r.reason}): nothing committed, no guest to activate`
        : `failover from ${r.peer} (${r.reason}, ${r.detectedAfterMs.toFixed(0)} ms after it was last heard): backup guest activated at checkpoint ${r.checkpoint}, ` +
          (r.verified ? `verified, digest ${r.digest}` : r.error ? `${r.error.code}: ${r.error.message}` : "not verified (no digest)");
  }
}

function formatDisk(r: DiskReport): string {
  return r.event === "disk-received"
    ? `received disk ${r.name} (${formatBytes(r.sizeBytes)}) from ${r.peer} into ${r.path}: sha256 ${r.sha256}, ` +
      `${r.startedAtBytes > 0 ? `resumed at ${formatBytes(r.startedAtBytes)}` : `from 0 (${r.match})`}, ${(r.wallMs / 1e3).toFixed(2)} s`
    : `disk transfer ${r.name ?? "?"} from ${r.peer} failed at ${formatBytes(r.committedBytes)} committed: ${r.error.code}: ${r.error.message}` +
      (r.fragmentKept ? " (fragment kept)" : "");
}

function checkFolder(path: string): string | null {
  try {
    return statSync(path).isDirectory() ? null : "not a folder";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : String((err as NodeJS.ErrnoException).code);
  }
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export const listenCommand = defineCommand({
  name: "listen",
  summary: "run a destination host that receives migrations (or protects a guest: hypermem ft --to) over TCP, one at a time, until interrupted",
  description: "Runs a destination host that accepts authenticated migrations from `hypermem migrate --to` one at a " +
    "time, checks each received guest against the source's end-of-stream digest, reports it and frees the host for " +
    "the next one. It also accepts a protection stream from `hypermem ft --to` (same handshake): it holds the backup, " +
    "acknowledges each checkpoint, and when the primary is killed (or silent for its heartbeat timeout) activates the " +
    "backup guest, checks it against the last committed checkpoint's digest and reports it. With --disk-dir it also " +
    "accepts disk images from `hypermem disk send` (same handshake) into that folder, resumable after a failure. Runs until SIGINT or SIGTERM.",
  options: {
    port: integer({ help: "TCP port (0 picks a free one; the bound port is printed)", min: 0, max: 65535, placeholder: "P", required: true }),
    host: text({
      help: "address to bind", default: "127.0.0.1", placeholder: "ADDR",
      check: (addr) => (isIP(addr) !== 0 || HOSTNAME.test(addr) ? null : "not an IP address or a host name"),
    }),
    "token-file": inputFile({ help: "shared secret, 16 to 4096 bytes once trimmed; the source must use the same", required: true }),
    "host-memory": size({
      help: "memory of the destination host", default: "4GiB", minBytes: 2 ** 20, maxBytes: 2 ** 32,
      maxWhy: "per host (one WebAssembly memory)", multipleOf: "MiB",
    }),
    "idle-timeout": duration({ help: "close a connection idle this long", default: "10s", minNs: 1e6, maxNs: 86400e9 }),
    "no-encryption": flag({ help: "require sources that authenticate the stream without encrypting it (guest memory in clear)" }),
    "max-handshakes": integer({ help: "handshakes in progress at once; one more replaces the oldest", default: "16", min: 1, max: 1024 }),
    "handshake-timeout": duration({ help: "cut a connection not authenticated this long after it arrived", default: "3s", minNs: 1e6, maxNs: 3600e9 }),
    "min-rate": rate({ help: "cut an authenticated transfer slower than this over a --progress-window", default: "100KiB/s" }),
    "progress-window": duration({ help: "the window the --min-rate is measured over", default: "10s", minNs: 1e6, maxNs: 86400e9 }),
    "keep-host-memory": flag({ help: "keep the host's memory for the next migration (by default a grown host is replaced, its memory given back, 2s after its last guest left)" }),
    "disk-dir": text({ help: "also accept disk transfers (hypermem disk send) into this folder", placeholder: "DIR", check: checkFolder }),
    "disk-interval": size({ help: "with --disk-dir: fsync and acknowledge a disk transfer's progress every this many bytes", default: "8MiB", minBytes: 64 * 1024, maxBytes: 2 ** 40 }),
    "fragment-ttl": duration({ help: "with --disk-dir: delete a fragment this long after its last write", default: "10080min", minNs: 0, maxNs: 3650 * 86400e9 }),
    "fragment-store-limit": size({ help: "with --disk-dir: the fragment store's size (allocated bytes); the oldest go first", default: "16GiB", minBytes: 0 }),
    json: flag({ help: "one JSON object per line instead of text (an error too)" }),
  },
  rules: {
    needs: [
      ["disk-interval", "disk-dir", "it is a disk transfer's"],
      ["fragment-ttl", "disk-dir", "fragments are a disk folder's"],
      ["fragment-store-limit", "disk-dir", "fragments are a disk folder's"],
    ],
  },
  examples: [
    "hypermem listen --port 7000 --token-file secret.txt",
    "hypermem listen --port 0 --token-file secret.txt --host-memory 1GiB --json",
    "hypermem listen --port 7000 --token-file secret.txt --no-encryption --min-rate 1MiB/s",
    "hypermem listen --port 7000 --token-file secret.txt --disk-dir .",
  ],
  validate: async (v) => ({ ...v, tokenFile: await readTokenFile(v["token-file"]) }),
  async run(v, ctx) {
    printWarnings("listen", v.tokenFile.warnings, ctx.stderr);
    const hostMiB = v["host-memory"] / 2 ** 20;
    const print = (obj: object, line: string): void => { ctx.stdout.write(`${v.json ? JSON.stringify(obj) : line}\n`); };
    const encryption = !v["no-encryption"];
    const diskDir = v["disk-dir"];
    const releaseDiskDir = diskDir === undefined ? () => undefined : lockDiskFolder(diskDir, `--disk-dir ${diskDir}`);
    // Watched before "listening" is printed: a SIGTERM sent as soon as a caller reads it must find the
    // handler, not Node's default (exit at once, the lock file left behind).
    const interrupted = ctx.interrupts();
    try {
      const listener = await listenForMigrations({
        port: v.port, bindAddress: v.host, token: v.tokenFile.token, encryption, hostMiB, idleTimeoutMs: v["idle-timeout"] / 1e6,
        maxHandshakes: v["max-handshakes"], handshakeTimeoutMs: v["handshake-timeout"] / 1e6,
        minRateBytesPerSec: v["min-rate"], progressWindowMs: v["progress-window"] / 1e6,
        releaseHostAfterMs: v["keep-host-memory"] ? null : LISTENER_DEFAULTS.releaseHostAfterMs,
        onReport: (r) => print(r, formatReport(r)),
        streams: {
          [PROTECTION_MAGIC]: (c) => serveProtection(c, { onReport: (r) => print(r, formatProtection(r)) }),
          ...(v["disk-dir"] === undefined ? {} : {
            [DISK_MAGIC]: diskStreamHandler({
              dir: v["disk-dir"], progressIntervalBytes: v["disk-interval"], fragmentTtlMs: v["fragment-ttl"] / 1e6, maxStoreBytes: v["fragment-store-limit"],
              onReport: (r) => print(r, formatDisk(r)),
            }),
          }),
        },
      });
      const { host, port } = listener.address;
      const protection = encryption ? "encrypted" : "authenticated only, not encrypted";
      print({ event: "listening", host, port, hostMiB, encryption }, `listening on ${host}:${port} (host memory ${formatBytes(hostMiB * 2 ** 20)}, ${protection})`);
      await new Promise<void>((resolve) => {
        if (interrupted.aborted) resolve();
        interrupted.addEventListener("abort", () => resolve(), { once: true });
      });
      await listener.close();
      print({ event: "closed", served: listener.served }, `closed after ${listener.served} connections`);
      return 0;
    } finally {
      releaseDiskDir();
    }
  },
});
