// The destination of a disk transfer: the handler `hypermem listen
// --disk-dir` runs for a stream that starts with the disk hello
// (protocol.ts), after the listener's token handshake. Per connection:
//
//   hello ──► sweep the store ──► match the record of that name:
//     none / expired / another size, block or generation (source changed) /
//     a fragment whose committed blocks do not hash as recorded (damaged)
//       ──► a fresh partial file (empty: it grows with the writes, and
//           gets the image's size, a trailing hole, when promoted)
//     else ──► the fragment moved back; offered at its committed offset
//   ──► OFFER ──► START (0: fresh; the offer: resume; else CONFLICT) ──►
//   BLOCKs in order, each checked against its XXH3-64, zero pages left as
//   holes; every progressIntervalBytes: fdatasync, the record rewritten
//   crash-safely, then ACK ──► FINISH: the file's SHA-256 compared, the file
//   renamed into place, DONE.
//
// A commit (fdatasync, record) runs on libuv's thread pool while the next
// blocks arrive and are written, one commit at a time: the disk's flush
// overlaps the network and the hashing, as a plain copy's single final fsync
// overlaps nothing. A commit claims only the blocks written before it began.
//
// On any failure (a bad message, a cut connection, the idle timeout, a full
// or read-only folder) the partial transfer goes to the fragment store with
// the record of its last commit (nothing past it counts), or is deleted when
// nothing was committed; the peer is told why; the listener serves on.
import { createHash, type Hash } from "node:crypto";
import { closeSync, fdatasync, ftruncateSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError, FILE_MODE } from "../format/atomic-file.js";
import type { SecureChannel } from "../net/secure-channel.js";
import { blockHash, checkImageName, hex, PAGE_BYTES, prefixDigest, sameBytes } from "./identity.js";
import { resolveDiskServeOptions, type DiskServeOptions, type ResolvedDiskServeOptions } from "./options.js";
import {
  decodeBlock, decodeDigestMessage, decodeHello, decodeStart, DISK_HELLO, encodeAck, encodeConflict, encodeDigestMessage, encodeOffer,
  maxPayloadFor, MessageReader, messageName, Msg, protocolError, Reason, REASON_TEXT, type BlockMessage, type Hello,
} from "./protocol.js";
import { writeRecord, writeRecordAsync, type DiskRecord } from "./record.js";
import { DiskStore, syncFolder } from "./store.js";

/** One authenticated connection, as the listener hands it to a stream handler. */
export interface DiskConnection {
  readonly channel: SecureChannel;
  /** The start of the stream (at least 4 bytes). */
  readonly first: Uint8Array;
  readonly peer: string;
}

/** The block's content in `staging` (its pages where they go, zeros for the pages left out). */
function assemble(b: BlockMessage, staging: Uint8Array): Uint8Array {
  const content = staging.subarray(0, b.lengthBytes);
  for (let i = 0; i < b.pages.length; i++) {
    const p = b.pages[i];
    const at = i * PAGE_BYTES;
    if (p === null) content.fill(0, at, Math.min(at + PAGE_BYTES, b.lengthBytes));
    else content.set(b.data.subarray(p.at, p.at + p.bytes), at);
  }
  return content;
}

/** The listener's stream handler for "HMDK", with its options resolved once. */
export function diskStreamHandler(options: DiskServeOptions): (connection: DiskConnection) => Promise<void> {
  const o = resolveDiskServeOptions(options);
  return (connection) => serveDisk(connection, o);
}

/** Reads from the channel until at least `n` bytes are in. */
async function atLeast(sc: SecureChannel, start: Uint8Array, n: number): Promise<Uint8Array> {
  let buf = start.slice();
  while (buf.length < n) {
    const more = await sc.receive();
    if (more === null) throw protocolError(`the stream ended inside the hello, after ${buf.length} of its ${n} bytes`, { field: "hello", value: buf.length });
    buf = new Uint8Array(Buffer.concat([buf, more]));
  }
  return buf;
}

/** A transfer in the partial folder: its open data file, record and hashes. */
class PartialTransfer {
  readonly fd: number;
  readonly dataPath: string;
  readonly recordPath: string;
  record: DiskRecord;
  whole: Hash = createHash("sha256");

