// The remote-memory region, its baseline file and the recovery from them
// (src/remote): round trips against plain copies, a cut write-back at every
// step, and every check that guards a result made to fail.
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import {
  dirtiedRegion, fullCopy, loadBaseline, recoverRegion, regionGeometry, RemoteRegion, resolveRemoteLink, SHARED_STORAGE, writeBaseline, writeEpoch,
  xxh3Pages,
} from "../src/index.js";
import { H, LIST_ENTRY_BYTES, LIST_ENTRY_WORDS, LIST_HEADER_BYTES } from "../src/remote/region-layout.js";
import { thrownError } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-remote-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const link = resolveRemoteLink("rdma-56g");
let n = 0;
const nextPath = (): string => join(dir, `baseline-${n++}`);
const recover = (region: RemoteRegion | null, path: string, pages: number) => recoverRegion({ region, baselinePath: path, pages, link, storage: SHARED_STORAGE });

function page(fill: number): Uint8Array {
  return new Uint8Array(4096).fill(fill);
}

/** A 16-page region, all pages `fill` 1..16 at version 1, baseline generation 1 at `path`. */
function smallRegion(path: string, stagingPages = 16): RemoteRegion {
  const g = regionGeometry(16, stagingPages, 4096);
  const region = RemoteRegion.format(new SharedArrayBuffer(g.totalBytes), g);
  for (let p = 0; p < 16; p++) region.writeHome(p, page(p + 1), 1, xxh3Pages(page(p + 1)));
  const home = region.homeView();
  writeBaseline(path, 1, 0, home.pages, home.meta);
  region.startGeneration(1, 0);
  return region;
}

/** The 16 pages a plain model expects: page p holds its fill. */
function modelOf(fills: number[]): Uint8Array {
  const out = new Uint8Array(16 * 4096);
  fills.forEach((f, p) => out.fill(f, p * 4096, (p + 1) * 4096));
  return out;
}

describe("recovery from the baseline and the region's dirty lists", () => {
  it("rebuilds the region at its last published list, byte for byte", () => {
    const path = nextPath();
    const region = smallRegion(path);
    const fills = Array.from({ length: 16 }, (_, p) => p + 1);
    writeEpoch(region, 1, [3, 5], Buffer.concat([page(100), page(101)]));
    writeEpoch(region, 2, [5, 9], Buffer.concat([page(102), page(103)]));
    fills[3] = 100; fills[5] = 102; fills[9] = 103;
    const { memory, report } = recover(region, path, 16);
    expect(Buffer.compare(memory, modelOf(fills))).toBe(0);
    expect(report).toMatchObject({ mode: "baseline+lists", listsRead: 2, entriesRead: 4, pagesCopied: 3, pagesFromStaging: 0, recoveredEpoch: 2, generation: 1 });
    expect(report.oneSidedBytesRead).toBe(64 + 2 * (LIST_HEADER_BYTES + 4) + 4 * LIST_ENTRY_BYTES + 3 * 4096);
  });

  it("a write-back cut at any step leaves exactly the last published list", () => {
    // Epoch 2 rewrites pages 3, 5 and 7: 3 staged, then the publish, then 3 copied home = 7 steps.
    for (let stop = 0; stop <= 7; stop++) {
      const path = nextPath();
      const region = smallRegion(path);
      writeEpoch(region, 1, [3], page(100));
      expect(writeEpoch(region, 2, [3, 5, 7], Buffer.concat([page(110), page(111), page(112)]), stop)).toBe(stop);
      const fills = Array.from({ length: 16 }, (_, p) => p + 1);
      fills[3] = 100;
      if (stop >= 4) { fills[3] = 110; fills[5] = 111; fills[7] = 112; }
      const { memory, report } = recover(region, path, 16);
      expect(Buffer.compare(memory, modelOf(fills)), `stopped after ${stop} steps`).toBe(0);
      expect(report.recoveredEpoch).toBe(stop >= 4 ? 2 : 1);
      expect(report.pagesFromStaging).toBe(stop >= 4 ? 3 - (stop - 4) : 0);
    }
  });

  it("a full one-sided copy equals the home pages; a corrupted home page fails its XXH3-64", () => {
    const region = dirtiedRegion(64, 10, 3, 7, nextPath());
    expect(Buffer.compare(fullCopy(region), region.homeView().pages)).toBe(0);
    region.homeView().pages[5 * 4096 + 17] ^= 1;
    expect(thrownError(() => fullCopy(region))).toMatchObject({ code: "ERR_REMOTE_CHECKSUM", details: { pfn: 5 } });
  });

  it("falls back to the baseline alone when the memory host is unreachable, and says so", () => {
    const path = nextPath();
    let up = true;
    const g = regionGeometry(16, 16, 4096);
    const region = RemoteRegion.format(new SharedArrayBuffer(g.totalBytes), g, () => up);
    for (let p = 0; p < 16; p++) region.writeHome(p, page(p + 1), 1, xxh3Pages(page(p + 1)));
    writeBaseline(path, 1, 0, region.homeView().pages, region.homeView().meta);
    region.startGeneration(1, 0);
    writeEpoch(region, 1, [2], page(99));
    up = false;
    expect(thrownError(() => region.readHeader())).toMatchObject({ code: "ERR_REMOTE_UNREACHABLE" });
    const { memory, report } = recover(region, path, 16);
    expect(report).toMatchObject({ mode: "baseline-only", fallbackReason: "the memory host is unreachable", recoveredEpoch: 0, oneSidedReads: 0 });
    expect(Buffer.compare(memory, modelOf(Array.from({ length: 16 }, (_, p) => p + 1)))).toBe(0);
  });
});

