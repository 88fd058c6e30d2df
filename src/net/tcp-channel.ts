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
// Several parts (a record's header, body and tag) go out in one writev.
//
// Receiving: a channel for an accepted connection (TcpChannel.accept) reads
// into one buffer of its own (the socket's onread mode) instead of Node's
// default of a fresh 64 KiB buffer per read: about half the CPU of
// receiving, which is what bounds the destination. The buffer starts at the
// size the caller asks (the listener: a few KiB while the peer is not yet
// authenticated) and useReadBuffer() changes it (1 MiB for the stream). A
// waiting reader gets a view of that buffer, valid until it next calls
// receive() or yields to the event loop (Node runs the continuation before
// the next read); bytes nobody is waiting for are copied and queued. Above
// the high-water mark (RECEIVE_HIGH_WATER_BYTES unless told otherwise)
// queued, the socket is paused (TCP flow control then stops the peer) and
// resumed when the reader has drained the queue below it. discardInput()
// drops the queue and every later byte: a connection being turned away
// holds nothing of what its peer sends.
import { Socket } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Channel } from "./channel.js";

/** Idle timeout used when none is given, ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** Sends that may be in flight at once (chunks the source holds for the socket). */
export const SEND_DEPTH = 4;
/** Received bytes queued before the socket is paused. */
export const RECEIVE_HIGH_WATER_BYTES = 4 * 2 ** 20;
/** Size of the read buffer of an accepted connection's channel, unless told otherwise. */
export const READ_BUFFER_BYTES = 2 ** 20;
/** Read buffer of a connection whose input is being discarded. */
const DISCARD_BUFFER_BYTES = 4096;

export interface TcpChannelOptions {
  /** Fail with ERR_TIMEOUT after this long without any socket activity, ms. @default 10_000 */
  idleTimeoutMs?: number;
  /** How to name the peer in messages. @default the socket's remote address and port */
  peer?: string;
  /** Received bytes queued before the socket is paused. @default RECEIVE_HIGH_WATER_BYTES */
  receiveHighWaterBytes?: number;
}

export interface AcceptOptions extends TcpChannelOptions {
  /** Size of the read buffer to start with (useReadBuffer() changes it). @default READ_BUFFER_BYTES */
  readBufferBytes?: number;
}

