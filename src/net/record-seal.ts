// Sealing and opening records (the layout is in record.ts): RecordSealer
// turns one message into a record of its direction, RecordOpener takes the
// other direction's bytes split anywhere (as TCP delivers them) and gives
// back whole records, each only once its tag verified.
//
// Copies. Sealing with encryption writes the ciphertext into a buffer
// node:crypto allocates (cipher.update has no output-buffer form in Node
// 20); sealing for integrity only hands the caller's body on as it is, so
// the caller keeps it unchanged until it is written. Opening with
// encryption keeps the plaintext pieces decipher.update returns; opening for
// integrity only copies the body into a buffer of its own, since the bytes
// it is given are views of a read buffer that the next read overwrites, and
// nothing of the body may be used before the tag at its end verified. Those
// buffers are reused once the caller gives them back (recycle): a fresh
// megabyte per record costs its page faults and the garbage collector's
// time, more than the copy itself.
import { createCipheriv, createDecipheriv, type DecipherGCM } from "node:crypto";
import { ErrorCode, HypermemError } from "../errors.js";
import {
  AEAD_ALGORITHM, decodeRecordHeader, encodeRecordHeader, MAX_RECORD_BODY_BYTES, MAX_SEQUENCE, RECORD_HEADER_BYTES, RECORD_TYPE_NAMES,
  recordNonce, RecordType, TAG_BYTES,
} from "./record.js";
import { Suite, type DirectionKeys } from "./session-keys.js";

/** The three parts of a sealed record, written in this order: header, body (ciphertext, or the caller's bytes), tag. */
export type SealedRecord = readonly [header: Uint8Array, body: Uint8Array, tag: Uint8Array];

/** One direction's sender: numbers its records from 0 and seals each. */
export class RecordSealer {
  readonly suite: Suite;
  readonly #keys: DirectionKeys;
  #sequence: number;

  /** `firstSequence` is for tests of the sequence limit; a connection starts at 0. */
  constructor(suite: Suite, keys: DirectionKeys, firstSequence = 0) {
    this.suite = suite;
    this.#keys = keys;
    this.#sequence = firstSequence;
  }

