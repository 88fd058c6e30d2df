// The record layer (src/net/record.ts, record-seal.ts) and the session keys
// (session-keys.ts), in-process: the bytes of a record against the
// documented layout, the keys against HKDF computed by hand, round trips of
// both suites through any split of the bytes, and every check made to fail:
// one bit of the tag, of the body, of each header field, of the sequence; a
// record replayed, reordered, dropped, cut, or sealed with another key.
import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { RecordOpener, RecordSealer, type OpenedRecord } from "../src/net/record-seal.js";
import {
  decodeRecordHeader, MAX_ERROR_BODY_BYTES, MAX_RECORD_BODY_BYTES, MAX_SEQUENCE, RECORD_HEADER_BYTES, recordNonce, RecordType, TAG_BYTES,
} from "../src/net/record.js";
import { deriveSessionKeys, Suite, type SessionKeys } from "../src/net/session-keys.js";

const TOKEN = Buffer.from("a token of at least sixteen bytes");
const NONCE_C = Buffer.alloc(32, 0xc1);
const NONCE_S = Buffer.alloc(32, 0x5e);

function keysFor(suite: Suite, token = TOKEN, nc: Uint8Array = NONCE_C, ns: Uint8Array = NONCE_S): SessionKeys {
  return deriveSessionKeys(token, nc, ns, suite);
}

/** A sealer and an opener of the client->server direction of one session. */
function pair(suite: Suite): { sealer: RecordSealer; opener: RecordOpener; keys: SessionKeys } {
  const keys = keysFor(suite);
  return { sealer: new RecordSealer(suite, keys.clientToServer), opener: new RecordOpener(suite, keys.clientToServer, { from: "from the test" }), keys };
}

const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);
const bodyOf = (r: OpenedRecord): Buffer => Buffer.concat(r.body);

function integrityError(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    expect((err as HypermemError).code).toBe(ErrorCode.Integrity);
    return err as HypermemError;
  }
  return expect.fail("expected ERR_INTEGRITY");
}

describe("session keys", () => {
  it("are HKDF-SHA256 of the token, salted with both nonces, labelled with version, suite and direction", () => {
    for (const [suite, name] of [[Suite.Aes256Gcm, "aes-256-gcm"], [Suite.GmacAes256, "gmac-aes-256"]] as const) {
      const keys = keysFor(suite);
      for (const [direction, got] of [["client->server", keys.clientToServer], ["server->client", keys.serverToClient]] as const) {
        const want = Buffer.from(hkdfSync("sha256", TOKEN, Buffer.concat([NONCE_C, NONCE_S]), `hypermem-migrate-v3 ${name} ${direction}`, 44));
        expect(Buffer.compare(Buffer.from(got.key), want.subarray(0, 32))).toBe(0);
        expect(Buffer.compare(Buffer.from(got.iv), want.subarray(32))).toBe(0);
      }
    }
  });

  it("differ per direction, per suite, per nonce and per token", () => {
    const base = keysFor(Suite.Aes256Gcm);
    const others = [
      base.serverToClient, keysFor(Suite.GmacAes256).clientToServer, keysFor(Suite.Aes256Gcm, TOKEN, randomBytes(32)).clientToServer,
      keysFor(Suite.Aes256Gcm, TOKEN, NONCE_C, randomBytes(32)).clientToServer, keysFor(Suite.Aes256Gcm, Buffer.from("another token of 16+ bytes")).clientToServer,
    ];
    for (const o of others) expect(Buffer.compare(Buffer.from(o.key), Buffer.from(base.clientToServer.key))).not.toBe(0);
  });
});

