// The page-record stream's two ends (src/stream/packer.ts, receiver.ts): the
// exact errors of the calls they refuse (code, message, details), the
// counters they keep (sequence, totals, wire bytes, rounds, epochs, bytes
// and chunks received, staged bytes), the staging limit of a receiver in
// epochs mode, and what abort() and takeCommitted() leave behind; pages
// swapped out packed exactly as resident ones; a destination host without
// room for the guest, its fingerprint table or an epoch's frames.
import { describe, expect, it } from "vitest";
import { thrownHypermemError } from "./helpers.js";
import { patternBytes } from "./reference/mmu.js";
import { ErrorCode, type HypermemError } from "../src/errors.js";
import { FaultReason } from "../src/host/faults.js";
import { createHost } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { PagePacker } from "../src/stream/packer.js";
import { DIGEST_TABLE_MAX_PAGES, StreamReceiver } from "../src/stream/receiver.js";
import { CHUNK_HEADER_BYTES, FLAG_XBZRLE, RECORD_HEADER_BYTES, STREAM_HEADER, STREAM_HEADER_BYTES } from "../src/stream/format.js";

const PAGE = 4096;

const thrown = thrownHypermemError;

/** A 32-page guest with pages 0..7 written, and a packer for it. */
function source(cacheBytes: number | null = null): { packer: PagePacker; pages: () => number[] } {
  const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 32 });
  for (let pfn = 0; pfn < 8; pfn++) vm.write(pfn * PAGE, new Uint8Array(PAGE).fill(pfn + 1));
  return { packer: new PagePacker(vm, { xbzrleCacheBytes: cacheBytes }), pages: () => Array.from({ length: 32 }, (_, i) => i) };
}

