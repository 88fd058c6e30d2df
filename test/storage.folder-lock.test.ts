// The disk folder's lock (src/storage/folder-lock.ts): one destination
// process per folder. A live holder (this process included) is refused,
// naming it; a stale lock (its process gone, or an empty file left long
// ago) is taken over; a lock still being written is not; the release
// removes only a lock that names this process. The CLI's use of it is in
// storage.cli.test.ts.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { LOCK_FILE, lockDiskFolder } from "../src/storage/folder-lock.js";
import { thrownHypermemError } from "./helpers.js";

const root = mkdtempSync(join(tmpdir(), "hypermem-folder-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = (): string => mkdtempSync(join(root, `d${n++}-`));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

describe("lockDiskFolder", () => {
  it("writes this process's pid (mode 0o600); a second lock is refused naming the label and the holder; the release frees it", () => {
    const dir = folder();
    const release = lockDiskFolder(dir);
    const path = join(dir, LOCK_FILE);
    expect(readFileSync(path, "utf8")).toBe(String(process.pid));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const e = thrownHypermemError(() => lockDiskFolder(dir, `--disk-dir ${dir}`));
    expect(e.code).toBe(ErrorCode.DiskFolderLocked);
    expect(e.message).toContain(`--disk-dir ${dir}`);
    expect(e.message).toContain(`process ${process.pid}`);
    expect(e.details).toMatchObject({ path, pid: process.pid });
    release();
    expect(existsSync(path)).toBe(false);
    lockDiskFolder(dir)();
  });

  it("takes over the lock of a process that is gone", () => {
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), String(deadPid()));
    const release = lockDiskFolder(dir);
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(String(process.pid));
    release();
  });

  it("an empty lock file is a holder still writing it while young, stale once old", () => {
    const dir = folder();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, "");
    const e = thrownHypermemError(() => lockDiskFolder(dir));
    expect(e.code).toBe(ErrorCode.DiskFolderLocked);
    expect(e.message).toContain("another process");
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(path, longAgo, longAgo);
    lockDiskFolder(dir)();
  });

  it("the release leaves a lock that names another process", () => {
    const dir = folder();
    const release = lockDiskFolder(dir);
    writeFileSync(join(dir, LOCK_FILE), "1"); // taken over meanwhile (pid 1 is alive)
    release();
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe("1");
    expect(thrownHypermemError(() => lockDiskFolder(dir)).details).toMatchObject({ pid: 1 });
  });

  it("a folder that cannot hold the lock: ERR_FILE_IO naming the lock's path", () => {
    const missing = join(root, "no-such-folder");
    const e = thrownHypermemError(() => lockDiskFolder(missing));
    expect(e.code).toBe(ErrorCode.FileIo);
    expect(e.message).toContain(join(missing, LOCK_FILE));
  });
});
