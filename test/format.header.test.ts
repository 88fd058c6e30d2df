// The versioned header codec (src/format/header.ts): layout against a
// hand-written oracle, round trips, and every check failing in its order.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { defineHeader, describeMagic, magicU32, MAX_HEADER_BYTES, type FieldSpec, type FieldsSoFar } from "../src/format/header.js";

const FIELDS = [
  { name: "kind", type: "u8", validate: (v: number) => (v <= 3 ? null : `kind ${v} is not 0..3`) },
  { name: "flags", type: "u16" },
  { name: "pageBytes", type: "u32", validate: (v: number) => (v === 4096 ? null : `page size ${v}, expected 4096`) },
  { name: "guestPages", type: "u64", validate: (v: number, f: FieldsSoFar) => (v >= 1 && v >= (f.kind as number) ? null : `guest pages ${v} below 1`) },
  { name: "digest", type: "u64", bigint: true },
  { name: "tag", type: "bytes", byteLength: 5 },
] as const satisfies readonly FieldSpec[];
const codec = defineHeader({ name: "toy", magic: "HMTY", major: 3, minor: 0, errorCode: ErrorCode.StreamCorrupt, fields: FIELDS });
const HB = 12 + 1 + 2 + 4 + 8 + 8 + 5 + 4; // 44

const sample = { kind: 2, flags: 0xbeef, pageBytes: 4096, guestPages: 2 ** 40 + 3, digest: 0xfedcba9876543210n, tag: new Uint8Array([1, 2, 3, 4, 5]) };

