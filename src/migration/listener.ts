// MigrationListener: a destination host that accepts migrations over TCP,
// one at a time, and keeps running. Per connection: handshake (nothing is
// allocated for an unauthenticated peer), then the stream into a
// StreamReceiver (which validates everything and checks the end-of-stream
// digest), then the acknowledgement. Any failure closes that connection,
// discards the partial guest and leaves the listener serving the next.
import { createServer, type Server, type Socket } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import { createHost, type Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { encodeTextFrame, MessageType, serverHandshake } from "../net/handshake.js";
import { DEFAULT_IDLE_TIMEOUT_MS, TcpChannel } from "../net/tcp-channel.js";
import { encodeAck } from "../stream/format.js";
import { StreamReceiver, type ReceiverLimits } from "../stream/receiver.js";

/** How long a refused or failed connection may linger for the peer to read our last message, ms. */
const LINGER_MS = 1000;

export interface ListenerOptions {
  /** TCP port; 0 picks a free one (see `port` after listen). */
  port: number;
  /** Address to bind. @default "127.0.0.1" */
  bindAddress?: string;
  /** The shared secret (the token file's trimmed contents). */
  token: Uint8Array;
  /** Host memory of the destination host, MiB (ignored when `host` is given). @default 4096 */
  hostMiB?: number;
  /** Receive into this host instead of a new one. */
  host?: Host;
  /** Close a connection idle for this long, ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** Limits on what a stream may ask for. */
  receiverLimits?: ReceiverLimits;
  /** Called once per connection with its outcome. */
  onReport?: (report: ListenerReport) => void;
  /**
   * Called with each verified guest before it is destroyed (to free the host
   * for the next migration). Return true to keep it running instead.
   */
  onGuest?: (vm: Vm, report: ListenerReport) => boolean;
}

export type ListenerReport =
  | { event: "received"; peer: string; guestBytes: number; streamBytes: number; chunks: number; wallMs: number; mibPerSec: number; kept: boolean }
  | { event: "refused"; peer: string; error: { code: string; message: string } }
  | { event: "failed"; peer: string; streamBytes: number; wallMs: number; error: { code: string; message: string } };

function plain(err: unknown): { code: string; message: string } {
  return err instanceof HypermemError ? { code: err.code, message: err.message } : { code: ErrorCode.MigrationFailed, message: String((err as Error)?.message ?? err) };
}

export class MigrationListener {
  readonly host: Host;
  readonly server: Server;
  readonly #o: ListenerOptions;
  readonly #idleTimeoutMs: number;
  #busy = false;
  #open = new Set<TcpChannel>();
  /** Connections served so far (any outcome). */
  served = 0;

  constructor(server: Server, host: Host, o: ListenerOptions) {
    this.server = server;
    this.host = host;
    this.#o = o;
    this.#idleTimeoutMs = o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    server.on("connection", (socket) => { void this.#accept(socket); });
  }

  /** The bound address and port. */
  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === "string") throw new HypermemError(ErrorCode.MigrationFailed, "listener is not bound");
    return { host: a.address, port: a.port };
  }

  /** Stops accepting, closes open connections and resolves once the server closed. */
  close(): Promise<void> {
    for (const ch of this.#open) ch.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  async #accept(socket: Socket): Promise<void> {
    const ch = TcpChannel.accept(socket, { idleTimeoutMs: this.#idleTimeoutMs });
    this.#open.add(ch);
    try {
      if (this.#busy) {
        const e = new HypermemError(ErrorCode.Busy, "destination is busy with another migration; retry later");
        this.#report({ event: "refused", peer: ch.peer, error: plain(e) });
        await ch.send(encodeTextFrame(MessageType.Reject, e.code, e.message)).catch(() => undefined);
        return;
      }
      this.#busy = true;
      try {
        await this.#serve(ch);
      } catch (err) {
        // Only a throwing onGuest/onReport gets here; the listener itself stays up.
        this.#report({ event: "failed", peer: ch.peer, streamBytes: 0, wallMs: 0, error: plain(err) });
      } finally {
        this.#busy = false;
        this.served++;
      }
    } finally {
      ch.close();
      // Let the peer read our last message, then make sure the socket goes.
      setTimeout(() => { ch.destroy(); this.#open.delete(ch); }, LINGER_MS).unref();
    }
  }

  async #serve(ch: TcpChannel): Promise<void> {
    const started = performance.now();
    // A whole-handshake deadline too: a peer trickling bytes must not hold the listener.
    const deadline = setTimeout(() => {
      ch.close(new HypermemError(ErrorCode.Timeout, `handshake with ${ch.peer} not completed within ${this.#idleTimeoutMs} ms`, { peer: ch.peer }));
    }, this.#idleTimeoutMs);
    try {
      await serverHandshake(ch, this.#o.token);
    } catch (err) {
      this.#report({ event: "refused", peer: ch.peer, error: plain(err) });
      return;
    } finally {
      clearTimeout(deadline);
    }
    const receiver = new StreamReceiver(this.host, this.#o.receiverLimits ?? {});
    let vm: Vm;
    try {
      // Stop at END_STREAM, not at EOF: the source waits for the acknowledgement before closing.
      while (!receiver.done) {
        const bytes = await ch.receive();
        if (bytes === null) break;
        receiver.push(bytes);
      }
      vm = receiver.finish();
      await ch.send(encodeAck());
    } catch (err) {
      receiver.abort(String((err as Error)?.message ?? err));
      const e = plain(err);
      // Tell the source why, then linger (see #accept) so it can read it before the socket goes.
      await ch.send(encodeTextFrame(MessageType.Error, e.code, e.message)).catch(() => undefined);
      this.#report({ event: "failed", peer: ch.peer, streamBytes: receiver.bytesReceived, wallMs: performance.now() - started, error: e });
      return;
    }
    const wallMs = performance.now() - started;
    const report: ListenerReport = {
      event: "received", peer: ch.peer, guestBytes: vm.memoryBytes, streamBytes: receiver.bytesReceived, chunks: receiver.chunks,
      wallMs, mibPerSec: receiver.bytesReceived / 2 ** 20 / (wallMs / 1e3), kept: false,
    };
    const keep = this.#o.onGuest?.(vm, report) ?? false;
    if (!keep) vm.destroy();
    this.#report({ ...report, kept: keep });
  }

  #report(r: ListenerReport): void {
    try {
      this.#o.onReport?.(r);
    } catch {
      // a reporting callback must not take the listener down
    }
  }
}

/** Binds a listener (127.0.0.1 unless told otherwise) and resolves once it accepts connections. */
export async function listenForMigrations(o: ListenerOptions): Promise<MigrationListener> {
  if (o.token.length === 0) throw new HypermemError(ErrorCode.BadOption, "listener token is empty", { option: "token" });
  const host = o.host ?? createHost({ memoryMiB: o.hostMiB ?? 4096 });
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const listener = new MigrationListener(server, host, o);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new HypermemError(ErrorCode.BadOption, `cannot listen on ${o.bindAddress ?? "127.0.0.1"}:${o.port}: ${err.code ?? err.message}`, { port: o.port }));
    });
    server.listen(o.port, o.bindAddress ?? "127.0.0.1", () => resolve());
  });
  server.on("error", () => undefined); // after binding (e.g. EMFILE on accept): keep serving
  return listener;
}
