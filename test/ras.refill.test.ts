// Clean pages with a backing file: vm.mapFile loads a real file's bytes and
// keeps the pages clean-backed (their frames flagged) until written; an
// error in such a page is refilled from the file byte for byte under either
// policy; a file changed since it was mapped is not trusted (the page is
// lost instead); bad files and ranges are typed errors naming the value,
// and change nothing.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { seededFile } from "./helpers.js";
import { createHost, enableRas, Timeline, type MachineCheck } from "../src/index.js";

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), "hypermem-ras-refill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fileOf = (name: string, pages: number, seed: number): { path: string; bytes: Uint8Array } => seededFile(dir, name, pages, seed);

describe("vm.mapFile", () => {
  it("loads the file's bytes and keeps the pages clean-backed until written", () => {
    const { path, bytes } = fileOf("image.bin", 12, 1);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 32 });
    expect(vm.mapFile(4 * PAGE, path, 2 * PAGE, 8 * PAGE)).toBe(8);
    expect(Buffer.compare(vm.read(4 * PAGE, 8 * PAGE), bytes.subarray(2 * PAGE, 10 * PAGE))).toBe(0);
    expect(vm.files.cleanPages()).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(vm.files.backingOf(6)).toEqual({ path, offsetBytes: 4 * PAGE });
    expect(host.frameInfo(vm.pteInfo(6).hfn).flags).toContain("cleanBacked");
    vm.run([{ op: "read", gpa: 5 * PAGE }, { op: "write", gpa: 6 * PAGE + 8, seed: 3 }]);
    vm.write(11 * PAGE, new Uint8Array(1));
    expect(vm.files.cleanPages()).toEqual([4, 5, 7, 8, 9, 10]);
    expect(vm.files.backingOf(6)).toBe(null);
    expect(vm.files.mappedFrom(6)).toEqual({ path, offsetBytes: 4 * PAGE });
    expect(host.frameInfo(vm.pteInfo(6).hfn).flags).not.toContain("cleanBacked");
    expect(host.frameInfo(vm.pteInfo(5).hfn).flags).toContain("cleanBacked");
  });

  it("another dirty-log reader still sees the load and the writes (the backing takes no bits from it)", () => {
    const { path } = fileOf("shared.bin", 4, 2);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 8 });
    const other = vm.dirtyLog.open("other");
    vm.mapFile(0, path, 0, 4 * PAGE);
    vm.run([{ op: "write", gpa: 2 * PAGE, seed: 1 }]);
    expect(vm.files.cleanPages()).toEqual([0, 1, 3]);
    other.sync();
    expect(other.pages.snapshot().toArray()).toEqual([0, 1, 2, 3]);
  });

  it("refuses a missing, unreadable or short file, and bad ranges, naming the value; the guest is left as it was", () => {
    const { path } = fileOf("short.bin", 3, 3);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 16 });
    const missing = join(dir, "no-such-file.bin");
    expect(() => vm.mapFile(0, missing, 0, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", message: expect.stringContaining(missing), details: expect.objectContaining({ osCode: "ENOENT" }) }));
    expect(() => vm.mapFile(0, dir, 0, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", message: `backing file ${dir}: is not a regular file` }));
    expect(() => vm.mapFile(0, path, 0, 4 * PAGE)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", message: `backing file ${path}: is 12288 bytes; mapping 16384 bytes at offset 0 needs 16384` }));
    expect(() => vm.mapFile(0, path, 2 * PAGE, 2 * PAGE)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", details: expect.objectContaining({ sizeBytes: 12288, needBytes: 16384 }) }));
    if (process.getuid?.() !== 0) {
      const locked = fileOf("locked.bin", 1, 4).path;
      chmodSync(locked, 0);
      expect(() => vm.mapFile(0, locked, 0, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", details: expect.objectContaining({ osCode: "EACCES" }) }));
    }
    expect(() => vm.mapFile(100, path, 0, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "gpa", value: 100 } }));
    expect(() => vm.mapFile(0, path, 10, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "offsetBytes", value: 10 } }));
    expect(() => vm.mapFile(0, path, 0, 5000)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "lengthBytes", value: 5000 } }));
    expect(() => vm.mapFile(15 * PAGE, path, 0, 2 * PAGE)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION", details: { option: "lengthBytes", value: 2 * PAGE } }));
    expect(() => vm.mapFile(0, "", 0, PAGE)).toThrow(expect.objectContaining({ code: "ERR_BAD_OPTION" }));
    expect(vm.states.counts().privateFrames).toBe(0);
    expect(vm.files.cleanPages()).toEqual([]);
  });
});

