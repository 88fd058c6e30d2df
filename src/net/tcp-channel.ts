// TcpChannel: a Channel over a node:net socket, with an idle timeout and
// bounded buffering in both directions.
//
// Sending: zero-copy. The caller's bytes (for the migration source, a chunk
// in one of its packer's output buffers in wasm memory) go to the socket as
// they are; the send resolves once the socket has written them to the
// kernel, and the caller leaves them alone until then. Up to SEND_DEPTH
// sends may be in flight, so the source packs the next chunk while the
// kernel takes the last ones, and holds at most SEND_DEPTH chunks whatever
// the peer's pace. A pending write keeps pointing at wasm memory even if the
// memory grows meanwhile: the module declares a 4 GiB maximum, so V8
// reserves it up front and grows in place, never moving the bytes.
//
// Receiving: a channel for an accepted connection (TcpChannel.accept) reads
// into one 1 MiB buffer of its own (the socket's onread mode) instead of
// Node's default of a fresh 64 KiB buffer per read: about half the CPU of
// receiving, which is what bounds the destination. A waiting reader gets a
// view of that buffer, valid until it next calls receive() or yields to the
// event loop (Node runs the continuation before the next read); bytes nobody
// is waiting for are copied and queued. Above RECEIVE_HIGH_WATER_BYTES
// queued the socket is paused (TCP flow control then stops the peer) and
// resumed when the reader has drained the queue below it.
import { Socket } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Channel } from "./channel.js";

/** Idle timeout used when none is given, ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** Sends that may be in flight at once (chunks the source holds for the socket). */
export const SEND_DEPTH = 4;
/** Received bytes queued before the socket is paused. */
export const RECEIVE_HIGH_WATER_BYTES = 4 * 2 ** 20;
/** Size of the read buffer of an accepted connection's channel. */
export const READ_BUFFER_BYTES = 2 ** 20;

