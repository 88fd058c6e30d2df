// XBZRLE against QEMU's own outputs: every record of test/fixtures/xbzrle.jsonl
// (see xbzrle.README.md) through the public API, the raw wasm kernels (with
// guard bytes after each buffer) and the TypeScript oracle.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { xbzrleDecode, xbzrleEncode } from "../src/pages/xbzrle.js";
import { Kernels } from "../src/wasm/kernels.js";
import { refXbzrleDecode, refXbzrleEncode } from "./reference/xbzrle.js";
import { thrownCode } from "./helpers.js";

interface EncodeVector {
  kind: "encode"; category: string; name: string; slen: number; dlen: number; ret: number;
  old: string; new: string; encoded: string | null;
}
interface DecodeVector {
  kind: "decode"; category: string; name: string; slen: number; dlen: number; ret: number;
  input: string; dst_initial: string; result: string | null;
}
type Vector = EncodeVector | DecodeVector;

const vectors: Vector[] = readFileSync(new URL("./fixtures/xbzrle.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line) as Vector);
const encodes = vectors.filter((v): v is EncodeVector => v.kind === "encode");
const decodes = vectors.filter((v): v is DecodeVector => v.kind === "decode");

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
const GUARD = 0xa5;
const k = new Kernels(1 << 20, 1);
const A = k.layout.scratchBase;

/** Expected encoder output bytes of a vector (empty unless ret > 0). */
const expectedEncoding = (v: EncodeVector): Uint8Array => (v.ret > 0 && v.encoded ? b64(v.encoded) : new Uint8Array(0));

function sameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

describe("xbzrle vectors", () => {
  it("has the documented number of records", () => {
    expect(encodes.length).toBe(119);
    expect(decodes.length).toBe(68);
    for (const v of decodes) expect(b64(v.input).length).toBe(v.slen);
  });

  describe.each(encodes.map((v) => [`${v.category}/${v.name}`, v] as const))("encode %s", (_, v) => {
    const oldPage = b64(v.old);
    const newPage = b64(v.new);

    it("public API", () => {
      const out = xbzrleEncode(oldPage, newPage, v.dlen);
      if (v.ret < 0) expect(out).toBeNull();
      else sameBytes(out as Uint8Array, expectedEncoding(v));
    });

    it("raw kernel writes nothing past dlen", () => {
      const dst = A + 2 * 16384;
      k.heap.copyIn(A, oldPage);
      k.heap.copyIn(A + 16384, newPage);
      k.heap.u8.fill(GUARD, dst, dst + v.dlen + 64);
      const ret = k.pages.xbzrleEncode(A, A + 16384, v.slen, dst, v.dlen);
      expect(ret).toBe(v.ret);
      if (ret > 0) sameBytes(k.heap.copyOut(dst, ret), expectedEncoding(v));
      expect(k.heap.copyOut(dst + v.dlen, 64).every((b) => b === GUARD)).toBe(true);
    });

    it("oracle", () => {
      const dst = new Uint8Array(Math.max(v.dlen, 0));
      const ret = refXbzrleEncode(oldPage, newPage, v.slen, dst, v.dlen);
      expect(ret).toBe(v.ret);
      if (ret > 0) sameBytes(dst.subarray(0, ret), expectedEncoding(v));
    });
  });

  describe.each(decodes.map((v) => [`${v.category}/${v.name}`, v] as const))("decode %s", (_, v) => {
    const input = b64(v.input);
    const initial = b64(v.dst_initial);

    it("public API", () => {
      const before = initial.slice();
      if (v.ret < 0) {
        expect(thrownCode(() => xbzrleDecode(input, initial))).toBe(ErrorCode.XbzrleCorrupt);
      } else {
        sameBytes(xbzrleDecode(input, initial), b64(v.result as string));
      }
      sameBytes(initial, before);
    });

    it("raw kernel writes nothing past dlen", () => {
      const dst = A + 65536;
      k.heap.copyIn(A, input);
      k.heap.copyIn(dst, initial);
      k.heap.u8.fill(GUARD, dst + v.dlen, dst + v.dlen + 64);
      expect(k.pages.xbzrleDecode(A, v.slen, dst, v.dlen)).toBe(v.ret);
      if (v.ret >= 0) sameBytes(k.heap.copyOut(dst, v.dlen), b64(v.result as string));
      expect(k.heap.copyOut(dst + v.dlen, 64).every((b) => b === GUARD)).toBe(true);
    });

    it("oracle", () => {
      const dst = initial.slice();
      expect(refXbzrleDecode(input, v.slen, dst, v.dlen)).toBe(v.ret);
      if (v.ret >= 0) sameBytes(dst, b64(v.result as string));
    });
  });
});