describe("PagePacker: counters and refusals", () => {
  it("the header: XBZRLE flag when a cache is set, the guest's size and id; its bytes count in the totals", () => {
    for (const cache of [null, 64 * PAGE]) {
      const { packer } = source(cache);
      const h = STREAM_HEADER.decode(packer.header());
      expect([h.flags, h.guestPages, h.vmId]).toEqual([cache === null ? 0 : FLAG_XBZRLE, 32, packer.vm.id]);
      expect(packer.cachePages).toBe(cache === null ? 0 : 64);
      expect(packer.totals.wireBytes).toBe(STREAM_HEADER_BYTES);
      packer.close();
    }
  });

  it("sequence counts every chunk (pages, END_ROUND, COMMIT); totals add up what each call returned", () => {
    const { packer, pages } = source();
    packer.header();
    expect(packer.sequence).toBe(0);
    const r = packer.packChunk(packer.scratchList(pages()), 0, 32, "bulk", 1);
    expect([r.consumed, r.stats.pages, r.stats.normalPages, r.stats.zeroPages, r.stats.normalBytes]).toEqual([32, 32, 8, 24, 8 * PAGE]);
    expect(r.stats.wireBytes).toBe(r.chunk!.length);
    expect(r.chunk!.length).toBe(CHUNK_HEADER_BYTES + 8 * (RECORD_HEADER_BYTES + PAGE) + 24 * RECORD_HEADER_BYTES);
    expect(packer.sequence).toBe(1);
    const round = packer.endRound(0);
    const commit = packer.commitEpoch(0);
    expect([round.length, commit.length, packer.sequence]).toEqual([CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES, CHUNK_HEADER_BYTES + RECORD_HEADER_BYTES, 3]);
    const end = packer.endStream();
    expect(packer.totals).toMatchObject({ pages: 32, normalPages: 8, zeroPages: 24, wireBytes: STREAM_HEADER_BYTES + r.chunk!.length + round.length + commit.length + end.length });
    const none = packer.totals;
    none.pages = 999;
    expect(packer.totals.pages).toBe(32);
    packer.close();
  });

  it("an empty range packs nothing and sends no chunk", () => {
    const { packer, pages } = source();
    const r = packer.packChunk(packer.scratchList(pages()), 5, 0, "iterate", 1);
    expect([r.consumed, r.chunk, r.stats.wireBytes, packer.sequence]).toEqual([0, null, 0, 0]);
    packer.close();
  });

  it("refusals: an unknown stage, rounds and epochs out of order, a call after the end or after close", () => {
    const { packer, pages } = source();
    const list = packer.scratchList(pages());
    const stage = thrown(() => packer.packChunk(list, 0, 1, "warm" as never, 1));
    expect([stage.code, stage.message, stage.details]).toEqual([ErrorCode.BadOption, 'stage must be "bulk", "iterate" or "final", got warm', { option: "stage", value: "warm" }]);
    expect(thrown(() => packer.packChunk(list, 0, 1, "toString" as never, 1)).message).toBe('stage must be "bulk", "iterate" or "final", got toString');
    expect(thrown(() => packer.commitEpoch(1)).code).toBe(ErrorCode.BadOption);
    packer.commitEpoch(0);
    expect(thrown(() => packer.commitEpoch(0)).code).toBe(ErrorCode.BadOption);
    packer.commitEpoch(1);
    expect(thrown(() => packer.endRound(1)).code).toBe(ErrorCode.BadOption);
    packer.endRound(0);
    packer.endStream();
    for (const call of [() => packer.packChunk(list, 0, 1, "bulk", 1), () => packer.endRound(1), () => packer.commitEpoch(2), () => packer.endStream()]) {
      const e = thrown(call);
      expect([e.code, e.message]).toEqual([ErrorCode.BadOption, expect.stringMatching(/^PagePacker\.(packChunk|endRound|commitEpoch|endStream): the stream already ended$/)]);
    }
    packer.close();
    packer.close();
    const closed = thrown(() => packer.endRound(1));
    expect([closed.code, closed.message, closed.details]).toEqual([ErrorCode.Destroyed, "PagePacker.endRound: the packer was closed", {}]);
    expect(thrown(() => packer.scratchList([1])).message).toBe("PagePacker.scratchList: the packer was closed");
  });

  it("a host without room for the chunk buffers: ERR_OUT_OF_FRAMES, and what was taken (buffers, XBZRLE cache) is given back", () => {
    // 3 MiB hold the cache and two 1 MiB chunk buffers at most, not three.
    const vm = createHost({ memoryMiB: 3 }).createVm({ pages: 4 });
    const before = vm.host.stats().usedFrames;
    for (const xbzrleCacheBytes of [null, 16 * PAGE]) {
      expect(thrown(() => new PagePacker(vm, { xbzrleCacheBytes, chunkBuffers: 3 })).code).toBe(ErrorCode.OutOfFrames);
      expect(vm.host.stats().usedFrames).toBe(before);
    }
    const fits = new PagePacker(vm, { xbzrleCacheBytes: 16 * PAGE, chunkBuffers: 2 });
    expect(vm.host.stats().usedFrames).toBeGreaterThan(before);
    fits.close();
    expect(vm.host.stats().usedFrames).toBe(before);
  });

  it("chunkBuffers: 1 to 16; a bad count is refused before anything is allocated", () => {
    const vm = createHost({ memoryMiB: 32 }).createVm({ pages: 4 });
    const before = vm.host.stats().usedFrames;
    for (const n of [0, 17, 1.5]) expect(thrown(() => new PagePacker(vm, { xbzrleCacheBytes: null, chunkBuffers: n })).code).toBe(ErrorCode.BadOption);
    expect(vm.host.stats().usedFrames).toBe(before);
    const p = new PagePacker(vm, { xbzrleCacheBytes: null, chunkBuffers: 16, borrowChunks: true });
    expect(vm.host.stats().usedFrames).toBeGreaterThan(before);
    p.close();
    expect(vm.host.stats().usedFrames).toBe(before);
  });

  it("borrowed chunks: each view stays valid for chunkBuffers - 1 more chunks, then its buffer is reused", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 32 });
    for (let pfn = 0; pfn < 4; pfn++) vm.write(pfn * PAGE, new Uint8Array(PAGE).fill(0x10 + pfn));
    const p = new PagePacker(vm, { xbzrleCacheBytes: null, chunkBuffers: 3, borrowChunks: true });
    const chunkOf = (pfn: number): Uint8Array => p.packChunk(p.scratchList([pfn]), 0, 1, "bulk", 0).chunk!;
    const views = [0, 1, 2].map(chunkOf);
    const copies = views.map((v) => v.slice());
    expect(new Set(copies.map((c) => Buffer.from(c).toString("hex"))).size).toBe(3);
    views.forEach((v, i) => expect(v).toEqual(copies[i]));
    const d = chunkOf(3);
    expect(views[0]).toEqual(d); // the ring of three buffers came round: the first view now shows the fourth chunk
    expect([views[1], views[2]]).toEqual([copies[1], copies[2]]);
    p.close();
  });

  it("exact refusals: an XBZRLE cache that is not a power of two of pages, a pfn past the guest's end", () => {
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 32 });
    const e = thrown(() => new PagePacker(vm, { xbzrleCacheBytes: 3 * PAGE }));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.BadOption, "xbzrleCacheBytes must be a power-of-two number of 4096-byte pages, got 12288 (3 pages)", { option: "xbzrleCacheBytes", value: 12288 }]);
    const p = new PagePacker(vm, { xbzrleCacheBytes: null });
    const r = thrown(() => p.packChunk(p.scratchList([0, 1, 40]), 0, 3, "bulk", 0));
    expect([r.code, r.message, r.details]).toEqual([ErrorCode.GpaRange, `pfn list entry 2 is pfn 40, past the end of the 32-page guest of vm ${vm.id}`, { index: 2, pfn: 40 }]);
    p.close();
  });

  it("the scratch list grows for a longer list and keeps its entries", () => {
    const { packer } = source();
    const long = Array.from({ length: 2000 }, (_, i) => i % 32);
    const list = packer.scratchList(long);
    expect(list.capacity).toBe(2000);
    expect(packer.scratchList([3, 4]).capacity).toBe(2000);
    packer.close();
  });
});

