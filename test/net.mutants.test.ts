// The record layer, the session keys and the token at their edges, where a
// mutation run (issue 19) found no test looking: sequence numbers past 2^32
// on the wire and in the nonce, each header refusal's full message, the
// limits exactly at their values, which body buffers the opener reuses (its
// own, at most four) and which it never touches (the caller's), an unknown
// suite, and token files that cannot be read, are padded, or leave a file
// open. Values are checked against oracles written here (Buffer's u64 LE,
// the documented messages), never against the code under test.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { thrownHypermemError } from "./helpers.js";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { RecordOpener, RecordSealer, type OpenedRecord } from "../src/net/record-seal.js";
import { decodeRecordHeader, MAX_RECORD_BODY_BYTES, MAX_SEQUENCE, recordNonce, RecordType } from "../src/net/record.js";
import { deriveSessionKeys, Suite, type Suite as SuiteType } from "../src/net/session-keys.js";
import { checkToken, loadToken } from "../src/net/token.js";

const TOKEN = Buffer.from("a token of at least sixteen bytes");
const keys = (suite: SuiteType) => deriveSessionKeys(TOKEN, Buffer.alloc(32, 1), Buffer.alloc(32, 2), suite);
const wire = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

const thrown = thrownHypermemError;

async function rejected(p: Promise<unknown>): Promise<HypermemError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

/** A 16-byte record header with these fields (the layout of src/net/record.ts, written with Buffer's own encoders). */
function header(f: { bodyBytes?: number; type?: number; flags?: number; rsvd?: number; sequence?: bigint }): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(f.bodyBytes ?? 0, 0);
  b.writeUInt8(f.type ?? RecordType.Data, 4);
  b.writeUInt8(f.flags ?? 0, 5);
  b.writeUInt16LE(f.rsvd ?? 0, 6);
  b.writeBigUInt64LE(f.sequence ?? 0n, 8);
  return b;
}

describe("record sequence numbers past 2^32", () => {
  it("go on the wire as u64 LE, and a header carrying one decodes to it", () => {
    const k = keys(Suite.Aes256Gcm).clientToServer;
    for (const sequence of [2 ** 32 + 5, 0x103_0000_0007, MAX_SEQUENCE - 1]) {
      const [h] = new RecordSealer(Suite.Aes256Gcm, k, sequence).seal(RecordType.Data, Buffer.from("x"));
      expect(Buffer.from(h).readBigUInt64LE(8)).toBe(BigInt(sequence));
      expect(Buffer.compare(Buffer.from(h), header({ bodyBytes: 1, sequence: BigInt(sequence) }))).toBe(0);
      expect(decodeRecordHeader(h, sequence, MAX_RECORD_BODY_BYTES, "x")).toEqual({ bodyBytes: 1, type: RecordType.Data, sequence });
    }
  });

  it("make the nonce: the iv with bytes 4..11 XORed with the sequence, u64 LE, every byte of it", () => {
    const iv = randomBytes(12);
    for (const sequence of [0x0102_0304, 0x0a0b_0c0d_0e0f_1011 % 2 ** 53, MAX_SEQUENCE]) {
      const want = Buffer.from(iv);
      const s = Buffer.alloc(8);
      s.writeBigUInt64LE(BigInt(sequence));
      for (let i = 0; i < 8; i++) want[4 + i] ^= s[i];
      expect(Buffer.from(recordNonce(iv, sequence)).toString("hex")).toBe(want.toString("hex"));
    }
  });

  it("a far-off sequence is named in hex from 2^53 on (not a rounded number), in its true byte order", () => {
    const at = (sequence: bigint): unknown => thrown(() => decodeRecordHeader(header({ sequence }), 0, MAX_RECORD_BODY_BYTES, "x")).details.value;
    expect(at(2n ** 53n + 5n)).toBe("0x20000000000005");
    expect(at(2n ** 60n + 0x1234_5678n)).toBe("0x1000000012345678");
    expect(at(2n ** 53n - 1n)).toBe(2 ** 53 - 1);
  });
});

