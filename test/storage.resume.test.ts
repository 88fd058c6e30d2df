// The disk transfer in one process (a listener and sendDisk over loopback):
// a fresh transfer (identical, sparse, the SHA-256 reported), and the resume
// rules: a cut transfer leaves a fragment with a durable record; the next
// send of the unchanged image resumes at its committed offset; a changed
// source, a damaged fragment, an expired record each start from 0 and say
// why; an offset the two sides disagree on is a conflict naming the
// destination's offset, which the next attempt uses; the store keeps its size
// limit.
import { appendFileSync, existsSync, openSync, closeSync, readdirSync, statSync, utimesSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeImage } from "../src/storage/make-image.js";
import { readRecord } from "../src/storage/record.js";
import { sendDisk, type SendDiskResult } from "../src/storage/sender.js";
import { FRAGMENT_FOLDER, listFragments } from "../src/storage/store.js";
import { diskBed, firstDifference, reportsAt, TOKEN, type DiskBed } from "./storage-helpers.js";

const MIB = 2 ** 20;
const BLOCK = 64 * 1024;
const INTERVAL = 256 * 1024;

let bed: DiskBed | null = null;
afterEach(async () => { await bed?.close(); bed = null; });

/** Sends until `cutAt` bytes were acknowledged, then aborts: the destination keeps a fragment. */
async function cutSend(b: DiskBed, image: string, cutAtBytes: number): Promise<void> {
  const ac = new AbortController();
  await expect(sendDisk(image, {
    host: "127.0.0.1", port: b.port, token: TOKEN, blockBytes: BLOCK, retryDelaysMs: [], signal: ac.signal,
    onProgress: (p) => { if (p.ackedBytes >= cutAtBytes) ac.abort(); },
  })).rejects.toMatchObject({ code: "ERR_MIGRATION_CANCELLED" });
  await reportsAt(b, b.reports.length + 1).catch(() => undefined);
}

const send = (b: DiskBed, image: string, extra: Record<string, unknown> = {}): Promise<SendDiskResult> =>
  sendDisk(image, { host: "127.0.0.1", port: b.port, token: TOKEN, blockBytes: BLOCK, retryDelaysMs: [0, 0], ...extra });