  constructor(readonly store: DiskStore, readonly hello: Hello, record: DiskRecord, fresh: boolean) {
    const folder = store.partialPath(hello.name);
    this.dataPath = join(folder, "data");
    this.recordPath = join(folder, "record");
    this.record = record;
    try {
      if (fresh) mkdirSync(folder, { mode: 0o700 });
      this.fd = openSync(this.dataPath, fresh ? "wx" : "r+", FILE_MODE);
    } catch (err) {
      throw fileIoError(fresh ? folder : this.dataPath, fresh ? "create" : "open", err);
    }
    if (fresh) {
      writeRecord(this.recordPath, record);
      syncFolder(store.partialDir);
    }
  }

  /**
   * Drops everything past `bytes`, in one call: the file then ends there
   * (the writes extend it; promote() gives it the image's size). Shrinking
   * then growing back to the image's size in two calls left, when the
   * process died between them, a fragment shorter than its image that its
   * record could not vouch for ("fragment damaged": the whole disk sent
   * again).
   */
  truncateTo(bytes: number): void {
    try {
      ftruncateSync(this.fd, bytes);
    } catch (err) {
      throw fileIoError(this.dataPath, "truncate", err);
    }
  }

  /**
   * Hashes the committed blocks (feeding the whole-file hash); true when they
   * match the record. Bytes past the end of the file read as zeros: zero
   * pages at the end of the committed part were never written.
   */
  verify(): boolean {
    const { blockBytes, committedBytes, hashes, sizeBytes } = this.record;
    if (fstatSync(this.fd).size > sizeBytes) return false;
    const buf = Buffer.allocUnsafe(blockBytes);
    for (let i = 0; i * blockBytes < committedBytes; i++) {
      const length = Math.min(blockBytes, sizeBytes - i * blockBytes);
      let got = 0;
      while (got < length) {
        const n = readSync(this.fd, buf, got, length - got, i * blockBytes + got);
        if (n === 0) {
          buf.fill(0, got, length);
          break;
        }
        got += n;
      }
      const block = buf.subarray(0, length);
      if (!sameBytes(blockHash(block), hashes[i])) return false;
      this.whole.update(block);
    }
    return true;
  }

  /** Writes the block's present pages; zero pages stay holes. */
  write(offset: number, pages: ReadonlyArray<{ at: number; bytes: number } | null>, data: Uint8Array): void {
    try {
      for (let i = 0; i < pages.length;) {
        const first = pages[i];
        if (first === null) { i++; continue; }
        let bytes = first.bytes;
        let j = i + 1;
        for (; j < pages.length && pages[j] !== null; j++) bytes += pages[j]!.bytes;
        let done = 0;
        while (done < bytes) done += writeSync(this.fd, data, first.at + done, bytes - done, offset + i * PAGE_BYTES + done);
        i = j;
      }
    } catch (err) {
      throw fileIoError(this.dataPath, "write", err, { offset });
    }
  }

  /**
   * Makes the data durable, then the record (so every block it lists is on
   * disk), on libuv's thread pool: the blocks written after the call are
   * not in `record` and need not be durable.
   */
  async commit(record: DiskRecord): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (err) => (err ? reject(fileIoError(this.dataPath, "fdatasync", err)) : resolve()));
    });
    await writeRecordAsync(this.recordPath, record);
    this.record = record;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  /** The image's size (a trailing hole), fsync, rename the file into place, fsync the folder, move the record to the done folder. */
  promote(): string {
    const to = this.store.finishedPath(this.hello.name);
    try {
      ftruncateSync(this.fd, this.hello.sizeBytes);
    } catch (err) {
      throw fileIoError(this.dataPath, "truncate", err);
    }
    try {
      fsyncSync(this.fd);
    } catch (err) {
      throw fileIoError(this.dataPath, "fsync", err);
    }
    this.close();
    try {
      renameSync(this.dataPath, to);
    } catch (err) {
      throw fileIoError(this.dataPath, `move to ${to}`, err);
    }
    syncFolder(this.store.dir);
    this.store.finish(this.hello.name);
    return to;
  }
}