describe("record bytes", () => {
  it("follow the documented layout: header, body (AES-256-GCM ciphertext), tag over the header as additional data", () => {
    const { sealer, keys } = pair(Suite.Aes256Gcm);
    sealer.seal(RecordType.Data, new Uint8Array(3)); // sequence 0
    const body = Buffer.from("guest memory, page 7");
    const [header, ciphertext, tag] = sealer.seal(RecordType.Data, body); // sequence 1
    const want = Buffer.alloc(16);
    want.writeUInt32LE(body.length, 0);
    want.writeUInt8(1, 4);
    want.writeBigUInt64LE(1n, 8);
    expect(Buffer.compare(Buffer.from(header), want)).toBe(0);
    // The nonce: iv with bytes 4..11 XORed with the sequence, u64 LE.
    const nonce = Buffer.from(keys.clientToServer.iv);
    nonce[4] ^= 1;
    expect(Buffer.compare(Buffer.from(recordNonce(keys.clientToServer.iv, 1)), nonce)).toBe(0);
    const reference = createCipheriv("aes-256-gcm", keys.clientToServer.key, nonce);
    reference.setAAD(want);
    const refCiphertext = Buffer.concat([reference.update(body), reference.final()]);
    expect(Buffer.compare(Buffer.from(ciphertext), refCiphertext)).toBe(0);
    expect(Buffer.compare(Buffer.from(tag), reference.getAuthTag())).toBe(0);
    expect(Buffer.from(ciphertext).includes("guest memory")).toBe(false);
  });

  it("with integrity only, carry the body in clear and a GMAC over header and body", () => {
    const { sealer, keys } = pair(Suite.GmacAes256);
    const body = Buffer.from("guest memory in clear");
    const [header, clear, tag] = sealer.seal(RecordType.Data, body);
    expect(clear).toBe(body); // not copied
    const reference = createCipheriv("aes-256-gcm", keys.clientToServer.key, recordNonce(keys.clientToServer.iv, 0));
    reference.setAAD(Buffer.concat([header, body]));
    reference.final();
    expect(Buffer.compare(Buffer.from(tag), reference.getAuthTag())).toBe(0);
    expect(header.length + tag.length).toBe(RECORD_HEADER_BYTES + TAG_BYTES);
  });

  it("nonces never repeat: the sequence numbers of a sealer run 0, 1, 2..., and the last one is refused", () => {
    const keys = keysFor(Suite.Aes256Gcm);
    const sealer = new RecordSealer(Suite.Aes256Gcm, keys.clientToServer);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      expect(sealer.sequence).toBe(i);
      const [header] = sealer.seal(RecordType.Data, new Uint8Array(1));
      expect(Buffer.from(header).readBigUInt64LE(8)).toBe(BigInt(i));
      seen.add(Buffer.from(recordNonce(keys.clientToServer.iv, i)).toString("hex"));
    }
    expect(seen.size).toBe(100);
    expect(Buffer.from(recordNonce(keys.clientToServer.iv, 2 ** 40 + 5)).toString("hex")).not.toBe(Buffer.from(recordNonce(keys.clientToServer.iv, 5)).toString("hex"));
    const last = new RecordSealer(Suite.Aes256Gcm, keys.clientToServer, MAX_SEQUENCE - 1);
    last.seal(RecordType.Data, new Uint8Array(1));
    expect(() => last.seal(RecordType.Data, new Uint8Array(1))).toThrow(expect.objectContaining({ code: ErrorCode.Integrity, message: expect.stringMatching(/used up/) }));
    expect(() => sealer.seal(RecordType.Data, new Uint8Array(MAX_RECORD_BODY_BYTES + 1))).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
  });
});