describe("checks that guard the recovered memory", () => {
  it("a dirty list with a flipped byte is refused by its crc and recovery falls back to the baseline", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 1, [4], page(50));
    const log = new Uint8Array(region.buffer, region.geometry.listLogBase, 64);
    log[LIST_HEADER_BYTES + 4] ^= 0x01; // the entry's version
    expect(thrownError(() => region.readLists())).toMatchObject({ code: "ERR_REMOTE_DIRTY_LIST", details: { list: 0, reason: "crc" } });
    const { memory, report } = recover(region, path, 16);
    expect(report.mode).toBe("baseline-only");
    expect(report.fallbackReason).toMatch(/dirty list 0 .*crc32/);
    expect(memory[4 * 4096]).toBe(5);
  });

  it("a list of another generation, or out of epoch order, is refused", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 3, [1], page(7));
    region.startGeneration(2, 0); // a new generation with the old list's bytes still there
    writeEpoch(region, 1, [1], page(8));
    const bytes = new Uint8Array(region.buffer, region.geometry.listLogBase, 64);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint32(12, 1, true); // generation 1 in a generation-2 region, crc fixed up
    view.setUint32(LIST_HEADER_BYTES + LIST_ENTRY_BYTES, crc32(bytes.subarray(0, LIST_HEADER_BYTES + LIST_ENTRY_BYTES)), true);
    expect(thrownError(() => region.readLists())).toMatchObject({ code: "ERR_REMOTE_DIRTY_LIST", details: { reason: "generation", generation: 1 } });
    const path2 = nextPath();
    const ordered = smallRegion(path2);
    writeEpoch(ordered, 2, [1], page(7));
    writeEpoch(ordered, 2, [2], page(8));
    expect(thrownError(() => ordered.readLists())).toMatchObject({ code: "ERR_REMOTE_DIRTY_LIST", details: { list: 1, reason: "epoch", epoch: 2 } });
  });

  it("a listed page that matches neither its home nor its staged copy is ERR_REMOTE_CHECKSUM, never used", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 1, [6], page(60));
    region.homeView().pages[6 * 4096] ^= 0xff;
    expect(thrownError(() => recover(region, path, 16))).toMatchObject({ code: "ERR_REMOTE_CHECKSUM", details: { pfn: 6, version: 2 } });
  });

  it("a baseline with a bad byte, a bad metadata table, a short file or another generation is ERR_REMOTE_BASELINE", () => {
    const path = nextPath();
    const region = smallRegion(path);
    const good = readFileSync(path);
    const into = new Uint8Array(16 * 4096);
    expect(loadBaseline(path, into, 16)).toMatchObject({ generation: 1, epoch: 0, pages: 16 });
    const damaged = (at: number, why: RegExp | string, reason?: string) => {
      const bytes = Buffer.from(good);
      bytes[at] ^= 0x10;
      writeFileSync(path, bytes);
      const got = thrownError(() => loadBaseline(path, into, 16));
      expect(got).toMatchObject({ code: "ERR_REMOTE_BASELINE", ...(reason ? { details: { reason } } : {}) });
      expect((got as { message: string }).message).toMatch(why);
    };
    damaged(14, /crc/); // the header's generation
    damaged(32 + 3, /metadata crc32/, "crc");
    damaged(32 + 16 * 16 + 9 * 4096 + 100, /page 9 has XXH3-64/, "page hash");
    writeFileSync(path, good);
    truncateSync(path, good.length - 1);
    expect(thrownError(() => loadBaseline(path, into, 16))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "size" } });
    expect(thrownError(() => loadBaseline(join(dir, "missing"), into, 16))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "open" } });
    writeFileSync(path, good);
    expect(thrownError(() => loadBaseline(path, into, 32))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "pages", pages: 16 } });
    region.startGeneration(2, 0);
    expect(thrownError(() => recover(region, path, 16))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "generation", generation: 1, expected: 2 } });
  });

  it("refuses bad geometry, a list the log cannot hold, and pages outside the region, naming the value", () => {
    expect(thrownError(() => regionGeometry(0, 1, 4096))).toMatchObject({ code: "ERR_BAD_OPTION", details: { value: 0 } });
    expect(thrownError(() => regionGeometry(8, 9, 4096))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "stagingPages", value: 9 } });
    expect(thrownError(() => regionGeometry(8, 8, 10))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "listLogBytes", value: 10 } });
    const g = regionGeometry(8, 8, 64);
    const region = RemoteRegion.format(new SharedArrayBuffer(g.totalBytes), g);
    expect(thrownError(() => region.publishList(1, new Uint32Array(4 * LIST_ENTRY_WORDS)))).toMatchObject({ code: "ERR_REMOTE_CAPACITY", details: { count: 4 } });
    expect(thrownError(() => region.writeHome(8, page(1), 1, new Uint32Array(2)))).toMatchObject({ code: "ERR_GPA_RANGE", details: { pfn: 8 } });
    expect(thrownError(() => RemoteRegion.format(new SharedArrayBuffer(4096), g))).toMatchObject({ code: "ERR_REMOTE_CAPACITY" });
  });
});

