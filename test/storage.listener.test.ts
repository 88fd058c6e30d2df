// The disk stream on the migration listener: a migration and a disk
// transfer served by the same listener in turn, under the same token (a wrong
// token is refused before any disk byte is taken); every acknowledgement the
// source receives is already in the destination's durable record; and the
// store's sweep recovers what a killed destination left (a partial transfer
// with a commit goes to the fragment store; one without, the trash and a
// folder without a record are deleted).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listenForMigrations, type MigrationListener } from "../src/migration/listener.js";
import { buildScenario } from "../src/migration/scenario.js";
import { migrateOverTcp } from "../src/migration/tcp.js";
import { makeImage } from "../src/storage/make-image.js";
import { DISK_MAGIC } from "../src/storage/protocol.js";
import { diskStreamHandler } from "../src/storage/receiver.js";
import { encodeRecord, readRecord } from "../src/storage/record.js";
import { sendDisk } from "../src/storage/sender.js";
import { DiskStore, FRAGMENT_FOLDER, PARTIAL_FOLDER } from "../src/storage/store.js";
import { diskBed, firstDifference, TOKEN, type DiskBed } from "./storage-helpers.js";

let bed: DiskBed | null = null;
let listener: MigrationListener | null = null;
afterEach(async () => {
  await bed?.close();
  await listener?.close();
  bed = null;
  listener = null;
});

describe("disk transfers on the migration listener", () => {
  it("serves a migration and a disk transfer in turn, same token; a wrong token is refused (ERR_AUTH), no file written", async () => {
    bed = await diskBed();
    await bed.listener.close();
    listener = await listenForMigrations({ port: 0, token: TOKEN, hostMiB: 64, streams: { [DISK_MAGIC]: diskStreamHandler({ dir: bed.dst }) } });
    const port = listener.address.port;
    const s = buildScenario({ guestMiB: 4, hostMiB: 40, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }, ratePerSec: 1000 });
    const m = await migrateOverTcp(s.vm, { workload: s.workload }, { host: "127.0.0.1", port, token: TOKEN });
    expect(m.status).toBe("completed");
    const img = makeImage(join(bed.root, "d.raw"), 500_000, 0.5, 2);
    const r = await sendDisk(img.path, { host: "127.0.0.1", port, token: TOKEN, blockBytes: 64 * 1024, retryDelaysMs: [] });
    expect(r.sha256).toBe(img.sha256);
    expect(firstDifference(img.path, join(bed.dst, "d.raw"))).toBe(-1);
    const wrong = new Uint8Array(32).fill(1);
    await expect(sendDisk(img.path, { host: "127.0.0.1", port, token: wrong, name: "other.raw", retryDelaysMs: [] })).rejects.toMatchObject({ code: "ERR_AUTH" });
    expect(readdirSync(bed.dst).filter((f) => !f.startsWith("."))).toEqual(["d.raw"]);
  });

  it("acknowledges an offset only once the destination's record on disk holds it", async () => {
    bed = await diskBed({ progressIntervalBytes: 128 * 1024 });
    const img = makeImage(join(bed.root, "a.raw"), 2 * 2 ** 20, 0.7, 3);
    const seen: Array<[number, number]> = [];
    await sendDisk(img.path, {
      host: "127.0.0.1", port: bed.port, token: TOKEN, blockBytes: 64 * 1024, retryDelaysMs: [],
      onProgress: (p) => {
        if (p.ackedBytes === 0 || p.ackedBytes === p.sizeBytes || seen.some(([a]) => a === p.ackedBytes)) return;
        seen.push([p.ackedBytes, readRecord(join(bed!.dst, PARTIAL_FOLDER, "a.raw", "record")).committedBytes]);
      },
    });
    expect(seen.length).toBeGreaterThanOrEqual(8);
    for (const [acked, durable] of seen) expect(durable).toBeGreaterThanOrEqual(acked);
  });

  it("a sweep moves a killed destination's committed transfer to the fragment store and deletes the rest", () => {
    const root = mkdtempSync(join(tmpdir(), "hypermem-sweep-"));
    try {
      sweepCase(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** Builds what a killed destination leaves, opens the store and checks its sweep. */
function sweepCase(root: string): void {
  const partial = join(root, PARTIAL_FOLDER);
  const fragments = join(root, FRAGMENT_FOLDER);
  const record = (name: string, committedBytes: number): Uint8Array => encodeRecord({
    name, sizeBytes: 1 << 20, blockBytes: 65536, generation: new Uint8Array(16), committedBytes,
    hashes: Array.from({ length: committedBytes / 65536 }, () => new Uint8Array(8)), createdMs: Date.now(), updatedMs: Date.now(),
  });
  for (const [folder, name, committed] of [[partial, "kept.raw", 131072], [partial, "empty.raw", 0]] as const) {
    mkdirSync(join(folder, name), { recursive: true });
    writeFileSync(join(folder, name, "data"), new Uint8Array(10));
    writeFileSync(join(folder, name, "record"), record(name, committed));
  }
  mkdirSync(join(fragments, ".trash-0123"), { recursive: true });
  mkdirSync(join(fragments, "norecord.raw"), { recursive: true });
  const store = DiskStore.open(root, { fragmentTtlMs: 60_000, maxStoreBytes: 2 ** 30 });
  expect(store.opened).toEqual({ recovered: ["kept.raw"], expired: [], evicted: [], discarded: ["empty.raw", "norecord.raw"] });
  expect(readdirSync(partial)).toEqual([]);
  expect(readdirSync(fragments)).toEqual(["kept.raw"]);
  expect(readRecord(join(fragments, "kept.raw", "record")).committedBytes).toBe(131072);

}
