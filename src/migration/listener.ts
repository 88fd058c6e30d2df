// MigrationListener: a destination host that accepts migrations over TCP and
// keeps running. Per connection:
//
//   connect ──► handshake (up to maxHandshakes at once, each within
//               handshakeTimeoutMs; a small read buffer, nothing allocated for
//               the peer) ──► authenticated: take the one migration slot, or
//               REJECT ERR_BUSY ──► the stream in sealed records into a
//               StreamReceiver, under the progress rule ──► the
//               acknowledgement (a record) ──► CLOSE
//
// Only a source that proved the token takes the slot, so an idle or hostile
// connection never stops a legitimate migration: at worst it holds one of
// the handshake places until its deadline, and a connection arriving when
// they are all taken replaces the oldest. An authenticated transfer that
// falls under the minimum rate over a window is cut and the slot freed. Any
// failure closes that connection (an ERROR record says why), discards the
// partial guest, and leaves the listener serving the next. A connection
// being turned away keeps nothing of what its peer sends while it lingers
// for the peer to read our last message. The numbers are in
// listener-options.ts. When the host is the listener's own, it is replaced
// by a fresh one once it has held no guest for releaseHostAfterMs, so the
// memory a large guest took goes back to the OS (host-release.ts). A stream
// whose first 4 bytes are the magic of one of options.streams (another
// stream kind, e.g. a checkpoint protection stream) goes to that handler
// instead, after the same handshake, holding the slot until it returns.
import { createServer, type Server, type Socket } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { encodeTextFrame, MessageType, serverHandshake } from "../net/handshake.js";
import { SecureChannel } from "../net/secure-channel.js";
import { suiteFor, type SessionKeys } from "../net/session-keys.js";
import { READ_BUFFER_BYTES, RECEIVE_HIGH_WATER_BYTES, TcpChannel } from "../net/tcp-channel.js";
import { encodeAck } from "../stream/format.js";
import { StreamReceiver } from "../stream/receiver.js";
import { collectGarbage, worthReleasing } from "./host-release.js";
import { resolveListenerOptions, type ListenerOptions, type ListenerReport, type ResolvedListenerOptions } from "./listener-options.js";

export { LISTENER_DEFAULTS, resolveListenerOptions, type ListenerOptions, type ListenerReport, type ResolvedListenerOptions } from "./listener-options.js";

/** How long a refused or failed connection may linger for the peer to read our last message, ms. */
const LINGER_MS = 1000;
/** Read buffer, and bytes queued before reading pauses, while the peer is not authenticated. */
export const HANDSHAKE_READ_BUFFER_BYTES = 4096;

/** The first 4 bytes or more of the stream (a copy), or null when it ended before. */
async function firstBytes(sc: SecureChannel): Promise<Uint8Array | null> {
  const pieces: Uint8Array[] = [];
  let length = 0;
  while (length < 4) {
    const bytes = await sc.receive();
    if (bytes === null) return length === 0 ? null : Buffer.concat(pieces);
    pieces.push(new Uint8Array(bytes)); // a copy: valid only until the next receive(), and a Buffer's slice() is a view
    length += bytes.length;
  }
  return pieces.length === 1 ? pieces[0] : new Uint8Array(Buffer.concat(pieces));
}

function plain(err: unknown): { code: string; message: string } {
  return err instanceof HypermemError ? { code: err.code, message: err.message } : { code: ErrorCode.MigrationFailed, message: String((err as Error)?.message ?? err) };
}

export class MigrationListener {
  readonly server: Server;
  readonly options: ResolvedListenerOptions;
  #host: Host;
  /** Linear memory of a fresh host of the listener's own (0 when the caller gave the host). */
  readonly #freshHostBytes: number;
  /** Handshakes in progress, oldest first. */
  readonly #handshakes = new Set<TcpChannel>();
  /** The connection holding the migration slot. */
  #slot: TcpChannel | null = null;
  /** Every connection not yet destroyed (handshakes, the slot, lingering). */
  readonly #open = new Set<TcpChannel>();
  #releaseTimer: NodeJS.Timeout | null = null;
  /** Connections served so far (any outcome). */
  served = 0;
  /** Times the host was replaced by a fresh one and the old one's memory collected. */
  hostReleases = 0;