describe("StreamReceiver: counters, limits and endings", () => {
  function stream(): { header: Uint8Array; chunks: Uint8Array[]; end: Uint8Array } {
    const { packer, pages } = source();
    const header = packer.header();
    const list = packer.scratchList(pages());
    const chunks = [packer.packChunk(list, 0, 16, "bulk", 1).chunk!, packer.endRound(0), packer.packChunk(list, 16, 16, "bulk", 1).chunk!, packer.commitEpoch(0)];
    const end = packer.endStream();
    packer.close();
    return { header, chunks, end };
  }

  it("counts bytes and chunks received, the last round and epoch; done only after END_STREAM", () => {
    const s = stream();
    const r = new StreamReceiver(createHost({ memoryMiB: 8 }));
    expect([r.round, r.epoch, r.done, r.vm, r.header]).toEqual([-1, -1, false, null, null]);
    r.push(s.header);
    expect(r.header).toMatchObject({ guestPages: 32, flags: 0, pageBytes: PAGE });
    for (const c of s.chunks) r.push(c);
    expect([r.round, r.epoch, r.chunks, r.bytesReceived, r.done]).toEqual([0, 0, 4, s.header.length + s.chunks.reduce((n, c) => n + c.length, 0), false]);
    r.push(s.end);
    expect(r.done).toBe(true);
    expect(r.finish().read(7 * PAGE, 1)[0]).toBe(8);
  });

  it("limits and mode are checked when made: exact messages", () => {
    const host = createHost({ memoryMiB: 8 });
    const mode = thrown(() => new StreamReceiver(host, { mode: "lazy" as never }));
    expect([mode.code, mode.message, mode.details]).toEqual([ErrorCode.BadOption, 'mode must be "direct" or "epochs", got "lazy"', { option: "mode", value: "lazy" }]);
    expect(thrown(() => new StreamReceiver(host, { maxChunkBytes: 7 })).code).toBe(ErrorCode.BadOption);
    expect(thrown(() => new StreamReceiver(host, { maxChunkBytes: (16 << 20) + 1 })).code).toBe(ErrorCode.BadOption);
    expect(new StreamReceiver(host, { maxChunkBytes: 8 }).maxChunkBytes).toBe(8);
    expect(thrown(() => new StreamReceiver(host, { maxChunkBytes: 4096, maxStagedBytes: 4095 })).code).toBe(ErrorCode.BadOption);
    const r = new StreamReceiver(host, { maxChunkBytes: 4096, maxStagedBytes: 4096 });
    expect([r.mode, r.maxChunkBytes, r.maxStagedBytes]).toEqual(["direct", 4096, 4096]);
    expect(thrown(() => new StreamReceiver(host, { colour: 1 } as never)).code).toBe(ErrorCode.UnknownOption);
  });

  it("each limit refused names its option; an unknown one names the receiver; a cut stream's error keeps its details", () => {
    const host = createHost({ memoryMiB: 8 });
    const option = (limits: object): unknown => (thrown(() => new StreamReceiver(host, limits as never)).details as { option: unknown }).option;
    expect([option({ maxGuestPages: 0 }), option({ maxChunkBytes: 7 }), option({ maxChunkBytes: 4096, maxStagedBytes: 4095 })]).toEqual(["maxGuestPages", "maxChunkBytes", "maxStagedBytes"]);
    expect(thrown(() => new StreamReceiver(host, { colour: 1 } as never)).message).toMatch(/^StreamReceiver: unknown option "colour"/);
    const s = stream();
    const r = new StreamReceiver(host);
    r.push(s.header);
    r.push(s.chunks[0].subarray(0, 10));
    const cut = thrown(() => r.finish());
    expect(cut.code).toBe(ErrorCode.StreamTruncated);
    expect([cut.message, cut.details]).toEqual([
      `stream ended after ${s.header.length + 10} bytes, in the header of chunk 0 (10 of 16 bytes), without END_STREAM`,
      { offset: s.header.length + 10, chunk: 0, phase: "chunk-header", have: 10, need: 16 },
    ]);
  });

  it("epochs mode: an epoch that would stage more than maxStagedBytes is refused, naming the sizes; the guest stays at the last COMMIT", () => {
    const s = stream();
    const host = createHost({ memoryMiB: 8 });
    const r = new StreamReceiver(host, { mode: "epochs", maxChunkBytes: 1 << 20, maxStagedBytes: 1 << 20 });
    r.push(s.header);
    r.push(s.chunks[0]);
    const staged = r.stagedBytes;
    expect(staged).toBe(Math.ceil((s.chunks[0].length - CHUNK_HEADER_BYTES) / PAGE) * PAGE);
    r.push(s.chunks[1]);
    const payload = s.chunks[2].length - CHUNK_HEADER_BYTES;
    const tight = new StreamReceiver(host, { mode: "epochs", maxChunkBytes: 1 << 20, maxStagedBytes: 1 << 20 });
    expect(tight.stagedBytes).toBe(0);
    const e = thrown(() => { const t = new StreamReceiver(host, { mode: "epochs", maxChunkBytes: staged + payload - 1, maxStagedBytes: staged + payload - 1 }); t.push(s.header); t.push(s.chunks[0]); t.push(s.chunks[1]); t.push(s.chunks[2]); });
    expect(e.code).toBe(ErrorCode.StreamLimit);
    expect(e.message).toBe(`stream chunk 2 (stream offset ${s.header.length + s.chunks[0].length + s.chunks[1].length}): epoch 0 would stage ${staged + payload} bytes before its COMMIT, above the receiver's limit of ${staged + payload - 1}`);
    expect(e.details).toEqual({ field: "payloadBytes", value: payload, staged, limit: staged + payload - 1 });
    // Staged payloads count whole pages: chunk 2 stages 4096 bytes, and the COMMIT's chunk 8 more.
    const exact = staged + PAGE + RECORD_HEADER_BYTES;
    const fits = new StreamReceiver(host, { mode: "epochs", maxChunkBytes: exact, maxStagedBytes: exact });
    for (const c of [s.header, ...s.chunks]) fits.push(c);
    expect(fits.epoch).toBe(0);
    expect(fits.stagedBytes).toBe(0);
    const over = new StreamReceiver(host, { mode: "epochs", maxChunkBytes: exact - 1, maxStagedBytes: exact - 1 });
    for (const c of [s.header, ...s.chunks.slice(0, 3)]) over.push(c);
    expect(over.stagedBytes).toBe(staged + PAGE);
    expect(thrown(() => over.push(s.chunks[3])).details).toEqual({ field: "payloadBytes", value: RECORD_HEADER_BYTES, staged: staged + PAGE, limit: exact - 1 });
  });

  it("abort(): the partial guest goes, later calls say the receiver failed and why; takeCommitted() is for epochs mode only", () => {
    const s = stream();
    const host = createHost({ memoryMiB: 8 });
    const before = host.stats().usedFrames;
    const r = new StreamReceiver(host);
    r.push(s.header);
    r.push(s.chunks[0]);
    const bytes = r.bytesReceived;
    r.abort("the link went down");
    expect(host.stats()).toMatchObject({ usedFrames: before, vms: 0 });
    const again = thrown(() => r.push(s.chunks[1]));
    expect([again.code, again.message, again.details]).toEqual([ErrorCode.MigrationFailed, `the receiver already failed: stream receive aborted after ${bytes} bytes: the link went down`, { offset: bytes, reason: "the link went down" }]);
    expect(thrown(() => r.finish()).message).toBe(`the receiver already failed: stream receive aborted after ${bytes} bytes: the link went down`);
    const plain = new StreamReceiver(host);
    plain.abort();
    expect(thrown(() => plain.finish()).message).toBe("the receiver already failed: stream receive aborted after 0 bytes: aborted by the caller");
    const direct = thrown(() => new StreamReceiver(host).takeCommitted());
    expect([direct.code, direct.message, direct.details]).toEqual([ErrorCode.BadOption, "takeCommitted() is for a receiver in epochs mode; a direct receiver hands its guest over with finish()", { option: "mode" }]);
    const epochs = new StreamReceiver(host, { mode: "epochs" });
    expect(epochs.takeCommitted()).toBeNull();
    const staged = new StreamReceiver(host, { mode: "epochs" });
    for (const c of [s.header, ...s.chunks]) staged.push(c);
    const taken = staged.takeCommitted()!;
    expect(taken.epoch).toBe(0);
    expect(taken.vm.read(0, 1)[0]).toBe(1);
    expect(staged.takeCommitted()).toBeNull();
    const after = thrown(() => staged.push(s.end));
    expect([after.code, after.message]).toEqual([ErrorCode.Destroyed, "the receiver already failed: the receiver handed its guest over at epoch 0"]);
    staged.abort();
    expect(taken.vm.destroyed).toBe(false);
  });

  it("a stream cut before END_STREAM: finish() says where, and the guest is discarded", () => {
    const s = stream();
    const host = createHost({ memoryMiB: 8 });
    const r = new StreamReceiver(host);
    r.push(s.header);
    r.push(s.chunks[0]);
    const offset = r.bytesReceived;
    const e = thrown(() => r.finish());
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.StreamTruncated, `stream ended after ${offset} bytes, before chunk 1, without END_STREAM`, { offset, chunk: 1 }]);
    expect(host.stats().vms).toBe(0);
    const mid = new StreamReceiver(host);
    mid.push(s.header);
    mid.push(s.chunks[0].subarray(0, 20));
    const cut = thrown(() => mid.finish());
    expect(cut.code).toBe(ErrorCode.StreamTruncated);
    expect(cut.message).toMatch(/, without END_STREAM$/);
  });
});