/** Matches the hello against the store: a verified fragment moved back, or a fresh partial file and why. */
function open(store: DiskStore, hello: Hello, o: ResolvedDiskServeOptions): { partial: PartialTransfer; reason: Reason } {
  const taken = store.takeRecord(hello.name);
  const expired = taken.record === null && (taken.reason === "record expired" || store.opened.expired.includes(hello.name));
  let reason: Reason = taken.record === null
    ? (expired ? Reason.RecordExpired : taken.reason === "fragment damaged" ? Reason.FragmentDamaged : Reason.NoFragment)
    : Reason.Resumed;
  const r = taken.record;
  if (r !== null && (r.sizeBytes !== hello.sizeBytes || r.blockBytes !== hello.blockBytes || !sameBytes(r.generation, hello.generation))) {
    reason = Reason.SourceChanged;
    store.remove(store.fragmentPath(hello.name));
  }
  if (r !== null && reason === Reason.Resumed) {
    store.restore(hello.name);
    let partial: PartialTransfer | null = null;
    try {
      partial = new PartialTransfer(store, hello, r, false);
      if (partial.verify()) return { partial, reason };
    } catch {
      // unreadable: damaged
    }
    partial?.close();
    reason = Reason.FragmentDamaged;
    store.remove(store.partialPath(hello.name));
  }
  const now = o.now();
  const record: DiskRecord = { ...hello, committedBytes: 0, hashes: [], createdMs: now, updatedMs: now };
  return { partial: new PartialTransfer(store, hello, record, true), reason };
}

/**
 * The finished image of the hello's name, when its record (kept in the done
 * folder) has the hello's identity and the file still hashes as recorded:
 * its record and SHA-256. Never deletes the file.
 */
function finishedMatch(store: DiskStore, hello: Hello): { record: DiskRecord; sha256: Uint8Array } | null {
  const r = store.doneRecord(hello.name);
  if (r === null || r.sizeBytes !== hello.sizeBytes || r.blockBytes !== hello.blockBytes || !sameBytes(r.generation, hello.generation)) return null;
  let fd = -1;
  try {
    fd = openSync(store.finishedPath(hello.name), "r");
    if (fstatSync(fd).size !== r.sizeBytes) return null;
    const whole = createHash("sha256");
    const buf = Buffer.allocUnsafe(r.blockBytes);
    for (let i = 0; i * r.blockBytes < r.sizeBytes; i++) {
      const length = Math.min(r.blockBytes, r.sizeBytes - i * r.blockBytes);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, i * r.blockBytes + got);
        if (n === 0) return null;
        got += n;
      }
      if (!sameBytes(blockHash(buf.subarray(0, length)), r.hashes[i])) return null;
      whole.update(buf.subarray(0, length));
    }
    return { record: r, sha256: new Uint8Array(whole.digest()) };
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * A source asking again for an image this destination finished (it did not
 * see the DONE): offered at its end; START there, then FINISH with the same
 * SHA-256, answered DONE. A source whose blocks differ starts at 0: the
 * finished record is dropped and the attempt refused, so the next one is a
 * fresh transfer.
 */
async function answerFinished(
  sc: SecureChannel, hello: Hello, done: { record: DiskRecord; sha256: Uint8Array }, interval: number,
  next: () => Promise<{ type: Msg; payload: Uint8Array }>, store: DiskStore,
): Promise<void> {
  await sc.send(encodeOffer(hello.sizeBytes, interval, Reason.Resumed, prefixDigest(done.record.hashes)));
  const m = await next();
  if (m.type !== Msg.Start) throw protocolError(`expected START, got ${messageName(m.type)}`, { field: "type", value: m.type });
  const start = decodeStart(m.payload);
  if (start.offset !== hello.sizeBytes) {
    store.remove(store.donePath(hello.name));
    throw new HypermemError(ErrorCode.DiskHash, `${hello.name}: the source's blocks differ from the finished file's; send again for a fresh transfer`, { name: hello.name, offset: start.offset });
  }
  const f = await next();
  if (f.type !== Msg.Finish) throw protocolError(`expected FINISH, got ${messageName(f.type)}`, { field: "type", value: f.type });
  const theirs = decodeDigestMessage(Msg.Finish, f.payload);
  if (!sameBytes(theirs, done.sha256)) {
    throw new HypermemError(ErrorCode.DiskHash, `${hello.name}: the finished file's SHA-256 is ${hex(done.sha256)}, the source's ${hex(theirs)}`, { name: hello.name });
  }
  await sc.send(encodeDigestMessage(Msg.Done, done.sha256));
  sc.close();
}