  constructor(server: Server, o: ResolvedListenerOptions) {
    this.server = server;
    this.options = o;
    this.#host = o.host ?? createHost({ memoryMiB: o.hostMiB });
    this.#freshHostBytes = o.host ? 0 : this.#host.stats().linearMemoryBytes;
    server.on("connection", (socket) => this.#accept(socket));
  }

  /** The destination host guests are received into now (a fresh one after a release). */
  get host(): Host { return this.#host; }

  /** Handshakes in progress. */
  get handshakes(): number { return this.#handshakes.size; }

  /** Connections open (in a handshake, migrating, or lingering after a refusal). */
  get connections(): number { return this.#open.size; }

  /**
   * Bytes the listener holds for its connections' input: each live
   * connection's read buffer and what it has queued. A connection in its
   * handshake or being turned away holds at most a few KiB.
   */
  get bufferedBytes(): number {
    let bytes = 0;
    for (const ch of this.#open) if (!ch.error) bytes += ch.readBufferBytes + ch.queuedBytes;
    return bytes;
  }

  /** The bound address and port. */
  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new HypermemError(ErrorCode.MigrationFailed, "listener is not bound");
    return { host: a.address, port: a.port };
  }

  /** Stops accepting, closes open connections and resolves once the server closed. */
  close(): Promise<void> {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    for (const ch of this.#open) ch.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const o = this.options;
    if (this.#handshakes.size >= o.maxHandshakes) this.#evictOldest();
    const ch = TcpChannel.accept(socket, {
      idleTimeoutMs: o.idleTimeoutMs, readBufferBytes: HANDSHAKE_READ_BUFFER_BYTES, receiveHighWaterBytes: HANDSHAKE_READ_BUFFER_BYTES,
    });
    this.#open.add(ch);
    void this.#serve(ch);
  }

  /** Makes room for a new connection: the oldest handshake is told ERR_BUSY and cut. */
  #evictOldest(): void {
    const oldest = this.#handshakes.values().next().value as TcpChannel;
    const e = new HypermemError(ErrorCode.Busy, `destination has ${this.options.maxHandshakes} handshakes in progress; the oldest (${oldest.peer}) was dropped for a new connection`, { peer: oldest.peer });
    this.#handshakes.delete(oldest);
    oldest.end([encodeTextFrame(MessageType.Reject, e.code, e.message)]);
    oldest.close(e);
  }

  async #serve(ch: TcpChannel): Promise<void> {
    let keys: SessionKeys;
    this.#handshakes.add(ch);
    const deadline = setTimeout(() => {
      ch.close(new HypermemError(ErrorCode.Timeout, `handshake with ${ch.peer} not completed within ${this.options.handshakeTimeoutMs} ms`, { peer: ch.peer, handshakeTimeoutMs: this.options.handshakeTimeoutMs }));
    }, this.options.handshakeTimeoutMs);
    try {
      keys = await serverHandshake(ch, this.options.token, { suite: suiteFor(this.options.encryption), admit: () => this.#takeSlot(ch) });
    } catch (err) {
      if (this.#slot === ch) this.#slot = null; // admitted, then ACCEPT could not be sent
      this.#report({ event: "refused", peer: ch.peer, error: plain(err) });
      this.#dismiss(ch);
      return;
    } finally {
      clearTimeout(deadline);
      this.#handshakes.delete(ch);
    }
    try {
      await this.#receive(ch, keys);
    } catch (err) {
      // Only a throwing onGuest/onReport gets here; the listener itself stays up.
      this.#report({ event: "failed", peer: ch.peer, streamBytes: 0, wallMs: 0, error: plain(err) });
    } finally {
      this.#slot = null;
      this.#dismiss(ch);
      this.#scheduleRelease();
    }
  }

  /** The handshake's admit step: the slot for this authenticated source, or ERR_BUSY. */
  #takeSlot(ch: TcpChannel): HypermemError | null {
    if (this.#slot) return new HypermemError(ErrorCode.Busy, "destination is busy with another migration; retry later");
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#slot = ch;
    return null;
  }

  /** Receives one stream over the authenticated connection, under the progress rule. */
  async #receive(ch: TcpChannel, keys: SessionKeys): Promise<void> {
    const o = this.options;
    const started = performance.now();
    ch.useReadBuffer(READ_BUFFER_BYTES, RECEIVE_HIGH_WATER_BYTES);
    const sc = new SecureChannel(ch, keys, { role: "server" });
    const progress = this.#watchProgress(sc);
    const first = await firstBytes(sc).catch((err: unknown) => err as Error);
    const handler = first instanceof Uint8Array ? o.streams[String.fromCharCode(...first.subarray(0, 4))] : undefined;
    if (handler && first instanceof Uint8Array) {
      clearInterval(progress);
      await handler({ channel: sc, first, host: this.#host, peer: ch.peer });
      return;
    }
    const receiver = new StreamReceiver(this.#host, o.receiverLimits);
    let vm: Vm;
    try {
      if (first instanceof Error) throw first;
      if (first) receiver.push(first);
      // Stop at END_STREAM, not at the end of the records: the source waits for the acknowledgement before closing.
      while (!receiver.done) {
        const bytes = await sc.receive();
        if (bytes === null) break;
        receiver.push(bytes);
      }
      clearInterval(progress);
      vm = receiver.finish();
      await sc.send(encodeAck());
      sc.close();
    } catch (err) {
      clearInterval(progress);
      receiver.abort(String((err as Error)?.message ?? err));
      const e = plain(err);
      // Tell the source why (an ERROR record), then linger (see #dismiss) so it can read it before the socket goes.
      sc.close(err as Error);
      const wallMs = performance.now() - started;
      if (err instanceof HypermemError && err.code === ErrorCode.MigrationCancelled && err.details.remote === true) {
        this.#report({ event: "cancelled", peer: ch.peer, streamBytes: receiver.bytesReceived, wallMs, reason: err.message });
      } else {
        this.#report({ event: "failed", peer: ch.peer, streamBytes: receiver.bytesReceived, wallMs, error: e });
      }
      return;
    }
    const wallMs = performance.now() - started;
    const report: ListenerReport = {
      event: "received", peer: ch.peer, guestBytes: vm.memoryBytes, streamBytes: receiver.bytesReceived, chunks: receiver.chunks,
      wallMs, mibPerSec: receiver.bytesReceived / 2 ** 20 / (wallMs / 1e3), kept: false,
    };
    const keep = o.onGuest?.(vm, report) ?? false;
    if (!keep) vm.destroy();
    this.#report({ ...report, kept: keep });
  }

  /** The progress rule: every window, at least minRate × window bytes must have arrived, or the connection is cut (ERR_TIMEOUT). */
  #watchProgress(sc: SecureChannel): NodeJS.Timeout | undefined {
    const { minRateBytesPerSec: rate, progressWindowMs: windowMs } = this.options;
    if (rate === 0) return undefined;
    const minBytes = Math.ceil((rate * windowMs) / 1e3);
    let before = sc.tcp.bytesReceived;
    const timer = setInterval(() => {
      const got = sc.tcp.bytesReceived - before;
      before = sc.tcp.bytesReceived;
      if (got >= minBytes) return;
      clearInterval(timer);
      sc.abort(new HypermemError(
        ErrorCode.Timeout,
        `the source ${sc.peer} sent ${got} bytes in the last ${windowMs} ms, under the ${minBytes} of the progress rule (${rate} bytes/s over ${windowMs} ms): cut to free the destination`,
        { peer: sc.peer, rule: "progress", bytes: got, minBytes, windowMs },
      ));
    }, windowMs);
    return timer;
  }

  /** Keeps nothing the peer sends, half-closes, and destroys the connection after LINGER_MS. */
  #dismiss(ch: TcpChannel): void {
    this.served++;
    ch.discardInput();
    ch.close();
    setTimeout(() => { ch.destroy(); this.#open.delete(ch); }, LINGER_MS).unref();
  }

  /** Replaces a grown host of the listener's own once it has held no guest for releaseHostAfterMs. */
  #scheduleRelease(): void {
    const after = this.options.releaseHostAfterMs;
    if (this.options.host || after === null) return;
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = setTimeout(() => {
      this.#releaseTimer = null;
      if (this.#slot || !worthReleasing(this.#host, this.#freshHostBytes)) return;
      this.#host = createHost({ memoryMiB: this.options.hostMiB });
      // Collect in a job of its own: a frame that loaded the old host (this one) may keep it alive while it runs.
      setImmediate(() => {
        collectGarbage();
        this.hostReleases++;
      }).unref();
    }, after);
    this.#releaseTimer.unref();
  }

  #report(r: ListenerReport): void {
    try {
      this.options.onReport?.(r);
    } catch {
      // a reporting callback must not take the listener down
    }
  }
}

/** Binds a listener (127.0.0.1 unless told otherwise) and resolves once it accepts connections. */
export async function listenForMigrations(options: ListenerOptions): Promise<MigrationListener> {
  const o = resolveListenerOptions(options);
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const listener = new MigrationListener(server, o);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new HypermemError(ErrorCode.BadOption, `cannot listen on ${o.bindAddress}:${o.port}: ${err.code ?? err.message}`, { port: o.port }));
    });
    server.listen(o.port, o.bindAddress, () => resolve());
  });
  server.on("error", () => undefined); // after binding (e.g. EMFILE on accept): keep serving
  return listener;
}
