// The retired-frame store: records survive a reopen and a child process
// killed (SIGKILL) at random points while it appends, 50 times; a torn or
// corrupted file loads every good record and says what it dropped (never
// throws, never loses an earlier record); another format or a newer version
// is refused and left alone; clear() forgets frames; the file is mode 0o600
// and an append never creates it; and a host created
// with the store ("after a reboot") never hands a stored frame out.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { createHost, ErrorCode, RetiredStore, RETIRED_RECORD_BYTES, RETIRED_STORE_HEADER, type RetiredFrame } from "../src/index.js";
import { mulberry32 } from "../src/sim/prng.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-ras-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HEADER = RETIRED_STORE_HEADER.byteLength;
let files = 0;
const freshPath = (): string => join(dir, `store-${files++}.hmrf`);

function frame(hfn: number, cause: RetiredFrame["cause"] = "uncorrectable", errorCount = 1): RetiredFrame {
  return { hfn, cause, timeMs: 1_700_000_000_000 + hfn, errorCount };
}

function storeWith(hfns: readonly number[]): string {
  const path = freshPath();
  const s = RetiredStore.open(path);
  for (const h of hfns) s.append(frame(h));
  return path;
}

describe("retired-frame store: format", () => {
  it("keeps every record across a reopen, one per frame, with cause, time and count", () => {
    const path = freshPath();
    const s = RetiredStore.open(path);
    expect(s.loadReport).toMatchObject({ records: 0, dropped: [], rewritten: true });
    expect(s.append(frame(40))).toBe(true);
    expect(s.append(frame(7, "correctable", 10))).toBe(true);
    expect(s.append(frame(40, "correctable", 3))).toBe(false);
    expect(readFileSync(path).length).toBe(HEADER + 2 * RETIRED_RECORD_BYTES);
    const again = RetiredStore.open(path);
    expect(again.list()).toEqual([frame(7, "correctable", 10), frame(40)]);
    expect(again.loadReport).toMatchObject({ records: 2, dropped: [], rewritten: false, invalid: [] });
  });

  it("a torn tail, cut at any byte of the last record, loses only that record and says so", () => {
    const path = storeWith([3, 5, 9]);
    const whole = readFileSync(path);
    for (let cut = 1; cut < RETIRED_RECORD_BYTES; cut++) {
      writeFileSync(path, whole.subarray(0, whole.length - cut));
      const s = RetiredStore.open(path);
      expect(s.list().map((f) => f.hfn)).toEqual([3, 5]);
      expect(s.loadReport.dropped).toEqual([{ offset: HEADER + 2 * RETIRED_RECORD_BYTES, bytes: RETIRED_RECORD_BYTES - cut, reason: "torn tail" }]);
      expect(readFileSync(path).length).toBe(HEADER + 2 * RETIRED_RECORD_BYTES); // rewritten: the next append lands after good data
      s.append(frame(11));
      expect(RetiredStore.open(path).list().map((f) => f.hfn)).toEqual([3, 5, 11]);
    }
  });

  it("a corrupted record is dropped by its crc, the others kept; a damaged header keeps every record", () => {
    const path = storeWith([2, 4, 6, 8]);
    const bytes = readFileSync(path);
    bytes[HEADER + RETIRED_RECORD_BYTES + 9] ^= 0x10;
    writeFileSync(path, bytes);
    const s = RetiredStore.open(path);
    expect(s.list().map((f) => f.hfn)).toEqual([2, 6, 8]);
    expect(s.loadReport.dropped).toEqual([{ offset: HEADER + RETIRED_RECORD_BYTES, bytes: RETIRED_RECORD_BYTES, reason: "bad record crc" }]);
    const header = readFileSync(path);
    header[20] ^= 0xff; // createdMs: the header crc fails
    writeFileSync(path, header);
    const h = RetiredStore.open(path);
    expect(h.list().map((f) => f.hfn)).toEqual([2, 6, 8]);
    expect(h.loadReport.dropped).toEqual([{ offset: 0, bytes: HEADER, reason: "damaged header" }]);
    expect(RetiredStore.open(path).loadReport.dropped).toEqual([]);
  });

  it("random damage anywhere past the magic never throws and never loses a record it did not touch (fast-check)", () => {
    const hfns = Array.from({ length: 12 }, (_, i) => 100 + i);
    const pristine = readFileSync(storeWith(hfns));
    fc.assert(fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 4, max: pristine.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 40 }),
      (flips, cut) => {
        const path = freshPath();
        const bytes = Uint8Array.from(pristine.subarray(0, pristine.length - cut));
        for (const f of flips) if (f.at < bytes.length) bytes[f.at] ^= f.xor;
        writeFileSync(path, bytes);
        const s = RetiredStore.open(path);
        const kept = new Set(s.list().map((f) => f.hfn));
        hfns.forEach((h, i) => {
          const start = HEADER + i * RETIRED_RECORD_BYTES;
          const end = start + RETIRED_RECORD_BYTES;
          const touched = end > bytes.length || flips.some((f) => f.at >= start && f.at < end);
          if (!touched) expect(kept.has(h), `record ${i} (frame ${h})`).toBe(true);
        });
        for (const f of s.list()) expect(hfns).toContain(f.hfn);
      },
    ), { numRuns: 150 });
  });

  it("refuses a file that is not a store, and a store of a newer version, naming it, and leaves the file alone", () => {
    const notStore = freshPath();
    writeFileSync(notStore, "PK\u0003\u0004 a zip file, not a store");
    expect(() => RetiredStore.open(notStore)).toThrow(expect.objectContaining({ code: "ERR_RETIRED_STORE", message: expect.stringContaining("magic") }));
    expect(readFileSync(notStore, "utf8")).toBe("PK\u0003\u0004 a zip file, not a store");
    for (const [major, minor] of [[2, 0], [1, 1]]) {
      const path = storeWith([1, 2]);
      const bytes = readFileSync(path);
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      view.setUint16(4, major, true);
      view.setUint16(6, minor, true);
      view.setUint32(HEADER - 4, crc32(bytes.subarray(0, HEADER - 4)), true);
      writeFileSync(path, bytes);
      expect(() => RetiredStore.open(path)).toThrow(expect.objectContaining({ code: "ERR_FORMAT_VERSION", message: expect.stringContaining(`${major}.${minor}`) }));
      expect(Buffer.compare(readFileSync(path), bytes)).toBe(0);
    }
  });

  it("clear() forgets one frame or all of them, crash-safely", () => {
    const path = storeWith([10, 20, 30]);
    const s = RetiredStore.open(path);
    expect(s.clear([20, 99])).toBe(1);
    expect(RetiredStore.open(path).list().map((f) => f.hfn)).toEqual([10, 30]);
    expect(s.clear("all")).toBe(2);
    expect(readFileSync(path).length).toBe(HEADER);
  });

  it("is never world-readable: mode 0o600 when created, appended to, repaired and cleared, whatever the umask", () => {
    const mode = (p: string): number => statSync(p).mode & 0o777;
    const old = process.umask(0o022);
    try {
      const path = freshPath();
      const s = RetiredStore.open(path);
      expect(mode(path)).toBe(0o600);
      s.append(frame(1));
      s.append(frame(2));
      expect(mode(path)).toBe(0o600);
      truncateSync(path, HEADER + RETIRED_RECORD_BYTES + 5); // a torn tail: the load rewrites the file
      const repaired = RetiredStore.open(path);
      expect(repaired.loadReport.rewritten).toBe(true);
      expect(mode(path)).toBe(0o600);
      repaired.clear([1]);
      expect(mode(path)).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it("an append to a store removed since it was opened is ERR_FILE_IO naming the file, and creates no file without a header", () => {
    const path = freshPath();
    const s = RetiredStore.open(path);
    unlinkSync(path);
    expect(() => s.append(frame(3))).toThrow(expect.objectContaining({ code: ErrorCode.FileIo, message: expect.stringContaining(path) }));
    expect(existsSync(path)).toBe(false);
  });
});

/** Transpiles the store and what it imports into `out` (plain ESM a bare `node` runs at once, without tsx). */
function buildChild(out: string): string {
  const root = resolve(import.meta.dirname, "..");
  for (const file of ["src/errors.ts", "src/options.ts", "src/format/header.ts", "src/format/atomic-file.ts", "src/format/record-log.ts", "src/host/retired-store.ts"]) {
    const js = ts.transpileModule(readFileSync(join(root, file), "utf8"), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const target = join(out, file.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  writeFileSync(join(out, "package.json"), '{"type":"module"}');
  const child = join(out, "append.js");
  writeFileSync(child, [
    'import { RetiredStore } from "./src/host/retired-store.js";',
    "const store = RetiredStore.open(process.argv[2]);",
    "for (let hfn = Number(process.argv[3]); ; hfn++) {",
    '  store.append({ hfn, cause: "uncorrectable", timeMs: Date.now(), errorCount: 1 });',
    "  process.stdout.write(`${hfn}\\n`); // after append returned: the record is fsynced",
    "}",
  ].join("\n"));
  return child;
}

/**
 * Runs the appending child and kills it (SIGKILL) `delayMs` after its first
 * acknowledgement, or after it was spawned (`fromSpawn`: the kill may land
 * while it starts or loads the store); returns the frames it acknowledged.
 */
function appendThenKill(child: string, path: string, first: number, delayMs: number, fromSpawn: boolean): Promise<number[]> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [child, path, String(first)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let armed = fromSpawn;
    if (fromSpawn) setTimeout(() => p.kill("SIGKILL"), delayMs);
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!armed) {
        armed = true;
        setTimeout(() => p.kill("SIGKILL"), delayMs);
      }
    });
    p.stderr.on("data", (d: Buffer) => { err += d.toString(); });
    p.on("error", fail);
    p.on("close", (_code, signal) => {
      if (signal !== "SIGKILL") return fail(new Error(`the child ended without being killed (${signal}): ${err}`));
      done(out.split("\n").slice(0, -1).map(Number));
    });
  });
}

