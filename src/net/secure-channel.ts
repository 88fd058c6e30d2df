// SecureChannel: the Channel of a migration connection after its handshake.
// Every message is a record of src/net/record.ts, sealed with this
// direction's session key: what send() is given travels as DATA records;
// close() ends with a CLOSE record, close(error) with an ERROR record
// carrying {code, message}. receive() hands out the bodies of DATA records
// only once their tags verified, in order; the peer's ERROR becomes its
// error (details.remote), its CLOSE the end (null), and a connection that
// ends without a CLOSE, or any record that fails its check, ERR_INTEGRITY.
//
// What receive() returns is valid until the next receive(), as the Channel
// contract says: with integrity only it is a buffer of the record opener's,
// reused for a later record once the caller came back for more.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Channel } from "./channel.js";
import { encodeErrorText, errorFromText } from "./handshake.js";
import { primeAllocator } from "./native-memory.js";
import { RecordOpener, RecordSealer } from "./record-seal.js";
import { MAX_RECORD_BODY_BYTES, RecordType } from "./record.js";
import type { SessionKeys } from "./session-keys.js";
import type { TcpChannel } from "./tcp-channel.js";

/** How long an aborted connection waits for its ERROR record to reach the kernel before it is destroyed, ms. */
export const ABORT_LINGER_MS = 1000;

export interface SecureChannelOptions {
  /** "client": this end is the migration source (it sends with the client->server key). */
  role: "client" | "server";
  /** Largest DATA body accepted from the peer, bytes. @default MAX_RECORD_BODY_BYTES */
  maxRecordBodyBytes?: number;
}

export class SecureChannel implements Channel {
  readonly tcp: TcpChannel;
  readonly suite: SessionKeys["suite"];
  readonly sendDepth: number;
  /** "source" or "destination": the peer, in messages. */
  readonly peerRole: string;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  /** Verified DATA bytes not handed out yet, oldest first. */
  readonly #ready: Uint8Array[] = [];
  /** The bytes the last receive() returned, given back to the opener at the next. */
  #lent: Uint8Array | null = null;
  /** The peer's CLOSE arrived. */
  #peerClosed = false;
  /** The peer's ERROR, or the record that failed its check: later receives fail with it. */
  #receiveError: HypermemError | null = null;
  /** This end closed (with or without an error): later sends fail. */
  #sendError: HypermemError | null = null;

  constructor(tcp: TcpChannel, keys: SessionKeys, options: SecureChannelOptions) {
    primeAllocator();
    this.tcp = tcp;
    this.suite = keys.suite;
    this.sendDepth = tcp.sendDepth;
    const client = options.role === "client";
    this.peerRole = client ? "destination" : "source";
    this.#sealer = new RecordSealer(keys.suite, client ? keys.clientToServer : keys.serverToClient);
    this.#opener = new RecordOpener(keys.suite, client ? keys.serverToClient : keys.clientToServer, {
      maxBodyBytes: options.maxRecordBodyBytes ?? MAX_RECORD_BODY_BYTES, from: `from the ${this.peerRole} ${tcp.peer}`,
    });
  }

  get peer(): string { return this.tcp.peer; }
  /** Records sent so far (the next one's sequence number). */
  get recordsSent(): number { return this.#sealer.sequence; }
  /** Records received and verified so far. */
  get recordsReceived(): number { return this.#opener.sequence; }

  /**
   * Sends `bytes` as DATA records (one, unless it is larger than
   * MAX_RECORD_BODY_BYTES: then all of its records at once, so no other send
   * comes between them); resolves once the socket has taken them. With
   * integrity only, the records point at `bytes`: leave them unchanged until
   * then (the Channel contract).
   */
  send(bytes: Uint8Array): Promise<void> {
    if (this.#sendError) return Promise.reject(this.#sendError);
    if (bytes.length <= MAX_RECORD_BODY_BYTES) return this.tcp.sendParts(this.#sealer.seal(RecordType.Data, bytes));
    const parts: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += MAX_RECORD_BODY_BYTES) {
      parts.push(...this.#sealer.seal(RecordType.Data, bytes.subarray(at, at + MAX_RECORD_BODY_BYTES)));
    }
    return this.tcp.sendParts(parts);
  }

  /** The next verified DATA bytes (valid until the next receive()); null after the peer's CLOSE. */
  async receive(): Promise<Uint8Array | null> {
    if (this.#lent) this.#opener.recycle(this.#lent);
    this.#lent = null;
    for (;;) {
      const ready = this.#ready.shift();
      if (ready) {
        this.#lent = ready;
        return ready;
      }
      if (this.#receiveError) throw this.#receiveError;
      if (this.#peerClosed) return null;
      const bytes = await this.tcp.receive();
      if (bytes === null) {
        this.#receiveError = new HypermemError(
          ErrorCode.Integrity,
          `the connection from the ${this.peerRole} ${this.peer} ended ${this.#opener.midRecord ? "inside" : "after"} record ${this.#opener.sequence} without a CLOSE record (truncated on the way)`,
          { field: "close", sequence: this.#opener.sequence },
        );
        continue;
      }
      this.#take(bytes);
    }
  }

  /** Opens the records `bytes` complete; a failed check or the peer's ERROR is kept for receive() to throw. */
  #take(bytes: Uint8Array): void {
    try {
      for (const record of this.#opener.push(bytes)) {
        if (record.type === RecordType.Data) {
          for (const piece of record.body) if (piece.length > 0) this.#ready.push(piece);
        } else if (record.type === RecordType.Error) {
          this.#receiveError = errorFromText(Buffer.concat(record.body), this.peerRole);
          return;
        } else {
          this.#peerClosed = true;
          return;
        }
      }
    } catch (err) {
      this.#receiveError = err as HypermemError;
    }
  }

  /**
   * Without an error: a CLOSE record, then the TCP half-close (the peer can
   * still answer). With one: an ERROR record carrying its code and message
   * (unless it is the peer's own error), then the half-close; later sends
   * fail with it. The caller destroys the TCP channel when done with it.
   */
  close(error?: Error): void {
    if (this.#sendError) return;
    const e = error === undefined ? null : error instanceof HypermemError ? error : new HypermemError(ErrorCode.MigrationFailed, error.message);
    this.#sendError = e ?? new HypermemError(ErrorCode.MigrationFailed, `channel to ${this.peer} closed`, { peer: this.peer });
    if (this.tcp.error) return;
    if (e?.details.remote === true) {
      this.tcp.end();
      return;
    }
    this.tcp.end(e ? this.#sealer.seal(RecordType.Error, encodeErrorText(e.code, e.message)) : this.#sealer.seal(RecordType.Close, new Uint8Array(0)));
  }

  /**
   * close(error), then pending calls here fail with `error` at once; the
   * connection goes once the ERROR record reached the kernel (at most
   * `lingerMs` later), so the peer learns why.
   */
  abort(error: HypermemError, lingerMs = ABORT_LINGER_MS): void {
    this.close(error);
    this.tcp.dismiss(error, lingerMs);
  }

  /** Destroys the TCP connection (pending calls fail with ERR_PEER_CLOSED). */
  destroy(): void {
    this.tcp.destroy();
  }
}
