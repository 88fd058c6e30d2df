// Damaged snapshot files: truncated anywhere, a flipped bit in any section,
// a newer or older version, an index pointing outside the file or beyond
// the guest, an active set naming pages beyond the guest, a config that is
// not one, a page whose bytes do not match its checksum. Each is a typed
// error (ERR_SNAPSHOT_CORRUPT naming the field, ERR_FORMAT_VERSION) before
// any guest is created on the host; a damaged page found while loading
// leaves no guest behind (eager, active-first) or fails the access that
// touched it (lazy). Files are damaged with their checksums recomputed
// where a check behind the checksum is the one under test.
import fc from "fast-check";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createHost, HypermemError, restoreSnapshot, saveSnapshot, snapshotInfo, verifySnapshot, type Host } from "../src/index.js";
import { SnapshotFile } from "../src/snapshot/file-reader.js";
import { ENTRY_BYTES, HEADER_BYTES, RUN_BYTES, sectionsOf, decodeHeader, TRAILER_BYTES } from "../src/snapshot/format.js";
import { runningGuest, scratchDir } from "./snapshot.helpers.js";

const dir = scratchDir("snapshot-format");
let fileNo = 0;
const nextFile = (): string => join(dir, `f${fileNo++}.hmsn`);

/** A snapshot of a 64-page guest with data, zero pages, an active set, a working set and a workload. */
function goodFile(): string {
  const g = runningGuest(64, 48, { kind: "hotcold", hotFraction: 0.25, hotProbability: 0.9, ratePerSec: 2_000_000, seed: 8 });
  const path = nextFile();
  saveSnapshot(g.vm, path, { timeline: g.timeline, workload: g.workload, storage: "sata-ssd", chunkPages: 4 });
  g.workload.close();
  return path;
}
const GOOD = goodFile();

/** The error restoring `path` gives, checking that the host holds no guest and took no frame. */
function restoreError(path: string, mode: "eager" | "lazy" | "active-first" = "lazy"): HypermemError {
  const host: Host = createHost({ memoryMiB: 4 });
  const used = host.stats().usedFrames;
  let error: unknown = null;
  try {
    restoreSnapshot(host, path, { mode });
  } catch (err) {
    error = err;
  }
  expect(host.vms).toHaveLength(0);
  expect(host.stats().usedFrames).toBe(used);
  expect(error).toBeInstanceOf(HypermemError);
  return error as HypermemError;
}

/** A copy of GOOD changed by `damage` (on its bytes). */
function damaged(damage: (bytes: Uint8Array) => Uint8Array | void): string {
  const bytes = new Uint8Array(readFileSync(GOOD));
  const out = damage(bytes) ?? bytes;
  const path = nextFile();
  writeFileSync(path, out);
  return path;
}

const layout = (bytes: Uint8Array) => {
  const header = decodeHeader(bytes.subarray(0, HEADER_BYTES), "good");
  return { header, s: sectionsOf(header) };
};

/** Recomputes the trailer's metadata crc and its own crc (so the check under test is the one behind them). */
function resealTail(bytes: Uint8Array): void {
  const { s } = layout(bytes);
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  v.setUint32(s.trailerOffset + 16, crc32(bytes.subarray(s.indexOffset, s.trailerOffset)) >>> 0, true);
  v.setUint32(s.trailerOffset + 20, crc32(bytes.subarray(s.trailerOffset, s.trailerOffset + 20)) >>> 0, true);
}

/** Recomputes the header's crc. */
function resealHeader(bytes: Uint8Array): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(HEADER_BYTES - 4, crc32(bytes.subarray(0, HEADER_BYTES - 4)) >>> 0, true);
}

function expectCorrupt(err: HypermemError, field: string, message: RegExp): void {
  expect({ code: err.code, field: err.details.field }).toEqual({ code: "ERR_SNAPSHOT_CORRUPT", field });
  expect(err.message).toMatch(message);
}

