// `hypermem listen`: a destination host that accepts authenticated
// migrations over TCP one at a time, verifies each received guest (the
// end-of-stream digest), reports it, destroys it to free the host for the
// next one, and keeps running until SIGINT/SIGTERM.
import { parseArgs } from "node:util";
import { ErrorCode, HypermemError } from "../errors.js";
import { loadToken } from "../net/handshake.js";
import { listenForMigrations, type ListenerReport } from "../migration/listener.js";
import { formatBytes, parseDuration, parseNumber, parseSize } from "./units.js";

export const LISTEN_USAGE = `hypermem listen --port P --token-file FILE [options]
  --port P                TCP port (0 picks a free one; the bound port is printed)
  --host ADDR             address to bind (127.0.0.1)
  --token-file FILE       shared secret, trimmed; the source must use the same
  --host-memory SIZE      memory of the destination host (4GiB)
  --idle-timeout DUR      close a connection idle this long (10s)
  --json                  one JSON object per line instead of text`;

const OPTIONS = {
  port: { type: "string" }, host: { type: "string" }, "token-file": { type: "string" },
  "host-memory": { type: "string" }, "idle-timeout": { type: "string" }, json: { type: "boolean" },
} as const;

export function formatReport(r: ListenerReport): string {
  switch (r.event) {
    case "received":
      return `received ${formatBytes(r.guestBytes)} guest from ${r.peer}: digest verified, ${formatBytes(r.streamBytes)} in ${r.chunks} chunks, ` +
        `${(r.wallMs / 1e3).toFixed(2)} s wall (${r.mibPerSec.toFixed(0)} MiB/s)${r.kept ? "" : ", guest destroyed"}`;
    case "refused":
      return `refused ${r.peer}: ${r.error.code}: ${r.error.message}`;
    case "failed":
      return `failed ${r.peer} after ${formatBytes(r.streamBytes)}: ${r.error.code}: ${r.error.message} (partial guest discarded)`;
  }
}

/** `hypermem listen`: runs until interrupted; returns the exit status. */
export async function listenCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false });
  if (v.port === undefined) throw new HypermemError(ErrorCode.BadOption, "--port is required", { option: "--port" });
  if (v["token-file"] === undefined) throw new HypermemError(ErrorCode.BadOption, "--token-file is required", { option: "--token-file" });
  const port = parseNumber("--port", v.port, 0, 65535);
  const token = await loadToken(v["token-file"]);
  const hostMiB = v["host-memory"] === undefined ? 4096 : parseSize("--host-memory", v["host-memory"]) / 2 ** 20;
  if (!Number.isInteger(hostMiB) || hostMiB < 1 || hostMiB > 4096) {
    throw new HypermemError(ErrorCode.BadOption, `--host-memory: expected a whole number of MiB from 1MiB to 4GiB, got ${v["host-memory"]}`, { option: "--host-memory" });
  }
  const idleTimeoutMs = v["idle-timeout"] === undefined ? undefined : parseDuration("--idle-timeout", v["idle-timeout"]) / 1e6;
  const json = v.json ?? false;
  const print = (obj: Record<string, unknown>, text: string): void => { console.log(json ? JSON.stringify(obj) : text); };
  const listener = await listenForMigrations({
    port, bindAddress: v.host, token, hostMiB, idleTimeoutMs,
    onReport: (r) => print(r, formatReport(r)),
  });
  const { host, port: bound } = listener.address;
  print({ event: "listening", host, port: bound, hostMiB }, `listening on ${host}:${bound} (host memory ${formatBytes(hostMiB * 2 ** 20)})`);
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.off("SIGINT", stop); process.off("SIGTERM", stop); resolve(); };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await listener.close();
  print({ event: "closed", served: listener.served }, `closed after ${listener.served} connections`);
  return 0;
}
