// The backup side of a protection stream over TCP: the handler `hypermem
// listen` runs for a stream that starts with the protection hello
// (tcp-format.ts). It refuses a guest its host could not hold before any
// page is sent (ERR_BACKUP_MEMORY in an ERROR record), feeds the stream to a
// Backup (staged, applied at each COMMIT), acknowledges each commit, and
// keeps the primary's digest of each checkpoint. When the primary goes
// silent for the hello's heartbeat timeout, or its connection ends without
// an END (a killed process: the kernel closes its socket), the backup
// activates its guest as the last commit left it and checks it against
// that checkpoint's digest (verify.ts): the failover report.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import type { SecureChannel } from "../net/secure-channel.js";
import { encodeCheckpointAck } from "./ack.js";
import { Backup } from "./backup.js";
import { decodeDigest, MessageKind, MessageReader, PROTECTION_HELLO } from "./tcp-format.js";
import { checkTakeover } from "./verify.js";

export type ProtectionReport =
  | { event: "protecting"; peer: string; guestPages: number; heartbeatTimeoutMs: number }
  | { event: "protection-ended"; peer: string; committed: number; streamBytes: number }
  | {
    event: "failover"; peer: string; reason: "heartbeat timeout" | "connection lost"; detectedAfterMs: number;
    checkpoint: number; verified: boolean | null; digest: string; error: { code: string; message: string } | null;
  }
  | { event: "protection-failed"; peer: string; committed: number; error: { code: string; message: string } };

export interface ProtectionServeOptions {
  onReport?: (report: ProtectionReport) => void;
  /** Called with the activated guest after a failover; return true to keep it (else it is destroyed). */
  onTakeover?: (vm: Vm) => boolean;
}

const plain = (e: unknown): { code: string; message: string } =>
  e instanceof HypermemError ? { code: e.code, message: e.message } : { code: ErrorCode.StreamCorrupt, message: String((e as Error)?.message ?? e) };

/** Serves one protection stream on an authenticated channel (the listener's StreamHandler for "HMPS"). */
export async function serveProtection(
  connection: { channel: SecureChannel; first: Uint8Array; host: Host; peer: string },
  options: ProtectionServeOptions = {},
): Promise<void> {
  const { channel: sc, host, peer } = connection;
  const report = (r: ProtectionReport): void => options.onReport?.(r);
  let backup: Backup;
  let timeoutMs: number;
  const reader = new MessageReader();
  let rest: Uint8Array;
  try {
    const hello = PROTECTION_HELLO.decode(connection.first.subarray(0, PROTECTION_HELLO.byteLength));
    if (connection.first.length < PROTECTION_HELLO.byteLength) throw new HypermemError(ErrorCode.StreamCorrupt, "the protection hello is cut short", { field: "hello" });
    timeoutMs = hello.heartbeatTimeoutMs;
    backup = new Backup(host, hello.guestPages);
    rest = connection.first.subarray(PROTECTION_HELLO.byteLength);
    report({ event: "protecting", peer, guestPages: hello.guestPages, heartbeatTimeoutMs: timeoutMs });
  } catch (err) {
    sc.close(err as Error);
    report({ event: "protection-failed", peer, committed: -1, error: plain(err) });
    return;
  }
  const digests = new Map<number, bigint>();
  let streamBytes = 0;
  let lastHeardMs = performance.now();
  const take = async (bytes: Uint8Array): Promise<boolean> => {
    for (const m of reader.push(bytes)) {
      if (m.kind === MessageKind.End) return true;
      if (m.kind === MessageKind.Digest) {
        const d = decodeDigest(m.payload);
        digests.set(d.checkpoint, d.digest);
      } else if (m.kind === MessageKind.Stream) {
        streamBytes += m.payload.length;
        const commits = backup.receive(m.payload);
        if (backup.error) throw backup.error;
        for (const cp of commits) {
          digests.delete(cp - 1);
          await sc.send(encodeCheckpointAck(cp));
        }
      }
    }
    return false;
  };
  let reason: "heartbeat timeout" | "connection lost";
  try {
    let ended = rest.length > 0 && await take(rest);
    while (!ended) {
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<"silent">((resolve) => { timer = setTimeout(() => resolve("silent"), timeoutMs); });
      const bytes = await Promise.race([sc.receive(), silent]).finally(() => clearTimeout(timer));
      if (bytes === "silent") {
        reason = "heartbeat timeout";
        break;
      }
      if (bytes === null) {
        reason = "connection lost"; // a CLOSE without END: the primary stopped protecting
        break;
      }
      lastHeardMs = performance.now();
      ended = await take(bytes);
    }
    if (ended) {
      sc.close();
      report({ event: "protection-ended", peer, committed: backup.committed, streamBytes });
      backup.vm?.destroy();
      return;
    }
  } catch (err) {
    const e = err as HypermemError;
    const cut = e.code === ErrorCode.Integrity || e.code === ErrorCode.PeerClosed || e.code === ErrorCode.Timeout;
    if (!cut) { // a damaged stream: the backup stays at its last commit, the primary is told why
      sc.close(e);
      report({ event: "protection-failed", peer, committed: backup.committed, error: plain(e) });
      backup.vm?.destroy();
      return;
    }
    reason = "connection lost";
  }
  sc.destroy();
  const detectedAfterMs = performance.now() - lastHeardMs;
  const taken = backup.activate();
  if (!taken) {
    report({ event: "failover", peer, reason: reason!, detectedAfterMs, checkpoint: -1, verified: null, digest: "", error: null });
    return;
  }
  const expected = digests.get(taken.checkpoint);
  const check = expected === undefined ? null : checkTakeover(taken.vm, taken.checkpoint, expected);
  report({
    event: "failover", peer, reason: reason!, detectedAfterMs, checkpoint: taken.checkpoint,
    verified: check ? check.verified : null, digest: check?.digest ?? "", error: check?.error ? plain(check.error) : null,
  });
  if (!(options.onTakeover?.(taken.vm) ?? false)) taken.vm.destroy();
}