/** Recomputes the crc after an edit, so the check under test is the one that fails. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hb = view.getUint32(8, true);
  view.setUint32(hb - 4, crc32(bytes.subarray(0, hb - 4)), true);
  return bytes;
}

function edit(bytes: Uint8Array, fn: (v: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  fn(new DataView(copy.buffer));
  return copy;
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

function expectFailure(bytes: Uint8Array, code: string, field: string, offset: number, ...parts: string[]): HypermemError {
  const e = catchError(() => codec.decode(bytes));
  expect(e.code).toBe(code);
  expect(e.details.field).toBe(field);
  expect(e.details.offset).toBe(offset);
  expect(e.details.format).toBe("toy");
  for (const part of parts) expect(e.message).toContain(part);
  return e;
}

describe("layout", () => {
  it("matches the documented byte layout, written by hand", () => {
    const bytes = codec.encode(sample);
    expect(codec.byteLength).toBe(HB);
    expect(bytes.byteLength).toBe(HB);
    const b = Buffer.from(bytes);
    expect(b.subarray(0, 4).toString("latin1")).toBe("HMTY");
    expect([b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(8)]).toEqual([3, 0, HB]);
    expect(b[12]).toBe(2);
    expect(b.readUInt16LE(13)).toBe(0xbeef);
    expect(b.readUInt32LE(15)).toBe(4096);
    expect(b.readBigUInt64LE(19)).toBe(2n ** 40n + 3n);
    expect(b.readBigUInt64LE(27)).toBe(0xfedcba9876543210n);
    expect([...b.subarray(35, 40)]).toEqual([1, 2, 3, 4, 5]);
    expect(b.readUInt32LE(40)).toBe(crc32(b.subarray(0, 40)));
    expect([codec.offsetOf("kind"), codec.offsetOf("guestPages"), codec.offsetOf("tag")]).toEqual([12, 19, 35]);
  });

  it("magicU32 and describeMagic agree with the bytes", () => {
    expect(magicU32("HMTR")).toBe(Buffer.from("HMTR", "latin1").readUInt32LE(0));
    expect(describeMagic(0x58015858)).toBe(`"XX?X" (0x58580158)`); // bytes 58 58 01 58: the 0x01 shows as ?
    expect(catchError(() => magicU32("HMT")).code).toBe(ErrorCode.BadOption);
  });

  it("round-trips random values, with trailing bytes after the header ignored", () => {
    fc.assert(fc.property(
      fc.record({
        kind: fc.integer({ min: 0, max: 3 }), flags: fc.integer({ min: 0, max: 0xffff }), pageBytes: fc.constant(4096),
        guestPages: fc.integer({ min: 3, max: Number.MAX_SAFE_INTEGER }), digest: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        tag: fc.uint8Array({ minLength: 5, maxLength: 5 }),
      }),
      fc.uint8Array({ maxLength: 8 }),
      (values, trailing) => {
        const bytes = Buffer.concat([codec.encode(values), trailing]);
        expect(codec.decode(bytes)).toEqual({ ...values, major: 3, minor: 0, headerBytes: HB });
      },
    ), { numRuns: 300 });
  });
});

describe("decode checks, in order", () => {
  const good = codec.encode(sample);

  it("truncation at every length is refused, naming how many bytes there were", () => {
    for (let n = 0; n < HB; n++) {
      if (n < 16) expectFailure(good.subarray(0, n), ErrorCode.StreamCorrupt, "length", n, "truncated", `${n} bytes`);
      else expectFailure(good.subarray(0, n), ErrorCode.StreamCorrupt, "headerBytes", 8, "truncated", `is ${HB}`, `only ${n} bytes`);
    }
  });

  it("a wrong magic is refused first, with what was found and expected", () => {
    const e = expectFailure(edit(good, (v) => v.setUint32(0, magicU32("XXXX"), true)), ErrorCode.StreamCorrupt, "magic", 0,
      `"XXXX" (0x58585858)`, `expected "HMTY"`);
    expect(e.details.expected).toBe("HMTY");
    expect(catchError(() => codec.decode(good.subarray(0, 3))).details.field).toBe("length"); // length before magic
  });

  it("headerBytes outside 16..64 KiB is refused before the crc", () => {
    expectFailure(edit(good, (v) => v.setUint32(8, 15, true)), ErrorCode.StreamCorrupt, "headerBytes", 8, "is 15, outside 16..65536");
    expectFailure(edit(good, (v) => v.setUint32(8, MAX_HEADER_BYTES + 1, true)), ErrorCode.StreamCorrupt, "headerBytes", 8, "65537");
    // the bounds themselves pass this check (what an incremental reader asks before buffering the rest)
    for (const hb of [16, MAX_HEADER_BYTES]) expect(codec.decodePrefix(edit(good, (v) => v.setUint32(8, hb, true)))).toEqual({ major: 3, minor: 0, headerBytes: hb });
  });

  it("checkMagic needs the 4 bytes of the magic, and takes exactly those", () => {
    const e = catchError(() => codec.checkMagic(good.subarray(0, 3)));
    expect(e.code).toBe(ErrorCode.StreamCorrupt);
    expect(e.message).toContain("is truncated: 3 bytes, fewer than the 4 of the magic");
    expect(e.details).toMatchObject({ field: "length", value: 3, expected: ">= 4" });
    expect(() => codec.checkMagic(good.subarray(0, 4))).not.toThrow();
  });

  it("a flipped bit anywhere in the header is refused: magic, headerBytes or crc", () => {
    for (let bit = 0; bit < HB * 8; bit++) {
      const bad = edit(good, () => undefined);
      bad[bit >> 3] ^= 1 << (bit & 7);
      const byte = bit >> 3;
      const hb = new DataView(bad.buffer).getUint32(8, true);
      const field = byte < 4 ? "magic"
        : byte >= 8 && byte < 12 && (hb < 16 || hb > MAX_HEADER_BYTES || hb > HB) ? "headerBytes"
          : "crc";
      const e = catchError(() => codec.decode(bad));
      expect(e.code, `bit ${bit}`).toBe(ErrorCode.StreamCorrupt);
      expect(e.details.field, `bit ${bit}`).toBe(field);
    }
  });

  it("the crc error names both values", () => {
    const bad = edit(good, (v) => v.setUint8(12, 1));
    const stored = new DataView(bad.buffer).getUint32(HB - 4, true);
    const actual = crc32(bad.subarray(0, HB - 4));
    const e = expectFailure(bad, ErrorCode.StreamCorrupt, "crc", HB - 4, `0x${stored.toString(16).padStart(8, "0")}`, `0x${actual.toString(16).padStart(8, "0")}`);
    expect(e.details).toMatchObject({ value: stored, expected: actual });
  });

  it("another major, or a newer minor, is ERR_FORMAT_VERSION with found and supported", () => {
    const cases: [number, number, string][] = [[2, 0, "2.0"], [4, 0, "4.0"], [3, 1, "3.1"], [0, 9, "0.9"]];
    for (const [major, minor, found] of cases) {
      const e = catchError(() => codec.decode(reseal(edit(good, (v) => { v.setUint16(4, major, true); v.setUint16(6, minor, true); }))));
      expect(e.code).toBe(ErrorCode.FormatVersion);
      expect(e.message).toBe(`toy header version ${found} is not supported (this hypermem reads 3.0 up to minor 0)`);
      expect(e.details).toEqual({ format: "toy", found, supported: "3.0" });
    }
    const named = catchError(() => codec.decode(reseal(edit(good, (v) => v.setUint16(4, 4, true))), { source: "/tmp/x.bin" }));
    expect(named.details).toEqual({ format: "toy", found: "4.0", supported: "3.0", source: "/tmp/x.bin" });
  });

  it("a headerBytes that is not the size of its version's layout is refused", () => {
    const longer = new Uint8Array(HB + 4);
    longer.set(good.subarray(0, HB - 4));
    new DataView(longer.buffer).setUint32(8, HB + 4, true);
    expectFailure(reseal(longer), ErrorCode.StreamCorrupt, "headerBytes", 8, `is ${HB + 4}, expected ${HB} for version 3.0`);
  });

  it("field validators run in declared order and see the fields before them", () => {
    const bad = reseal(edit(good, (v) => { v.setUint8(12, 9); v.setUint32(15, 8192, true); }));
    expectFailure(bad, ErrorCode.StreamCorrupt, "kind", 12, "field kind (offset 12): kind 9 is not 0..3");
    expectFailure(reseal(edit(good, (v) => v.setUint32(15, 8192, true))), ErrorCode.StreamCorrupt, "pageBytes", 15, "page size 8192, expected 4096");
    // guestPages 1 passes alone but not with kind 2 before it.
    expectFailure(reseal(edit(good, (v) => v.setBigUint64(19, 1n, true))), ErrorCode.StreamCorrupt, "guestPages", 19, "guest pages 1");
  });

  it("a u64 above 2^53-1 fails validation unless declared bigint", () => {
    const e = expectFailure(reseal(edit(good, (v) => v.setBigUint64(19, 2n ** 53n, true))), ErrorCode.StreamCorrupt, "guestPages", 19,
      `${2n ** 53n} is above 2^53-1`);
    expect(e.details.value).toBe(2n ** 53n);
    const max = codec.decode(reseal(edit(good, (v) => v.setBigUint64(27, 2n ** 64n - 1n, true))));
    expect(max.digest).toBe(2n ** 64n - 1n);
    expect(codec.decode(reseal(edit(good, (v) => v.setBigUint64(19, BigInt(Number.MAX_SAFE_INTEGER), true)))).guestPages).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("the source is named in messages", () => {
    const e = catchError(() => codec.decode(good.subarray(0, 5), { source: "/tmp/x.bin" }));
    expect(e.message).toMatch(/^toy \/tmp\/x\.bin: header is truncated: 5 bytes/);
    expect(e.details.source).toBe("/tmp/x.bin");
  });
});

describe("versions", () => {
  const base = [{ name: "a", type: "u32" }] as const satisfies readonly FieldSpec[];
  const v20 = defineHeader({ name: "evo", magic: "HMEV", major: 2, minor: 0, errorCode: ErrorCode.TraceFormat, fields: base });
  const v21 = defineHeader({ name: "evo", magic: "HMEV", major: 2, minor: 1, errorCode: ErrorCode.TraceFormat,
    fields: [...base, { name: "b", type: "u16", sinceMinor: 1, default: 7 }] });
  const v22 = defineHeader({ name: "evo", magic: "HMEV", major: 2, minor: 2, errorCode: ErrorCode.TraceFormat,
    fields: [...base, { name: "b", type: "u16", sinceMinor: 1, default: 7 }, { name: "c", type: "u64", bigint: true, sinceMinor: 2, default: 99n }] });

  it("an older minor decodes with the defaults of the fields added since", () => {
    expect(v22.decode(v20.encode({ a: 5 }))).toEqual({ a: 5, b: 7, c: 99n, major: 2, minor: 0, headerBytes: 20 });
    expect(v22.decode(v21.encode({ a: 5, b: 1 }))).toEqual({ a: 5, b: 1, c: 99n, major: 2, minor: 1, headerBytes: 22 });
    expect(v22.decode(v22.encode({ a: 5, b: 1, c: 3n }))).toEqual({ a: 5, b: 1, c: 3n, major: 2, minor: 2, headerBytes: 30 });
  });

  it("a newer minor is refused even though its layout only appends", () => {
    const e = catchError(() => v20.decode(v21.encode({ a: 5, b: 1 })));
    expect(e.code).toBe(ErrorCode.FormatVersion);
    expect(e.message).toContain("version 2.1 is not supported (this hypermem reads 2.0 up to minor 0)");
  });

  it("an older-minor header with the wrong length for its minor is refused", () => {
    const bad = v20.encode({ a: 5 });
    const padded = new Uint8Array(24);
    padded.set(bad.subarray(0, 16));
    new DataView(padded.buffer).setUint32(8, 24, true);
    const e = catchError(() => v22.decode(reseal(padded)));
    expect(e.code).toBe(ErrorCode.TraceFormat);
    expect(e.message).toContain("is 24, expected 20 for version 2.0");
  });

  it("a format from before this layout is recognised after the magic and refused as an old version", () => {
    const legacy = defineHeader({ name: "evo", magic: "HMEV", major: 2, minor: 0, errorCode: ErrorCode.TraceFormat, fields: base,
      olderLayout: (v) => (v.getUint16(4, true) === 1 ? "1" : null) });
    const old = new Uint8Array(32);
    old.set(Buffer.from("HMEV"), 0);
    new DataView(old.buffer).setUint16(4, 1, true);
    new DataView(old.buffer).setUint32(8, 1_000_000, true); // would be an out-of-range headerBytes
    const e = catchError(() => legacy.decode(old));
    expect(e.code).toBe(ErrorCode.FormatVersion);
    expect(e.message).toBe("evo header version 1 is an old evo version, from before hypermem's versioned header, and is not supported (this hypermem reads 2.0 up to minor 0)");
    expect(e.details).toEqual({ format: "evo", found: "1", supported: "2.0" });
    expect(legacy.decode(legacy.encode({ a: 1 })).a).toBe(1);
    old[0] = 0x58;
    expect(catchError(() => legacy.decode(old)).details.field).toBe("magic");
  });
});

describe("encode and defineHeader refuse what a reader would refuse", () => {
  it("encode: values outside the type, failing validators, missing and unknown fields", () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...sample, kind: 256 }, ErrorCode.BadOption, "0..255"],
      [{ ...sample, flags: -1 }, ErrorCode.BadOption, "0..65535"],
      [{ ...sample, pageBytes: 1.5 }, ErrorCode.BadOption, "integer"],
      [{ ...sample, guestPages: 2 ** 53 }, ErrorCode.BadOption, String(2 ** 53)],
      [{ ...sample, digest: 2n ** 64n }, ErrorCode.BadOption, "bigint"],
      [{ ...sample, tag: new Uint8Array(4) }, ErrorCode.BadOption, "expected 5 bytes, got 4 bytes"],
      [{ ...sample, kind: 7 }, ErrorCode.BadOption, "kind 7 is not 0..3"],
      [{ ...sample, digest: undefined }, ErrorCode.BadOption, "field digest"],
      [{ ...sample, extra: 1 }, ErrorCode.UnknownOption, `"extra"`],
    ];
    for (const [values, code, part] of cases) {
      const e = catchError(() => codec.encode(values as typeof sample));
      expect(e.code).toBe(code);
      expect(e.message).toContain(part);
    }
  });

  it("defineHeader: bad magic, versions, names, minors, defaults and unknown keys", () => {
    const ok = { name: "x", magic: "HMXX", major: 1, minor: 1, errorCode: ErrorCode.TraceFormat };
    const bad: [object, string][] = [
      [{ ...ok, magic: "HMX", fields: [] }, "magic"],
      [{ ...ok, major: 70000, fields: [] }, "major must be"],
      [{ ...ok, errorCode: "ERR_NOPE", fields: [] }, "unknown errorCode"],
      [{ ...ok, fields: [{ name: "crc", type: "u8" }] }, `"crc" is reserved`],
      [{ ...ok, fields: [{ name: "a", type: "u8" }, { name: "a", type: "u8" }] }, "repeated"],
      [{ ...ok, fields: [{ name: "a", type: "u8", sinceMinor: 1 }] }, "needs a default"],
      [{ ...ok, fields: [{ name: "a", type: "u8", sinceMinor: 1, default: 1 }, { name: "b", type: "u8" }] }, "sinceMinor 0 must be in 1..1"],
      [{ ...ok, fields: [{ name: "a", type: "u8", sinceMinor: 2, default: 1 }] }, "sinceMinor 2"],
      [{ ...ok, fields: [{ name: "a", type: "u8", sinceMinor: 1, default: 300 }] }, "default"],
      [{ ...ok, fields: [{ name: "a", type: "bytes", byteLength: 0 }] }, "byteLength"],
      [{ ...ok, fields: [{ name: "a", type: "bytes", byteLength: MAX_HEADER_BYTES }] }, "exceed"],
      [{ ...ok, fields: [{ name: "a", type: "u8", size: 1 }] }, `"size"`],
      [{ ...ok, fields: [], version: 1 }, `"version"`],
    ];
    for (const [spec, part] of bad) {
      const e = catchError(() => defineHeader(spec as Parameters<typeof defineHeader>[0]));
      expect([ErrorCode.BadOption, ErrorCode.UnknownOption]).toContain(e.code);
      expect(e.message).toContain(part);
    }
  });
});
