// Each guarding check of the migration stream, alone: every test damages a
// valid stream in a way that ONLY the check under test can see, so the test
// fails if that check is switched off (another check catching the damage
// instead would hide its absence). The stream (docs/migration-stream.md):
//
//   header (36, crc32) │ chunk 0: bulk, PAGE ×64 │ chunk 1: END_ROUND 0 │
//   chunk 2: PAGE 5 │ chunk 3: PAGE 40 │ chunk 4: END_ROUND 1 │ chunk 5: END_STREAM
//
// Pages 5 and 40 change between the rounds, so their round-0 copies are
// overwritten: damage to those copies is invisible in the final memory, and
// only the chunk checksum can see it. Replaying or swapping chunks 2 and 3
// leaves the final memory right too: only the sequence check sees it. A
// lost update re-sequenced, or a page record sent to the wrong pfn with a
// valid checksum, passes every framing check: only the END_STREAM digest
// sees it. A destination that does not acknowledge (or acknowledges wrongly)
// leaves the source's stream complete: only the acknowledgement check sees it.
//
// Already tested in test/stream.test.ts, not repeated here: header magic,
// crc (a guestPages byte), version 1, flags, page size, header size,
// reserved, guest-page limits; chunk magic, a skipped sequence number,
// payload limits, a payload byte flipped in chunk 0; every record rule;
// END_ROUND numbering; END_STREAM position, guest pages, poisoned count and
// digest (a page byte changed under a valid checksum, with and without the
// receiver's digest table); trailing bytes and truncation.
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { createChannelPair, type Channel } from "../src/net/channel.js";
import { resolveMigrationOptions } from "../src/migration/options.js";
import { PagePacker } from "../src/stream/packer.js";
import { migrateSource } from "../src/migration/precopy.js";
import { StreamReceiver } from "../src/stream/receiver.js";
import { crc32 } from "node:zlib";
import { ACK_HEADER, CHUNK_HEADER_BYTES, frameChunk, readChunkHeader, RECORD_HEADER_BYTES, RecordType, STREAM_HEADER_BYTES } from "../src/stream/format.js";
import { SimulatedLink } from "../src/sim/link.js";
import { Timeline } from "../src/sim/timeline.js";
import { mulberry32 } from "../src/sim/prng.js";

const PAGE = 4096;
const PAGES = 64;
const RESENT = [5, 40];

function randomPage(next: () => number): Uint8Array {
  const page = new Uint8Array(PAGE);
  for (let i = 0; i < PAGE; i += 4) new DataView(page.buffer).setUint32(i, next(), true);
  return page;
}

/** The stream of the header comment, as [header, chunk 0, ..., chunk 5]. */
function buildStream(vm: Vm): Uint8Array[] {
  const next = mulberry32(2024);
  for (let pfn = 0; pfn < PAGES; pfn++) vm.write(pfn * PAGE, randomPage(next));
  const packer = new PagePacker(vm, { xbzrleCacheBytes: null });
  try {
    const stream = [packer.header()];
    const bulk = packer.scratchList(Array.from({ length: PAGES }, (_, pfn) => pfn));
    const all = packer.packChunk(bulk, 0, bulk.length, "bulk", 1);
    expect(all.consumed).toBe(PAGES);
    stream.push(all.chunk!, packer.endRound(0));
    for (const pfn of RESENT) {
      vm.write(pfn * PAGE + 100, Uint8Array.of(0xaa, 0xbb, 0xcc)); // the guest dirtied it: sent again
      const list = packer.scratchList([pfn]);
      stream.push(packer.packChunk(list, 0, 1, "iterate", 2).chunk!);
    }
    stream.push(packer.endRound(1), packer.endStream());
    return stream;
  } finally {
    packer.close();
  }
}

/** Byte offset, within chunk `chunk`, of the payload of the first PAGE record for `pfn`. */
function pagePayloadAt(chunk: Uint8Array, pfn: number): number {
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
  for (let at = CHUNK_HEADER_BYTES; at < chunk.length;) {
    const length = v.getUint16(at + 2, true);
    if (v.getUint8(at) === RecordType.Page && v.getUint32(at + 4, true) === pfn) return at + RECORD_HEADER_BYTES;
    at += RECORD_HEADER_BYTES + length;
  }
  throw new RangeError(`no PAGE record for pfn ${pfn}`);
}

