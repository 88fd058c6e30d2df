// TcpChannel: a Channel over a node:net socket, with an idle timeout and
// bounded buffering in both directions.
//
// Sending: each send copies the bytes into a channel-owned buffer (the
// caller reuses its own, and a borrowed view of wasm memory may be detached
// by a later memory.grow) and hands the copy to the socket. The send
// resolves at once while the copies not yet written to the kernel total at
// most SEND_HIGH_WATER_BYTES, and otherwise from the write callback that
// brings them back under it. So the source keeps packing while the kernel
// sends (pipelining), yet never holds more than 4 MiB plus one chunk in user
// space, whatever the peer's pace. Copy buffers are pooled.
//
// Receiving: 'data' chunks are queued; above RECEIVE_HIGH_WATER_BYTES the
// socket is paused (TCP flow control then stops the peer) and resumed when
// the reader has drained the queue below it.
import type { Socket } from "node:net";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Channel } from "./channel.js";

/** Idle timeout used when none is given, ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** Bytes the sender may have copied and handed to the socket but not yet written to the kernel; a send past this waits. */
export const SEND_HIGH_WATER_BYTES = 4 * 2 ** 20;
/** Size of the pooled copy buffers (one migration chunk fits). */
const POOL_BUFFER_BYTES = 2 ** 20 + 128 * 1024;
/** Received bytes queued before the socket is paused. */
export const RECEIVE_HIGH_WATER_BYTES = 4 * 2 ** 20;

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
  #writer: Waiter<void> | null = null;
  /** Bytes copied and handed to the socket whose write has not completed. */
  #inFlightBytes = 0;
  /** Copy buffers whose writes completed, for reuse. */
  readonly #pool: ArrayBuffer[] = [];
  /** Bytes handed to the kernel so far. */
  bytesSent = 0;
  /** Bytes received from the socket so far. */
  bytesReceived = 0;

  constructor(socket: Socket, options: TcpChannelOptions = {}) {
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

  /** Copied bytes handed to the socket and not yet written to the kernel. */
  get bufferedBytes(): number { return this.#inFlightBytes; }

  /** The error that ended the channel, if any. */
  get error(): HypermemError | null { return this.#error; }

  send(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#writer) return Promise.reject(new HypermemError(ErrorCode.MigrationFailed, "TcpChannel: one send at a time"));
    const out = this.#takeBuffer(bytes.length);
    out.set(bytes);
    this.#inFlightBytes += out.length;
    this.socket.write(out, (err) => {
      this.#inFlightBytes -= out.length;
      if (err) {
        this.#fail(this.#error ?? new HypermemError(ErrorCode.PeerClosed, `write to ${this.peer} failed: ${err.message}`, { peer: this.peer }));
        return;
      }
      this.bytesSent += out.length;
      if (out.buffer.byteLength >= POOL_BUFFER_BYTES && this.#pool.length < 8) this.#pool.push(out.buffer as ArrayBuffer);
      if (this.#writer && this.#inFlightBytes <= SEND_HIGH_WATER_BYTES) {
        const writer = this.#writer;
        this.#writer = null;
        writer.resolve();
      }
    });
    // Resolve on the next turn of the event loop, not in a microtask: a sender
    // that never yields would keep libuv from flushing the socket until the
    // high-water mark, and the two ends would take turns instead of overlapping.
    if (this.#inFlightBytes <= SEND_HIGH_WATER_BYTES) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve, reject) => { this.#writer = { resolve, reject }; });
  }

  /** A copy target for `length` bytes: a pooled buffer whose previous write has completed, or a new one. */
  #takeBuffer(length: number): Buffer {
    if (length <= POOL_BUFFER_BYTES) {
      const pooled = this.#pool.pop();
      return Buffer.from(pooled ?? new ArrayBuffer(POOL_BUFFER_BYTES), 0, length);
    }
    return Buffer.allocUnsafeSlow(length);
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

  #unshift(bytes: Uint8Array): void {
    this.#queue.unshift(bytes);
    this.#queuedBytes += bytes.length;
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
    const writer = this.#writer;
    this.#reader = null;
    this.#writer = null;
    reader?.reject(error);
    writer?.reject(error);
    this.socket.destroy();
  }
}