describe("PagePacker: pages swapped out are brought back and packed where they are", () => {
  /**
   * A `pages`-page guest, page p holding patternBytes(p), and pages `out`
   * swapped out with a fault handler that brings them back (recording
   * whether each fault was a write). Its twin has the same bytes, all resident.
   */
  function swappedGuest(pages: number, out: number[]): { vm: Vm; twin: Vm; faults: Array<{ pfn: number; write: boolean }>; swapOut(pfns: number[]): void } {
    const host = createHost({ memoryMiB: 8 });
    const [vm, twin] = [host.createVm({ pages }), host.createVm({ pages })];
    for (let pfn = 0; pfn < pages; pfn++) for (const v of [vm, twin]) v.write(pfn * PAGE, patternBytes(pfn * PAGE, 7, PAGE));
    const saved = new Map<number, Uint8Array>();
    const faults: Array<{ pfn: number; write: boolean }> = [];
    vm.onFault(FaultReason.Swapped, (f) => {
      faults.push({ pfn: f.pfn, write: f.write });
      f.vm.states.bringBack(f.pfn, saved.get(f.pfn)!);
      return "retry";
    });
    const swapOut = (pfns: number[]): void => {
      for (const pfn of pfns) {
        saved.set(pfn, vm.read(pfn * PAGE, PAGE));
        vm.states.swapOut(pfn, 100 + pfn);
      }
    };
    swapOut(out);
    return { vm, twin, faults, swapOut };
  }

  /** Every chunk of a pass over `list` from 0, one packChunk call per chunk. */
  function packAll(packer: PagePacker, pfns: number[], stage: "bulk" | "iterate", generation = 1): { consumed: number[]; chunks: Uint8Array[] } {
    const list = packer.scratchList(pfns);
    const consumed: number[] = [];
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < pfns.length;) {
      const r = packer.packChunk(list, at, pfns.length - at, stage, generation);
      consumed.push(r.consumed);
      if (r.chunk) chunks.push(r.chunk);
      at += r.consumed;
    }
    return { consumed, chunks };
  }

  it("the chunks are byte for byte those of an all-resident twin, across a full chunk; each swapped page faults once, as a read", () => {
    // 300 pages of 4 KiB do not fit one 1 MiB chunk: the first ends near page 255, so a resume must respect the room left.
    const out = [0, 3, 4, 100, 254, 255, 256, 299];
    const { vm, twin, faults } = swappedGuest(300, out);
    const pfns = Array.from({ length: 300 }, (_, i) => i);
    const [a, b] = [new PagePacker(vm, { xbzrleCacheBytes: null }), new PagePacker(twin, { xbzrleCacheBytes: null })];
    const got = packAll(a, pfns, "bulk");
    const want = packAll(b, pfns, "bulk");
    expect(want.consumed.length).toBe(2);
    expect(got.consumed).toEqual(want.consumed);
    expect(got.chunks.map((c) => Buffer.from(c).toString("hex"))).toEqual(want.chunks.map((c) => Buffer.from(c).toString("hex")));
    expect(faults).toEqual(out.map((pfn) => ({ pfn, write: false })));
    expect(a.totals).toEqual(b.totals);
    // The stream decodes to the guest.
    const r = new StreamReceiver(createHost({ memoryMiB: 8 }));
    r.push(a.header());
    for (const c of got.chunks) r.push(c);
    r.push(a.endStream());
    expect(Buffer.compare(r.finish().read(0, 300 * PAGE), twin.read(0, 300 * PAGE))).toBe(0);
    b.close();
  });

  it("with an XBZRLE cache, deltas of pages swapped out equal the all-resident twin's", () => {
    const { vm, twin, faults, swapOut } = swappedGuest(64, []);
    const pfns = Array.from({ length: 64 }, (_, i) => i);
    const [a, b] = [new PagePacker(vm, { xbzrleCacheBytes: 64 * PAGE }), new PagePacker(twin, { xbzrleCacheBytes: 64 * PAGE })];
    const changed = [5, 6, 40, 63];
    packAll(a, pfns, "bulk");
    packAll(b, pfns, "bulk");
    // A page enters the cache at its first iterate pass (sent whole) and goes as a delta from its second.
    for (const [value, generation] of [[1, 2], [2, 3]]) {
      for (const v of [vm, twin]) for (const pfn of changed) v.write(pfn * PAGE + 8, Uint8Array.of(value, 2, 3));
      if (generation === 2) {
        packAll(a, changed, "iterate", generation);
        packAll(b, changed, "iterate", generation);
      }
    }
    swapOut([6, 40, 63]);
    faults.length = 0;
    const got = packAll(a, changed, "iterate", 3);
    const want = packAll(b, changed, "iterate", 3);
    expect(b.totals.xbzrlePages).toBe(4);
    expect(got.chunks.map((c) => Buffer.from(c).toString("hex"))).toEqual(want.chunks.map((c) => Buffer.from(c).toString("hex")));
    expect(a.totals).toEqual(b.totals);
    expect(faults).toEqual([6, 40, 63].map((pfn) => ({ pfn, write: false })));
    a.close();
    b.close();
  });

  it("a pfn past the guest's end after a swapped page is named by its index in the list", () => {
    const { vm } = swappedGuest(32, [3]);
    const packer = new PagePacker(vm, { xbzrleCacheBytes: null });
    const e = thrown(() => packer.packChunk(packer.scratchList([1, 3, 2, 40, 5]), 0, 5, "bulk", 1));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.GpaRange, `pfn list entry 3 is pfn 40, past the end of the 32-page guest of vm ${vm.id}`, { index: 3, pfn: 40 }]);
    packer.close();
  });
});

