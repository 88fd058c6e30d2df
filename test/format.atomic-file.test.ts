// Crash-safe files (src/format/atomic-file.ts): commit, abort, mode 0o600,
// and a failure at each step (real ones, and OS errors injected into node:fs
// where root cannot provoke them) leaving the target as it was and no
// temporary file behind; the same for writeFileAtomicAsync, whose steps are
// node:fs's callback calls.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { AtomicFile, FILE_MODE, writeFileAtomic, writeFileAtomicAsync } from "../src/format/atomic-file.js";

/** The next failing call: node:fs function `name` throws `code` on its (skip+1)-th call. */
const inject = vi.hoisted(() => ({ plan: null as null | { name: string; code: string; skip: number } }));
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const wrap = <F extends (...args: never[]) => unknown>(name: string, fn: F) => ((...args: Parameters<F>) => {
    const plan = inject.plan;
    if (plan && plan.name === name && plan.skip-- === 0) {
      inject.plan = null;
      throw Object.assign(new Error(`${plan.code}: injected failure, ${name}`), { code: plan.code });
    }
    return fn(...args);
  }) as unknown as F;
  /** The same for a callback-style call: the callback gets the failure. */
  const wrapCb = (name: string, fn: (...args: unknown[]) => unknown) => (...args: unknown[]): void => {
    const plan = inject.plan;
    if (plan && plan.name === name && plan.skip-- === 0) {
      inject.plan = null;
      const callback = args.pop() as (err: Error) => void;
      process.nextTick(callback, Object.assign(new Error(`${plan.code}: injected failure, ${name}`), { code: plan.code }));
      return;
    }
    fn(...args);
  };
  return {
    ...fs,
    open: wrapCb("open", fs.open as never),
    write: wrapCb("write", fs.write as never),
    fsync: wrapCb("fsync", fs.fsync as never),
    rename: wrapCb("rename", fs.rename as never),
    openSync: wrap("openSync", fs.openSync),
    writeSync: wrap("writeSync", fs.writeSync),
    fsyncSync: wrap("fsyncSync", fs.fsyncSync),
    renameSync: wrap("renameSync", fs.renameSync),
  };
});

const dir = mkdtempSync(join(tmpdir(), "hypermem-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  expect(inject.plan).toBe(null); // every planned failure happened
  expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
});
let n = 0;
const target = (name = "f") => join(dir, `${name}-${n++}.bin`);
const bytes = (len: number, seed = 1) => Uint8Array.from({ length: len }, (_, i) => (i * 31 + seed) & 0xff);

function catchError(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    return err as HypermemError;
  }
  return expect.fail("expected a HypermemError");
}

function expectSame(path: string, expected: Uint8Array): void {
  expect(Buffer.compare(readFileSync(path), expected)).toBe(0);
}

