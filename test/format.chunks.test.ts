// Chunk framing and the incremental ChunkParser (src/format/chunks.ts):
// random payloads in random splits, and every check failing before the sink
// sees a byte of the offending chunk.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import {
  BufferSink, CHUNK_HEADER_BYTES, ChunkParser, chunkChecksum, encodeChunkHeader, frameChunk,
  type ChunkFrame, type ChunkParserOptions, type ChunkSink,
} from "../src/format/chunks.js";
import { defineHeader, magicU32 } from "../src/format/header.js";
import { xxh3Ref } from "./reference/xxh3.js";

const MAGIC = magicU32("HMCK");
const HEADER = defineHeader({
  name: "stream", magic: "HMTS", major: 1, minor: 0, errorCode: ErrorCode.StreamCorrupt,
  fields: [{ name: "guestPages", type: "u32", validate: (n: number) => (n >= 1 ? null : `guest pages ${n}`) }],
});

function stream(payloads: Uint8Array[], first = 0, header?: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([...(header ? [header] : []), ...payloads.map((p, i) => frameChunk(MAGIC, first + i, p))]));
}

/** A sink that records every call, to show what the parser let through. */
class RecordingSink implements ChunkSink {
  readonly calls: string[] = [];
  readonly inner = new BufferSink();
  begin(c: ChunkFrame): void { this.calls.push(`begin ${c.sequence}`); this.inner.begin(c); }
  write(b: Uint8Array, at: number): void { this.calls.push(`write ${at}+${b.length}`); this.inner.write(b, at); }
  checksum(): number { return this.inner.checksum(); }
  end(c: ChunkFrame): void { this.calls.push(`end ${c.sequence}`); this.inner.end(c); }
}

function parser<H = unknown>(sink: ChunkSink, extra: Partial<ChunkParserOptions<H>> = {}): ChunkParser<H> {
  return new ChunkParser<H>({ name: "stream", magic: MAGIC, maxPayloadBytes: 4096, sink, errorCode: ErrorCode.StreamCorrupt,
    limitErrorCode: ErrorCode.StreamLimit, truncatedErrorCode: ErrorCode.StreamTruncated, ...extra });
}

function catchError(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    return err as HypermemError;
  }
  return expect.fail("expected a HypermemError");
}

/** Pushes `bytes` one at a time; returns the error and how many bytes went in before it. */
function pushBytewise<H>(p: ChunkParser<H>, bytes: Uint8Array): { error: HypermemError; at: number } {
  for (let i = 0; i < bytes.length; i++) {
    try {
      p.push(bytes.subarray(i, i + 1));
    } catch (err) {
      return { error: err as HypermemError, at: i };
    }
  }
  return expect.fail("expected the stream to be refused");
}

const payloadsArb = fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 });

describe("framing", () => {
  it("frameChunk writes the documented header, with XXH3-64's low 32 bits as the checksum", () => {
    const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const c = Buffer.from(frameChunk(MAGIC, 5, payload));
    expect(c.subarray(0, 4).toString("latin1")).toBe("HMCK");
    expect([c.readUInt32LE(4), c.readUInt32LE(8), c.readUInt32LE(12)]).toEqual([5, 300, Number(xxh3Ref(payload) & 0xffffffffn)]);
    expect(Buffer.compare(c.subarray(CHUNK_HEADER_BYTES), payload)).toBe(0);
    expect(chunkChecksum(new Uint8Array(0))).toBe(Number(xxh3Ref(new Uint8Array(0)) & 0xffffffffn));
    const out = new Uint8Array(20).fill(0xaa);
    encodeChunkHeader(out, 2, { magic: 1, sequence: 2, payloadBytes: 3, checksum: 0xffffffff });
    expect([...out]).toEqual([0xaa, 0xaa, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xaa]);
  });
});