/** The buffer an onread socket reads into next; a new size takes effect at the next read. */
class ReadBuffer {
  #buffer: Buffer;
  constructor(bytes: number) { this.#buffer = Buffer.allocUnsafe(bytes); }
  get byteLength(): number { return this.#buffer.length; }
  next(): Buffer { return this.#buffer; }
  resize(bytes: number): void {
    if (bytes !== this.#buffer.length) this.#buffer = Buffer.allocUnsafe(bytes);
  }
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
  /** The socket's own read buffer (TcpChannel.accept), or null in Node's default read mode. */
  readonly #readBuffer: ReadBuffer | null;
  #receiveHighWaterBytes: number;
  /** Received bytes are dropped (discardInput). */
  #discarding = false;
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
  static accept(accepted: Socket, options: AcceptOptions = {}): TcpChannel {
    const { readBufferBytes = READ_BUFFER_BYTES, ...rest } = options;
    const peer = options.peer ?? `${accepted.remoteAddress ?? "?"}:${accepted.remotePort ?? "?"}`;
    const internals = accepted as unknown as { _handle: { useUserBuffer?: unknown } | null };
    const handle = internals._handle;
    if (!handle || typeof handle.useUserBuffer !== "function") {
      accepted.resume();
      return new TcpChannel(accepted, { ...rest, peer });
    }
    const reads = new ReadBuffer(readBufferBytes);
    let channel: TcpChannel | null = null;
    const socket = new Socket({
      handle, allowHalfOpen: true, readable: true, writable: true,
      // A function: Node asks it for the buffer of each next read, so useReadBuffer() takes effect at once.
      onread: { buffer: () => reads.next(), callback: (n: number, buffer: Buffer) => { channel!.#onRead(buffer, n); return true; } },
    } as ConstructorParameters<typeof Socket>[0]);
    internals._handle = null; // the new socket owns the handle; destroying the old one only releases the server's count
    accepted.destroy();
    channel = new TcpChannel(socket, { ...rest, peer }, reads);
    return channel;
  }

  /** `readBuffer`: the socket's own read buffer (onread mode, see accept), null when it reads in Node's default mode. */
  constructor(socket: Socket, options: TcpChannelOptions = {}, readBuffer: ReadBuffer | null = null) {
    this.#readBuffer = readBuffer;
    this.#receiveHighWaterBytes = options.receiveHighWaterBytes ?? RECEIVE_HIGH_WATER_BYTES;
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

  /** Size of the read buffer the socket reads into (TcpChannel.accept), or 0 for Node's default reads. */
  get readBufferBytes(): number { return this.#readBuffer?.byteLength ?? 0; }

  /** Received bytes queued before the socket is paused. */
  get receiveHighWaterBytes(): number { return this.#receiveHighWaterBytes; }

  /**
   * Reads into a buffer of `readBufferBytes` from the next read on, and
   * queues up to `receiveHighWaterBytes` (when given) before pausing. A
   * channel in Node's default read mode keeps it.
   */
  useReadBuffer(readBufferBytes: number, receiveHighWaterBytes?: number): void {
    this.#readBuffer?.resize(readBufferBytes);
    if (receiveHighWaterBytes !== undefined) this.#receiveHighWaterBytes = receiveHighWaterBytes;
  }

  /**
   * Drops what is queued and every byte that arrives from now on (counted,
   * not kept), reading into a small buffer: for a connection that is being
   * turned away while its peer reads our last message.
   */
  discardInput(): void {
    this.#discarding = true;
    this.#readBuffer?.resize(DISCARD_BUFFER_BYTES);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    if (this.socket.isPaused() && !this.#error) this.socket.resume();
  }

  /** Received bytes queued for the reader (copies), at most the high-water mark plus one read. */
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
    return this.sendParts([bytes]);
  }

  /**
   * Writes `parts` in order, as one writev and without copying them; one
   * send as far as sendDepth counts. Resolves as send() does.
   */
  sendParts(parts: readonly Uint8Array[]): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#writers.size >= this.sendDepth) {
      return Promise.reject(new HypermemError(ErrorCode.MigrationFailed, `TcpChannel: more than ${this.sendDepth} sends in flight`, { sendDepth: this.sendDepth }));
    }
    const bytes = parts.reduce((sum, p) => sum + p.length, 0);
    return new Promise((resolve, reject) => {
      const writer: Waiter<void> = { resolve, reject };
      this.#writers.add(writer);
      this.#inFlightBytes += bytes;
      const done = (err?: Error | null): void => {
        this.#inFlightBytes -= bytes;
        if (!this.#writers.delete(writer)) return; // already failed
        if (err) {
          this.#fail(new HypermemError(ErrorCode.PeerClosed, `write to ${this.peer} failed: ${err.message}`, { peer: this.peer }));
          reject(this.#error!);
          return;
        }
        this.bytesSent += bytes;
        setImmediate(resolve);
      };
      if (parts.length > 1) this.socket.cork();
      for (let i = 0; i < parts.length - 1; i++) this.socket.write(parts[i]);
      this.socket.write(parts[parts.length - 1] ?? new Uint8Array(0), done);
      if (parts.length > 1) this.socket.uncork();
    });
  }

  receive(): Promise<Uint8Array | null> {
    const next = this.#queue.shift();
    if (next) {
      this.#queuedBytes -= next.length;
      if (this.socket.isPaused() && this.#queuedBytes < this.#receiveHighWaterBytes && !this.#error) this.socket.resume();
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
    this.end();
  }

  /**
   * Writes `lastParts` (whatever is in flight: a closing message is never
   * refused for the send depth), then ends the sending direction (TCP
   * half-close); receiving goes on.
   */
  end(lastParts: readonly Uint8Array[] = []): void {
    if (this.#error || this.socket.writableEnded) return;
    for (const part of lastParts) {
      this.socket.write(part);
      this.bytesSent += part.length;
    }
    this.socket.end();
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
    this.#onData(this.#reader || this.#discarding ? view : Buffer.from(view));
  }

  #onData(data: Buffer): void {
    this.bytesReceived += data.length;
    if (this.#discarding) return;
    const reader = this.#reader;
    if (reader) {
      this.#reader = null;
      reader.resolve(data);
      return;
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (this.#queuedBytes >= this.#receiveHighWaterBytes) this.socket.pause();
  }

  #onEnd(): void {
    this.#ended = true;
    const reader = this.#reader;
    this.#reader = null;
    reader?.resolve(null);
  }

  /** First error wins: recorded, handed to waiters, socket destroyed. Queued bytes stay readable. */
  #fail(error: HypermemError): void {
    if (this.#rejectPending(error)) this.socket.destroy();
  }

  /** Fails the pending read and writes with `error` (the first error only). Returns false if one came before. */
  #rejectPending(error: HypermemError): boolean {
    if (this.#error) return false;
    this.#error = error;
    const reader = this.#reader;
    this.#reader = null;
    reader?.reject(error);
    for (const writer of this.#writers) writer.reject(error);
    this.#writers.clear();
    return true;
  }

  /**
   * Fails pending calls with `error` now, ends the sending direction, and
   * destroys the socket once what was written has gone to the kernel (or
   * after `lingerMs` if the peer does not read): a last message queued behind
   * data the peer was slow to take (the ERROR record of a cancellation) is
   * not thrown away with the socket, as destroy() would.
   */
  dismiss(error: HypermemError, lingerMs: number): void {
    if (!this.#rejectPending(error)) return;
    const socket = this.socket;
    if (!socket.writableEnded) socket.end();
    if (socket.writableFinished) {
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once("finish", () => { clearTimeout(timer); socket.destroy(); });
  }
}
