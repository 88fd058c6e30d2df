// The source side of a migration over TCP: connect, authenticate and agree
// on the session keys (src/net/handshake.ts), run the pre-copy engine in
// wall-clock time (the guest runs for the real time that passes; every time
// in the statistics is measured) over a SecureChannel (every message a
// sealed record: encrypted and authenticated by default, authenticated only
// with `encryption: false`), then wait for the destination's acknowledgement.
// The migration is completed only once the destination has acknowledged a
// verified guest in a record that verifies; otherwise it is failed and the
// source guest is the one that keeps running. One VM migrates at a time: a
// second migration of it is refused before it connects.
import { connect } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import type { Channel } from "../net/channel.js";
import { clientHandshake } from "../net/handshake.js";
import { SecureChannel } from "../net/secure-channel.js";
import { SUITE_NAMES, suiteFor } from "../net/session-keys.js";
import { DEFAULT_IDLE_TIMEOUT_MS, TcpChannel } from "../net/tcp-channel.js";
import { checkToken } from "../net/token.js";
import { MeasuredLink } from "../sim/link.js";
import { WallClock } from "../sim/wall-clock.js";
import { ACK_BYTES } from "../stream/format.js";
import { resolveMigrationOptions, type MigrationOptions, type ResolvedMigrationOptions } from "./options.js";
import { claimMigration, releaseMigration } from "./migrating.js";
import { migrateSource } from "./precopy.js";
import type { MigrationResult } from "./stats.js";

export interface TcpTarget {
  /** Destination address. */
  host: string;
  port: number;
  /** The shared secret: 16 to 4096 bytes (a token file's contents, trimmed; see loadToken). */
  token: Uint8Array;
  /**
   * Encrypt the records (AES-256-GCM); false authenticates them only (GMAC:
   * guest memory travels in clear). The destination must be set the same
   * way, or the handshake is refused. @default true
   */
  encryption?: boolean;
  /** Fail after this long without socket activity (connect and handshake included), ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** Aborting cancels the migration: the socket is closed and the result is "failed". */
  signal?: AbortSignal;
}

/** What the wall clock saw of a TCP migration. */
export interface TcpTransfer {
  readonly peer: string;
  /** How the records were protected: "aes-256-gcm" (encrypted and authenticated) or "gmac-aes-256" (authenticated only). */
  readonly protection: string;
  /** Connect plus handshake, ms. */
  readonly handshakeMs: number;
  /** Connect to acknowledgement (or failure), ms. */
  readonly wallMs: number;
  /** Bytes written to the socket (handshake and records). */
  readonly bytesSent: number;
  /** bytesSent over wallMs, MiB/s. */
  readonly mibPerSec: number;
  /**
   * Wall time the guest was not given to run, ms: its simulation may use at
   * most half of the source process's time (src/sim/wall-clock.ts), as a
   * vCPU on a busy host loses time to steal.
   */
  readonly guestStealMs: number;
  /** guestStealMs as a share of the time the guest was attached, % (top's %st). */
  readonly guestStealPct: number;
}

export interface TcpMigrationResult extends MigrationResult {
  tcp: TcpTransfer;
}

const TARGET_KEYS = ["host", "port", "token", "encryption", "idleTimeoutMs", "signal"];

/** Parses "HOST:PORT" (IPv6 as "[::1]:PORT"). */
export function parseHostPort(option: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new HypermemError(ErrorCode.BadOption, `${option}: expected HOST:PORT (port 1..65535), got ${JSON.stringify(text)}`, { option, value: text });
  }
  return { host: m[1] ?? m[2]!, port };
}

function checkTarget(target: TcpTarget): void {
  if (typeof target !== "object" || target === null) throw new HypermemError(ErrorCode.BadOption, `the TCP target must be an object such as { host, port, token }, got ${String(target)}`, { option: "target" });
  for (const key of Object.keys(target)) {
    if (!TARGET_KEYS.includes(key)) throw new HypermemError(ErrorCode.UnknownOption, `TCP target: unknown option "${key}" (known: ${TARGET_KEYS.join(", ")})`, { option: key });
  }
  checkToken(target.token);
  if (target.encryption !== undefined && typeof target.encryption !== "boolean") {
    throw new HypermemError(ErrorCode.BadOption, `encryption must be true or false, got ${String(target.encryption)}`, { option: "encryption", value: target.encryption });
  }
}