describe("ChunkParser round trip", () => {
  it("random payloads pushed in random splits come out whole and in order", () => {
    fc.assert(fc.property(payloadsArb, fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1 }), fc.nat(1000), (payloads, splits, first) => {
      const bytes = stream(payloads, first);
      const sink = new BufferSink();
      const p = parser(sink, { firstSequence: first });
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const n = splits[i % splits.length];
        p.push(bytes.subarray(at, at + n));
        at += n;
      }
      p.finish();
      expect(sink.payloads.map((x) => Buffer.from(x).toString("hex"))).toEqual(payloads.map((x) => Buffer.from(x).toString("hex")));
      expect(p.chunks).toBe(payloads.length);
      expect(p.bytesConsumed).toBe(bytes.length);
    }), { numRuns: 200 });
  });

  it("one byte at a time, from a buffer the caller overwrites after each push, with a leading header", () => {
    const payloads = [new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff), new Uint8Array([9])];
    const bytes = stream(payloads, 0, HEADER.encode({ guestPages: 12 }));
    const seen: string[] = [];
    const sink = new BufferSink((payload, c) => { seen.push(`${c.sequence}@${c.streamOffset}:${Buffer.from(payload).toString("hex").slice(0, 8)}`); });
    const p = parser(sink, { header: HEADER, onHeader: (h) => seen.push(`header ${h.guestPages}`) });
    const reused = new Uint8Array(1);
    for (const b of bytes) {
      reused[0] = b;
      p.push(reused);
      reused[0] = 0xee; // a parser that kept a view of the input would see this
    }
    p.finish();
    expect(seen).toEqual(["header 12", "0@20:", "1@36:00010203", "2@1052:09"]);
  });

  it("a sink ending the stream makes any further byte an error", () => {
    const bytes = stream([new Uint8Array([1]), new Uint8Array([2])]);
    const p = parser(new BufferSink((payload) => payload[0] === 1));
    const e = catchError(() => p.push(bytes));
    expect(e.code).toBe(ErrorCode.StreamCorrupt);
    expect(e.message).toContain(`${bytes.length - 17} bytes at stream offset 17, after chunk 0 ended the stream`);
    const q = parser(new BufferSink(() => true));
    q.push(bytes.subarray(0, 17));
    expect(q.ended).toBe(true);
    q.finish();
    expect(catchError(() => q.push(new Uint8Array(1))).code).toBe(ErrorCode.Destroyed);
  });
});

