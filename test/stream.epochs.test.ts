// The staged receiving mode ("epochs"), which checkpoint backups need: the
// records of an epoch are checked as they arrive and applied only at the
// epoch's COMMIT record. A stream cut or damaged in the middle of an epoch
// leaves the receiver's guest exactly as the previous COMMIT left it.
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost, type Host } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { PagePacker } from "../src/stream/packer.js";
import { StreamReceiver } from "../src/stream/receiver.js";
import { CHUNK_HEADER_BYTES, frameChunk, readChunkHeader } from "../src/stream/format.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;
const PAGES = 600;

interface Epoch { readonly chunks: Uint8Array[]; readonly memory: Uint8Array }

/** A source guest and its stream, epoch by epoch: what each epoch sends, and the guest's memory at its COMMIT. */
function buildEpochs(): { header: Uint8Array; epochs: Epoch[]; tail: Uint8Array; source: Vm } {
  const host = createHost({ memoryMiB: 16 });
  const vm = host.createVm({ pages: PAGES });
  const rng = mulberry32(42);
  const scribble = (count: number): void => {
    for (let i = 0; i < count; i++) vm.write((rng() % PAGES) * PAGE + (rng() % 4000), Uint8Array.of(rng() & 0xff, rng() & 0xff, 1 + (rng() % 254)));
  };
  scribble(400);
  const log = vm.dirtyLog.open("checkpoint", { initial: "all" });
  const p = new PagePacker(vm, { xbzrleCacheBytes: 64 * PAGE });
  const header = p.header();
  const epochs: Epoch[] = [];
  for (let e = 0; e < 4; e++) {
    log.sync();
    const pfns = log.pages.snapshot().toArray();
    log.pages.clear();
    const list = p.scratchList(pfns);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < pfns.length;) {
      const r = p.packChunk(list, at, pfns.length - at, e === 0 ? "bulk" : "iterate", e + 1);
      at += r.consumed;
      if (r.chunk) chunks.push(r.chunk);
    }
    chunks.push(p.commitEpoch(e));
    epochs.push({ chunks, memory: vm.read(0, PAGES * PAGE) });
    scribble(60);
  }
  log.close();
  // The guest changed after epoch 3's COMMIT: send those pages again as a last epoch, then the end.
  const last = p.scratchList(Array.from({ length: PAGES }, (_, i) => i));
  const tailChunks: Uint8Array[] = [];
  for (let at = 0; at < PAGES;) {
    const r = p.packChunk(last, at, PAGES - at, "final", 9);
    at += r.consumed;
    if (r.chunk) tailChunks.push(r.chunk);
  }
  tailChunks.push(p.commitEpoch(4), p.endStream());
  p.close();
  return { header, epochs, tail: Buffer.concat(tailChunks), source: vm };
}

const built = buildEpochs();

function receiverAt(host: Host): StreamReceiver {
  const r = new StreamReceiver(host, { mode: "epochs" });
  r.push(built.header);
  return r;
}

function expectMemory(vm: Vm, memory: Uint8Array): void {
  const got = vm.read(0, PAGES * PAGE);
  if (Buffer.compare(got, memory) !== 0) {
    let i = 0;
    while (got[i] === memory[i]) i++;
    throw new Error(`guest differs from the expected epoch at gpa 0x${i.toString(16)}`);
  }
}

