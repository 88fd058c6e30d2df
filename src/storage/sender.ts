// The source of a disk transfer (hypermem disk send): connects and
// authenticates as a migration source does, says which image it has (name,
// size, generation), and takes the destination's offer: to resume at the
// offset a matched fragment committed, it first hashes its own blocks below
// that offset and resumes only when they are what the destination recorded
// (else it starts from 0: the source changed). It then sends blocks in
// order, zero pages as a bit in the block's page map, never more than two
// progress intervals past the last acknowledgement, so a failure re-sends
// at most one interval plus one in flight. It re-checks the image's
// generation every interval and before FINISH: a source that changes while
// it is sent fails (ERR_DISK_SOURCE_CHANGED), it is never mixed. A failed
// attempt (a cut connection, a timeout, the destination restarting, an
// offset conflict) is retried after each of retryDelaysMs; the next attempt
// resumes from what the destination committed.
import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError } from "../format/atomic-file.js";
import { connectSecureChannel } from "../net/connect.js";
import type { SecureChannel } from "../net/secure-channel.js";
import { blockHash, checkImageName, generationOf, hex, isZeroPage, prefixDigest, sameBytes, statBig } from "./identity.js";
import { resolveSendDiskOptions, type ResolvedSendDiskOptions, type SendDiskOptions } from "./options.js";
import {
  blockOverheadBytes, decodeAck, decodeConflict, decodeDigestMessage, decodeOffer, encodeBlock, encodeDigestMessage, encodeHello, encodeStart,
  MessageReader, messageName, Msg, protocolError, Reason, REASON_TEXT,
} from "./protocol.js";

/** One attempt's connection, as the result lists it. */
export interface SendAttempt {
  /** Where the destination offered to start, and why. */
  readonly offeredBytes: number;
  readonly offer: string;
  /** Where this attempt started (0 when the source's blocks did not match the offer). */
  readonly startedAtBytes: number;
  /** Connect to the first block sent (handshake, match, both sides' hashing of the committed part), ms. */
  readonly timeToResumeMs: number;
  /** The end of the last block sent. */
  readonly sentBytes: number;
  readonly error: { code: string; message: string } | null;
}

export interface SendDiskResult {
  readonly name: string;
  readonly sizeBytes: number;
  /** SHA-256 of the image, as both ends computed it. */
  readonly sha256: string;
  readonly attempts: readonly SendAttempt[];
  /** Image bytes covered by blocks sent, over all attempts (zero pages included). */
  readonly blockBytesSent: number;
  /** Bytes of pages actually sent (zero pages are not). */
  readonly dataBytesSent: number;
  /** Image bytes sent again because an earlier attempt had sent them but the destination had not committed them. */
  readonly resentBytes: number;
  /** Record bytes written to sockets (handshakes and records), over all attempts. */
  readonly wireBytes: number;
  readonly conflicts: number;
  readonly wallMs: number;
  /** sizeBytes over wallMs, MiB/s. */
  readonly mibPerSec: number;
}

class Image {
  readonly fd: number;
  readonly sizeBytes: number;
  readonly generation: Uint8Array;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, "r");
    } catch (err) {
      throw fileIoError(path, "open the image", err);
    }
    const st = statBig(this.fd);
    if (!st.isFile()) {
      closeSync(this.fd);
      throw fileIoError(path, "send", Object.assign(new Error("not a regular file"), { code: "EINVAL" }));
    }
    this.sizeBytes = Number(st.size);
    this.generation = generationOf(st);
  }

  /** Fails when the file's generation moved since it was opened. */
  checkUnchanged(atBytes: number): void {
    const now = generationOf(statBig(this.path));
    if (!sameBytes(now, this.generation)) {
      throw new HypermemError(ErrorCode.DiskSourceChanged, `${this.path} changed while it was being sent (at offset ${atBytes}): its size, times or inode moved; send it again`, { path: this.path, offset: atBytes });
    }
  }

  read(buf: Buffer, offset: number, length: number): Buffer {
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(this.fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      throw fileIoError(this.path, "read", err, { offset });
    }
    if (got < length) throw new HypermemError(ErrorCode.DiskSourceChanged, `${this.path} ended at ${offset + got} while it was being sent, ${this.sizeBytes} bytes expected`, { path: this.path, offset: offset + got });
    return buf.subarray(0, length);
  }

  close(): void { closeSync(this.fd); }
}

/** Server messages of one attempt, as they arrive; acknowledgements update `acked` and wake the sender. */
class Replies {
  acked = 0;
  #pending: Array<{ type: Msg; payload: Uint8Array }> = [];
  #error: Error | null = null;
  #ended = false;
  #wake: (() => void) | null = null;
  readonly #reader = new MessageReader(4096);