describe("opening records", () => {
  it.each([[Suite.Aes256Gcm], [Suite.GmacAes256]])("suite %s: any split of any sequence of records gives back the bodies in order", (suite) => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }),
      (bodies, cuts) => {
        const { sealer, opener } = pair(suite);
        const wire = concat(bodies.flatMap((b) => [...sealer.seal(RecordType.Data, b)]));
        const opened: OpenedRecord[] = [];
        for (let at = 0, i = 0; at < wire.length; i++) {
          const n = cuts[i % cuts.length];
          opened.push(...opener.push(wire.subarray(at, at + n)));
          at += n;
        }
        expect(opener.midRecord).toBe(false);
        expect(opened.map((r) => r.sequence)).toEqual(bodies.map((_, i) => i));
        opened.forEach((r, i) => expect(Buffer.compare(bodyOf(r), Buffer.from(bodies[i]))).toBe(0));
      },
    ), { numRuns: 60 });
  });

  it("ERROR and CLOSE records open as their types", () => {
    const { sealer, opener } = pair(Suite.Aes256Gcm);
    const wire = concat([...sealer.seal(RecordType.Error, Buffer.from('{"code":"ERR_X","message":"m"}')), ...sealer.seal(RecordType.Close, new Uint8Array(0))]);
    const [error, close] = opener.push(wire);
    expect(error.type).toBe(RecordType.Error);
    expect(bodyOf(error).toString()).toBe('{"code":"ERR_X","message":"m"}');
    expect(close).toMatchObject({ type: RecordType.Close, bodyBytes: 0, sequence: 1 });
  });

  it("integrity only: a body given back is reused for a later record", () => {
    const { sealer, opener } = pair(Suite.GmacAes256);
    const [first] = opener.push(concat(sealer.seal(RecordType.Data, Buffer.alloc(1000, 1))));
    const firstBody = first.body[0];
    opener.recycle(firstBody);
    const [second] = opener.push(concat(sealer.seal(RecordType.Data, Buffer.alloc(500, 2))));
    expect(second.body[0].buffer).toBe(firstBody.buffer);
    expect(Buffer.compare(bodyOf(second), Buffer.alloc(500, 2))).toBe(0);
  });

  /** Seals records 0, 1, 2 (bodies "zero", "one", "two") and returns each record's bytes. */
  function three(suite: Suite): { records: Buffer[]; opener: RecordOpener } {
    const { sealer, opener } = pair(suite);
    return { records: ["zero", "one", "two"].map((t) => concat(sealer.seal(RecordType.Data, Buffer.from(t)))), opener };
  }

  /** The check that catches a flipped bit in byte `byte` of a record (the body is "one": 3 bytes). */
  function expectedCheck(byte: number, flipped: Buffer): readonly string[] {
    if (byte < 4) {
      // A changed length: over the limit, or the framing shifts and the tag (read from elsewhere) fails, or the opener waits for more.
      return flipped.readUInt32LE(0) > MAX_RECORD_BODY_BYTES ? ["bodyBytes"] : ["tag", "wait"];
    }
    if (byte === 4) return flipped[4] === RecordType.Close || flipped[4] === RecordType.Error ? ["bodyBytes", "tag"] : ["type"];
    if (byte === 5) return ["flags"];
    if (byte < 8) return ["rsvd"];
    if (byte < 16) return ["sequence"];
    return ["tag"];
  }

  it.each([[Suite.Aes256Gcm], [Suite.GmacAes256]])("suite %s: one flipped bit anywhere in a record fails it, naming what failed", (suite) => {
    const record = three(suite).records[1];
    for (let bit = 0; bit < record.length * 8; bit++) {
      const { records, opener } = three(suite);
      opener.push(records[0]);
      const flipped = Buffer.from(record);
      flipped[bit >> 3] ^= 1 << (bit & 7);
      let what: string;
      try {
        const out = opener.push(flipped);
        expect(out).toHaveLength(0);
        expect(opener.midRecord).toBe(true);
        what = "wait";
      } catch (err) {
        expect((err as HypermemError).code).toBe(ErrorCode.Integrity);
        what = String((err as HypermemError).details.field);
      }
      expect(expectedCheck(bit >> 3, flipped), `bit ${bit}`).toContain(what);
    }
  });

  it("a record replayed, dropped, or two records swapped fail on their sequence number", () => {
    const replay = three(Suite.Aes256Gcm);
    replay.opener.push(replay.records[0]);
    replay.opener.push(replay.records[1]);
    expect(integrityError(() => replay.opener.push(replay.records[1])).message).toMatch(/header field sequence \(offset 8\) is 1, expected 2: an earlier record again \(replayed\)/);
    const dropped = three(Suite.Aes256Gcm);
    dropped.opener.push(dropped.records[0]);
    expect(integrityError(() => dropped.opener.push(dropped.records[2])).message).toMatch(/is 2, expected 1: a later record \(one was dropped, or records were reordered\)/);
    const swapped = three(Suite.GmacAes256);
    expect(integrityError(() => swapped.opener.push(Buffer.concat([swapped.records[1], swapped.records[0]]))).details).toMatchObject({ field: "sequence", value: 1 });
  });

  it("a record re-numbered to fit is caught by its tag (the sequence is in the nonce and the authenticated header)", () => {
    const { records, opener } = three(Suite.Aes256Gcm);
    opener.push(records[0]);
    const renumbered = Buffer.from(records[2]);
    renumbered.writeBigUInt64LE(1n, 8);
    expect(integrityError(() => opener.push(renumbered)).details.field).toBe("tag");
  });

  it("a record of another session, of the other direction, or of the other suite does not open", () => {
    const keys = keysFor(Suite.Aes256Gcm);
    const other = keysFor(Suite.Aes256Gcm, TOKEN, randomBytes(32), NONCE_S);
    const gmac = keysFor(Suite.GmacAes256);
    const body = Buffer.from("the same body");
    const cases: Array<[RecordSealer, RecordOpener]> = [
      [new RecordSealer(Suite.Aes256Gcm, other.clientToServer), new RecordOpener(Suite.Aes256Gcm, keys.clientToServer)],
      [new RecordSealer(Suite.Aes256Gcm, keys.serverToClient), new RecordOpener(Suite.Aes256Gcm, keys.clientToServer)],
      [new RecordSealer(Suite.GmacAes256, gmac.clientToServer), new RecordOpener(Suite.GmacAes256, keys.clientToServer)],
      [new RecordSealer(Suite.GmacAes256, keys.clientToServer), new RecordOpener(Suite.Aes256Gcm, keys.clientToServer)],
    ];
    for (const [sealer, opener] of cases) expect(integrityError(() => opener.push(concat(sealer.seal(RecordType.Data, body)))).details.field).toBe("tag");
  });

  it("refuses header fields before reading a body: unknown type, flags, rsvd, lengths over each type's limit", () => {
    const header = (fields: { bodyBytes?: number; type?: number; flags?: number; rsvd?: number; sequence?: number }): Uint8Array => {
      const b = Buffer.alloc(16);
      b.writeUInt32LE(fields.bodyBytes ?? 0, 0);
      b.writeUInt8(fields.type ?? 1, 4);
      b.writeUInt8(fields.flags ?? 0, 5);
      b.writeUInt16LE(fields.rsvd ?? 0, 6);
      b.writeBigUInt64LE(BigInt(fields.sequence ?? 0), 8);
      return b;
    };
    const check = (h: Uint8Array): HypermemError => integrityError(() => decodeRecordHeader(h, 0, MAX_RECORD_BODY_BYTES, "from the test"));
    expect(decodeRecordHeader(header({ bodyBytes: MAX_RECORD_BODY_BYTES }), 0, MAX_RECORD_BODY_BYTES, "x")).toEqual({ bodyBytes: MAX_RECORD_BODY_BYTES, type: 1, sequence: 0 });
    expect(check(header({ type: 0 })).details).toMatchObject({ field: "type", value: 0 });
    expect(check(header({ type: 4 })).details).toMatchObject({ field: "type", value: 4 });
    expect(check(header({ flags: 1 })).details).toMatchObject({ field: "flags", value: 1 });
    expect(check(header({ rsvd: 256 })).details).toMatchObject({ field: "rsvd", value: 256 });
    expect(check(header({ bodyBytes: MAX_RECORD_BODY_BYTES + 1 })).message).toMatch(/header field bodyBytes \(offset 0\) is 1114113, above the 1114112 bytes a DATA record may carry/);
    expect(check(header({ type: 2, bodyBytes: MAX_ERROR_BODY_BYTES + 1 })).details).toMatchObject({ field: "bodyBytes" });
    expect(check(header({ type: 3, bodyBytes: 1 })).details).toMatchObject({ field: "bodyBytes" });
    expect(check(header({ sequence: 2 ** 60 })).details).toMatchObject({ field: "sequence", value: "0x1000000000000000" });
  });

  it("knows when the input stopped inside a record", () => {
    const { records, opener } = three(Suite.Aes256Gcm);
    expect(opener.midRecord).toBe(false);
    opener.push(records[0].subarray(0, 5));
    expect(opener.midRecord).toBe(true);
    expect(opener.push(records[0].subarray(5))).toHaveLength(1);
    expect(opener.midRecord).toBe(false);
  });
});
