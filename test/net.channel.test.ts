// The in-process channel pair (src/net/channel.ts) when it closes, and
// collectGarbage (src/net/native-memory.ts): what later and pending calls
// get after close() and close(error), in both directions, and a collection
// that really frees what nothing references. Found missing by a mutation
// run (issue 19).
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createChannelPair } from "../src/net/channel.js";
import { collectGarbage } from "../src/net/native-memory.js";

const settled = async (p: Promise<unknown>, ms = 50): Promise<unknown> =>
  Promise.race([p.then((v) => ({ value: v }), (e: unknown) => ({ error: e })), new Promise((r) => setTimeout(() => r("pending"), ms))]);

describe("createChannelPair: closing", () => {
  it("close() is a half-close: the peer reads null, this end's sends fail 'channel closed', the other direction still works", async () => {
    const [a, b] = createChannelPair();
    a.close();
    expect(await b.receive()).toBeNull();
    await expect(a.send(Uint8Array.of(1))).rejects.toMatchObject({ code: ErrorCode.MigrationFailed, message: "channel closed" });
    const sent = b.send(Uint8Array.of(9));
    expect(Array.from((await a.receive())!)).toEqual([9]);
    b.close();
    await sent;
    a.close(new HypermemError(ErrorCode.Timeout, "too late")); // a second close leaves this direction as it was
    await expect(a.send(Uint8Array.of(1))).rejects.toMatchObject({ code: ErrorCode.MigrationFailed, message: "channel closed" });
  });

  it("close() releases the sender of a chunk the peer holds, and resolves a waiting reader with null", async () => {
    const [a, b] = createChannelPair();
    const sent = a.send(Uint8Array.of(1));
    expect(Array.from((await b.receive())!)).toEqual([1]);
    expect(await settled(sent)).toBe("pending"); // the reader holds it
    a.close();
    expect(await settled(sent)).toEqual({ value: undefined });
    const [c, d] = createChannelPair();
    const waiting = d.receive();
    c.close();
    expect(await settled(waiting)).toEqual({ value: null });
  });

  it("close(error) fails both directions with it: pending and later calls on either end", async () => {
    const [a, b] = createChannelPair();
    const waiting = b.receive();
    const e = new HypermemError(ErrorCode.StreamDigest, "bad digest");
    a.close(e);
    expect(await settled(waiting)).toEqual({ error: e });
    expect(await settled(b.receive())).toEqual({ error: e });
    expect(await settled(b.send(Uint8Array.of(2)))).toEqual({ error: e });
    expect(await settled(a.send(Uint8Array.of(3)))).toEqual({ error: e });
    expect(await settled(a.receive())).toEqual({ error: e });
  });
});

describe("collectGarbage", () => {
  it("runs a full collection: an object nothing references is gone after it", async () => {
    let obj: object | null = { big: new Uint8Array(1 << 20) };
    const ref = new WeakRef(obj);
    obj = null;
    await new Promise((r) => setTimeout(r, 0)); // a WeakRef keeps its target until the job that made it ends
    expect(collectGarbage()).toBe(true);
    expect(ref.deref()).toBeUndefined();
    expect(collectGarbage()).toBe(true); // the second time through the function found the first time
    expect(runInNewContext("typeof gc")).toBe("undefined"); // the flag it turned on to find gc is off again
  });
});
