// The disk transfer's formats against plain oracles: the fragment record
// round-trips and each of its checks (header crc, hashes crc, length, name,
// counts) refuses a damaged one; a BLOCK message carries exactly the non-zero
// pages of any block and decodes back to it; the message reader cuts a stream
// split anywhere into the messages it was made of, and refuses a bad type or
// an oversized length; the hello refuses a bad block size.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blockHash, checkImageName, generationOf, PAGE_BYTES } from "../src/storage/identity.js";
import { makeImage } from "../src/storage/make-image.js";
import {
  decodeBlock, decodeHello, DISK_HELLO, encodeAck, encodeBlock, encodeHello, encodeOffer, encodeStart, MessageReader, Msg, Reason,
} from "../src/storage/protocol.js";
import { decodeRecord, encodeRecord, readRecord, type DiskRecord } from "../src/storage/record.js";
import { thrownError } from "./helpers.js";

const record = (committedBlocks: number, blockBytes = 65536): DiskRecord => ({
  name: "vm-disk.raw", sizeBytes: 10 * blockBytes + 123, blockBytes, generation: new Uint8Array(16).fill(3),
  committedBytes: committedBlocks * blockBytes, hashes: Array.from({ length: committedBlocks }, (_, i) => new Uint8Array(8).fill(i + 1)),
  createdMs: 1_700_000_000_000, updatedMs: 1_700_000_100_000,
});

describe("the fragment record", () => {
  it("round-trips any committed prefix", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 }), fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom(..."abcXYZ019._-") }), (blocks, tail) => {
      const name = `d${tail}`;
      const r = { ...record(blocks), name };
      expect(decodeRecord(encodeRecord(r), "r")).toEqual(r);
    }));
  });

  it("refuses a flipped byte anywhere: the header's crc, the hashes' crc, a field's check", () => {
    const bytes = encodeRecord(record(4));
    for (let at = 0; at < bytes.length; at += 7) {
      const bad = bytes.slice();
      bad[at] ^= 0x01;
      const e = thrownError(() => decodeRecord(bad, "frag/record"));
      expect(e === "none" ? "none" : e.code, `byte ${at}`).toMatch(/^ERR_(DISK_HASH|FORMAT_VERSION)$/);
    }
  });

  it("refuses hashes whose crc does not match, naming the file", () => {
    const bytes = encodeRecord(record(2));
    const bad = bytes.slice();
    bad[bytes.length - 10] ^= 0xff;
    const e = thrownError(() => decodeRecord(bad, "frag/record"));
    expect(e).toMatchObject({ code: "ERR_DISK_HASH", message: expect.stringContaining("frag/record: the crc32 of the block hashes") });
  });

  it("refuses a truncated record and a hash count that does not match the committed bytes", () => {
    const bytes = encodeRecord(record(3));
    expect(thrownError(() => decodeRecord(bytes.subarray(0, bytes.length - 1), "r"))).toMatchObject({ code: "ERR_DISK_HASH" });
    expect(() => encodeRecord({ ...record(3), hashes: record(2).hashes })).toThrow(/hashCount/);
  });

  it("reads from a file; a missing file is ERR_FILE_IO naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-rec-"));
    try {
      writeFileSync(join(dir, "record"), encodeRecord(record(1)));
      expect(readRecord(join(dir, "record")).committedBytes).toBe(65536);
      expect(thrownError(() => readRecord(join(dir, "none")))).toMatchObject({ code: "ERR_FILE_IO", message: expect.stringContaining(join(dir, "none")) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A block of `pages` pages (the last maybe short), each zero or filled, from a bitmask. */
const blockArb = fc.record({ pages: fc.integer({ min: 1, max: 24 }), tail: fc.integer({ min: 1, max: PAGE_BYTES }), mask: fc.integer({ min: 0, max: 2 ** 24 - 1 }), seed: fc.integer({ min: 1, max: 250 }) })
  .map(({ pages, tail, mask, seed }) => {
    const length = (pages - 1) * PAGE_BYTES + tail;
    const block = new Uint8Array(length);
    for (let i = 0; i < pages; i++) if (mask & (1 << i)) block.fill((seed + i) % 255 + 1, i * PAGE_BYTES, Math.min(length, (i + 1) * PAGE_BYTES));
    return block;
  });

const isZero = (p: Uint8Array): boolean => p.every((b) => b === 0);

describe("BLOCK messages", () => {
  it("carry exactly the non-zero pages and decode back to the block (oracle: the block itself)", () => {
    fc.assert(fc.property(blockArb, fc.nat({ max: 2 ** 40 }), (block, offset) => {
      const hash = blockHash(block);
      const { bytes, dataBytes } = encodeBlock(offset, block, hash, isZero);
      let expectedData = 0;
      for (let i = 0; i * PAGE_BYTES < block.length; i++) {
        const page = block.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES);
        if (!isZero(page)) expectedData += page.length;
      }
      expect(dataBytes).toBe(expectedData);
      const [m] = new MessageReader(2 ** 21).push(bytes);
      expect(m.type).toBe(Msg.Block);
      const b = decodeBlock(m.payload, 2 ** 21);
      expect(b.offset).toBe(offset);
      expect(Buffer.from(b.hash).equals(Buffer.from(hash))).toBe(true);
      const back = new Uint8Array(b.lengthBytes);
      b.pages.forEach((p, i) => { if (p) back.set(b.data.subarray(p.at, p.at + p.bytes), i * PAGE_BYTES); });
      expect(Buffer.compare(back, block)).toBe(0);
    }));
  });

  it("refuses a payload whose pages do not add up to its map, and a length over the block size", () => {
    const block = new Uint8Array(PAGE_BYTES * 2).fill(7);
    const { bytes } = encodeBlock(0, block, blockHash(block), isZero);
    const payload = bytes.subarray(8);
    expect(thrownError(() => decodeBlock(payload.subarray(0, payload.length - 1), 2 ** 20))).toMatchObject({ code: "ERR_DISK_PROTOCOL", message: expect.stringContaining("its map says") });
    expect(thrownError(() => decodeBlock(payload, PAGE_BYTES))).toMatchObject({ code: "ERR_DISK_PROTOCOL", message: expect.stringContaining(`of ${PAGE_BYTES * 2} bytes, outside 1..${PAGE_BYTES}`) });
  });
});

describe("the message reader", () => {
  it("cuts a stream split anywhere into its messages", () => {
    const block = new Uint8Array(3 * PAGE_BYTES).fill(9);
    const messages = [encodeOffer(65536, 262144, Reason.Resumed, new Uint8Array(32).fill(1)), encodeStart(65536, Reason.Resumed), encodeBlock(65536, block, blockHash(block), isZero).bytes, encodeAck(131072)];
    const stream = new Uint8Array(Buffer.concat(messages));
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
      const reader = new MessageReader(2 ** 20);
      const got: Uint8Array[] = [];
      const points = [0, ...[...cuts].sort((a, b) => a - b), stream.length];
      for (let i = 0; i + 1 < points.length; i++) {
        for (const m of reader.push(stream.slice(points[i], points[i + 1]))) got.push(Buffer.concat([Buffer.from([m.type, 0, 0, 0]), Buffer.from(new Uint32Array([m.payload.length]).buffer), m.payload]));
      }
      expect(got.map((g) => Buffer.from(g).toString("hex"))).toEqual(messages.map((m) => Buffer.from(m).toString("hex")));
      expect(reader.pendingBytes).toBe(0);
    }));
  });

  it("refuses an unknown type and a payload over its limit, naming them", () => {
    expect(thrownError(() => new MessageReader(100).push(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0])))).toMatchObject({ code: "ERR_DISK_PROTOCOL", details: { field: "type", value: 9 } });
    expect(thrownError(() => new MessageReader(100).push(new Uint8Array([4, 0, 0, 0, 101, 0, 0, 0])))).toMatchObject({ code: "ERR_DISK_PROTOCOL", details: { field: "payloadBytes", value: 101 } });
  });
});

