// vm.mapFile and vm.files at the edges a mutation run found untested: each
// range check at its bound, a mapping longer than one 1 MiB read, reread of
// a page that is not clean-backed or whose file changed, and refilled().
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createHost } from "../src/index.js";
import { thrownError, seededFile } from "./helpers.js";

const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), "hypermem-file-backing-mutants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fileOf = (name: string, pages: number, seed: number): { path: string; bytes: Uint8Array } => seededFile(dir, name, pages, seed);

describe("vm.mapFile checks at their bounds", () => {
  const { path } = fileOf("eight.bin", 8, 1);
  const host = createHost({ memoryMiB: 4 });
  const vm = host.createVm({ pages: 8 });

  it("gpa, offsetBytes and lengthBytes: whole pages, 0 up to the guest's (or a safe integer's) end", () => {
    const bad = (gpa: number, off: number, len: number) => thrownError(() => vm.mapFile(gpa, path, off, len));
    expect(bad(-PAGE, 0, PAGE)).toEqual({ code: "ERR_BAD_OPTION", message: `mapFile: gpa must be a whole number of 4 KiB pages from 0 to ${7 * PAGE}, got ${-PAGE}`, details: { option: "gpa", value: -PAGE } });
    expect(bad(8 * PAGE, 0, PAGE)).toMatchObject({ details: { option: "gpa", value: 8 * PAGE } });
    expect(bad(0, -PAGE, PAGE)).toMatchObject({ details: { option: "offsetBytes", value: -PAGE } });
    expect(bad(0, 2 ** 60, PAGE)).toMatchObject({ details: { option: "offsetBytes" } });
    expect(bad(0, 0, 9 * PAGE)).toMatchObject({ message: `mapFile: lengthBytes must be a whole number of 4 KiB pages from 0 to ${8 * PAGE}, got ${9 * PAGE}` });
    expect(bad(0, 0, 0)).toEqual({ code: "ERR_BAD_OPTION", message: "mapFile: lengthBytes must be at least one page (4096), got 0", details: { option: "lengthBytes", value: 0 } });
    expect(thrownError(() => vm.mapFile(0, 7 as never, 0, PAGE))).toEqual({ code: "ERR_BAD_OPTION", message: "mapFile: path must be a file path, got 7", details: { option: "path" } });
    expect(vm.mapFile(7 * PAGE, path, 7 * PAGE, PAGE)).toBe(1);
    expect(vm.mapFile(0, path, 0, 8 * PAGE)).toBe(8);
    expect(vm.files.cleanPages()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("vm.files", () => {
  it("maps more than one 1 MiB read: every page's bytes and backing offset", () => {
    const { path, bytes } = fileOf("big.bin", 600, 2);
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 600 });
    expect(vm.mapFile(0, path, 0, 600 * PAGE)).toBe(600);
    expect(Buffer.compare(vm.read(0, 600 * PAGE), bytes)).toBe(0);
    for (const p of [0, 255, 256, 511, 512, 599]) expect(vm.files.peek(p)).toEqual({ path, offsetBytes: p * PAGE });
    expect(vm.files.cleanPages().length).toBe(600);
  });

  it("reread gives the file's bytes of a clean page; refuses a written page and a changed file, naming them", () => {
    const { path, bytes } = fileOf("re.bin", 4, 3);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 4 });
    expect(vm.files.cleanPages()).toEqual([]);
    expect(vm.files.backingOf(0)).toBe(null);
    expect(vm.files.mappedFrom(0)).toBe(null);
    vm.mapFile(0, path, 0, 4 * PAGE);
    expect(Buffer.compare(vm.files.reread(2), bytes.subarray(2 * PAGE, 3 * PAGE))).toBe(0);
    vm.write(PAGE, new Uint8Array([1]));
    expect(thrownError(() => vm.files.reread(1))).toEqual({
      code: "ERR_BACKING_FILE", message: `vm ${vm.id}: guest page 1 is not clean-backed (never mapped from a file, or written since)`, details: { pfn: 1 },
    });
    const changed = Uint8Array.from(bytes);
    changed[3 * PAGE + 5] ^= 1;
    writeFileSync(path, changed);
    const e = thrownError(() => vm.files.reread(3));
    expect(e).toMatchObject({ code: "ERR_BACKING_FILE", details: { path, pfn: 3, offsetBytes: 3 * PAGE } });
    expect((e as { message: string }).message).toMatch(new RegExp(`^backing file ${path}: changed since guest page 3 was loaded from offset ${3 * PAGE} \\(XXH3-64 0x[0-9a-f]+, loaded 0x[0-9a-f]+\\)$`));
    writeFileSync(path, bytes.subarray(0, 2 * PAGE));
    expect(thrownError(() => vm.files.reread(2))).toEqual({
      code: "ERR_BACKING_FILE", message: `backing file ${path}: ends at offset ${2 * PAGE}, before the ${PAGE} bytes at offset ${2 * PAGE}`, details: { path, offsetBytes: 2 * PAGE },
    });
  });

  it("refilled flags the new frame of a clean page only", () => {
    const { path } = fileOf("refill.bin", 2, 4);
    const host = createHost({ memoryMiB: 4 });
    const vm = host.createVm({ pages: 2 });
    vm.mapFile(0, path, 0, 2 * PAGE);
    vm.write(PAGE, new Uint8Array([9]));
    vm.files.refresh();
    const a = host.framePages.alloc();
    const b = host.framePages.alloc();
    vm.files.refilled(0, a);
    vm.files.refilled(1, b);
    expect(host.frameInfo(a).flags).toContain("cleanBacked");
    expect(host.frameInfo(b).flags).not.toContain("cleanBacked");
    expect(host.frameInfo(vm.pteInfo(1).hfn).flags).not.toContain("cleanBacked");
  });
});