export interface TcpChannelOptions {
  /** Fail with ERR_TIMEOUT after this long without any socket activity, ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** How to name the peer in messages. @default the socket's remote address and port */
  peer?: string;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export class TcpChannel implements Channel {
  readonly socket: Socket;
  readonly idleTimeoutMs: number;
  /** "host:port" of the peer, for messages. */
  readonly peer: string;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ended = false;
  #error: HypermemError | null = null;
  #reader: Waiter<Uint8Array | null> | null = null;
  /** Sends whose write has not completed. */
  readonly #writers = new Set<Waiter<void>>();
  /** Bytes handed to the socket whose write has not completed. */
  #inFlightBytes = 0;
  readonly sendDepth = SEND_DEPTH;
  /** Size of the read buffer the socket reads into (TcpChannel.accept), or 0 for Node's default reads. */
  readonly readBufferBytes: number;
  /** Bytes handed to the kernel so far. */
  bytesSent = 0;
  /** Bytes received from the socket so far. */
  bytesReceived = 0;

  /**
   * A channel for a connection accepted by a net.Server created with
   * pauseOnConnect, reading into a buffer of its own. Node offers onread
   * only to sockets it creates for connect(); so the accepted socket's
   * handle is moved to a new Socket made with onread, as net.Server itself
   * makes sockets from handles. Where that is not possible, the channel
   * reads the accepted socket in the default mode.
   */
  static accept(accepted: Socket, options: TcpChannelOptions = {}): TcpChannel {
    const peer = options.peer ?? `${accepted.remoteAddress ?? "?"}:${accepted.remotePort ?? "?"}`;
    const internals = accepted as unknown as { _handle: { useUserBuffer?: unknown } | null };
    const handle = internals._handle;
    if (!handle || typeof handle.useUserBuffer !== "function") {
      accepted.resume();
      return new TcpChannel(accepted, { ...options, peer }, 0);
    }
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    let channel: TcpChannel | null = null;
    const socket = new Socket({
      handle, allowHalfOpen: true, readable: true, writable: true,
      onread: { buffer, callback: (n: number) => { channel!.#onRead(buffer, n); return true; } },
    } as ConstructorParameters<typeof Socket>[0]);
    internals._handle = null; // the new socket owns the handle; destroying the old one only releases the server's count
    accepted.destroy();
    channel = new TcpChannel(socket, { ...options, peer }, buffer.length);
    return channel;
  }

  /** `readBufferBytes`: the size of the socket's own read buffer (onread mode), 0 when it reads in Node's default mode. */
  constructor(socket: Socket, options: TcpChannelOptions = {}, readBufferBytes = 0) {
    this.readBufferBytes = readBufferBytes;
    this.socket = socket;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.peer = options.peer ?? `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeoutMs);
    socket.on("data", (data: Buffer) => this.#onData(data));
    socket.on("end", () => this.#onEnd());
    socket.on("timeout", () => {
      this.#fail(new HypermemError(ErrorCode.Timeout, `no activity from ${this.peer} for ${this.idleTimeoutMs} ms (idle timeout)`, { peer: this.peer, idleTimeoutMs: this.idleTimeoutMs }));
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.#fail(new HypermemError(ErrorCode.PeerClosed, `connection to ${this.peer} failed: ${err.code ?? err.message}`, { peer: this.peer, cause: err.code ?? err.message }));
    });
    socket.on("close", () => {
      this.#fail(new HypermemError(ErrorCode.PeerClosed, `connection to ${this.peer} closed`, { peer: this.peer }));
    });
  }

  /** Bytes handed to the socket and not yet written to the kernel. */
  get bufferedBytes(): number { return this.#inFlightBytes; }

  /** Received bytes queued for the reader (copies), at most RECEIVE_HIGH_WATER_BYTES plus one read. */
  get queuedBytes(): number { return this.#queuedBytes; }

  /** The error that ended the channel, if any. */
  get error(): HypermemError | null { return this.#error; }

  /**
   * Writes `bytes` without copying them; resolves once they are in the
   * kernel (on the next turn of the event loop, so a sender that always
   * finds room still lets timers and signals run). At most sendDepth sends
   * may be unresolved.
   */
  send(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#writers.size >= this.sendDepth) {
      return Promise.reject(new HypermemError(ErrorCode.MigrationFailed, `TcpChannel: more than ${this.sendDepth} sends in flight`, { sendDepth: this.sendDepth }));
    }
    return new Promise((resolve, reject) => {
      const writer: Waiter<void> = { resolve, reject };
      this.#writers.add(writer);
      this.#inFlightBytes += bytes.length;
      this.socket.write(bytes, (err) => {
        this.#inFlightBytes -= bytes.length;
        if (!this.#writers.delete(writer)) return; // already failed
        if (err) {
          this.#fail(new HypermemError(ErrorCode.PeerClosed, `write to ${this.peer} failed: ${err.message}`, { peer: this.peer }));
          reject(this.#error!);
          return;
        }
        this.bytesSent += bytes.length;
        setImmediate(resolve);
      });
    });
  }

  receive(): Promise<Uint8Array | null> {
    const next = this.#queue.shift();
    if (next) {
      this.#queuedBytes -= next.length;
      if (this.socket.isPaused() && this.#queuedBytes < RECEIVE_HIGH_WATER_BYTES && !this.#error) this.socket.resume();
      return Promise.resolve(next);
    }
    if (this.#ended) return Promise.resolve(null);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => { this.#reader = { resolve, reject }; });
  }

  /** Exactly `n` bytes (for handshake messages); ERR_PEER_CLOSED if the peer ends first. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      const chunk = await this.receive();
      if (chunk === null) {
        throw new HypermemError(ErrorCode.PeerClosed, `${this.peer} closed the connection after ${have} of ${n} expected bytes`, { peer: this.peer, have, need: n });
      }
      const take = Math.min(n - have, chunk.length);
      out.set(chunk.subarray(0, take), have);
      have += take;
      if (take < chunk.length) this.#unshift(chunk.subarray(take));
    }
    return out;
  }

  /**
   * Without an error: ends the sending direction (TCP half-close) and keeps
   * receiving, so the peer can still answer. With one: fails pending and
   * later calls with it and destroys the socket.
   */
  close(error?: Error): void {
    if (error) {
      this.#fail(error instanceof HypermemError ? error : new HypermemError(ErrorCode.MigrationFailed, error.message));
      return;
    }
    if (!this.#error && !this.socket.writableEnded) this.socket.end();
  }

  /** Destroys the socket (idempotent); pending calls fail with ERR_PEER_CLOSED. */
  destroy(): void {
    this.#fail(new HypermemError(ErrorCode.PeerClosed, `connection to ${this.peer} closed locally`, { peer: this.peer }));
  }

  /** Puts back bytes not consumed (copied: they may be a view of the read buffer). */
  #unshift(bytes: Uint8Array): void {
    this.#queue.unshift(Uint8Array.prototype.slice.call(bytes));
    this.#queuedBytes += bytes.length;
  }

  /**
   * onread mode: `n` bytes arrived in the read buffer. A waiting reader
   * gets a view; otherwise they are copied into the queue (where #onData
   * pauses the socket at the high-water mark, which stops reading in this
   * mode as in the default one).
   */
  #onRead(buffer: Buffer, n: number): void {
    const view = buffer.subarray(0, n);
    this.#onData(this.#reader ? view : Buffer.from(view));
  }

  #onData(data: Buffer): void {
    this.bytesReceived += data.length;
    const reader = this.#reader;
    if (reader) {
      this.#reader = null;
      reader.resolve(data);
      return;
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (this.#queuedBytes >= RECEIVE_HIGH_WATER_BYTES) this.socket.pause();
  }

  #onEnd(): void {
    this.#ended = true;
    const reader = this.#reader;
    this.#reader = null;
    reader?.resolve(null);
  }

  /** First error wins: recorded, handed to waiters, socket destroyed. Queued bytes stay readable. */
  #fail(error: HypermemError): void {
    if (this.#error) return;
    this.#error = error;
    const reader = this.#reader;
    this.#reader = null;
    reader?.reject(error);
    for (const writer of this.#writers) writer.reject(error);
    this.#writers.clear();
    this.socket.destroy();
  }
}