describe("the hello and the image's identity", () => {
  it("round-trips, and refuses a block size that is not a power of two in range", () => {
    const h = { name: "a.raw", sizeBytes: 2 ** 40, blockBytes: 2 ** 20, generation: new Uint8Array(16).fill(5) };
    expect(decodeHello(encodeHello(h), "hello")).toEqual(h);
    const bad = encodeHello(h);
    new DataView(bad.buffer).setUint32(20, 3 * 2 ** 20, true);
    expect(thrownError(() => decodeHello(bad, "hello"))).toMatchObject({ code: "ERR_DISK_PROTOCOL" });
    expect(DISK_HELLO.byteLength).toBe(302);
  });

  it("names a file name that cannot be one", () => {
    for (const name of ["", ".hidden", "a/b", "x".repeat(256), "sp ace"]) {
      expect(thrownError(() => checkImageName(name))).toMatchObject({ code: "ERR_BAD_OPTION", details: { name } });
    }
    expect(checkImageName("disk-1.raw")).toBe("disk-1.raw");
  });

  it("a generation id moves when the file is rewritten, and a test image is the same for the same seed", () => {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-gen-"));
    try {
      const a = makeImage(join(dir, "a.raw"), 300_000, 0.5, 42);
      const b = makeImage(join(dir, "b.raw"), 300_000, 0.5, 42);
      expect(a.sha256).toBe(b.sha256);
      expect(makeImage(join(dir, "c.raw"), 300_000, 0.5, 43).sha256).not.toBe(a.sha256);
      const before = generationOf(statSync(a.path, { bigint: true }));
      makeImage(a.path, 300_000, 0.5, 42);
      expect(Buffer.from(generationOf(statSync(a.path, { bigint: true }))).equals(Buffer.from(before))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