describe("ChunkParser checks, each before the sink sees the chunk", () => {
  const payloads = [new Uint8Array(100).fill(1), new Uint8Array(200).fill(2), new Uint8Array(300).fill(3)];
  const good = stream(payloads);
  const second = CHUNK_HEADER_BYTES + 100; // stream offset of chunk 1

  function refused(bytes: Uint8Array, extra: Partial<ChunkParserOptions> = {}): { error: HypermemError; at: number; calls: string[] } {
    const sink = new RecordingSink();
    const { error, at } = pushBytewise(parser(sink, extra), bytes);
    return { error, at, calls: sink.calls };
  }

  it("a wrong magic fails as soon as its 4th byte is in", () => {
    const bad = good.slice();
    bad[second + 2] ^= 0x20;
    const { error, at, calls } = refused(bad);
    expect(at).toBe(second + 3);
    expect(error.code).toBe(ErrorCode.StreamCorrupt);
    expect(error.details).toMatchObject({ field: "magic", chunk: 1, offset: second, expected: MAGIC });
    expect(error.message).toContain(`stream chunk 1 (stream offset ${second}): field magic is "HMcK"`);
    expect(calls.filter((c) => c.startsWith("begin"))).toEqual(["begin 0"]);
  });

  it("a skipped, duplicated or reordered chunk is named as such, at the sequence field's offset", () => {
    const cases: [Uint8Array[], number[], string, string][] = [
      [payloads, [0, 2, 3], "lost", "chunk 1 is missing"],
      [payloads, [0, 3, 4], "lost", "chunks 1..2 are missing"],
      [payloads, [0, 0, 1], "duplicated", "a duplicate of the previous chunk"],
      [[...payloads, new Uint8Array(1)], [0, 1, 2, 0], "reordered", "chunk 0 came again"],
    ];
    for (const [ps, seqs, problem, text] of cases) {
      const bytes = Buffer.concat(ps.map((p, i) => frameChunk(MAGIC, seqs[i], p)));
      const badIndex = seqs.findIndex((s, i) => s !== i);
      const offset = ps.slice(0, badIndex).reduce((n, p) => n + CHUNK_HEADER_BYTES + p.length, 0);
      const { error, at, calls } = refused(bytes);
      expect(at).toBe(offset + CHUNK_HEADER_BYTES - 1);
      expect(error.code).toBe(ErrorCode.StreamCorrupt);
      expect(error.details).toMatchObject({ field: "sequence", value: seqs[badIndex], expected: badIndex, chunk: badIndex, offset: offset + 4, problem });
      expect(error.message).toContain(text);
      expect(error.message).toContain(`field sequence (stream offset ${offset + 4}) is ${seqs[badIndex]}, expected ${badIndex}: `);
      expect(calls.filter((c) => c.startsWith("begin")).length).toBe(badIndex);
    }
  });

  it("a payload over the limit is ERR_STREAM_LIMIT and one under the minimum is corrupt, before anything is buffered", () => {
    const big = refused(stream([new Uint8Array(10), new Uint8Array(4097)]));
    expect(big.error.code).toBe(ErrorCode.StreamLimit);
    expect(big.error.details).toMatchObject({ field: "payloadBytes", value: 4097, limit: 4096, chunk: 1, offset: 26 + 8 });
    expect(big.error.message).toContain("field payloadBytes (stream offset 34) is 4097, above the limit of 4096");
    expect(big.at).toBe(26 + 15);
    expect(big.calls.at(-1)).toBe("end 0");
    const small = refused(stream([new Uint8Array(10), new Uint8Array(7)]), { minPayloadBytes: 8 });
    expect(small.error.code).toBe(ErrorCode.StreamCorrupt);
    expect(small.error.details).toMatchObject({ field: "payloadBytes", value: 7, chunk: 1, offset: 34 });
    expect(small.error.message).toContain("field payloadBytes (stream offset 34) is 7, below the minimum of 8");
    expect(small.calls.at(-1)).toBe("end 0");
  });

  it("a payload of exactly the limit, and of exactly the minimum, is taken", () => {
    const sink = new BufferSink();
    const p = parser(sink, { minPayloadBytes: 8 });
    p.push(stream([new Uint8Array(4096).fill(7), new Uint8Array(8).fill(9)]));
    p.finish();
    expect(sink.payloads.map((x) => [x.length, x[0]])).toEqual([[4096, 7], [8, 9]]);
  });

  it("a checksum mismatch fails before the sink's end()", () => {
    const bad = good.slice();
    bad[second + CHUNK_HEADER_BYTES + 150] ^= 1;
    const { error, at, calls } = refused(bad);
    expect(at).toBe(second + CHUNK_HEADER_BYTES + 199);
    const actual = chunkChecksum(bad.subarray(second + CHUNK_HEADER_BYTES, second + CHUNK_HEADER_BYTES + 200));
    expect(error.details).toMatchObject({ field: "checksum", chunk: 1, offset: second + 12, actual });
    expect(error.message).toContain(`field checksum (stream offset ${second + 12}) is 0x`);
    expect(error.message).toContain(`the 200-byte payload's is 0x${actual.toString(16)}`);
    expect(calls).toContain("begin 1");
    expect(calls).not.toContain("end 1");
  });

  it("after a failure every push and finish throws, saying it already failed", () => {
    const p = parser(new BufferSink());
    const first = catchError(() => p.push(new Uint8Array(16)));
    for (const again of [catchError(() => p.push(good)), catchError(() => p.finish())]) {
      expect(again.code).toBe(first.code);
      expect(again.message).toBe(`stream parser already failed: ${first.message}`);
    }
  });

  it("a sink's own error fails the parser too", () => {
    const p = parser(new BufferSink(() => { throw new HypermemError(ErrorCode.StreamDigest, "digest mismatch"); }));
    expect(catchError(() => p.push(good)).code).toBe(ErrorCode.StreamDigest);
    expect(catchError(() => p.push(good)).message).toBe("stream parser already failed: digest mismatch");
  });

  it("truncation at every byte of a small stream: finish() names where the input stopped", () => {
    const bytes = stream([new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4])], 0, HEADER.encode({ guestPages: 1 }));
    const bounds = new Set([20, 39, 55, 72]);
    for (let n = 0; n <= bytes.length; n++) {
      const p = parser(new BufferSink(), { header: HEADER });
      p.push(bytes.subarray(0, n));
      if (bounds.has(n)) {
        p.finish();
        continue;
      }
      const e = catchError(() => p.finish());
      expect(e.code, `cut at ${n}`).toBe(ErrorCode.StreamTruncated);
      const where = n < 16 ? `in its stream header (${n} of 16 bytes)`
        : n < 20 ? `in its stream header (${n} of 20 bytes)`
          : n < 36 ? `in the header of chunk 0 (${n - 20} of 16 bytes)`
            : n < 39 ? `in the payload of chunk 0 (${n - 36} of 3 bytes)`
              : n < 55 ? `in the header of chunk 1 (${n - 39} of 16 bytes)`
                : n < 71 ? `in the header of chunk 2 (${n - 55} of 16 bytes)`
                  : "in the payload of chunk 2 (0 of 1 bytes)";
      expect(e.message).toBe(`stream ended after ${n} bytes, ${where}`);
    }
  });
});

