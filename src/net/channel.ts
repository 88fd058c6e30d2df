// Channel: how migration bytes travel between a source and a destination.
// Small on purpose (send, receive, close with an error) so a TCP channel can
// replace the in-process one without touching migration code.
import { ErrorCode, HypermemError } from "../errors.js";

export interface Channel {
  /**
   * Sends `bytes`; resolves once the channel no longer needs them, so the
   * caller may then reuse their buffer. Until then the caller must not
   * change them.
   */
  send(bytes: Uint8Array): Promise<void>;
  /**
   * How many sends may be unresolved at once (the caller waits for the
   * oldest before going past it); this bounds what the sender holds. @default 1
   */
  readonly sendDepth?: number;
  /**
   * The next bytes from the peer, or null once the peer closed cleanly. They
   * may be a view of the channel's read buffer: valid until the next
   * receive() and only until the caller yields to the event loop, so a
   * caller that keeps them copies them.
   */
  receive(): Promise<Uint8Array | null>;
  /** Closes this end; with an error, the peer's pending and later calls fail with it. */
  close(error?: Error): void;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * One direction of an in-memory pair: a rendezvous of one chunk at a time,
 * handed over without a copy. A send resolves when the reader comes back for
 * the next chunk (or closes), so the reader is done with the bytes by then.
 */
class Pipe {
  #pending: { bytes: Uint8Array; taken: Waiter<void> } | null = null;
  #reader: Waiter<Uint8Array | null> | null = null;
  /** The sender of the chunk the reader holds, released at the reader's next call. */
  #held: Waiter<void> | null = null;
  #closed = false;
  #error: Error | null = null;

  send(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new HypermemError(ErrorCode.MigrationFailed, "channel closed"));
    return new Promise((resolve, reject) => {
      const reader = this.#reader;
      if (reader) {
        this.#reader = null;
        this.#held = { resolve, reject };
        reader.resolve(bytes);
        return;
      }
      this.#pending = { bytes, taken: { resolve, reject } };
    });
  }

  receive(): Promise<Uint8Array | null> {
    if (this.#error) return Promise.reject(this.#error);
    this.#release();
    const pending = this.#pending;
    if (pending) {
      this.#pending = null;
      this.#held = pending.taken;
      return Promise.resolve(pending.bytes);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => { this.#reader = { resolve, reject }; });
  }

  /** The reader is done with the chunk it held: its sender may go on. */
  release(): void {
    this.#release();
  }

  #release(): void {
    this.#held?.resolve();
    this.#held = null;
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error ?? null;
    if (error) {
      this.#held?.reject(error);
      this.#held = null;
      this.#pending?.taken.reject(error);
      this.#reader?.reject(error);
    } else {
      this.#release();
      this.#pending?.taken.resolve();
      this.#reader?.resolve(null);
    }
    this.#pending = null;
    this.#reader = null;
  }
}

/** Two connected in-process endpoints: what one sends, the other receives. */
export function createChannelPair(): [Channel, Channel] {
  const ab = new Pipe();
  const ba = new Pipe();
  const end = (out: Pipe, into: Pipe): Channel => ({
    send: (bytes) => {
      into.release(); // a reply means the chunk received before it was consumed
      return out.send(bytes);
    },
    receive: () => into.receive(),
    close: (error) => {
      out.close(error);
      if (error) into.close(error);
      else into.release();
    },
  });
  return [end(ab, ba), end(ba, ab)];
}