describe("structural damage is refused before any guest is created", () => {
  it("the good file restores (the damaged ones below differ from it only as they say)", () => {
    const restored = restoreSnapshot(createHost({ memoryMiB: 4 }), GOOD, { mode: "eager" });
    expect(restored.vm.pages).toBe(64);
    restored.close();
    expect(verifySnapshot(GOOD).pagesChecked).toBe(48);
  });

  it("a file cut short anywhere (fast-check over the cut)", () => {
    const size = readFileSync(GOOD).length;
    fc.assert(fc.property(fc.integer({ min: 0, max: size - 1 }), (cut) => {
      const path = damaged((b) => b.subarray(0, cut));
      const err = restoreError(path);
      expect(err.code).toBe("ERR_SNAPSHOT_CORRUPT");
      expect(["fileSize", "length"]).toContain(err.details.field);
      expect(err.message).toMatch(/truncated/);
    }), { numRuns: 25 });
  });

  it("trailing bytes", () => {
    expectCorrupt(restoreError(damaged((b) => Uint8Array.from([...b, 0]))), "fileSize", /trailing bytes/);
  });

  it("a flipped bit in the header: its crc, or the magic", () => {
    expectCorrupt(restoreError(damaged((b) => { b[40] ^= 1; })), "crc", /crc/);
    expectCorrupt(restoreError(damaged((b) => { b[0] ^= 0x20; })), "magic", /magic/);
  });

  it("another version: a newer minor and another major are ERR_FORMAT_VERSION, with the crc right", () => {
    for (const [at, value, found] of [[6, 1, "1.1"], [4, 2, "2.0"]] as const) {
      const err = restoreError(damaged((b) => {
        new DataView(b.buffer).setUint16(at, value, true);
        resealHeader(b);
      }));
      expect([err.code, err.details.found]).toEqual(["ERR_FORMAT_VERSION", found]);
    }
  });

  it("header fields out of their rules (crc right)", () => {
    const field = (offset: number, value: number, bytes = 8) => damaged((b) => {
      const v = new DataView(b.buffer);
      if (bytes === 8) v.setBigUint64(offset, BigInt(value), true);
      else v.setUint32(offset, value, true);
      resealHeader(b);
    });
    expectCorrupt(restoreError(field(56, 8192)), "dataOffset", /data offset 8192/);
    expectCorrupt(restoreError(field(64, 129)), "dataPages", /129 data slots for a guest of 64 pages/);
    expectCorrupt(restoreError(field(16, 0)), "guestPages", /guest of 0 pages/);
    expectCorrupt(restoreError(field(12, 1, 4)), "baseId", /diff snapshot without a base id/);
    expectCorrupt(restoreError(field(12, 2, 4)), "flags", /unknown flag bits/);
    // the fields after dataPages, each one past its rule
    const { header } = layout(new Uint8Array(readFileSync(GOOD)));
    expectCorrupt(restoreError(field(72, header.dataPages + 1)), "workingSetSlot", new RegExp(`working set from slot ${header.dataPages + 1}, past the ${header.dataPages} data slots`));
    expectCorrupt(restoreError(field(80, 65)), "indexEntries", /65 index entries for a guest of 64 pages/);
    expectCorrupt(restoreError(field(88, 65)), "activeRuns", /65 active runs for a guest of 64 pages/);
    expectCorrupt(restoreError(field(96, 1, 4)), "configBytes", /config of 1 bytes is outside 2\.\./);
    expectCorrupt(restoreError(field(96, 2 ** 32 - 1, 4)), "configBytes", /config of 4294967295 bytes is outside 2\.\./);
    expectCorrupt(restoreError(field(16, 2 ** 40)), "guestPages", /guest of 1099511627776 pages is outside 1\.\./);
    expectCorrupt(restoreError(damaged((b) => { b.fill(0, 24, 40); resealHeader(b); })), "snapshotId", /a snapshot id of zeros/);
    expectCorrupt(restoreError(damaged((b) => { b[40] = 1; resealHeader(b); })), "baseId", /a base id in a snapshot that is not a diff/);
  });

  it("a flipped bit in the index, the active set or the config: the trailer's metadata crc", () => {
    const { s } = layout(new Uint8Array(readFileSync(GOOD)));
    for (const at of [s.indexOffset + 3, s.activeOffset + 1, s.configOffset + 5]) {
      expectCorrupt(restoreError(damaged((b) => { b[at] ^= 0x10; })), "metadataCrc32", /crc/);
    }
  });

  it("a damaged trailer", () => {
    const { s } = layout(new Uint8Array(readFileSync(GOOD)));
    expectCorrupt(restoreError(damaged((b) => { b[s.trailerOffset] ^= 1; })), "trailer", /magic/);
    expectCorrupt(restoreError(damaged((b) => { b[s.trailerOffset + 21] ^= 1; })), "trailer", /crc/);
    expectCorrupt(restoreError(damaged((b) => {
      new DataView(b.buffer).setBigUint64(s.trailerOffset + 8, 5n, true);
      new DataView(b.buffer).setUint32(s.trailerOffset + 20, crc32(b.subarray(s.trailerOffset, s.trailerOffset + 20)) >>> 0, true);
    })), "trailer", /records a 5-byte file/);
    expectCorrupt(restoreError(damaged((b) => {
      new DataView(b.buffer).setUint32(s.trailerOffset + 4, 1, true);
      new DataView(b.buffer).setUint32(s.trailerOffset + 20, crc32(b.subarray(s.trailerOffset, s.trailerOffset + 20)) >>> 0, true);
    })), "trailer", /reserved word is not 0/);
  });

  /** GOOD with index entry `i` changed by `edit` (a DataView at the entry), the tail resealed. */
  const entry = (i: number, edit: (v: DataView) => void) => damaged((b) => {
    const { s } = layout(b);
    edit(new DataView(b.buffer, s.indexOffset + i * ENTRY_BYTES, ENTRY_BYTES));
    resealTail(b);
  });

  it("an index that points outside the file, beyond the guest, out of order, or is not an index", () => {
    const { header } = layout(new Uint8Array(readFileSync(GOOD)));
    expectCorrupt(restoreError(entry(0, (v) => v.setUint32(8, header.dataPages, true))), "index", new RegExp(`slot ${header.dataPages}, outside the file's ${header.dataPages} data slots`));
    expectCorrupt(restoreError(entry(0, (v) => v.setUint32(0, 64, true))), "index", /page 64 is beyond the 64-page guest/);
    expectCorrupt(restoreError(entry(1, (v) => v.setUint32(0, 0, true))), "index", /does not come after/);
    expectCorrupt(restoreError(entry(0, (v) => v.setUint8(4, 9))), "index", /unknown kind 9/);
    expectCorrupt(restoreError(entry(0, (v) => v.setUint8(6, 1))), "index", /reserved bytes/);
    expectCorrupt(restoreError(entry(0, (v) => v.setUint8(5, 1))), "index", /reserved bytes/);
    expectCorrupt(restoreError(entry(0, (v) => v.setUint8(4, 0))), "index", /zero entry in a full snapshot/);
    expectCorrupt(restoreError(entry(1, (v) => v.setUint32(8, new DataView(readFileSync(GOOD).buffer).getUint32(layout(new Uint8Array(readFileSync(GOOD))).s.indexOffset + 8, true), true))), "index", /used twice/);
    expectCorrupt(restoreError(entry(0, (v) => v.setUint8(4, 2))), "index", /poisoned page with slot/);
    expectCorrupt(restoreError(entry(0, (v) => { v.setUint8(4, 3); v.setUint32(8, 0, true); v.setUint32(12, 7, true); })), "index", /a ballooned page with slot 0 and checksum 7/);
  });

  /** GOOD with active run `i` changed. */
  const run = (i: number, first: number, count: number) => damaged((b) => {
    const { s } = layout(b);
    const v = new DataView(b.buffer, s.activeOffset + i * RUN_BYTES, RUN_BYTES);
    v.setUint32(0, first, true);
    v.setUint32(4, count, true);
    resealTail(b);
  });

  it("an active set that names pages beyond the guest, an empty run, runs out of order", () => {
    expect(layout(new Uint8Array(readFileSync(GOOD))).header.activeRuns).toBeGreaterThan(1);
    expectCorrupt(restoreError(run(0, 60, 5)), "activeSet", /pages 60\.\.64, beyond the 64-page guest/);
    expectCorrupt(restoreError(run(0, 2 ** 32 - 1, 2)), "activeSet", /beyond the 64-page guest/);
    expectCorrupt(restoreError(run(0, 3, 0)), "activeSet", /is empty/);
    expectCorrupt(restoreError(run(1, 0, 1)), "activeSet", /not after the run before/);
    // a run that starts right where the one before ends should have been one run
    const good = new Uint8Array(readFileSync(GOOD));
    const first = new DataView(good.buffer, layout(good).s.activeOffset, RUN_BYTES);
    const end = first.getUint32(0, true) + first.getUint32(4, true);
    expectCorrupt(restoreError(run(1, end, 1)), "activeSet", new RegExp(`active run 1 starts at page ${end}, not after the run before \\(which ends at page ${end - 1}\\)`));
  });

  /** GOOD with its config replaced by `text` (same length: padded with spaces). */
  const config = (text: (json: string) => string) => damaged((b) => {
    const { s } = layout(b);
    const json = new TextDecoder().decode(b.subarray(s.configOffset, s.trailerOffset));
    const next = text(json).padEnd(json.length, " ");
    expect(next.length).toBe(json.length);
    b.set(new TextEncoder().encode(next), s.configOffset);
    resealTail(b);
  });

  it("a config that is not JSON, has unknown keys, disagrees with the header or holds a bad workload", () => {
    expectCorrupt(restoreError(config((j) => j.replace("{", "["))), "config", /not JSON/);
    expectCorrupt(restoreError(config((j) => j.replace('"base"', '"bass"'))), "config", /unknown key "bass"/);
    expectCorrupt(restoreError(config((j) => j.replace('"guestPages":64', '"guestPages":65'))), "config", /65 guest pages, the header 64/);
    expectCorrupt(restoreError(config((j) => j.replace('"hotFraction":0.25', '"hotFraction":2.50'))), "config", /hotFraction/);
  });

  it("snapshotInfo makes the same checks", () => {
    expect(() => snapshotInfo(damaged((b) => b.subarray(0, 200)))).toThrow(expect.objectContaining({ code: "ERR_SNAPSHOT_CORRUPT" }));
  });
});

