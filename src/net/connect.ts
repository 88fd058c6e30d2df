// The client end of an authenticated connection for any stream kind the
// listener serves (src/migration/listener.ts dispatches by the first record's
// magic): connect, run the token handshake, and hand back the SecureChannel
// of sealed records. What `connectMigrationChannel` does for migrations, for
// a technique that must not import the migration folder (the disk transfer).
import { connect } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import { clientHandshake } from "./handshake.js";
import { SecureChannel } from "./secure-channel.js";
import { suiteFor } from "./session-keys.js";
import { DEFAULT_IDLE_TIMEOUT_MS, TcpChannel } from "./tcp-channel.js";
import { checkToken } from "./token.js";

export interface SecureTarget {
  host: string;
  port: number;
  /** The shared secret: 16 to 4096 bytes. */
  token: Uint8Array;
  /** Encrypt the records (AES-256-GCM); false authenticates them only (GMAC). @default true */
  encryption?: boolean;
  /** Fail after this long without socket activity (connect and handshake included), ms. @default 10_000 */
  idleTimeoutMs?: number;
}

/** Connects to `target` and authenticates; `what` names the stream in errors ("send a disk"). */
export async function connectSecureChannel(target: SecureTarget, what: string): Promise<SecureChannel> {
  checkToken(target.token);
  const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true });
  const ch = new TcpChannel(socket, { idleTimeoutMs: target.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, peer: `${target.host}:${target.port}` });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("close", () => reject(ch.error ?? new HypermemError(ErrorCode.PeerClosed, `cannot connect to ${target.host}:${target.port}`)));
    });
    const keys = await clientHandshake(ch, target.token, suiteFor(target.encryption ?? true));
    return new SecureChannel(ch, keys, { role: "client" });
  } catch (err) {
    ch.destroy();
    const e = err as HypermemError;
    if (e.code === ErrorCode.PeerClosed || e.code === ErrorCode.Timeout) {
      throw new HypermemError(e.code, `cannot ${what} to ${target.host}:${target.port}: ${e.message}`, { ...e.details, host: target.host, port: target.port });
    }
    throw err;
  }
}
