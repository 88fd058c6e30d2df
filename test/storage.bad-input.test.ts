// Bad input to a disk destination, from a hand-made peer speaking the
// protocol over the real authenticated channel: an absurd size, blocks out of
// order, past the end, with a wrong hash, a stalled peer; a destination
// folder that is missing, read-only or full. Each is a typed error naming the
// value (the peer reads it in the ERROR record, the listener reports it), the
// connection is closed, the listener keeps serving (a good transfer follows),
// and no file appears that did not verify.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HypermemError } from "../src/errors.js";
import { connectSecureChannel } from "../src/net/connect.js";
import type { SecureChannel } from "../src/net/secure-channel.js";
import { blockHash, isZeroPage } from "../src/storage/identity.js";
import { makeImage } from "../src/storage/make-image.js";
import { decodeOffer, encodeBlock, encodeDigestMessage, encodeHello, encodeStart, MessageReader, Msg, Reason } from "../src/storage/protocol.js";
import { sendDisk } from "../src/storage/sender.js";
import { diskBed, firstDifference, reportsAt, TOKEN, type DiskBed } from "./storage-helpers.js";

const BLOCK = 64 * 1024;
let bed: DiskBed | null = null;

/** Whether this process may mount a tmpfs (root, and a container that allows it): else the full-folder test is reported skipped. */
const CAN_MOUNT_TMPFS = ((): boolean => {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "hypermem-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();
afterEach(async () => { await bed?.close(); bed = null; });

/** Connects, says hello for a disk of `sizeBytes`, reads the offer and starts at 0. */
async function rawPeer(b: DiskBed, sizeBytes: number, start = true): Promise<SecureChannel> {
  const sc = await connectSecureChannel({ host: "127.0.0.1", port: b.port, token: TOKEN }, "test");
  await sc.send(encodeHello({ name: "bad.raw", sizeBytes, blockBytes: BLOCK, generation: new Uint8Array(16) }));
  if (!start) return sc;
  const reader = new MessageReader(4096);
  const bytes = await sc.receive();
  const [offer] = reader.push(bytes!);
  expect(offer.type).toBe(Msg.Offer);
  expect(decodeOffer(offer.payload).offset).toBe(0);
  await sc.send(encodeStart(0, Reason.NoFragment));
  return sc;
}

/** What the destination answered last: its ERROR's code and message. */
async function peerError(sc: SecureChannel): Promise<{ code: string; message: string }> {
  try {
    for (;;) if ((await sc.receive()) === null) return { code: "none", message: "closed without an error" };
  } catch (err) {
    return { code: (err as HypermemError).code, message: (err as HypermemError).message };
  } finally {
    sc.destroy();
  }
}

function block(offset: number, bytes: Uint8Array, hash?: Uint8Array): Uint8Array {
  return encodeBlock(offset, bytes, hash ?? blockHash(bytes), isZeroPage).bytes;
}

const data = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

/** The listener still serves: a good transfer after the bad one. */
async function stillServes(b: DiskBed): Promise<void> {
  const img = makeImage(join(b.root, "good.raw"), 300_000, 0.5, 3);
  const r = await sendDisk(img.path, { host: "127.0.0.1", port: b.port, token: TOKEN, blockBytes: BLOCK, retryDelaysMs: [] });
  expect(r.sha256).toBe(img.sha256);
  expect(firstDifference(img.path, join(b.dst, "good.raw"))).toBe(-1);
}

describe("a disk destination refuses bad input and keeps serving", () => {
  it("an absurd size: ERR_DISK_PROTOCOL naming it", async () => {
    bed = await diskBed();
    const sc = await rawPeer(bed, 2 ** 50, false);
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_DISK_PROTOCOL");
    expect(e.message).toContain(String(2 ** 50));
    expect((await reportsAt(bed, 1))[0]).toMatchObject({ event: "disk-failed", error: { code: "ERR_DISK_PROTOCOL" } });
    await stillServes(bed);
  });

  it("a block out of order: ERR_DISK_PROTOCOL naming its offset and the expected one", async () => {
    bed = await diskBed();
    const sc = await rawPeer(bed, 4 * BLOCK);
    await sc.send(block(BLOCK, data(BLOCK, 1)));
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_DISK_PROTOCOL");
    expect(e.message).toContain(`offset ${BLOCK} out of order: expected 0`);
    expect(existsSync(join(bed.dst, "bad.raw"))).toBe(false);
    await stillServes(bed);
  });

  it("a block past the end: ERR_DISK_PROTOCOL naming its length", async () => {
    bed = await diskBed();
    const sc = await rawPeer(bed, BLOCK + 1000);
    await sc.send(block(0, data(BLOCK, 2)));
    await sc.send(block(BLOCK, data(BLOCK, 3)));
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_DISK_PROTOCOL");
    expect(e.message).toContain(`${BLOCK} bytes runs past the end of the ${BLOCK + 1000}-byte disk`);
    await stillServes(bed);
  });

  it("a block with a wrong hash: ERR_DISK_HASH naming the offset; the committed part is kept as a fragment, nothing promoted", async () => {
    bed = await diskBed({ progressIntervalBytes: BLOCK });
    const sc = await rawPeer(bed, 4 * BLOCK);
    await sc.send(block(0, data(BLOCK, 4)));
    await sc.send(block(BLOCK, data(BLOCK, 5), new Uint8Array(8).fill(9)));
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_DISK_HASH");
    expect(e.message).toContain(`block at offset ${BLOCK} hashes to`);
    expect((await reportsAt(bed, 1))[0]).toMatchObject({ event: "disk-failed", committedBytes: BLOCK, fragmentKept: true, error: { code: "ERR_DISK_HASH" } });
    expect(existsSync(join(bed.dst, "bad.raw"))).toBe(false);
    await stillServes(bed);
  });

  it("a FINISH whose SHA-256 is not the file's: ERR_DISK_HASH naming both, the file not promoted", async () => {
    bed = await diskBed();
    const sc = await rawPeer(bed, BLOCK);
    await sc.send(block(0, data(BLOCK, 6)));
    await sc.send(encodeDigestMessage(Msg.Finish, new Uint8Array(32).fill(1)));
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_DISK_HASH");
    expect(e.message).toContain(`the source's ${"01".repeat(32)}; not promoted`);
    expect(existsSync(join(bed.dst, "bad.raw"))).toBe(false);
    await stillServes(bed);
  });

  it("a peer that stalls is cut by the idle timeout (reported ERR_TIMEOUT naming it)", async () => {
    bed = await diskBed({}, 400);
    const sc = await rawPeer(bed, 4 * BLOCK);
    const e = await peerError(sc);
    expect(["ERR_INTEGRITY", "ERR_PEER_CLOSED"]).toContain(e.code); // the timed-out socket is destroyed: no ERROR record
    expect((await reportsAt(bed, 1))[0]).toMatchObject({ event: "disk-failed", error: { code: "ERR_TIMEOUT" } });
    expect(bed.reports[0].event === "disk-failed" && bed.reports[0].error.message).toContain("400 ms");
    await stillServes(bed);
  });

  it("a missing destination folder: ERR_FILE_IO naming it and ENOENT", async () => {
    bed = await diskBed();
    rmSync(bed.dst, { recursive: true });
    const sc = await rawPeer(bed, BLOCK, false);
    const e = await peerError(sc);
    expect(e.code).toBe("ERR_FILE_IO");
    expect(e.message).toContain(bed.dst);
    expect(e.message).toContain("ENOENT");
    mkdirSync(bed.dst);
    await stillServes(bed);
  });

  const canChattr = ((): boolean => {
    try {
      execFileSync("chattr", ["--help"], { stdio: "ignore" });
      return process.getuid?.() === 0;
    } catch {
      return process.getuid?.() === 0;
    }
  })();

  it.skipIf(!canChattr)("a read-only destination folder (immutable: root ignores modes): ERR_FILE_IO naming it", async () => {
    bed = await diskBed();
    execFileSync("chattr", ["+i", bed.dst]);
    try {
      const sc = await rawPeer(bed, BLOCK, false);
      const e = await peerError(sc);
      expect(e.code).toBe("ERR_FILE_IO");
      expect(e.message).toContain(bed.dst);
      expect(e.message).toContain("EPERM");
    } finally {
      execFileSync("chattr", ["-i", bed.dst]);
    }
    await stillServes(bed);
  });

  it.skipIf(!CAN_MOUNT_TMPFS)("a full destination folder (a 1 MiB tmpfs): ERR_FILE_IO ENOSPC, no file promoted", async () => {
    bed = await diskBed();
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", bed.dst], { stdio: "ignore" });
    try {
      const img = makeImage(join(bed.root, "big.raw"), 3 * 2 ** 20, 1, 4);
      const err = await sendDisk(img.path, { host: "127.0.0.1", port: bed.port, token: TOKEN, blockBytes: BLOCK, retryDelaysMs: [] }).catch((e: HypermemError) => e);
      expect(err).toBeInstanceOf(HypermemError);
      const [report] = await reportsAt(bed, 1);
      expect(report).toMatchObject({ event: "disk-failed", error: { code: "ERR_FILE_IO" } });
      expect(report.event === "disk-failed" && report.error.message).toContain("ENOSPC");
      expect(existsSync(join(bed.dst, "big.raw"))).toBe(false);
    } finally {
      execFileSync("umount", [bed.dst]);
    }
    await stillServes(bed);
  });
});
