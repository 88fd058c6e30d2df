// Crash-safe files: the bytes go to a temporary file in the target's folder,
// which is fsynced, renamed onto the target, and the folder fsynced, so a
// crash leaves either the old target (or none) or the whole new file, never
// part of one. Files are created with mode 0o600: what hypermem writes (guest
// memory, traces, state) is never world-readable.
//
//   AtomicFile.open(path)          creates  <folder>/.<name>.<pid>.<random hex>.tmp  (mode 0o600)
//     .append(bytes) / .pwrite(bytes, position)
//     .commit()                    fsync, close, rename onto path, fsync <folder>
//     .abort()                     close, unlink the temporary file
//
//   writeFileAtomic(path, bytes)       all of the above in one call
//   writeFileAtomicAsync(path, bytes)  the same steps on libuv's thread pool,
//                                      so the event loop goes on meanwhile
//
// A failure at any step is ERR_FILE_IO naming the path, the step and the OS
// code (ENOSPC, EISDIR, ENOENT, EACCES...); it removes the temporary file and
// leaves the target as it was (the one exception: the folder fsync after the
// rename, when the new file is in place but may not survive a crash).
import { randomBytes } from "node:crypto";
import {
  close, closeSync, fchmod, fchmodSync, fsync, fsyncSync, open, openSync, rename, renameSync, statSync, unlink, unlinkSync, write, writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";

/** The mode of every file hypermem writes. */
export const FILE_MODE = 0o600;

/** The ERR_FILE_IO error for a failed `step` on `path`. */
export function fileIoError(path: string, step: string, err: unknown, extra: Record<string, unknown> = {}): HypermemError {
  const osCode = (err as NodeJS.ErrnoException)?.code ?? "EUNKNOWN";
  const text = err instanceof Error ? err.message : String(err);
  return new HypermemError(ErrorCode.FileIo, `cannot ${step} ${path}: ${osCode} (${text})`, { path, step, osCode, ...extra });
}

/** A file being written crash-safely; nothing appears at `path` before commit(). */
export class AtomicFile {
  /** The target. */
  readonly path: string;
  /** The temporary file in the target's folder. */
  readonly tmpPath: string;
  #fd: number;
  #sizeBytes = 0;

  private constructor(path: string, tmpPath: string, fd: number) {
    this.path = path;
    this.tmpPath = tmpPath;
    this.#fd = fd;
  }

  /** Creates the temporary file. ERR_FILE_IO when the folder is missing or not writable, or the target is a folder. */
  static open(path: string): AtomicFile {
    let isFolder = false;
    try {
      isFolder = statSync(path).isDirectory();
    } catch {
      // no target yet: the usual case
    }
    if (isFolder) {
      throw fileIoError(path, "replace", Object.assign(new Error("the target is a folder"), { code: "EISDIR" }));
    }
    const tmpPath = tmpPathFor(path);
    let fd: number;
    try {
      fd = openSync(tmpPath, "wx", FILE_MODE);
    } catch (err) {
      throw fileIoError(path, "create a temporary file for", err, { tmpPath });
    }
    const file = new AtomicFile(path, tmpPath, fd);
    file.#step("set the mode of", () => fchmodSync(fd, FILE_MODE)); // the umask may have taken bits off
    return file;
  }

  /** Bytes in the file: the end of the furthest write. */
  get sizeBytes(): number { return this.#sizeBytes; }
  /** False after commit() or abort() (or a failed step). */
  get isOpen(): boolean { return this.#fd >= 0; }

  /** Writes `bytes` at the end of the file. */
  append(bytes: Uint8Array): void {
    this.pwrite(bytes, this.#sizeBytes);
  }

  /** Writes `bytes` at byte `position` (past the end leaves a zero-filled gap). */
  pwrite(bytes: Uint8Array, position: number): void {
    const fd = this.#ensureOpen();
    this.#step("write", () => {
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
    });
    this.#sizeBytes = Math.max(this.#sizeBytes, position + bytes.byteLength);
  }

  /** Makes the file durable and puts it at `path` (replacing what was there). */
  commit(): void {
    const fd = this.#ensureOpen();
    this.#step("fsync", () => fsyncSync(fd));
    this.#step("close", () => closeSync(fd));
    this.#fd = -1;
    this.#step("rename the temporary file onto", () => renameSync(this.tmpPath, this.path));
    syncFolder(this.path);
  }

  /** Drops the temporary file; the target is left as it was. Idempotent. */
  abort(): void {
    if (this.#fd >= 0) {
      try {
        closeSync(this.#fd);
      } catch {
        // the descriptor is gone either way; the unlink below is what matters
      }
      this.#fd = -1;
    }
    try {
      unlinkSync(this.tmpPath);
    } catch {
      // already renamed or removed
    }
  }

  #ensureOpen(): number {
    if (this.#fd < 0) throw new HypermemError(ErrorCode.Destroyed, `${this.path}: the file was already committed or aborted`, { path: this.path });
    return this.#fd;
  }

  /** Runs one step; on failure removes the temporary file and throws ERR_FILE_IO. */
  #step(step: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.abort();
      throw fileIoError(this.path, step, err, { tmpPath: this.tmpPath });
    }
  }
}

/** A fresh temporary file's path in the folder of `path`. */
function tmpPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/** The error of a failed folder fsync: the new file is in place, its rename may not survive a crash. */
function folderSyncError(path: string, err: unknown): HypermemError {
  const e = fileIoError(path, "fsync the folder of", err, { folder: dirname(path) });
  return new HypermemError(e.code, `${e.message}; the new file is in place but its rename may not survive a crash`, { ...e.details });
}

/** fsync the folder of `path` so the rename into it is durable. */
function syncFolder(path: string): void {
  if (process.platform === "win32") return; // folders cannot be opened for fsync there; the rename is what Windows offers
  const folder = dirname(path);
  let fd = -1;
  try {
    fd = openSync(folder, "r");
    fsyncSync(fd);
  } catch (err) {
    throw folderSyncError(path, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Writes `bytes` to `path` crash-safely (temporary file, fsync, rename, folder fsync), mode 0o600. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const file = AtomicFile.open(path);
  file.append(bytes);
  file.commit();
}

/** The callback-style fs call `run` as a promise (node:fs's callback API: the crash tests wrap it by name). */
function viaPool<T = void>(run: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * writeFileAtomic with every step on libuv's thread pool: the caller's event
 * loop keeps running through the fsyncs. Same steps, errors and guarantees.
 */
export async function writeFileAtomicAsync(path: string, bytes: Uint8Array): Promise<void> {
  const tmpPath = tmpPathFor(path);
  let fd = -1;
  const step = async (name: string, run: () => Promise<unknown>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      if (fd >= 0) await viaPool((done) => close(fd, done)).catch(() => undefined);
      fd = -1;
      await viaPool((done) => unlink(tmpPath, done)).catch(() => undefined);
      throw fileIoError(path, name, err, { tmpPath });
    }
  };
  await step("create a temporary file for", async () => { fd = await viaPool<number>((done) => open(tmpPath, "wx", FILE_MODE, done)); });
  await step("set the mode of", () => viaPool((done) => fchmod(fd, FILE_MODE, done)));
  await step("write", async () => {
    for (let at = 0; at < bytes.byteLength;) at += await viaPool<number>((done) => write(fd, bytes, at, bytes.byteLength - at, at, done));
  });
  await step("fsync", () => viaPool((done) => fsync(fd, done)));
  await step("close", async () => { const f = fd; fd = -1; await viaPool((done) => close(f, done)); });
  await step("rename the temporary file onto", () => viaPool((done) => rename(tmpPath, path, done)));
  if (process.platform === "win32") return;
  let folder = -1;
  try {
    folder = await viaPool<number>((done) => open(dirname(path), "r", done));
    await viaPool((done) => fsync(folder, done));
  } catch (err) {
    throw folderSyncError(path, err);
  } finally {
    if (folder >= 0) await viaPool((done) => close(folder, done)).catch(() => undefined);
  }
}
