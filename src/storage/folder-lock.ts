// One destination process per disk folder. Two listeners sharing a
// --disk-dir would each sweep the other's transfers in progress into the
// fragment store (a partial folder looks abandoned to the other process), so
// a listener takes the folder's lock first:
//
//   DIR/.hypermem-lock    the holder's pid, decimal ASCII (mode 0o600),
//                         created with O_EXCL
//
// A lock whose process is gone (kill -9 leaves the file) is taken over; a
// lock held by a live process (this one included: two listeners of one
// process conflict the same way) is ERR_DISK_FOLDER_LOCKED naming it. The
// release removes the file only while it still names this process.
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError, FILE_MODE } from "../format/atomic-file.js";

export const LOCK_FILE = ".hypermem-lock";

/** Whether process `pid` exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid a lock file names, or null when it is unreadable or malformed (a holder killed mid-write). */
function holderOf(path: string): number | null {
  try {
    const text = readFileSync(path, "utf8");
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** A lock file younger than this without a pid is a holder still writing it, not a stale lock. */
const WRITING_MS = 1000;

/**
 * Takes the lock of disk folder `dir` for this process and returns its
 * release. `label` names the folder in errors as the user gave it (the CLI
 * passes "--disk-dir DIR").
 * @throws HypermemError DiskFolderLocked when a live process holds it; FileIo when the folder cannot hold the lock file.
 */
export function lockDiskFolder(dir: string, label = dir): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx", FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fileIoError(path, "create the lock", err);
      const holder = holderOf(path);
      const writing = holder === null && Date.now() - mtimeMs(path) < WRITING_MS;
      if (writing || (holder !== null && alive(holder))) {
        const who = holder === null ? "another process" : `process ${holder}`;
        throw new HypermemError(ErrorCode.DiskFolderLocked, `${label}: ${who} already serves this disk folder (${path}); stop it or use another folder`, { path, pid: holder });
      }
      try {
        unlinkSync(path); // stale: its process is gone
      } catch {
        // another process removed it first
      }
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
    } catch (err) {
      unlinkSync(path);
      throw fileIoError(path, "write the lock", err);
    } finally {
      closeSync(fd);
    }
    return () => {
      if (holderOf(path) !== process.pid) return;
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    };
  }
  throw fileIoError(path, "take the lock", Object.assign(new Error("a stale lock kept reappearing"), { code: "EEXIST" }));
}

/** The file's modification time, ms (0 when it is gone). */
function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