describe("a damaged page", () => {
  /** GOOD with one byte of the page in data slot `slot` flipped (the index and crcs untouched). */
  const pageDamaged = (slot: number) => damaged((b) => { b[4096 + slot * 4096 + 100] ^= 0xff; });
  /** Slots the index points at: one before the working set, one in it. */
  const usedSlots = (): { main: number; workingSet: number } => {
    const file = SnapshotFile.open(GOOD);
    const slots = Array.from(file.index.slot).filter((_, i) => file.index.kind[i] === 1);
    const ws = file.header.workingSetSlot;
    file.close();
    return { main: Math.min(...slots.filter((x) => x < ws)), workingSet: Math.min(...slots.filter((x) => x >= ws)) };
  };

  it("fails an eager or active-first restore naming the page, and no guest is left on the host", () => {
    const { main, workingSet } = usedSlots();
    for (const [slot, mode] of [[main, "eager"], [workingSet, "active-first"]] as const) {
      const err = restoreError(pageDamaged(slot), mode);
      expectCorrupt(err, "page", new RegExp(`\\(slot ${slot}\\) has checksum`));
    }
  });

  it("fails the lazy guest's access that touches it, and verifySnapshot finds it", () => {
    const path = pageDamaged(usedSlots().main);
    const restored = restoreSnapshot(createHost({ memoryMiB: 4 }), path, { mode: "lazy" });
    const pfn = (verifyError(path).details.pfn as number);
    expect(() => restored.vm.run([{ op: "read", gpa: pfn * 4096 }])).toThrow(expect.objectContaining({ code: "ERR_SNAPSHOT_CORRUPT" }));
    expect(restored.vm.states.of(pfn).kind).toBe("elsewhere");
  });

  function verifyError(path: string): HypermemError {
    try {
      verifySnapshot(path);
    } catch (err) {
      return err as HypermemError;
    }
    throw new Error("verifySnapshot found nothing");
  }
});