describe("retired-frame store: crashes", () => {
  it("a child killed (SIGKILL) at random points while it appends, 50 times: every record acknowledged before a kill is there", async () => {
    const child = buildChild(mkdtempSync(join(dir, "child-")));
    // 5 stores, each appended to by 10 children in turn (each one reopening what the last left), the 5 side by side.
    const lanes = Array.from({ length: 5 }, async (_, lane) => {
      const path = freshPath();
      const rng = mulberry32(2024 + lane);
      const acknowledged: number[] = [];
      let next = 1;
      for (let kill = 0; kill < 10; kill++) {
        const fromSpawn = rng() % 4 === 0;
        const acked = await appendThenKill(child, path, next, fromSpawn ? rng() % 400 : rng() % 25, fromSpawn);
        acknowledged.push(...acked);
        next = (acked.at(-1) ?? next) + 100;
      }
      const s = RetiredStore.open(path);
      const kept = new Set(s.list().map((f) => f.hfn));
      expect(s.loadReport.invalid).toEqual([]);
      return { acknowledged, missing: acknowledged.filter((h) => !kept.has(h)) };
    });
    const results = await Promise.all(lanes);
    expect(results.reduce((n, r) => n + r.acknowledged.length, 0)).toBeGreaterThan(40);
    expect(results.flatMap((r) => r.missing)).toEqual([]);
  }, 120_000);
});

