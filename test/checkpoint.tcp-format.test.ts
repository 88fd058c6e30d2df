// The protection stream's message reader (src/checkpoint/tcp-format.ts)
// over any split, with receive buffers that are recycled: the channel's
// receive() hands out a Buffer valid only until the next receive (integrity
// only, --no-encryption, reads each record into the same buffer), so what
// the reader keeps of a message cut across records must be its own copy.
import { describe, expect, it } from "vitest";
import { encodeDigest, encodeMessage, MessageKind, MessageReader } from "../src/checkpoint/tcp-format.js";

const payload = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);

describe("protection MessageReader", () => {
  it("a message cut across two receives in one recycled buffer decodes to what was sent", () => {
    const stream = Buffer.concat([encodeMessage(MessageKind.Stream, payload(5000, 1)), encodeDigest(7, 0x1122334455667788n)]);
    const recycled = Buffer.alloc(stream.length);
    const reader = new MessageReader();
    const got: Array<{ kind: number; payload: Uint8Array }> = [];
    for (const [from, to] of [[0, 3000], [3000, stream.length]]) {
      stream.copy(recycled, 0, from, to);
      for (const m of reader.push(recycled.subarray(0, to - from))) got.push({ kind: m.kind, payload: new Uint8Array(m.payload) });
      recycled.fill(0xee); // the next record lands in the same buffer
    }
    expect(got.map((m) => m.kind)).toEqual([MessageKind.Stream, MessageKind.Digest]);
    expect(Buffer.compare(got[0].payload, payload(5000, 1))).toBe(0);
    expect(Buffer.compare(got[1].payload, encodeDigest(7, 0x1122334455667788n).subarray(8))).toBe(0);
  });

  it("every split point of three messages gives the same messages", () => {
    const messages = [encodeMessage(MessageKind.Stream, payload(300, 2)), encodeMessage(MessageKind.Heartbeat), encodeMessage(MessageKind.Stream, payload(77, 3))];
    const stream = Buffer.concat(messages);
    for (let cut = 1; cut < stream.length; cut++) {
      const recycled = Buffer.alloc(stream.length);
      const reader = new MessageReader();
      const got: Uint8Array[] = [];
      for (const [from, to] of [[0, cut], [cut, stream.length]]) {
        stream.copy(recycled, 0, from, to);
        for (const m of reader.push(recycled.subarray(0, to - from))) got.push(Buffer.from(encodeMessage(m.kind, m.payload)));
        recycled.fill(0xee);
      }
      expect(Buffer.compare(Buffer.concat(got), stream), `cut at ${cut}`).toBe(0);
    }
  });
});