describe("record header refusals name the record, the sender, the field and the rule", () => {
  const refuse = (h: Buffer, expected = 3): string => thrown(() => decodeRecordHeader(h, expected, MAX_RECORD_BODY_BYTES, "from 10.0.0.1:4444")).message;

  it.each([
    [{ type: 9, sequence: 3n }, "record 3 from 10.0.0.1:4444: header field type (offset 4) is 9, not a record type (DATA 1, ERROR 2, CLOSE 3)"],
    [{ flags: 2, sequence: 3n }, "record 3 from 10.0.0.1:4444: header field flags (offset 5) is 2, expected 0"],
    [{ rsvd: 7, sequence: 3n }, "record 3 from 10.0.0.1:4444: header field rsvd (offset 6) is 7, expected 0"],
    [{ sequence: 2n }, "record 3 from 10.0.0.1:4444: header field sequence (offset 8) is 2, expected 3: an earlier record again (replayed)"],
    [{ sequence: 4n }, "record 3 from 10.0.0.1:4444: header field sequence (offset 8) is 4, expected 3: a later record (one was dropped, or records were reordered)"],
  ])("%o", (fields, message) => {
    expect(refuse(header(fields))).toBe(message);
  });

  it("an opener not told who sends names 'the peer'; a tag that fails says what that means", () => {
    const k = keys(Suite.Aes256Gcm).clientToServer;
    const opener = new RecordOpener(Suite.Aes256Gcm, k);
    const record = wire(new RecordSealer(Suite.Aes256Gcm, k).seal(RecordType.Data, Buffer.from("page")));
    record[record.length - 1] ^= 1;
    const e = thrown(() => opener.push(record));
    expect(e.code).toBe(ErrorCode.Integrity);
    expect(e.message).toBe(
      "record 0 from the peer: the tag of its 4-byte DATA record does not verify: it was altered on the way, or was not sealed with this connection's key",
    );
    expect(e.details).toEqual({ field: "tag", sequence: 0, type: RecordType.Data, bodyBytes: 4 });
  });
});

describe("the sealer's limits", () => {
  it("a body of exactly MAX_RECORD_BODY_BYTES is one record; one byte more is refused with its size", () => {
    const k = keys(Suite.GmacAes256).clientToServer;
    const sealer = new RecordSealer(Suite.GmacAes256, k);
    const max = Buffer.alloc(MAX_RECORD_BODY_BYTES, 7);
    const opened = new RecordOpener(Suite.GmacAes256, k).push(wire(sealer.seal(RecordType.Data, max)));
    expect(opened.map((r) => r.bodyBytes)).toEqual([MAX_RECORD_BODY_BYTES]);
    const e = thrown(() => sealer.seal(RecordType.Data, Buffer.alloc(MAX_RECORD_BODY_BYTES + 1)));
    expect(e.code).toBe(ErrorCode.BadOption);
    expect(e.message).toBe(`a record body holds at most ${MAX_RECORD_BODY_BYTES} bytes, got ${MAX_RECORD_BODY_BYTES + 1}`);
    expect(e.details).toEqual({ bodyBytes: MAX_RECORD_BODY_BYTES + 1 });
    expect(sealer.sequence).toBe(1); // the refused body took no sequence number
  });

  it("the last sequence number refused says how many records went", () => {
    const sealer = new RecordSealer(Suite.Aes256Gcm, keys(Suite.Aes256Gcm).clientToServer, MAX_SEQUENCE);
    const e = thrown(() => sealer.seal(RecordType.Close, new Uint8Array(0)));
    expect(e.code).toBe(ErrorCode.Integrity);
    expect(e.details).toEqual({ sequence: MAX_SEQUENCE });
  });
});

describe("integrity only: the body buffers an opener reuses", () => {
  const MAX = 4096;
  function pair(): { sealer: RecordSealer; opener: RecordOpener } {
    const k = keys(Suite.GmacAes256).clientToServer;
    return { sealer: new RecordSealer(Suite.GmacAes256, k), opener: new RecordOpener(Suite.GmacAes256, k, { maxBodyBytes: MAX }) };
  }
  const open = (p: { sealer: RecordSealer; opener: RecordOpener }, body: Uint8Array, type: RecordType = RecordType.Data): OpenedRecord => {
    const out = p.opener.push(wire(p.sealer.seal(type, body)));
    expect(out).toHaveLength(1);
    return out[0];
  };

  it("keeps at most four given back: of six, the next six records reuse exactly four", () => {
    const p = pair();
    const given = Array.from({ length: 6 }, (_, i) => open(p, Buffer.alloc(100, i)).body[0]);
    expect(new Set(given.map((b) => b.buffer)).size).toBe(6);
    for (const b of given) p.opener.recycle(b);
    const next = Array.from({ length: 6 }, (_, i) => open(p, Buffer.alloc(200, 10 + i)));
    const reused = next.filter((r) => given.some((b) => b.buffer === r.body[0].buffer));
    expect(reused).toHaveLength(4);
    next.forEach((r, i) => expect(Buffer.compare(Buffer.concat(r.body), Buffer.alloc(200, 10 + i))).toBe(0));
  });

  it("an empty record takes no buffer: the one given back goes to the next record with a body", () => {
    const p = pair();
    const first = open(p, Buffer.alloc(50, 1)).body[0];
    p.opener.recycle(first);
    const close = open(p, new Uint8Array(0), RecordType.Data);
    expect(close.bodyBytes).toBe(0);
    expect(close.body.every((b) => b.buffer !== first.buffer)).toBe(true);
    expect(open(p, Buffer.alloc(60, 2)).body[0].buffer).toBe(first.buffer);
  });

  it("never writes into a buffer of the caller's given back: a view not at offset 0, or of another size", () => {
    const p = pair();
    const notAtZero = new Uint8Array(MAX).fill(0xaa).subarray(1);
    const otherSize = new Uint8Array(2 * MAX).fill(0xbb);
    p.opener.recycle(notAtZero);
    p.opener.recycle(otherSize);
    const r = open(p, Buffer.alloc(MAX - 1, 0x11));
    expect(r.body[0].buffer).not.toBe(notAtZero.buffer);
    expect(r.body[0].buffer).not.toBe(otherSize.buffer);
    expect(new Uint8Array(notAtZero.buffer).every((b) => b === 0xaa)).toBe(true);
    expect(otherSize.every((b) => b === 0xbb)).toBe(true);
  });
});