describe("StreamReceiver: a destination host without room", () => {
  /** The 40-byte stream header of a `pages`-page guest (no page of it is ever written). */
  const headerFor = (pages: number): Uint8Array => {
    const packer = new PagePacker(createHost({ memoryMiB: 4 }).createVm({ pages }), { xbzrleCacheBytes: null });
    const h = packer.header();
    packer.close();
    return h;
  };

  it("a host with no frame left, or running its most VMs: ERR_STREAM_LIMIT naming guestPages and the host's reason", () => {
    const full = createHost({ memoryMiB: 1 });
    const filler = full.createVm({ pages: 1024 });
    for (let pfn = 0; ; pfn++) {
      try { filler.write(pfn * PAGE, new Uint8Array(PAGE).fill(1)); } catch { break; }
    }
    const crowded = createHost({ memoryMiB: 4 });
    for (;;) {
      try { crowded.createVm({ pages: 1 }); } catch { break; }
    }
    for (const [host, cause] of [[full, ErrorCode.OutOfFrames], [crowded, ErrorCode.HostLimit]] as const) {
      const vms = host.vms.length;
      const r = new StreamReceiver(host);
      const e = thrown(() => r.push(headerFor(16)));
      expect([e.code, e.details]).toEqual([ErrorCode.StreamLimit, { field: "guestPages", value: 16, cause }]);
      expect(e.message).toMatch(/^stream header field guestPages is 16: the destination host cannot take the guest \((host of 1 MiB cannot hold the page table of a 16-page guest|a host runs at most \d+ VMs)/);
      expect(host.vms.length).toBe(vms);
    }
  });

  it("the fingerprint table: a guest of DIGEST_TABLE_MAX_PAGES pages has one (refused when the host has no room for it, naming it); one page more has none", () => {
    const host = createHost({ memoryMiB: 4 });
    const e = thrown(() => new StreamReceiver(host).push(headerFor(DIGEST_TABLE_MAX_PAGES)));
    expect([e.code, e.details]).toEqual([ErrorCode.StreamLimit, { field: "guestPages", value: DIGEST_TABLE_MAX_PAGES, cause: ErrorCode.OutOfFrames }]);
    expect(e.message).toMatch(new RegExp(`^field guestPages is ${DIGEST_TABLE_MAX_PAGES}: the destination host has no room for its fingerprint table \\(`));
    const r = new StreamReceiver(host);
    r.push(headerFor(DIGEST_TABLE_MAX_PAGES + 1));
    expect(r.header?.guestPages).toBe(DIGEST_TABLE_MAX_PAGES + 1);
    r.abort();
  });

  it("epochs mode: an epoch that needs exactly the free frames commits; one frame fewer is refused, naming both counts", () => {
    // 16 pages (8 written), END_ROUND, COMMIT 0; before the COMMIT's chunk, the host's free frames are cut one at a time.
    const { packer, pages } = source();
    const list = packer.scratchList(pages());
    const chunks = [packer.header(), packer.packChunk(list, 0, 16, "bulk", 1).chunk!, packer.endRound(0)];
    const commit = packer.commitEpoch(0);
    packer.close();
    const attempt = (taken: number): { r: StreamReceiver; error: HypermemError | null } => {
      const host = createHost({ memoryMiB: 2 });
      const r = new StreamReceiver(host, { mode: "epochs" });
      for (const c of chunks) r.push(c);
      for (let i = 0; i < taken; i++) host.kernels.frames.allocBuffer(PAGE);
      try { r.push(commit); return { r, error: null }; } catch (err) { return { r, error: err as HypermemError }; }
    };
    const free = createHost({ memoryMiB: 2 }).maxFrames;
    let [lo, hi] = [0, free]; // attempt(lo) commits, attempt(hi) does not
    expect(attempt(lo).error).toBeNull();
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (attempt(mid).error === null) lo = mid;
      else hi = mid;
    }
    const fits = attempt(lo);
    expect([fits.r.epoch, fits.r.stagedBytes]).toEqual([0, 0]);
    expect(fits.r.vm!.read(7 * PAGE, 1)[0]).toBe(8);
    const { r, error } = attempt(lo + 1);
    const { framesNeeded } = error!.details as { framesNeeded: number };
    expect(framesNeeded).toBeGreaterThanOrEqual(8); // the 8 written pages, and page tables
    expect([error!.code, error!.details, r.epoch]).toEqual([ErrorCode.StreamLimit, { epoch: 0, framesNeeded, framesFree: framesNeeded - 1 }, -1]);
    expect(error!.message).toMatch(new RegExp(`: epoch 0 may need ${framesNeeded} new frames, the destination host has ${framesNeeded - 1}; the epoch is dropped, the guest stays at epoch -1$`));
  });
});