describe("disk transfer", () => {
  it("sends a sparse image: identical bytes, the SHA-256 both ends computed, zero runs left as holes", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 6 * MIB + 777, 0.3, 11);
    const r = await send(bed, img.path);
    const out = join(bed.dst, "disk.raw");
    expect(firstDifference(img.path, out)).toBe(-1);
    expect(r.sha256).toBe(img.sha256);
    expect(r.dataBytesSent).toBe(img.dataBytes);
    expect(r.blockBytesSent).toBe(img.sizeBytes);
    expect(r.resentBytes).toBe(0);
    expect(r.attempts.map((a) => a.offer)).toEqual(["no fragment"]);
    const st = statSync(out);
    expect(st.size).toBe(img.sizeBytes);
    expect(st.blocks * 512).toBeLessThanOrEqual(img.dataBytes + 64 * 1024);
    expect(st.blocks * 512).toBeLessThan(img.sizeBytes / 2);
    const [report] = await reportsAt(bed, 1);
    expect(report).toMatchObject({ event: "disk-received", name: "disk.raw", sha256: img.sha256, startedAtBytes: 0, match: "no fragment" });
    expect(readdirSync(join(bed.dst, FRAGMENT_FOLDER))).toEqual([]);
    // A source that did not see the DONE asks again: answered from the finished file's record, nothing re-sent.
    const again = await send(bed, img.path);
    expect(again.attempts[0]).toMatchObject({ offer: "resumed", startedAtBytes: img.sizeBytes });
    expect(again.blockBytesSent).toBe(0);
    expect(again.sha256).toBe(img.sha256);
    expect((await reportsAt(bed, 2))[1]).toMatchObject({ event: "disk-received", match: "already finished" });
  });

  it("a cut transfer leaves a fragment whose record is durable; the unchanged image resumes at its committed offset", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 4 * MIB, 0.6, 5);
    await cutSend(bed, img.path, 2 * INTERVAL);
    const failed = bed.reports[0];
    expect(failed).toMatchObject({ event: "disk-failed", name: "disk.raw", fragmentKept: true });
    const record = readRecord(join(bed.dst, FRAGMENT_FOLDER, "disk.raw", "record"));
    expect(record.committedBytes).toBeGreaterThanOrEqual(2 * INTERVAL);
    expect(record.committedBytes % INTERVAL).toBe(0);
    expect(record.hashes.length).toBe(record.committedBytes / BLOCK);
    const listed = listFragments(bed.dst, { fragmentTtlMs: 60_000 });
    expect(listed.map((f) => [f.name, f.committedBytes, f.sizeBytes])).toEqual([["disk.raw", record.committedBytes, 4 * MIB]]);
    const r = await send(bed, img.path);
    expect(r.attempts[0]).toMatchObject({ offer: "resumed", offeredBytes: record.committedBytes, startedAtBytes: record.committedBytes });
    expect(r.blockBytesSent).toBe(4 * MIB - record.committedBytes);
    expect(firstDifference(img.path, join(bed.dst, "disk.raw"))).toBe(-1);
    expect(r.sha256).toBe(img.sha256);
    expect(listFragments(bed.dst, { fragmentTtlMs: 60_000 })).toEqual([]);
  });

  it("a touched source (its generation moved) starts from 0: source changed", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 2 * MIB, 0.6, 6);
    await cutSend(bed, img.path, INTERVAL);
    utimesSync(img.path, new Date(), new Date(Date.now() + 5000));
    const r = await send(bed, img.path);
    expect(r.attempts[0]).toMatchObject({ offer: "source changed", offeredBytes: 0, startedAtBytes: 0 });
    expect(firstDifference(img.path, join(bed.dst, "disk.raw"))).toBe(-1);
  });

  it("a fragment whose committed bytes were damaged is not promoted: fresh transfer, fragment damaged", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 2 * MIB, 1, 7);
    await cutSend(bed, img.path, INTERVAL);
    const fd = openSync(join(bed.dst, FRAGMENT_FOLDER, "disk.raw", "data"), "r+");
    writeSync(fd, new Uint8Array([0x5a]), 0, 1, 1000);
    closeSync(fd);
    const r = await send(bed, img.path);
    expect(r.attempts[0]).toMatchObject({ offer: "fragment damaged", offeredBytes: 0, startedAtBytes: 0 });
    expect(firstDifference(img.path, join(bed.dst, "disk.raw"))).toBe(-1);
  });

  it("a record past its time to live is deleted: fresh transfer, record expired", async () => {
    let nowMs = 1_000_000;
    bed = await diskBed({ progressIntervalBytes: INTERVAL, fragmentTtlMs: 60_000, now: () => nowMs });
    const img = makeImage(join(bed.root, "disk.raw"), 2 * MIB, 0.5, 8);
    await cutSend(bed, img.path, INTERVAL);
    nowMs += 60_001;
    const r = await send(bed, img.path);
    expect(r.attempts[0]).toMatchObject({ offer: "record expired", startedAtBytes: 0 });
  });

  it("an offset the sides disagree on is a conflict naming the destination's offset; the next attempt resumes from it", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 2 * MIB, 0.5, 9);
    await cutSend(bed, img.path, INTERVAL);
    const committed = readRecord(join(bed.dst, FRAGMENT_FOLDER, "disk.raw", "record")).committedBytes;
    const wrong = committed + BLOCK;
    await expect(send(bed, img.path, { resumeOffset: wrong, retryDelaysMs: [] })).rejects.toMatchObject({
      code: "ERR_DISK_OFFSET_CONFLICT", details: { serverOffset: committed, clientOffset: wrong },
    });
    const r = await send(bed, img.path, { resumeOffset: wrong });
    expect(r.conflicts).toBe(1);
    expect(r.attempts.map((a) => a.startedAtBytes)).toEqual([wrong, committed]);
    expect(r.attempts[0].error?.code).toBe("ERR_DISK_OFFSET_CONFLICT");
    expect(firstDifference(img.path, join(bed.dst, "disk.raw"))).toBe(-1);
  });

  it("the store keeps its size limit: a fragment over it is deleted", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL, maxStoreBytes: 100 * 1024 });
    const img = makeImage(join(bed.root, "disk.raw"), 2 * MIB, 1, 10);
    await cutSend(bed, img.path, INTERVAL);
    expect(bed.reports[0]).toMatchObject({ event: "disk-failed", fragmentKept: true });
    expect(existsSync(join(bed.dst, FRAGMENT_FOLDER, "disk.raw"))).toBe(false);
    const r = await send(bed, img.path);
    expect(r.attempts[0]).toMatchObject({ offer: "no fragment", startedAtBytes: 0 });
  });

  it("a source that changes while it is sent fails with ERR_DISK_SOURCE_CHANGED, and nothing is promoted", async () => {
    bed = await diskBed({ progressIntervalBytes: INTERVAL });
    const img = makeImage(join(bed.root, "disk.raw"), 3 * MIB, 0.5, 12);
    let touched = false;
    await expect(send(bed, img.path, {
      onProgress: (p: { sentBytes: number }) => {
        if (!touched && p.sentBytes >= MIB) { touched = true; appendFileSync(img.path, "x"); }
      },
    })).rejects.toMatchObject({ code: "ERR_DISK_SOURCE_CHANGED", details: { path: img.path } });
    expect(existsSync(join(bed.dst, "disk.raw"))).toBe(false);
  });
});