describe("session keys", () => {
  it("of an unknown suite are refused, naming it", () => {
    const e = thrown(() => deriveSessionKeys(TOKEN, Buffer.alloc(32), Buffer.alloc(32), 3 as SuiteType));
    expect(e.code).toBe(ErrorCode.BadOption);
    expect(e.message).toBe("unknown protection suite 3");
    expect(e.details).toEqual({ option: "suite", value: 3 });
  });
});

describe("tokens", () => {
  const dir = mkdtempSync(join(tmpdir(), "hypermem-net-mutants-"));
  const file = (name: string, bytes: Uint8Array | string, mode = 0o600): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes, { mode });
    chmodSync(path, mode);
    return path;
  };

  it("given to the library: the refusals name the option, what was given, and the limits; 4096 bytes is the largest", () => {
    expect(checkToken(new Uint8Array(4096))).toHaveLength(4096);
    const cases: Array<[unknown, string | undefined, string, Record<string, unknown>]> = [
      [null, undefined, "token must be a Uint8Array of bytes, got null", { option: "token" }],
      [42, "target.token", "target.token must be a Uint8Array of bytes, got number", { option: "target.token" }],
      [new Uint8Array(4097), undefined, "token holds 4097 bytes; a token has 16 to 4096 (e.g. openssl rand -hex 32 > FILE; chmod 600 FILE)", { option: "token", bytes: 4097 }],
      [new Uint8Array(15), undefined, "token holds 15 bytes; a token has 16 to 4096 (e.g. openssl rand -hex 32 > FILE; chmod 600 FILE)", { option: "token", bytes: 15 }],
    ];
    for (const [token, option, message, details] of cases) {
      const e = thrown(() => (option === undefined ? checkToken(token) : checkToken(token, option)));
      expect(e.code).toBe(ErrorCode.BadOption);
      expect(e.message).toBe(message);
      expect(e.details).toEqual(details);
    }
  });

  it("a file padded in front is counted once trimmed: 15 bytes after 20 spaces are refused", async () => {
    const path = file("padded-short", `${" ".repeat(20)}0123456789abcde\n`);
    const e = await rejected(loadToken(path));
    expect(e.code).toBe(ErrorCode.BadOption);
    expect(e.message).toMatch(/ holds 15 bytes once trimmed; a token needs at least 16 /);
    expect(e.details).toEqual({ option: "--token-file", file: path, bytes: 15 });
  });

  it("a file over the limit: the refusal's details name the flag, the file and the limit", async () => {
    const path = file("over", Buffer.alloc(5000, 0x41));
    expect((await rejected(loadToken(path))).details).toEqual({ option: "--token-file", file: path, limit: 4096 });
  });

  it("a file that cannot be opened, or cannot be read, is refused with the system's code", async () => {
    const missing = join(dir, "missing");
    const e1 = await rejected(loadToken(missing));
    expect(e1.code).toBe(ErrorCode.BadOption);
    expect(e1.message).toBe(`--token-file: cannot read ${JSON.stringify(missing)}: ENOENT`);
    expect(e1.details).toEqual({ option: "--token-file", file: missing });
    const e2 = await rejected(loadToken(dir)); // a directory opens, but reading it fails
    expect(e2.message).toBe(`--token-file: cannot read ${JSON.stringify(dir)}: EISDIR`);
    expect(e2.details).toEqual({ option: "--token-file", file: dir });
  });

  it("a file others may read is read without a warning callback; none leaves a file open", async () => {
    const fds = (): number => readdirSync("/proc/self/fd").length;
    const open = file("open", "a token, long enough to pass\n", 0o644);
    const before = fds();
    for (let i = 0; i < 20; i++) expect((await loadToken(open)).toString()).toBe("a token, long enough to pass");
    await rejected(loadToken(file("short", "short")));
    expect(fds()).toBe(before);
  });
});