describe("commit and abort", () => {
  it("writeFileAtomic writes the bytes, mode 0o600", () => {
    const path = target();
    const data = bytes(100_000);
    writeFileAtomic(path, data);
    expectSame(path, data);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(FILE_MODE).toBe(0o600);
  });

  it("streams appends and pwrites into a hidden 0o600 temporary file, and nothing is at the target before commit", () => {
    const path = target("stream");
    const f = AtomicFile.open(path);
    expect(f.tmpPath).toBe(join(dir, `.${path.slice(dir.length + 1)}.${process.pid}.${f.tmpPath.split(".").at(-2)}.tmp`));
    expect(f.tmpPath).toMatch(/\.[0-9a-f]{8}\.tmp$/);
    expect(statSync(f.tmpPath).mode & 0o777).toBe(0o600);
    f.append(new Uint8Array(8)); // placeholder header
    f.append(bytes(5000));
    f.pwrite(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 0);
    expect(f.sizeBytes).toBe(5008);
    expect(() => statSync(path)).toThrow(/ENOENT/);
    f.commit();
    expect(f.isOpen).toBe(false);
    expectSame(path, Buffer.concat([Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), bytes(5000)]));
    expect(catchError(() => f.append(bytes(1))).code).toBe(ErrorCode.Destroyed);
  });

  it("replaces an existing file, whose mode was wider, with a 0o600 one", () => {
    const path = target();
    writeFileSync(path, "old", { mode: 0o644 });
    writeFileAtomic(path, bytes(10));
    expectSame(path, bytes(10));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("abort leaves the target as it was; abort twice is fine", () => {
    const path = target();
    writeFileSync(path, "keep me");
    const f = AtomicFile.open(path);
    f.append(bytes(100));
    f.abort();
    f.abort();
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });

  it("0o600 holds whatever the umask", () => {
    const old = process.umask(0o277); // would leave 0o400
    try {
      const path = target();
      writeFileAtomic(path, bytes(3));
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });
});

describe("failures are ERR_FILE_IO naming the path and the OS code, and leave the target untouched", () => {
  function expectFileIo(fn: () => unknown, path: string, osCode: string, step: string): HypermemError {
    const e = catchError(fn);
    expect(e.code).toBe(ErrorCode.FileIo);
    expect(e.details).toMatchObject({ path, osCode, step });
    expect(e.message).toContain(path);
    expect(e.message).toContain(osCode);
    return e;
  }

  it("a missing folder (ENOENT) and a target that is a folder (EISDIR)", () => {
    const missing = join(dir, "no-such-folder", "f.bin");
    expectFileIo(() => writeFileAtomic(missing, bytes(4)), missing, "ENOENT", "create a temporary file for");
    const folder = join(dir, `folder-${n++}`);
    mkdirSync(folder);
    expectFileIo(() => writeFileAtomic(folder, bytes(4)), folder, "EISDIR", "replace");
    expect(statSync(folder).isDirectory()).toBe(true);
  });

  const steps: [string, string, number, string][] = [
    ["openSync", "EACCES", 0, "create a temporary file for"],
    ["writeSync", "ENOSPC", 1, "write"],
    ["fsyncSync", "EIO", 0, "fsync"],
    ["renameSync", "EXDEV", 0, "rename the temporary file onto"],
  ];
  for (const [name, code, skip, step] of steps) {
    it(`${code} from ${name}: the old file stays, no temporary file`, () => {
      const path = target();
      writeFileSync(path, "previous contents");
      if (name === "openSync") {
        inject.plan = { name, code, skip };
        expectFileIo(() => AtomicFile.open(path), path, code, step);
      } else {
        const f = AtomicFile.open(path);
        f.append(bytes(10));
        inject.plan = { name, code, skip };
        expectFileIo(() => { f.append(bytes(10)); f.append(bytes(10)); f.commit(); }, path, code, step);
        expect(f.isOpen).toBe(false);
        expect(catchError(() => f.append(bytes(1))).code).toBe(ErrorCode.Destroyed);
      }
      expect(readFileSync(path, "utf8")).toBe("previous contents");
    });
  }

  it("a failed fsync of the folder after the rename says the file is in place", () => {
    const path = target();
    const f = AtomicFile.open(path);
    f.append(bytes(10));
    inject.plan = { name: "fsyncSync", code: "EIO", skip: 1 }; // the file's fsync passes, the folder's fails
    const e = expectFileIo(() => f.commit(), path, "EIO", "fsync the folder of");
    expect(e.message).toContain("the new file is in place");
    expectSame(path, bytes(10));
  });
});

describe("writeFileAtomicAsync: the same steps on the thread pool", () => {
  async function expectFileIoAsync(run: Promise<unknown>, path: string, osCode: string, step: string): Promise<HypermemError> {
    const e = await run.then(() => expect.fail("expected a HypermemError"), (err: unknown) => err as HypermemError);
    expect(e).toBeInstanceOf(HypermemError);
    expect(e.code).toBe(ErrorCode.FileIo);
    expect(e.details).toMatchObject({ path, osCode, step });
    expect(e.message).toContain(path);
    return e;
  }

  it("writes the bytes with mode 0o600, replacing a wider file", async () => {
    const path = target("async");
    writeFileSync(path, "old", { mode: 0o644 });
    const data = bytes(200_000, 7);
    await writeFileAtomicAsync(path, data);
    expectSame(path, data);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("a missing folder (ENOENT) and a target that is a folder: ERR_FILE_IO, the folder intact", async () => {
    const missing = join(dir, "no-such-folder", "f.bin");
    await expectFileIoAsync(writeFileAtomicAsync(missing, bytes(4)), missing, "ENOENT", "create a temporary file for");
    const folder = join(dir, `folder-${n++}`);
    mkdirSync(folder);
    writeFileSync(join(folder, "inside"), "x");
    await expectFileIoAsync(writeFileAtomicAsync(folder, bytes(4)), folder, "EISDIR", "rename the temporary file onto");
    expect(readFileSync(join(folder, "inside"), "utf8")).toBe("x");
  });

  const steps: [string, string, number, string][] = [
    ["open", "EACCES", 0, "create a temporary file for"],
    ["write", "ENOSPC", 0, "write"],
    ["fsync", "EIO", 0, "fsync"],
    ["rename", "EXDEV", 0, "rename the temporary file onto"],
  ];
  for (const [name, code, skip, step] of steps) {
    it(`${code} from ${name}: the old file stays, no temporary file`, async () => {
      const path = target("async");
      writeFileSync(path, "previous contents");
      inject.plan = { name, code, skip };
      await expectFileIoAsync(writeFileAtomicAsync(path, bytes(10)), path, code, step);
      expect(readFileSync(path, "utf8")).toBe("previous contents");
    });
  }

  it("a failed fsync of the folder after the rename says the file is in place", async () => {
    const path = target("async");
    inject.plan = { name: "fsync", code: "EIO", skip: 1 };
    const e = await expectFileIoAsync(writeFileAtomicAsync(path, bytes(10)), path, "EIO", "fsync the folder of");
    expect(e.message).toContain("the new file is in place");
    expectSame(path, bytes(10));
  });
});