/** `chunk` with its sequence field set to `sequence` (the header has no checksum of its own). */
function resequenced(chunk: Uint8Array, sequence: number): Uint8Array {
  const out = chunk.slice();
  new DataView(out.buffer).setUint32(4, sequence, true);
  return out;
}

describe("stream checks, one at a time", () => {
  const source = createHost({ memoryMiB: 16 });
  const destination = createHost({ memoryMiB: 16 });
  let vm: Vm;
  let valid: Uint8Array[];

  beforeAll(() => {
    vm = source.createVm({ pages: PAGES });
    valid = buildStream(vm);
    expect(valid.map((c, i) => (i === 0 ? -1 : readChunkHeader(c).sequence))).toEqual([-1, 0, 1, 2, 3, 4, 5]);
  });

  /** Pushes `parts` into a fresh receiver: the received guest, or the error it threw (the host then holds no guest). */
  function receive(parts: readonly Uint8Array[]): Vm | HypermemError {
    const r = new StreamReceiver(destination);
    try {
      for (const p of parts) r.push(p);
      return r.finish();
    } catch (err) {
      expect(err).toBeInstanceOf(HypermemError);
      expect(destination.stats().vms).toBe(0);
      return err as HypermemError;
    }
  }

  function expectRefused(parts: readonly Uint8Array[], code: string, details: Record<string, unknown>): void {
    const got = receive(parts);
    if (!(got instanceof HypermemError)) {
      got.destroy(); // accepted: leave the host clean for the other tests before failing this one
      expect.fail(`the damaged stream was accepted; expected ${code} ${JSON.stringify(details)}`);
    }
    expect({ code: got.code, ...got.details }).toMatchObject({ code, ...details });
  }

  const withChunk = (index: number, chunk: Uint8Array): Uint8Array[] => valid.map((c, i) => (i === index ? chunk : c));

  it("the undamaged stream arrives: every page equal to the source's", () => {
    const got = receive(valid);
    expect(got).not.toBeInstanceOf(HypermemError);
    const dvm = got as Vm;
    expect(Buffer.compare(dvm.read(0, PAGES * PAGE), vm.read(0, PAGES * PAGE))).toBe(0);
    dvm.destroy();
  });

  describe("header crc", () => {
    it("a changed vm id (a field nothing else checks) fails the crc", () => {
      const header = valid[0].slice();
      header[28] ^= 0x01;
      expectRefused(withChunk(0, header), ErrorCode.StreamCorrupt, { field: "crc", offset: 32 });
    });

    it("a header of a newer version with a valid crc is refused by the version check", () => {
      for (const [at, value, found] of [[4, 4, "4.0"], [6, 1, "3.1"]] as const) {
        const header = valid[0].slice();
        const v = new DataView(header.buffer);
        v.setUint16(at, value, true);
        v.setUint32(32, crc32(header.subarray(0, 32)), true);
        expectRefused(withChunk(0, header), ErrorCode.FormatVersion, { found });
      }
    });
  });

  describe("chunk sequence", () => {
    it("a chunk delivered twice (replaying it would change nothing) is refused", () => {
      const replayed = [...valid.slice(0, 4), valid[3], ...valid.slice(4)];
      expectRefused(replayed, ErrorCode.StreamCorrupt, { field: "sequence", value: 2, expected: 3 });
    });

    it("two chunks swapped (their pages are disjoint, so the memory would end right) are refused", () => {
      const swapped = [...valid.slice(0, 3), valid[4], valid[3], ...valid.slice(5)];
      expectRefused(swapped, ErrorCode.StreamCorrupt, { field: "sequence", value: 3, expected: 2 });
    });
  });

  describe("chunk checksum", () => {
    it("a flipped byte of a page copy that a later round overwrites is refused", () => {
      const chunk = valid[1].slice();
      chunk[pagePayloadAt(chunk, RESENT[0]) + 2000] ^= 0x40;
      expectRefused(withChunk(1, chunk), ErrorCode.StreamCorrupt, { field: "checksum", chunk: 0, offset: STREAM_HEADER_BYTES + 12 });
    });

    it("a flipped bit of the checksum field itself is refused", () => {
      const chunk = valid[3].slice();
      chunk[12] ^= 0x80;
      expectRefused(withChunk(3, chunk), ErrorCode.StreamCorrupt, { field: "checksum", chunk: 2 });
    });
  });

  describe("END_STREAM digest", () => {
    it("a lost update, the later chunks renumbered, is refused", () => {
      const lost = [...valid.slice(0, 4), ...valid.slice(5).map((c) => resequenced(c, readChunkHeader(c).sequence - 1))];
      expectRefused(lost, ErrorCode.StreamDigest, {});
    });

    it("a page record sent to the wrong pfn under a valid checksum is refused", () => {
      const payload = valid[4].slice(CHUNK_HEADER_BYTES);
      new DataView(payload.buffer).setUint32(4, RESENT[1] + 1, true); // the record's pfn field
      expectRefused(withChunk(4, frameChunk(3, payload)), ErrorCode.StreamDigest, {});
    });
  });
});