describe("refill from the backing file", () => {
  for (const policy of ["linux", "parity"] as const) {
    it(`${policy}: an error in a clean-backed page is refilled from the file, byte for byte, and the guest never knows`, () => {
      const { path, bytes } = fileOf(`refill-${policy}.bin`, 8, 5);
      const host = createHost({ memoryMiB: 4 });
      const vm = host.createVm({ pages: 16 });
      vm.mapFile(0, path, 0, 8 * PAGE);
      const mces: MachineCheck[] = [];
      vm.onMachineCheck((m) => mces.push(m));
      const ras = enableRas(host, new Timeline(), { policy });
      const bad = vm.pteInfo(3).hfn;
      expect(ras.inject({ vm, gpa: 3 * PAGE }, { corrupt: true })).toMatchObject({ entry: { outcome: "refill", pageType: "cleanFile" } });
      ras.inject({ vm, gpa: 6 * PAGE }, { kind: "latent", corrupt: true });
      vm.run([{ op: "read", gpa: 6 * PAGE }, { op: "write", gpa: 7 * PAGE, seed: 1 }]);
      expect(mces).toEqual([]);
      expect(Buffer.compare(vm.read(0, 7 * PAGE), bytes.subarray(0, 7 * PAGE))).toBe(0);
      const now = vm.pteInfo(3).hfn;
      expect(now).not.toBe(bad);
      expect(host.frameInfo(now).flags).toContain("cleanBacked");
      expect(host.frameInfo(bad).flags).toContain("retired");
      expect(vm.files.cleanPages()).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(ras.report()).toMatchObject({ recoveredByRefill: 2, recoveredByParity: 0, pageTypes: { cleanFile: { errors: 2, recovered: 2, lost: 0 } } });
    });
  }

  it("a file changed since it was mapped is not trusted: the page is lost (machine check), not refilled with other bytes", () => {
    const { path } = fileOf("changed.bin", 4, 6);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    vm.mapFile(0, path, 0, 4 * PAGE);
    expect(() => vm.files.reread(1)).not.toThrow();
    fileOf("changed.bin", 4, 7);
    expect(() => vm.files.reread(1)).toThrow(expect.objectContaining({ code: "ERR_BACKING_FILE", message: expect.stringContaining("changed since guest page 1 was loaded") }));
    const mces: MachineCheck[] = [];
    vm.onMachineCheck((m) => mces.push(m));
    const ras = enableRas(host, new Timeline(), { policy: "linux" });
    expect(ras.inject({ vm, gpa: PAGE })).toMatchObject({ entry: { outcome: "lost", pageType: "cleanFile" } });
    vm.run([{ op: "read", gpa: PAGE }]);
    expect(mces.map((m) => m.pfn)).toEqual([1]);
  });

  it("a file page written since its load is dirty: Linux gives a machine check, parity rebuilds it once it has joined a group", () => {
    for (const policy of ["linux", "parity"] as const) {
      const { path } = fileOf(`dirty-${policy}.bin`, 8, 8);
      const host = createHost({ memoryMiB: 4 });
      const vm = host.createVm({ pages: 8 });
      vm.mapFile(0, path, 0, 8 * PAGE);
      const timeline = new Timeline();
      const ras = enableRas(host, timeline, { policy, rejoinAfterNs: 0, maintainIntervalNs: 1e6 });
      vm.run([{ op: "write", gpa: 2 * PAGE, seed: 4 }]);
      timeline.advance(2e6);
      const copy = vm.read(2 * PAGE, PAGE);
      const out = ras.inject({ vm, gpa: 2 * PAGE });
      expect(out).toMatchObject({ entry: { pageType: "dirtyFile", outcome: policy === "linux" ? "lost" : "parity" } });
      if (policy === "parity") expect(Buffer.compare(vm.read(2 * PAGE, PAGE), copy)).toBe(0);
    }
  });
});