  constructor(sc: SecureChannel, private readonly onAck: (offset: number) => void) {
    void (async () => {
      for (;;) {
        const bytes = await sc.receive();
        if (bytes === null) { this.#ended = true; break; }
        for (const m of this.#reader.push(bytes)) {
          if (m.type === Msg.Ack) {
            this.acked = Math.max(this.acked, decodeAck(m.payload));
            this.onAck(this.acked);
          } else if (m.type === Msg.Conflict) {
            const c = decodeConflict(m.payload);
            throw new HypermemError(ErrorCode.DiskOffsetConflict, `the destination committed ${c.serverOffset} bytes, not the ${c.clientOffset} this source asked to resume at: resume from ${c.serverOffset}`, { serverOffset: c.serverOffset, clientOffset: c.clientOffset });
          } else {
            this.#pending.push({ type: m.type, payload: new Uint8Array(m.payload) }); // a copy kept past the next receive (Buffer#slice would be a view)
          }
        }
        this.#wakeUp();
      }
    })().catch((err: Error) => { this.#error = err; }).finally(() => this.#wakeUp());
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Waits for any news (an ack, a message, the end, an error). */
  async changed(): Promise<void> {
    this.check();
    await new Promise<void>((resolve) => { this.#wake = resolve; });
    this.check();
  }

  check(): void {
    if (this.#error) throw this.#error;
  }

  async next(expected: Msg): Promise<Uint8Array> {
    for (;;) {
      const m = this.#pending.shift();
      if (m) {
        if (m.type !== expected) throw protocolError(`expected ${messageName(expected)} from the destination, got ${messageName(m.type)}`, { field: "type", value: m.type });
        return m.payload;
      }
      this.check();
      if (this.#ended) throw new HypermemError(ErrorCode.PeerClosed, `the destination closed the disk transfer before its ${messageName(expected)}`, {});
      await this.changed();
    }
  }
}

interface AttemptState {
  readonly o: ResolvedSendDiskOptions;
  readonly image: Image;
  readonly name: string;
  /** The offset to claim at START (a conflict's server offset, or the caller's resumeOffset). */
  claim: number | null;
  blockBytesSent: number;
  dataBytesSent: number;
  wireBytes: number;
  /** The furthest any attempt has sent. */
  furthestSent: number;
  resentBytes: number;
  sha256: string | null;
}

/** Hashes the image's blocks below `offset` (feeding `whole`) and returns their digest as the destination computes it. */
function hashPrefix(image: Image, blockBytes: number, offset: number, whole: Hash): Uint8Array {
  const buf = Buffer.allocUnsafe(blockBytes);
  const hashes: Uint8Array[] = [];
  for (let at = 0; at < offset; at += blockBytes) {
    const block = image.read(buf, at, Math.min(blockBytes, image.sizeBytes - at));
    hashes.push(blockHash(block));
    whole.update(block);
  }
  return prefixDigest(hashes);
}

async function attempt(s: AttemptState, number: number, record: (a: SendAttempt) => void): Promise<void> {
  const { o, image } = s;
  const begun = performance.now();
  let offeredBytes = 0;
  let offer = "";
  let startedAtBytes = 0;
  let timeToResumeMs = 0;
  let sent = 0;
  let sc: SecureChannel | null = null;
  try {
    sc = await connectSecureChannel({ host: o.host, port: o.port, token: o.token, encryption: o.encryption, idleTimeoutMs: o.idleTimeoutMs }, "send a disk");
    const channel = sc;
    const onAbort = (): void => channel.abort(new HypermemError(ErrorCode.MigrationCancelled, "disk transfer cancelled by the source", {}));
    o.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const replies = new Replies(sc, (acked) => o.onProgress?.({ sizeBytes: image.sizeBytes, sentBytes: sent, ackedBytes: acked, attempt: number }));
      await sc.send(encodeHello({ name: s.name, sizeBytes: image.sizeBytes, blockBytes: o.blockBytes, generation: image.generation }));
      const off = decodeOffer(await replies.next(Msg.Offer));
      offeredBytes = off.offset;
      offer = REASON_TEXT[off.reason];
      let whole = createHash("sha256");
      let start = off.offset;
      let reason: Reason = off.reason;
      if (off.offset > 0 && !sameBytes(hashPrefix(image, o.blockBytes, off.offset, whole), off.digest)) {
        whole = createHash("sha256");
        start = 0;
        reason = Reason.SourceChanged;
        offer = `${offer}; refused: source changed`;
      }
      if (s.claim !== null && s.claim !== start) {
        start = s.claim; // the destination answers a CONFLICT unless it is 0
        whole = createHash("sha256");
      }
      s.claim = null;
      await sc.send(encodeStart(start, reason));
      startedAtBytes = start;
      timeToResumeMs = performance.now() - begun;
      o.onStart?.({ attempt: number, offeredBytes, offer, startedAtBytes: start, timeToResumeMs });
      s.resentBytes += Math.max(0, Math.min(s.furthestSent, image.sizeBytes) - start);
      replies.acked = start;
      const window = 2 * off.intervalBytes;
      const buf = Buffer.allocUnsafe(o.blockBytes);
      // One buffer per send in flight plus the one being filled: a record may point at it until its send resolves.
      const out = [0, 1, 2].map(() => new Uint8Array(o.blockBytes + blockOverheadBytes(o.blockBytes)));
      const inFlight: Array<Promise<void>> = [];
      let turn = 0;
      let checkedAt = start;
      for (sent = start; sent < image.sizeBytes;) {
        const length = Math.min(o.blockBytes, image.sizeBytes - sent);
        while (sent + length - replies.acked > window) await replies.changed();
        replies.check();
        const block = image.read(buf, sent, length);
        const hash = blockHash(block);
        whole.update(block);
        if (inFlight.length >= 2) await inFlight.shift();
        const msg = encodeBlock(sent, block, hash, isZeroPage, out[turn++ % out.length]);
        const sending = sc.send(msg.bytes);
        sending.catch(() => undefined); // a failed send fails the attempt where it is awaited
        inFlight.push(sending);
        s.blockBytesSent += length;
        s.dataBytesSent += msg.dataBytes;
        sent += length;
        s.furthestSent = Math.max(s.furthestSent, sent);
        o.onProgress?.({ sizeBytes: image.sizeBytes, sentBytes: sent, ackedBytes: replies.acked, attempt: number });
        if (sent - checkedAt >= off.intervalBytes) {
          image.checkUnchanged(sent);
          checkedAt = sent;
        }
      }
      await Promise.all(inFlight);
      image.checkUnchanged(sent);
      const digest = new Uint8Array(whole.digest());
      await sc.send(encodeDigestMessage(Msg.Finish, digest));
      const theirs = decodeDigestMessage(Msg.Done, await replies.next(Msg.Done));
      if (!sameBytes(theirs, digest)) {
        throw new HypermemError(ErrorCode.DiskHash, `${s.name}: the destination's file hashes to ${hex(theirs)}, the image to ${hex(digest)}`, { name: s.name, sha256: hex(theirs), expected: hex(digest) });
      }
      sc.close();
      s.wireBytes += sc.tcp.bytesSent;
      s.sha256 = hex(digest);
      record({ offeredBytes, offer, startedAtBytes, timeToResumeMs, sentBytes: sent, error: null });
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
    }
  } catch (err) {
    s.wireBytes += sc?.tcp.bytesSent ?? 0;
    sc?.destroy();
    const e = err instanceof HypermemError ? err : new HypermemError(ErrorCode.PeerClosed, String((err as Error)?.message ?? err));
    record({ offeredBytes, offer, startedAtBytes, timeToResumeMs, sentBytes: sent, error: { code: e.code, message: e.message } });
    throw e;
  }
}

/** Errors after which a new attempt cannot help. */
const FINAL = new Set<string>([ErrorCode.DiskSourceChanged, ErrorCode.DiskProtocol, ErrorCode.BadOption, ErrorCode.FileIo, ErrorCode.Auth, ErrorCode.MigrationCancelled]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends the image at `path` to a `hypermem listen --disk-dir` destination; see the file header. */
export async function sendDisk(path: string, options: SendDiskOptions): Promise<SendDiskResult> {
  const o = resolveSendDiskOptions(options);
  const name = checkImageName(o.name ?? basename(path));
  const started = performance.now();
  const image = new Image(path);
  const s: AttemptState = { o, image, name, claim: o.resumeOffset, blockBytesSent: 0, dataBytesSent: 0, wireBytes: 0, furthestSent: 0, resentBytes: 0, sha256: null };
  const attempts: SendAttempt[] = [];
  let conflicts = 0;
  try {
    for (let i = 0; ; i++) {
      try {
        await attempt(s, i, (a) => attempts.push(a));
        break;
      } catch (err) {
        const e = err as HypermemError;
        if (e.code === ErrorCode.DiskOffsetConflict) {
          conflicts++;
          s.claim = Number(e.details.serverOffset);
        }
        if (FINAL.has(e.code) || o.signal?.aborted || i >= o.retryDelaysMs.length) throw e;
        await sleep(o.retryDelaysMs[i]);
      }
    }
  } finally {
    image.close();
  }
  const wallMs = performance.now() - started;
  return {
    name, sizeBytes: image.sizeBytes, sha256: s.sha256!, attempts, blockBytesSent: s.blockBytesSent, dataBytesSent: s.dataBytesSent,
    resentBytes: s.resentBytes, wireBytes: s.wireBytes, conflicts, wallMs, mibPerSec: image.sizeBytes / 2 ** 20 / (wallMs / 1e3),
  };
}