const plain = (e: unknown): { code: string; message: string } =>
  e instanceof HypermemError ? { code: e.code, message: e.message } : { code: ErrorCode.DiskProtocol, message: String((e as Error)?.message ?? e) };

/** Serves one disk transfer on an authenticated channel (see the file header). */
export async function serveDisk(connection: DiskConnection, o: ResolvedDiskServeOptions): Promise<void> {
  const { channel: sc, peer } = connection;
  const started = performance.now();
  let store: DiskStore | null = null;
  let partial: PartialTransfer | null = null;
  let name: string | null = null;
  let receivedBytes = 0;
  // The commit in flight (it never rejects: its error waits in commitError for the loop to throw).
  let commit: Promise<void> = Promise.resolve();
  let commitError: unknown = null;
  try {
    const helloBytes = await atLeast(sc, connection.first, DISK_HELLO.byteLength);
    const hello = decodeHello(helloBytes.subarray(0, DISK_HELLO.byteLength), `the disk hello from ${peer}`);
    name = checkImageName(hello.name, ErrorCode.DiskProtocol);
    if (hello.sizeBytes > o.maxDiskBytes) {
      throw protocolError(`${peer} claims a disk of ${hello.sizeBytes} bytes, more than the ${o.maxDiskBytes} this destination accepts`, { field: "sizeBytes", value: hello.sizeBytes, maxDiskBytes: o.maxDiskBytes });
    }
    store = DiskStore.open(o.dir, o, o.now);
    const interval = Math.ceil(o.progressIntervalBytes / hello.blockBytes) * hello.blockBytes;
    const reader = new MessageReader(maxPayloadFor(hello.blockBytes));
    const pending: Array<{ type: Msg; payload: Uint8Array }> = reader.push(helloBytes.subarray(DISK_HELLO.byteLength));
    const next = async (): Promise<{ type: Msg; payload: Uint8Array }> => {
      while (pending.length === 0) {
        const bytes = await sc.receive();
        if (bytes === null) throw new HypermemError(ErrorCode.PeerClosed, `${peer} closed the disk transfer of ${name} before it finished`, { peer, name });
        receivedBytes += bytes.length;
        pending.push(...reader.push(bytes));
      }
      return pending.shift()!;
    };
    const done = finishedMatch(store, hello);
    if (done) {
      await answerFinished(sc, hello, done, interval, next, store);
      const wallMs = performance.now() - started;
      o.onReport?.({
        event: "disk-received", peer, name, path: store.finishedPath(name), sizeBytes: hello.sizeBytes, sha256: hex(done.sha256), startedAtBytes: hello.sizeBytes,
        match: "already finished", receivedBytes, wallMs, mibPerSec: 0,
      });
      return;
    }
    const opened = open(store, hello, o);
    partial = opened.partial;
    let reason = opened.reason;
    const offered = partial.record.committedBytes;
    await sc.send(encodeOffer(offered, interval, reason, prefixDigest(partial.record.hashes)));
    const first = await next();
    if (first.type !== Msg.Start) throw protocolError(`expected START from ${peer}, got ${messageName(first.type)}`, { field: "type", value: first.type });
    const start = decodeStart(first.payload);
    if (start.offset !== offered && start.offset !== 0) {
      await sc.send(encodeConflict(offered, start.offset));
      throw new HypermemError(ErrorCode.DiskOffsetConflict, `${peer} asked to resume ${name} at offset ${start.offset}, but the destination committed ${offered}: resume from ${offered}`, { serverOffset: offered, clientOffset: start.offset, name });
    }
    if (start.offset === 0 && offered > 0) {
      reason = start.reason === Reason.Resumed ? Reason.SourceChanged : start.reason;
      partial.whole = createHash("sha256");
      await partial.commit({ ...partial.record, committedBytes: 0, hashes: [], updatedMs: o.now() });
    }
    partial.truncateTo(start.offset);
    const hashes = partial.record.hashes.slice();
    const staging = new Uint8Array(hello.blockBytes);
    let expected = start.offset;
    let committed = start.offset;
    for (;;) {
      const m = await next();
      if (m.type === Msg.Finish) {
        if (expected !== hello.sizeBytes) throw protocolError(`FINISH from ${peer} at offset ${expected} of a ${hello.sizeBytes}-byte disk`, { field: "offset", value: expected });
        await commit;
        if (commitError !== null) throw commitError;
        const theirs = decodeDigestMessage(Msg.Finish, m.payload);
        const ours = new Uint8Array(partial.whole.digest());
        if (!sameBytes(ours, theirs)) {
          throw new HypermemError(ErrorCode.DiskHash, `${name}: the received file's SHA-256 is ${hex(ours)}, the source's ${hex(theirs)}; not promoted`, { name, sha256: hex(ours), expected: hex(theirs) });
        }
        const path = partial.promote();
        partial = null;
        await sc.send(encodeDigestMessage(Msg.Done, ours));
        sc.close();
        const wallMs = performance.now() - started;
        o.onReport?.({
          event: "disk-received", peer, name, path, sizeBytes: hello.sizeBytes, sha256: hex(ours), startedAtBytes: start.offset, match: REASON_TEXT[reason],
          receivedBytes, wallMs, mibPerSec: (hello.sizeBytes - start.offset) / 2 ** 20 / (wallMs / 1e3),
        });
        return;
      }
      if (m.type !== Msg.Block) throw protocolError(`expected BLOCK or FINISH from ${peer}, got ${messageName(m.type)}`, { field: "type", value: m.type });
      const b = decodeBlock(m.payload, hello.blockBytes);
      if (b.offset !== expected) throw protocolError(`a block at offset ${b.offset} out of order: expected ${expected}`, { field: "offset", value: b.offset, expected });
      const length = Math.min(hello.blockBytes, hello.sizeBytes - expected);
      if (b.offset + b.lengthBytes > hello.sizeBytes) throw protocolError(`a block at offset ${b.offset} of ${b.lengthBytes} bytes runs past the end of the ${hello.sizeBytes}-byte disk`, { field: "lengthBytes", value: b.lengthBytes, offset: b.offset });
      if (b.lengthBytes !== length) throw protocolError(`a block at offset ${b.offset} of ${b.lengthBytes} bytes, expected ${length}`, { field: "lengthBytes", value: b.lengthBytes, offset: b.offset });
      const content = assemble(b, staging);
      const got = blockHash(content);
      if (!sameBytes(got, b.hash)) {
        throw new HypermemError(ErrorCode.DiskHash, `${name}: the block at offset ${b.offset} hashes to ${hex(got)}, the source says ${hex(b.hash)}`, { name, offset: b.offset, sha256: hex(got), expected: hex(b.hash) });
      }
      partial.whole.update(content);
      partial.write(b.offset, b.pages, b.data);
      hashes.push(got);
      expected += length;
      if (commitError !== null) throw commitError;
      if (expected - committed >= interval || expected === hello.sizeBytes) {
        await commit;
        if (commitError !== null) throw commitError;
        const p = partial;
        const record: DiskRecord = { ...p.record, committedBytes: expected, hashes: hashes.slice(), updatedMs: o.now() };
        committed = expected;
        commit = p.commit(record).then(() => sc.send(encodeAck(record.committedBytes))).catch((err: unknown) => { commitError ??= err; });
      }
    }
  } catch (err) {
    const e = err instanceof HypermemError ? err : new HypermemError(ErrorCode.DiskProtocol, String((err as Error)?.message ?? err));
    await commit; // its record, or none, is the fragment's
    let fragmentKept = false;
    const committedBytes = partial?.record.committedBytes ?? 0;
    if (partial && store && name) {
      partial.close();
      try {
        if (committedBytes > 0) {
          store.stash(name);
          fragmentKept = true;
        } else {
          store.remove(store.partialPath(name));
        }
      } catch {
        // the next sweep moves or deletes it
      }
    }
    const cut = e.code === ErrorCode.Integrity || e.code === ErrorCode.PeerClosed;
    if (cut) sc.destroy();
    else sc.close(e);
    o.onReport?.({ event: "disk-failed", peer, name, committedBytes, fragmentKept, error: plain(e) });
  }
}