describe("StreamReceiver: destination pages swapped out between chunks", () => {
  it("are brought back by a write fault before records land on them, in direct and in epochs mode", () => {
    for (const mode of ["direct", "epochs"] as const) {
      // A 32-page guest sent twice: pages 0..7 as written first, then 2..5 rewritten.
      const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 32 });
      for (let pfn = 0; pfn < 8; pfn++) vm.write(pfn * PAGE, new Uint8Array(PAGE).fill(pfn + 1));
      const packer = new PagePacker(vm, { xbzrleCacheBytes: null });
      const first = [packer.header(), packer.packChunk(packer.scratchList(Array.from({ length: 32 }, (_, i) => i)), 0, 32, "bulk", 1).chunk!, packer.endRound(0), packer.commitEpoch(0)];
      for (let pfn = 2; pfn < 6; pfn++) vm.write(pfn * PAGE + 100, Uint8Array.of(0xee, pfn));
      const second = [packer.packChunk(packer.scratchList([2, 3, 4, 5]), 0, 4, "iterate", 2).chunk!, packer.endRound(1), packer.commitEpoch(1), packer.endStream()];
      packer.close();

      const r = new StreamReceiver(createHost({ memoryMiB: 8 }), { mode });
      for (const c of first) r.push(c);
      const dest = r.vm!;
      const saved = new Map<number, Uint8Array>();
      const faults: Array<{ pfn: number; write: boolean }> = [];
      dest.onFault(FaultReason.Swapped, (f) => {
        faults.push({ pfn: f.pfn, write: f.write });
        f.vm.states.bringBack(f.pfn, saved.get(f.pfn)!);
        return "retry";
      });
      for (const pfn of [3, 5]) {
        saved.set(pfn, dest.read(pfn * PAGE, PAGE));
        dest.states.swapOut(pfn, 50 + pfn);
      }
      for (const c of second) r.push(c);
      expect(faults).toEqual([{ pfn: 3, write: true }, { pfn: 5, write: true }]);
      expect([r.done, r.epoch]).toEqual([true, 1]);
      expect(Buffer.compare(r.finish().read(0, 32 * PAGE), vm.read(0, 32 * PAGE))).toBe(0);
    }
  });
});
