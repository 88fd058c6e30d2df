// Persist and state records (src/format/persist.ts), with a toy component:
// save, encode, decode, restore gives the same component; every check of the
// record fails with its code.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { decodeState, encodeState, type Persist, type StateSpec } from "../src/format/persist.js";

interface CounterState { count: number; label: string }

/** A toy component: a named counter. Its state bytes are u32 count, then the UTF-8 label. */
class Counter implements Persist<CounterState> {
  count = 0;
  label = "";
  save(): CounterState { return { count: this.count, label: this.label }; }
  restore(state: CounterState): void {
    this.count = state.count;
    this.label = state.label;
  }
}
const SPEC: StateSpec = { name: "counter", magic: "HMCT", major: 1, minor: 1 };

function toBytes(s: CounterState): Uint8Array {
  const label = Buffer.from(s.label, "utf8");
  const out = Buffer.alloc(4 + label.length);
  out.writeUInt32LE(s.count, 0);
  label.copy(out, 4);
  return new Uint8Array(out);
}
function fromBytes(b: Uint8Array): CounterState {
  return { count: Buffer.from(b).readUInt32LE(0), label: Buffer.from(b.subarray(4)).toString("utf8") };
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

function reseal(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(24, crc32(bytes.subarray(0, 24)), true);
  return bytes;
}

describe("a component saved and restored through a state record", () => {
  it("restore(decode(encode(save()))) gives back the same state", () => {
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), fc.string(), (count, label) => {
      const a = new Counter();
      a.count = count;
      a.label = label;
      const record = encodeState(SPEC, toBytes(a.save()));
      const b = new Counter();
      const decoded = decodeState(SPEC, record);
      expect([decoded.major, decoded.minor]).toEqual([1, 1]);
      b.restore(fromBytes(decoded.payload));
      expect(b.save()).toEqual({ count, label });
    }), { numRuns: 200 });
  });

  it("has the documented layout", () => {
    const payload = toBytes({ count: 7, label: "hi" });
    const r = Buffer.from(encodeState(SPEC, payload));
    expect(r.length).toBe(28 + 6);
    expect(r.subarray(0, 4).toString("latin1")).toBe("HMCT");
    expect([r.readUInt16LE(4), r.readUInt16LE(6), r.readUInt32LE(8)]).toEqual([1, 1, 28]);
    expect(r.readBigUInt64LE(12)).toBe(6n);
    expect(r.readUInt32LE(20)).toBe(crc32(payload));
    expect(r.readUInt32LE(24)).toBe(crc32(r.subarray(0, 24)));
    expect(Buffer.compare(r.subarray(28), payload)).toBe(0);
  });

  it("an older minor is read; a newer minor and another major are ERR_FORMAT_VERSION", () => {
    const old = encodeState({ ...SPEC, minor: 0 }, toBytes({ count: 1, label: "x" }));
    expect(decodeState(SPEC, old).minor).toBe(0);
    for (const newer of [{ ...SPEC, minor: 2 }, { ...SPEC, major: 2, minor: 0 }]) {
      const e = catchError(() => decodeState(SPEC, encodeState(newer, new Uint8Array(4))));
      expect(e.code).toBe(ErrorCode.FormatVersion);
      expect(e.details.found).toBe(`${newer.major}.${newer.minor}`);
    }
  });
});

describe("every check of a state record fails", () => {
  const good = encodeState(SPEC, toBytes({ count: 5, label: "five" }));

  function expectCorrupt(bytes: Uint8Array, field: string, ...parts: string[]): HypermemError {
    const e = catchError(() => decodeState(SPEC, bytes, { source: "/var/x.state" }));
    expect(e.code).toBe(ErrorCode.StateCorrupt);
    expect(e.details.field).toBe(field);
    expect(e.message).toContain("counter /var/x.state");
    for (const p of parts) expect(e.message).toContain(p);
    return e;
  }

  it("magic, header crc, truncated, trailing bytes, payload crc, over the limit", () => {
    const magic = good.slice();
    magic[0] = 0x41;
    expectCorrupt(magic, "magic", `expected "HMCT"`);
    const hdr = good.slice();
    hdr[13] ^= 1;
    expectCorrupt(hdr, "crc");
    expectCorrupt(good.subarray(0, good.length - 1), "payloadBytes", "truncated", "record is 36 bytes, but 35 are there");
    const trailing = expectCorrupt(Buffer.concat([good, new Uint8Array(2)]), "payloadBytes", "trailing bytes");
    expect(trailing.details).toMatchObject({ value: 8, expected: 10 });
    const unnamed = catchError(() => decodeState(SPEC, good.subarray(0, good.length - 1)));
    expect(unnamed.message).toMatch(/^counter state record: truncated/);
    const payload = good.slice();
    payload[30] ^= 0x80;
    expectCorrupt(payload, "payloadCrc32", "field payloadCrc32 is 0x");
    const e = catchError(() => decodeState(SPEC, good, { maxPayloadBytes: 7 }));
    expect(e.code).toBe(ErrorCode.StateCorrupt);
    expect(e.message).toContain("payload of 8 bytes is above the limit of 7");
    expect(decodeState(SPEC, good, { maxPayloadBytes: 8 }).payload.length).toBe(8); // exactly the limit is taken
    const huge = reseal(good.slice());
    new DataView(huge.buffer).setBigUint64(12, 2n ** 40n, true);
    expectCorrupt(reseal(huge), "payloadBytes", "above the limit of 1073741824");
  });

  it("a spec's own errorCode replaces ERR_STATE_CORRUPT", () => {
    const e = catchError(() => decodeState({ ...SPEC, errorCode: ErrorCode.TraceFormat }, good.subarray(0, 10)));
    expect(e.code).toBe(ErrorCode.TraceFormat);
  });
});
