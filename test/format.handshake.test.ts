// The handshake message codec (src/net/handshake.ts) on the shared header:
// its bytes against a hand-written layout, the per-type length rule, and
// versions 1 and 2 (before the record layer) recognised and refused.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { decodeFrameHeader, encodeFrame, FRAME_HEADER_BYTES, MAX_TEXT_BYTES, MessageType } from "../src/net/handshake.js";

/** The length rule written out: fixed for the first four types (HELLO: nonce and suite), up to MAX_TEXT_BYTES for REJECT and ERROR. */
const RULE: Record<number, (n: number) => boolean> = {
  1: (n) => n === 33, 2: (n) => n === 64, 3: (n) => n === 32, 4: (n) => n === 0, 5: (n) => n <= MAX_TEXT_BYTES, 6: (n) => n <= MAX_TEXT_BYTES,
};

/** A 20-byte header built by hand, with a valid crc. */
function header(type: number, payloadBytes: number, rsvd = 0, major = 3, minor = 0): Uint8Array {
  const b = Buffer.alloc(20);
  b.write("HMHS", 0, "latin1");
  b.writeUInt16LE(major, 4);
  b.writeUInt16LE(minor, 6);
  b.writeUInt32LE(20, 8);
  b.writeUInt8(type, 12);
  b.writeUInt8(rsvd, 13);
  b.writeUInt16LE(payloadBytes, 14);
  b.writeUInt32LE(crc32(b.subarray(0, 16)), 16);
  return new Uint8Array(b);
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

describe("handshake messages", () => {
  it("encodeFrame writes the documented bytes: 20-byte header, then the payload", () => {
    const hello = Uint8Array.from({ length: 33 }, (_, i) => i); // nonce ‖ suite (the codec does not read the payload)
    const frame = encodeFrame(MessageType.Hello, hello);
    expect(FRAME_HEADER_BYTES).toBe(20);
    expect(Buffer.compare(frame.subarray(0, 20), header(1, 33))).toBe(0);
    expect(Buffer.compare(frame.subarray(20), hello)).toBe(0);
    expect(encodeFrame(MessageType.Accept).length).toBe(20);
  });

  it("accepts exactly the lengths the type allows, and unknown types never", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 0xffff })), (type, length) => {
      const ok = RULE[type]?.(length) ?? false;
      let got: { type: number; length: number } | HypermemError;
      try {
        got = decodeFrameHeader(header(type, length));
      } catch (err) {
        got = err as HypermemError;
      }
      if (ok) expect(got).toEqual({ type, length });
      else {
        expect(got).toBeInstanceOf(HypermemError);
        expect((got as HypermemError).code).toBe(ErrorCode.Handshake);
        expect((got as HypermemError).details.field).toBe(type >= 1 && type <= 6 ? "payloadBytes" : "type");
      }
    }), { numRuns: 500 });
    expect(catchError(() => decodeFrameHeader(header(1, 32))).message).toContain("HELLO payload is 32 bytes, expected 33");
    expect(catchError(() => decodeFrameHeader(header(5, 1025))).message).toContain("REJECT payload is 1025 bytes, expected at most 1024");
  });

  it("refuses a reserved byte, a bad crc, another version, and a version-1 header", () => {
    expect(catchError(() => decodeFrameHeader(header(1, 33, 1))).details.field).toBe("rsvd");
    const flipped = header(1, 33);
    flipped[14] ^= 0x40;
    expect(catchError(() => decodeFrameHeader(flipped)).details.field).toBe("crc");
    // 2.0 is the handshake before the record layer (no suite; nothing protected after ACCEPT).
    for (const [major, minor] of [[0, 0], [2, 0], [4, 0], [3, 1]]) { // (major 1 is read as the version-1 layout, below)
      const e = catchError(() => decodeFrameHeader(header(1, 33, 0, major, minor)));
      expect(e.code).toBe(ErrorCode.FormatVersion);
      expect(e.details.found).toBe(`${major}.${minor}`);
    }
    const v1 = Buffer.alloc(40); // HELLO of version 1: "HMHS", u8 1, u8 type 1, u16 32, nonce
    v1.write("HMHS", 0, "latin1");
    v1.writeUInt8(1, 4);
    v1.writeUInt8(1, 5);
    v1.writeUInt16LE(32, 6);
    const e = catchError(() => decodeFrameHeader(v1));
    expect(e.code).toBe(ErrorCode.FormatVersion);
    expect(e.details).toEqual({ format: "handshake", found: "1", supported: "3.0" });
  });
});