describe("format version 2 (XXH3-64 page checksums) and the one-pass recovery", () => {
  it("a region, a baseline or a dirty list of another layout version is refused, naming the version", () => {
    const path = nextPath();
    const region = smallRegion(path);
    expect(RemoteRegion.attach(region.buffer).geometry).toEqual(region.geometry);
    const header = new Uint32Array(region.buffer, 0, 16);
    header[H.layoutVersion] = 0; // what a version-1 region left there
    expect(thrownError(() => RemoteRegion.attach(region.buffer))).toMatchObject({ code: "ERR_FORMAT_VERSION", details: { version: 1, expected: 2 } });
    header[H.layoutVersion] = 3;
    expect(thrownError(() => RemoteRegion.attach(region.buffer))).toMatchObject({ code: "ERR_FORMAT_VERSION", details: { version: 3 } });
    header[H.layoutVersion] = 2;

    const v1 = Buffer.from(readFileSync(path));
    v1.writeUInt16LE(1, 4); // major 1, the header's crc fixed up
    v1.writeUInt32LE(crc32(v1.subarray(0, 28)), 28);
    writeFileSync(path, v1);
    const got = thrownError(() => loadBaseline(path, new Uint8Array(16 * 4096), 16));
    expect(got).toMatchObject({ code: "ERR_FORMAT_VERSION" });
    expect((got as { message: string }).message).toMatch(/\b1\.0\b/);

    writeEpoch(region, 1, [4], page(50));
    const log = new Uint8Array(region.buffer, region.geometry.listLogBase, 64);
    new DataView(log.buffer, log.byteOffset).setUint32(4, 1, true); // layout version 1, crc fixed up
    new DataView(log.buffer, log.byteOffset).setUint32(LIST_HEADER_BYTES + LIST_ENTRY_BYTES, crc32(log.subarray(0, LIST_HEADER_BYTES + LIST_ENTRY_BYTES)), true);
    expect(thrownError(() => region.readLists())).toMatchObject({ code: "ERR_REMOTE_DIRTY_LIST", details: { list: 0, reason: "version", version: 1 } });
  });

  it("a listed page whose home version differs from its entry's is ERR_REMOTE_CHECKSUM even with the right bytes", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 1, [6], page(60));
    writeEpoch(region, 2, [7], page(70));
    const log = new Uint8Array(region.buffer, region.geometry.listLogBase, 128);
    const view = new DataView(log.buffer, log.byteOffset);
    const size = LIST_HEADER_BYTES + LIST_ENTRY_BYTES;
    view.setUint32(LIST_HEADER_BYTES + 4, 9, true); // list 0's entry for page 6: version 9, not 2; crc fixed up
    view.setUint32(size, crc32(log.subarray(0, size)), true);
    expect(thrownError(() => recover(region, path, 16))).toMatchObject({ code: "ERR_REMOTE_CHECKSUM", details: { pfn: 6, version: 9 } });
  });

  it("a staged copy that fails its hash is ERR_REMOTE_CHECKSUM; the good one is taken", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 1, [3, 5], Buffer.concat([page(110), page(111)]), 3); // staged, published, nothing home
    expect(recover(region, path, 16).report.pagesFromStaging).toBe(2);
    new Uint8Array(region.buffer, region.geometry.stagingBase + 4096 + 9, 1)[0] ^= 1; // slot 1: page 5
    expect(thrownError(() => recover(region, path, 16))).toMatchObject({ code: "ERR_REMOTE_CHECKSUM", details: { pfn: 5, version: 2 } });
  });

  it("a damaged baseline page is ERR_REMOTE_BASELINE in recovery; under a listed page it is never used", () => {
    const path = nextPath();
    const region = smallRegion(path);
    writeEpoch(region, 1, [2], page(42));
    const bytes = Buffer.from(readFileSync(path));
    bytes[32 + 16 * 16 + 2 * 4096 + 5] ^= 0x40; // page 2, which list 0 replaces
    writeFileSync(path, bytes);
    const fills = Array.from({ length: 16 }, (_, p) => p + 1);
    fills[2] = 42;
    const { memory, report } = recover(region, path, 16);
    expect(report).toMatchObject({ mode: "baseline+lists", pagesCopied: 1 });
    expect(Buffer.compare(memory, modelOf(fills))).toBe(0);
    bytes[32 + 16 * 16 + 11 * 4096 + 7] ^= 0x40; // page 11, which no list names
    writeFileSync(path, bytes);
    expect(thrownError(() => recover(region, path, 16))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "page hash", pfn: 11 } });
    const into = new Uint8Array(16 * 4096);
    expect(thrownError(() => loadBaseline(path, into, 16))).toMatchObject({ code: "ERR_REMOTE_BASELINE", details: { reason: "page hash", pfn: 2 } });
    expect(into.every((b) => b === 0)).toBe(true); // the window holding page 2 was never copied out
  });

  it("over many windows and runs of listed pages, recovery equals a plain copy of the region's home pages", () => {
    const path = nextPath();
    const truth = dirtiedRegion(300, 120, 4, 11, path);
    const { memory, report } = recover(truth, path, 300);
    expect(report).toMatchObject({ mode: "baseline+lists", pagesCopied: 120, entriesRead: 120, listsRead: 4 });
    expect(Buffer.compare(memory, truth.homeView().pages)).toBe(0);
  });
});