// ─── The acknowledgement ───────────────────────────────────────────────────

/** A destination that receives the whole stream correctly and then answers `ack` (or closes, for null). */
async function destinationAnswering(host: ReturnType<typeof createHost>, channel: Channel, ack: Uint8Array | null): Promise<void> {
  const receiver = new StreamReceiver(host);
  while (!receiver.done) {
    const bytes = await channel.receive();
    if (bytes === null) break;
    receiver.push(bytes);
  }
  receiver.finish().destroy();
  // The source closes the channel once it has judged the answer; that settles this send either way.
  if (ack) await channel.send(ack).catch(() => undefined);
  channel.close();
}

describe("acknowledgement", () => {
  /** A versioned acknowledgement with `status`, its magic XOR-ed with `magicXor`, `extra` bytes longer. */
  const ack = (magicXor: number, status: number, extra = 0): Uint8Array => {
    const valid = ACK_HEADER.encode({ status });
    const out = new Uint8Array(valid.length + extra);
    out.set(valid);
    const v = new DataView(out.buffer);
    v.setUint32(0, v.getUint32(0, true) ^ magicXor, true);
    return out;
  };
  const HMAK = 0;

  it.each([
    { what: "a correct acknowledgement", answer: ack(HMAK, 0), status: "completed" },
    { what: "status 1", answer: ack(HMAK, 1), status: "failed" },
    { what: "the wrong magic", answer: ack(0x100, 0), status: "failed" },
    { what: "one byte short", answer: ack(HMAK, 0).subarray(0, 19), status: "failed" },
    { what: "one byte long", answer: ack(HMAK, 0, 1), status: "failed" },
    { what: "a flipped bit under the crc", answer: (() => { const a = ack(HMAK, 0); a[13] ^= 1; return a; })(), status: "failed" },
    { what: "no answer (the destination closes)", answer: null, status: "failed" },
  ])("the source completes only on a correct acknowledgement: $what -> $status", async ({ answer, status }) => {
    const hosts = [createHost({ memoryMiB: 16 }), createHost({ memoryMiB: 16 })];
    const vm = hosts[0].createVm({ pages: 32 });
    vm.write(0, new Uint8Array(8 * PAGE).fill(9));
    const [src, dst] = createChannelPair();
    const [result] = await Promise.all([
      migrateSource(vm, src, resolveMigrationOptions({ bandwidthBytesPerSec: 1e9 }), new SimulatedLink(new Timeline(), resolveMigrationOptions({ bandwidthBytesPerSec: 1e9 }).link)),
      destinationAnswering(hosts[1], dst, answer),
    ]);
    expect(result.status).toBe(status);
    if (status === "failed") {
      expect(result.error).toMatchObject({ code: ErrorCode.MigrationFailed, message: expect.stringMatching(/acknowledg/) });
    }
  });
});