describe("the leading header", () => {
  it("its checks run as its bytes arrive, before onHeader and any chunk", () => {
    const header = HEADER.encode({ guestPages: 3 });
    const calls: string[] = [];
    const sink = new RecordingSink();
    const opts = { header: HEADER, onHeader: () => calls.push("header") };

    const badMagic = stream([new Uint8Array(1)], 0, header);
    badMagic[1] = 0x41;
    const m = pushBytewise(parser(sink, opts), badMagic);
    expect(m.at).toBe(3);
    expect(m.error.details).toMatchObject({ field: "magic", format: "stream" });

    const badCrc = stream([new Uint8Array(1)], 0, header);
    badCrc[12] ^= 4;
    const c = pushBytewise(parser(sink, opts), badCrc);
    expect(c.at).toBe(19);
    expect(c.error.details.field).toBe("crc");

    const newer = stream([new Uint8Array(1)], 0, header);
    newer[6] = 1;
    new DataView(newer.buffer).setUint32(16, crc32(newer.subarray(0, 16)), true); // minor 1, resealed
    const v = pushBytewise(parser(sink, opts), newer);
    expect(v.error.code).toBe(ErrorCode.FormatVersion);

    const refusedByCaller = pushBytewise(parser(sink, { header: HEADER, onHeader: () => { throw new HypermemError(ErrorCode.StreamLimit, "too big"); } }), stream([], 0, header));
    expect(refusedByCaller.error.code).toBe(ErrorCode.StreamLimit);
    expect(calls).toEqual([]);
    expect(sink.calls).toEqual([]);
  });

  it("rejects unknown and impossible options", () => {
    expect(catchError(() => parser(new BufferSink(), { maxPayloadBytes: -1 })).code).toBe(ErrorCode.BadOption);
    expect(catchError(() => parser(new BufferSink(), { minPayloadBytes: 5000 })).code).toBe(ErrorCode.BadOption);
    expect(catchError(() => parser(new BufferSink(), { maxBytes: 1 } as Partial<ChunkParserOptions>)).code).toBe(ErrorCode.UnknownOption);
    expect(Object.isFrozen(parser(new BufferSink()).options)).toBe(true);
  });
});