describe("a host created again with the store", () => {
  it("retires the stored frames before any guest runs and never hands them out, even when it runs out of frames", () => {
    const retired = [1, 2, 17, 64, 65, 66, 200, 255];
    const path = storeWith([...retired, 5000]);
    const host = createHost({ memoryMiB: 1, retiredStore: path });
    expect(host.retired.list().map((f) => f.hfn)).toEqual(retired);
    expect(host.retired.outsideHost).toEqual([5000]);
    expect(host.stats().retiredFrames).toBe(retired.length);
    for (const h of retired) expect(host.frameInfo(h)).toMatchObject({ owner: 0xffff, flags: ["retired"] });
    const vm = host.createVm({ pages: 256 });
    const used = new Set<number>();
    let pfn = 0;
    for (; pfn < 256; pfn++) {
      try {
        vm.write(pfn * 4096, new Uint8Array([pfn & 0xff]));
      } catch (err) {
        expect(err).toMatchObject({ code: "ERR_OUT_OF_FRAMES" });
        break;
      }
      used.add(vm.pteInfo(pfn).hfn);
    }
    expect(pfn).toBeLessThan(256);
    expect(host.stats().usedFrames).toBe(host.maxFrames);
    expect(retired.filter((h) => used.has(h))).toEqual([]);
    for (const h of retired) expect(host.frameInfo(h)).toMatchObject({ owner: 0xffff, flags: ["retired"] });
  });

  it("frames retired on one host are avoided by the next one built from its store", () => {
    const path = freshPath();
    const first = createHost({ memoryMiB: 2, retiredStore: path });
    const vm = first.createVm({ pages: 64 });
    vm.write(0, new Uint8Array(64 * 4096).fill(1));
    const bad = [3, 30].map((p) => vm.pteInfo(p).hfn);
    for (const h of bad) first.retired.record(h, "uncorrectable", 1);
    const second = createHost({ memoryMiB: 2, retiredStore: path });
    const next = second.createVm({ pages: 64 });
    next.write(0, new Uint8Array(64 * 4096).fill(2));
    const frames = Array.from({ length: 64 }, (_, p) => next.pteInfo(p).hfn);
    expect(bad.filter((h) => frames.includes(h))).toEqual([]);
    expect(second.retired.list().map((f) => f.hfn)).toEqual([...bad].sort((a, b) => a - b));
  });

  it("refuses a store of a newer major version at createHost, naming the version", () => {
    const path = storeWith([9]);
    const bytes = readFileSync(path);
    new DataView(bytes.buffer, bytes.byteOffset).setUint16(4, 3, true);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(HEADER - 4, crc32(bytes.subarray(0, HEADER - 4)), true);
    writeFileSync(path, bytes);
    expect(() => createHost({ memoryMiB: 1, retiredStore: path })).toThrow(expect.objectContaining({ code: "ERR_FORMAT_VERSION", message: expect.stringContaining("3.0") }));
    expect(() => createHost({ memoryMiB: 1, retiredStore: "" })).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
  });

  it("a torn store still boots a host with every good record reserved", () => {
    const path = storeWith([7, 8, 9]);
    truncateSync(path, HEADER + 2 * RETIRED_RECORD_BYTES + 5);
    const host = createHost({ memoryMiB: 1, retiredStore: path });
    expect(host.retired.list().map((f) => f.hfn)).toEqual([7, 8]);
    expect(host.retired.loadReport?.dropped).toEqual([{ offset: HEADER + 2 * RETIRED_RECORD_BYTES, bytes: 5, reason: "torn tail" }]);
  });
});