describe("the base of a diff", () => {
  /** A base and a diff of it in a folder of their own: base.hmsn, diff.hmsn. */
  function chain(): { folder: string; base: string; diff: string } {
    const folder = scratchDir("snapshot-chain");
    const base = join(folder, "base.hmsn");
    const diff = join(folder, "diff.hmsn");
    const g = runningGuest(32, 32, { kind: "uniform", seed: 2, writeFraction: 1 });
    saveSnapshot(g.vm, base, { trackDirty: true });
    g.timeline.advance(1e5);
    saveSnapshot(g.vm, diff, { diffOf: base });
    g.workload.close();
    expect(snapshotInfo(diff).chain).toEqual([diff, base]);
    return { folder, base, diff };
  }

  it("a base that is not there is ERR_SNAPSHOT_BASE, reason missing, naming the path", () => {
    const { base, diff } = chain();
    const kept = readFileSync(base);
    rmSync(base);
    const err = restoreError(diff);
    expect([err.code, err.details.reason, err.details.basePath]).toEqual(["ERR_SNAPSHOT_BASE", "missing", base]);
    expect(err.message).toMatch(/is a diff against .*base\.hmsn, which is missing/);
    writeFileSync(base, kept);
    restoreSnapshot(createHost({ memoryMiB: 4 }), diff, { mode: "eager" }).close();
  });

  it("a base replaced by another snapshot (of a guest of the same size, or another size) is ERR_SNAPSHOT_BASE, reason different", () => {
    const { base, diff } = chain();
    for (const pages of [32, 48]) {
      const other = runningGuest(pages, pages, { kind: "uniform", seed: 3 });
      saveSnapshot(other.vm, base);
      other.workload.close();
      const err = restoreError(diff);
      expect([err.code, err.details.reason]).toEqual(["ERR_SNAPSHOT_BASE", "different"]);
      expect(err.message).toMatch(pages === 32 ? /a different snapshot: snapshot [0-9a-f]{32}, not the snapshot/ : /of a 48-page guest/);
    }
  });

  it("a diff whose chain comes back to itself is refused", () => {
    const { folder, diff } = chain();
    const loop = join(folder, "base.hmsn");
    const bytes = new Uint8Array(readFileSync(diff));
    const { header, s } = layout(bytes);
    const own = Buffer.from(header.snapshotId).toString("hex");
    bytes.set(header.snapshotId, 40); // baseId := its own id
    resealHeader(bytes);
    const json = new TextDecoder().decode(bytes.subarray(s.configOffset, s.trailerOffset));
    bytes.set(new TextEncoder().encode(json.replace(/"id":"[0-9a-f]{32}"/, `"id":"${own}"`)), s.configOffset);
    resealTail(bytes);
    writeFileSync(loop, bytes); // base.hmsn is now a diff against base.hmsn, with its own id
    expectCorrupt(restoreError(loop), "base", /comes back to snapshot/);
  });
});

describe("sizes", () => {
  it("the layout constants: header 104 bytes, entries 16, runs 8, trailer 24", () => {
    expect([HEADER_BYTES, ENTRY_BYTES, RUN_BYTES, TRAILER_BYTES]).toEqual([104, 16, 8, 24]);
  });
});