describe("a receiver in epochs mode", () => {
  it("applies each epoch only at its COMMIT", () => {
    const host = createHost({ memoryMiB: 32 });
    const r = receiverAt(host);
    const [e0, e1] = built.epochs;
    for (const c of e0.chunks.slice(0, -1)) r.push(c);
    expect(r.stagedBytes).toBeGreaterThan(0);
    expect(r.vm!.read(0, PAGES * PAGE).every((b) => b === 0)).toBe(true);
    r.push(e0.chunks.at(-1)!);
    expect(r.epoch).toBe(0);
    expect(r.stagedBytes).toBe(0);
    expectMemory(r.vm!, e0.memory);
    for (const c of e1.chunks.slice(0, -1)) r.push(c);
    expectMemory(r.vm!, e0.memory);
    r.push(e1.chunks.at(-1)!);
    expectMemory(r.vm!, e1.memory);
  });

  it("a stream cut mid-epoch leaves the guest exactly at the previous epoch, wherever the cut is", () => {
    const [e0, e1, e2] = built.epochs;
    const third = Buffer.concat(e2.chunks);
    const host = createHost({ memoryMiB: 32 });
    for (const cut of [0, 1, CHUNK_HEADER_BYTES, 5000, Math.floor(third.length / 2), third.length - 1]) {
      const frames = host.stats().usedFrames;
      const r = receiverAt(host);
      for (const c of [...e0.chunks, ...e1.chunks]) r.push(c);
      r.push(third.subarray(0, cut));
      expect(() => r.finish()).toThrow(expect.objectContaining({ code: ErrorCode.StreamTruncated }));
      const committed = r.takeCommitted()!;
      expect(committed.epoch).toBe(1);
      expectMemory(committed.vm, e1.memory);
      committed.vm.destroy();
      expect(host.stats()).toMatchObject({ usedFrames: frames, vms: 0 });
    }
  });

  it("a damaged record or chunk in an epoch drops the epoch: the guest stays at the previous one", () => {
    const [e0, e1, e2] = built.epochs;
    const data = e2.chunks[0];
    const badRecord = data.slice(CHUNK_HEADER_BYTES);
    new DataView(badRecord.buffer).setUint32(4, PAGES + 5, true); // the first record's pfn past the guest
    const flipped = data.slice();
    flipped[CHUNK_HEADER_BYTES + 100] ^= 4;
    for (const [bad, code, text] of [
      [frameChunk(readChunkHeader(data).sequence, badRecord), ErrorCode.StreamCorrupt, /page index past the end of the guest/],
      [flipped, ErrorCode.StreamCorrupt, /field checksum/],
    ] as const) {
      const host = createHost({ memoryMiB: 32 });
      const r = receiverAt(host);
      for (const c of [...e0.chunks, ...e1.chunks]) r.push(c);
      const err = (() => { try { r.push(bad); } catch (e) { return e as HypermemError; } return null; })();
      expect(err).toMatchObject({ code, message: expect.stringMatching(text) });
      expect(() => r.push(e2.chunks[1] ?? e2.chunks[0])).toThrow(/already failed/);
      const committed = r.takeCommitted()!;
      expect(committed.epoch).toBe(1);
      expectMemory(committed.vm, e1.memory);
    }
  });

  it("a COMMIT out of order is refused; END_STREAM after uncommitted records is refused", () => {
    const [e0, e1] = built.epochs;
    const host = createHost({ memoryMiB: 32 });
    const r = receiverAt(host);
    for (const c of e0.chunks) r.push(c);
    // Epoch 1's data, then epoch 0's COMMIT renumbered into epoch 1's place: epoch 0 again.
    for (const c of e1.chunks.slice(0, -1)) r.push(c);
    const commit0 = frameChunk(readChunkHeader(e1.chunks.at(-1)!).sequence, e0.chunks.at(-1)!.subarray(CHUNK_HEADER_BYTES));
    expect(() => r.push(commit0)).toThrow(expect.objectContaining({ code: ErrorCode.StreamCorrupt, message: expect.stringMatching(/epoch 0, expected 1/) }));
    expectMemory(r.takeCommitted()!.vm, e0.memory);

    // The stream's END_STREAM chunk, renumbered to follow epoch 1's data without its COMMIT.
    let at = 0;
    while (at + CHUNK_HEADER_BYTES + readChunkHeader(built.tail, at).payloadBytes < built.tail.length) at += CHUNK_HEADER_BYTES + readChunkHeader(built.tail, at).payloadBytes;
    const end = frameChunk(readChunkHeader(e1.chunks.at(-1)!).sequence, built.tail.subarray(at + CHUNK_HEADER_BYTES));
    const early = receiverAt(host);
    for (const c of [...e0.chunks, ...e1.chunks.slice(0, -1)]) early.push(c);
    expect(() => early.push(end)).toThrow(expect.objectContaining({ code: ErrorCode.StreamCorrupt, message: expect.stringMatching(/epoch 1 has records but no COMMIT before the end of the stream/) }));
    expectMemory(early.takeCommitted()!.vm, e0.memory);
  });

  it("the whole stream: every epoch committed, then END_STREAM checks the digest against the source", () => {
    const host = createHost({ memoryMiB: 32 });
    const r = receiverAt(host);
    for (const e of built.epochs) for (const c of e.chunks) r.push(c);
    r.push(built.tail);
    const vm = r.finish();
    expect(r.epoch).toBe(4);
    expectMemory(vm, built.source.read(0, PAGES * PAGE));
  });

  it("an epoch that may need more frames than the host has is dropped before it touches the guest", () => {
    const messages: string[] = [];
    for (let memoryMiB = 1; memoryMiB <= 8; memoryMiB++) {
      const host = createHost({ memoryMiB });
      const r = new StreamReceiver(host, { mode: "epochs" });
      let err: HypermemError | null = null;
      try {
        r.push(built.header);
        for (const e of built.epochs) for (const c of e.chunks) r.push(c);
      } catch (e) {
        err = e as HypermemError;
      }
      const committed = r.takeCommitted();
      if (err === null) {
        expectMemory(committed!.vm, built.epochs.at(-1)!.memory);
        continue;
      }
      expect(err.code).toBe(ErrorCode.StreamLimit);
      messages.push(err.message);
      // Whatever the limit hit, the guest is exactly at the last epoch committed (all zero before the first).
      if (committed && committed.epoch >= 0) expectMemory(committed.vm, built.epochs[committed.epoch].memory);
      else expect(committed === null || committed.vm.read(0, PAGES * PAGE).every((b) => b === 0)).toBe(true);
    }
    expect(messages.some((m) => /epoch \d+ may need \d+ new frames, the destination host has \d+; the epoch is dropped/.test(m))).toBe(true);
  });

  it("a direct receiver (migration) has no committed guest to hand over", () => {
    const r = new StreamReceiver(createHost({ memoryMiB: 8 }));
    expect(() => r.takeCommitted()).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
  });
});
