// The source side of a migration over TCP: connect, authenticate, run the
// pre-copy engine in wall-clock time (the guest runs for the real time that
// passes; every time in the statistics is measured) over a TcpChannel, then
// wait for the destination's
// acknowledgement. The migration is completed only once the destination has
// acknowledged a verified guest; otherwise it is failed and the source guest
// is the one that keeps running.
import { connect } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import type { Channel } from "../net/channel.js";
import { clientHandshake, frameError, HANDSHAKE_MAGIC, MessageType, readFrame } from "../net/handshake.js";
import { DEFAULT_IDLE_TIMEOUT_MS, TcpChannel } from "../net/tcp-channel.js";
import { MeasuredLink } from "../sim/link.js";
import { WallClock } from "../sim/wall-clock.js";
import { ACK_BYTES, ACK_MAGIC, isAck } from "../stream/format.js";
import { resolveMigrationOptions, type MigrationOptions, type ResolvedMigrationOptions } from "./options.js";
import { migrateSource } from "./precopy.js";
import type { MigrationResult } from "./stats.js";

export interface TcpTarget {
  /** Destination address. */
  host: string;
  port: number;
  /** The shared secret (the token file's trimmed contents). */
  token: Uint8Array;
  /** Fail after this long without socket activity (connect and handshake included), ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** Aborting cancels the migration: the socket is closed and the result is "failed". */
  signal?: AbortSignal;
}

/** What the wall clock saw of a TCP migration. */
export interface TcpTransfer {
  readonly peer: string;
  /** Connect plus handshake, ms. */
  readonly handshakeMs: number;
  /** Connect to acknowledgement (or failure), ms. */
  readonly wallMs: number;
  /** Bytes written to the socket (handshake and stream). */
  readonly bytesSent: number;
  /** bytesSent over wallMs, MiB/s. */
  readonly mibPerSec: number;
}

export interface TcpMigrationResult extends MigrationResult {
  tcp: TcpTransfer;
}

/** Parses "HOST:PORT" (IPv6 as "[::1]:PORT"). */
export function parseHostPort(option: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new HypermemError(ErrorCode.BadOption, `${option}: expected HOST:PORT (port 1..65535), got ${JSON.stringify(text)}`, { option, value: text });
  }
  return { host: m[1] ?? m[2]!, port };
}

/** Connects and authenticates; resolves with a channel ready for the stream. */
export async function connectMigrationChannel(target: TcpTarget): Promise<TcpChannel> {
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
    await clientHandshake(ch, target.token);
    return ch;
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
 * The engine's view of the TCP channel: sends go straight through; a receive
 * (the engine reads only the acknowledgement) reads one 8-byte message and
 * turns a destination's ERROR/REJECT frame into its error, so a failed
 * migration reports the destination's reason rather than a bare reset.
 */
class SourceChannel implements Channel {
  readonly tcp: TcpChannel;
  /** The engine has read a valid acknowledgement. */
  acked = false;

  constructor(tcp: TcpChannel) { this.tcp = tcp; }

  send(bytes: Uint8Array): Promise<void> { return this.tcp.send(bytes); }
  close(error?: Error): void { this.tcp.close(error); }

  async receive(): Promise<Uint8Array | null> {
    const head = await this.tcp.read(ACK_BYTES).catch((err: unknown) => {
      if (err instanceof HypermemError && err.code === ErrorCode.PeerClosed && !this.tcp.error) return null;
      throw err;
    });
    if (head === null) return null;
    const magic = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    if (magic === ACK_MAGIC) {
      this.acked = isAck(head);
      return head;
    }
    if (magic !== HANDSHAKE_MAGIC) return head;
    const frame = await readFrame(this.tcp, head);
    if (frame.type !== MessageType.Error && frame.type !== MessageType.Reject) {
      throw new HypermemError(ErrorCode.Handshake, `destination sent handshake message type ${frame.type} instead of an acknowledgement`, { type: frame.type });
    }
    throw frameError(frame, "destination");
  }

  /** After a failed send: the destination's reason, if it sent one before the connection went. */
  async remoteError(): Promise<HypermemError | null> {
    try {
      await this.receive();
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
 * Connect and handshake errors throw (nothing was sent); after that the
 * result says completed (acknowledged by the destination), cancelled or
 * failed, and the source guest is intact unless completed.
 */
export async function migrateOverTcp(vm: Vm, options: MigrationOptions, target: TcpTarget): Promise<TcpMigrationResult> {
  const o = resolveTcpMigrationOptions(options);
  const started = performance.now();
  const ch = await connectMigrationChannel(target);
  const handshakeMs = performance.now() - started;
  const onAbort = (): void => ch.close(new HypermemError(ErrorCode.MigrationFailed, "migration cancelled (interrupted)"));
  target.signal?.addEventListener("abort", onAbort, { once: true });
  const source = new SourceChannel(ch);
  try {
    const result = await migrateSource(vm, source, o, new MeasuredLink(new WallClock(), o.link.maxBandwidthBytesPerSec));
    if (result.status === "completed" && !source.acked) {
      // An engine that does not read the acknowledgement itself: read it here.
      const ack = await source.receive().catch((err: unknown) => err as HypermemError);
      if (!(ack instanceof Uint8Array) || !isAck(ack)) {
        const e = ack instanceof HypermemError ? ack : new HypermemError(ErrorCode.MigrationFailed, "the destination closed the connection without acknowledging the stream");
        result.status = "failed";
        result.stopReason = e.message;
        result.error = { code: e.code, message: e.message };
      }
    } else if (result.status === "failed") {
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
    return { ...result, tcp: { peer: ch.peer, handshakeMs, wallMs, bytesSent: ch.bytesSent, mibPerSec: ch.bytesSent / 2 ** 20 / (wallMs / 1e3) } };
  } finally {
    target.signal?.removeEventListener("abort", onAbort);
    ch.destroy();
  }
}