  /** The sequence number the next record gets. */
  get sequence(): number { return this.#sequence; }

  /**
   * Seals `body` (at most MAX_RECORD_BODY_BYTES) as a record of `type`.
   * Integrity only: the returned body is `body` itself. Throws
   * ERR_INTEGRITY once the sequence numbers are used up (a nonce is never
   * used twice).
   */
  seal(type: RecordType, body: Uint8Array): SealedRecord {
    if (body.length > MAX_RECORD_BODY_BYTES) {
      throw new HypermemError(ErrorCode.BadOption, `a record body holds at most ${MAX_RECORD_BODY_BYTES} bytes, got ${body.length}`, { bodyBytes: body.length });
    }
    const sequence = this.#sequence;
    if (sequence >= MAX_SEQUENCE) {
      throw new HypermemError(ErrorCode.Integrity, `record sequence numbers used up after ${sequence} records; the connection must end`, { sequence });
    }
    const header = new Uint8Array(RECORD_HEADER_BYTES);
    encodeRecordHeader(header, { bodyBytes: body.length, type, sequence });
    const cipher = createCipheriv(AEAD_ALGORITHM, this.#keys.key, recordNonce(this.#keys.iv, sequence), { authTagLength: TAG_BYTES });
    cipher.setAAD(header);
    let out = body;
    if (this.suite === Suite.Aes256Gcm) out = cipher.update(body);
    else cipher.setAAD(body);
    cipher.final();
    this.#sequence = sequence + 1;
    return [header, out, cipher.getAuthTag()];
  }
}

/** A record whose tag verified. */
export interface OpenedRecord {
  readonly type: RecordType;
  readonly sequence: number;
  /** The body in pieces (concatenated, they are the body); the caller's until it recycles them. */
  readonly body: readonly Uint8Array[];
  readonly bodyBytes: number;
}

type Phase = "header" | "body" | "tag";
/** Body buffers kept for reuse (integrity only). */
const MAX_SPARE_BODIES = 4;

/** One direction's receiver: reassembles records from bytes split anywhere and opens them in order. */
export class RecordOpener {
  readonly suite: Suite;
  readonly maxBodyBytes: number;
  /** Names the sender in messages ("from 127.0.0.1:4444"). */
  readonly from: string;
  readonly #keys: DirectionKeys;
  #sequence = 0;
  #phase: Phase = "header";
  readonly #header = new Uint8Array(RECORD_HEADER_BYTES);
  readonly #tag = new Uint8Array(TAG_BYTES);
  /** Bytes of the current part (header, body or tag) received so far. */
  #have = 0;
  #type: RecordType = RecordType.Data;
  #bodyBytes = 0;
  #decipher: DecipherGCM | null = null;
  #pieces: Uint8Array[] = [];
  /** Integrity only: the body, copied as it arrives. */
  #body: Uint8Array | null = null;
  /** Integrity only: body buffers (maxBodyBytes each) given back by the caller, ready for reuse. */
  readonly #spareBodies: Uint8Array[] = [];

  constructor(suite: Suite, keys: DirectionKeys, options: { maxBodyBytes?: number; from?: string } = {}) {
    this.suite = suite;
    this.#keys = keys;
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_RECORD_BODY_BYTES;
    this.from = options.from ?? "from the peer";
  }

  /** The sequence number of the next record expected. */
  get sequence(): number { return this.#sequence; }

  /** True while a record has been started and not finished (an end of input now is a truncation). */
  get midRecord(): boolean { return this.#phase !== "header" || this.#have > 0; }

  /**
   * Consumes all of `bytes` (they may be overwritten once this returns) and
   * returns the records they completed, in order. Throws ERR_INTEGRITY on
   * the first header, sequence or tag that fails its check.
   */
  push(bytes: Uint8Array): OpenedRecord[] {
    const opened: OpenedRecord[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (this.#phase === "header") {
        at += this.#fill(this.#header, bytes, at);
        if (this.#have === RECORD_HEADER_BYTES) this.#startBody();
      } else if (this.#phase === "body") {
        at += this.#takeBody(bytes, at);
      } else {
        at += this.#fill(this.#tag, bytes, at);
        if (this.#have === TAG_BYTES) opened.push(this.#open());
      }
      if (this.#phase === "body" && this.#have === this.#bodyBytes) this.#toTag();
    }
    return opened;
  }

  /** Copies into `part` (from #have on) as much of bytes[at..] as it still needs; returns bytes taken. */
  #fill(part: Uint8Array, bytes: Uint8Array, at: number): number {
    const n = Math.min(part.length - this.#have, bytes.length - at);
    part.set(bytes.subarray(at, at + n), this.#have);
    this.#have += n;
    return n;
  }

  #startBody(): void {
    const h = decodeRecordHeader(this.#header, this.#sequence, this.maxBodyBytes, this.from);
    this.#type = h.type;
    this.#bodyBytes = h.bodyBytes;
    const decipher = createDecipheriv(AEAD_ALGORITHM, this.#keys.key, recordNonce(this.#keys.iv, h.sequence), { authTagLength: TAG_BYTES });
    decipher.setAAD(this.#header);
    this.#decipher = decipher;
    this.#body = this.suite === Suite.Aes256Gcm ? null : this.#bodyBuffer(h.bodyBytes);
    this.#phase = "body";
    this.#have = 0;
  }

  /** Integrity only: where a body of `bodyBytes` is copied (a spare buffer when there is one). */
  #bodyBuffer(bodyBytes: number): Uint8Array {
    if (bodyBytes === 0) return new Uint8Array(0);
    return (this.#spareBodies.pop() ?? Buffer.allocUnsafeSlow(this.maxBodyBytes)).subarray(0, bodyBytes);
  }

  /**
   * Gives back the body of an opened record (integrity only: its one piece)
   * once the caller is done with it; a later record may reuse its memory.
   * Anything else is ignored.
   */
  recycle(body: Uint8Array): void {
    if (this.suite !== Suite.Aes256Gcm && body.byteOffset === 0 && body.buffer.byteLength === this.maxBodyBytes && this.#spareBodies.length < MAX_SPARE_BODIES) {
      this.#spareBodies.push(new Uint8Array(body.buffer, 0, this.maxBodyBytes));
    }
  }

  #takeBody(bytes: Uint8Array, at: number): number {
    const n = Math.min(this.#bodyBytes - this.#have, bytes.length - at);
    const piece = bytes.subarray(at, at + n);
    if (this.#body) this.#body.set(piece, this.#have);
    else this.#pieces.push(this.#decipher!.update(piece));
    this.#have += n;
    return n;
  }

  #toTag(): void {
    if (this.#body) {
      this.#decipher!.setAAD(this.#body);
      this.#pieces.push(this.#body);
    }
    this.#phase = "tag";
    this.#have = 0;
  }

  #open(): OpenedRecord {
    const decipher = this.#decipher!;
    decipher.setAuthTag(this.#tag);
    try {
      decipher.final();
    } catch {
      throw new HypermemError(
        ErrorCode.Integrity,
        `record ${this.#sequence} ${this.from}: the tag of its ${this.#bodyBytes}-byte ${RECORD_TYPE_NAMES[this.#type]} record does not verify: ` +
          "it was altered on the way, or was not sealed with this connection's key",
        { field: "tag", sequence: this.#sequence, type: this.#type, bodyBytes: this.#bodyBytes },
      );
    }
    const record: OpenedRecord = { type: this.#type, sequence: this.#sequence, body: this.#pieces, bodyBytes: this.#bodyBytes };
    this.#sequence++;
    this.#pieces = [];
    this.#body = null;
    this.#decipher = null;
    this.#phase = "header";
    this.#have = 0;
    return record;
  }
}