/** Connects and authenticates; resolves with the channel of sealed records, ready for the stream. */
export async function connectMigrationChannel(target: TcpTarget): Promise<SecureChannel> {
  checkTarget(target);
  const idleTimeoutMs = target.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true });
  const ch = new TcpChannel(socket, { idleTimeoutMs, peer: `${target.host}:${target.port}` });
  const onAbort = (): void => ch.close(new HypermemError(ErrorCode.MigrationFailed, "migration cancelled before it started"));
  target.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (target.signal?.aborted) onAbort();
    await new Promise<void>((resolve, reject) => {
      if (ch.error) { reject(ch.error); return; }
      socket.once("connect", () => resolve());
      socket.once("close", () => reject(ch.error ?? new HypermemError(ErrorCode.PeerClosed, `cannot connect to ${target.host}:${target.port}`)));
    });
    const keys = await clientHandshake(ch, target.token, suiteFor(target.encryption ?? true));
    return new SecureChannel(ch, keys, { role: "client" });
  } catch (err) {
    ch.destroy();
    const e = err as HypermemError;
    if (e.code === ErrorCode.PeerClosed || e.code === ErrorCode.Timeout) {
      throw new HypermemError(e.code, `cannot migrate to ${target.host}:${target.port}: ${e.message}`, { ...e.details });
    }
    throw err;
  } finally {
    target.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * The engine's view of the secure channel: sends go straight through; a
 * receive (the engine reads only the acknowledgement) gathers the
 * acknowledgement's bytes from the destination's records. The destination's
 * ERROR record becomes its error, so a failed migration reports the
 * destination's reason rather than a bare reset.
 */
class SourceChannel implements Channel {
  readonly secure: SecureChannel;
  readonly sendDepth: number;

  constructor(secure: SecureChannel) {
    this.secure = secure;
    this.sendDepth = secure.sendDepth;
  }

  send(bytes: Uint8Array): Promise<void> { return this.secure.send(bytes); }
  close(error?: Error): void { this.secure.close(error); }

  async receive(): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < ACK_BYTES) {
      const bytes = await this.secure.receive();
      if (bytes === null) break;
      parts.push(new Uint8Array(bytes)); // a copy: valid only until the next receive(), and a Buffer's slice() is a view
      have += bytes.length;
    }
    if (have === 0) return null;
    return Buffer.concat(parts);
  }

  /** After a failure: the destination's reason, if it sent one before the connection went. */
  async remoteError(): Promise<HypermemError | null> {
    try {
      while ((await this.secure.receive()) !== null);
      return null;
    } catch (err) {
      return err instanceof HypermemError && err.details.remote === true ? err : null;
    }
  }
}

/** Options that model the simulated link of an in-process migration; over TCP the link is real. */
const SIMULATED_LINK_OPTIONS = ["bandwidthBytesPerSec", "latencyNs", "xbzrleEncodeNsPerPage"] as const;

/**
 * The engine's options over TCP: the real link (no modelled rate or
 * latency; maxBandwidthBytesPerSec still caps the rate), no timeline.
 */
export function resolveTcpMigrationOptions(options: MigrationOptions): ResolvedMigrationOptions {
  for (const key of [...SIMULATED_LINK_OPTIONS, "timeline"] as const) {
    if (options?.[key] != null) {
      const why = key === "timeline" ? "a timeline is simulated time; over TCP time is wall-clock time" : `${key} models the simulated link of an in-process migration; over TCP the link is real and time is wall-clock time (maxBandwidthBytesPerSec caps the rate)`;
      throw new HypermemError(ErrorCode.BadOption, why, { option: key, value: options[key] });
    }
  }
  return resolveMigrationOptions(options);
}

/**
 * Live-migrates `vm` to a `hypermem listen` destination over TCP, in wall-
 * clock time: the guest's workload runs for the real time that passes, and
 * every time in the result (total, setup, downtime, rounds) is measured.
 * Connect and handshake errors throw (nothing was sent), and so does a
 * second migration of a VM whose first is under way (ERR_VM_MIGRATING);
 * after that the result says completed (acknowledged by the destination in
 * a record that verified), cancelled or failed, and the source guest is
 * intact unless completed.
 */
export async function migrateOverTcp(vm: Vm, options: MigrationOptions, target: TcpTarget): Promise<TcpMigrationResult> {
  const o = resolveTcpMigrationOptions(options);
  checkTarget(target);
  claimMigration(vm);
  try {
    return await migrateConnected(vm, o, target);
  } finally {
    releaseMigration(vm);
  }
}

async function migrateConnected(vm: Vm, o: ResolvedMigrationOptions, target: TcpTarget): Promise<TcpMigrationResult> {
  const started = performance.now();
  const ch = await connectMigrationChannel(target);
  const handshakeMs = performance.now() - started;
  const onAbort = (): void => ch.abort(new HypermemError(ErrorCode.MigrationCancelled, "migration cancelled (interrupted)"));
  target.signal?.addEventListener("abort", onAbort, { once: true });
  const source = new SourceChannel(ch);
  try {
    const clock = new WallClock();
    const result = await migrateSource(vm, source, o, new MeasuredLink(clock, o.link.maxBandwidthBytesPerSec));
    if (result.status === "failed") {
      const remote = await source.remoteError();
      if (remote) {
        result.stopReason = remote.message;
        result.error = { code: remote.code, message: remote.message };
      }
    }
    if (result.status === "completed") {
      // The destination checked its memory against the source's end-of-stream digest before acknowledging.
      result.verification = { method: "digest", ok: true, pagesCompared: vm.pages, poisonedPages: result.poisonedPagesSent, firstMismatchPfn: null };
    }
    const wallMs = performance.now() - started;
    const bytesSent = ch.tcp.bytesSent;
    const { grantedNs, stolenNs } = clock.steal;
    return {
      ...result,
      tcp: {
        peer: ch.peer, protection: SUITE_NAMES[ch.suite], handshakeMs, wallMs, bytesSent, mibPerSec: bytesSent / 2 ** 20 / (wallMs / 1e3),
        guestStealMs: stolenNs / 1e6, guestStealPct: grantedNs + stolenNs > 0 ? (100 * stolenNs) / (grantedNs + stolenNs) : 0,
      },
    };
  } finally {
    target.signal?.removeEventListener("abort", onAbort);
    // Not destroy(): the engine's last record (CLOSE, or the ERROR of a cancellation) may be queued behind data.
    ch.abort(new HypermemError(ErrorCode.PeerClosed, `connection to ${ch.peer} closed locally`));
  }
}
