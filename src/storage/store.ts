// The destination's folders for disk transfers, and the fragment store's
// hygiene. Every move is a rename of a whole folder (the data file and its
// record together) followed by an fsync of the folders it left and entered,
// so a crash at any point leaves each transfer in exactly one place:
//
//   DIR/NAME                                  finished images
//   DIR/.hypermem-partial/NAME/{data,record}  the transfer in progress
//   DIR/.hypermem-fragments/NAME/{data,record} fragments of failed transfers
//   DIR/.hypermem-fragments/.trash-*          being deleted
//   DIR/.hypermem-done/NAME/record            the record of a finished image
//
// A finished image keeps its record (until its time to live), so that a
// source that did not see the destination's DONE (it or the destination was
// killed in between) is answered at once instead of sending it all again.
// A sweep (when the store is opened, and before each transfer) moves a
// partial folder left by a killed destination into the fragment store,
// finishes a promotion a killed destination left half done (the data already
// renamed into DIR: the record goes to the done folder), deletes the trash,
// a folder without a readable record, records past their
// time to live, and the oldest fragments while the store is over its size
// limit (allocated bytes, so a sparse fragment counts what it holds).
// Deletion renames into the trash first, so a crash mid-delete never leaves
// a half-deleted fragment under a real name.
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileIoError } from "../format/atomic-file.js";
import { readRecord, type DiskRecord } from "./record.js";

export const PARTIAL_FOLDER = ".hypermem-partial";
export const FRAGMENT_FOLDER = ".hypermem-fragments";
export const DONE_FOLDER = ".hypermem-done";
const TRASH_PREFIX = ".trash-";

export interface StoreLimits {
  /** A fragment's record older than this (since its last write) is deleted, ms. */
  readonly fragmentTtlMs: number;
  /** The fragment store's size limit (allocated bytes); the oldest fragments go first. */
  readonly maxStoreBytes: number;
}

/** A fragment in the store, as `hypermem disk fragments` lists it. */
export interface FragmentInfo {
  readonly name: string;
  readonly sizeBytes: number;
  readonly committedBytes: number;
  /** Since the record was last written, ms. */
  readonly ageMs: number;
  /** Bytes the fragment takes on disk (data allocated plus record). */
  readonly storedBytes: number;
  readonly expiresInMs: number;
}

/** What a sweep did, by image name. */
export interface SweepReport {
  /** Partial transfers of a killed destination, moved into the store. */
  readonly recovered: string[];
  readonly expired: string[];
  /** Deleted to keep the store under its size limit. */
  readonly evicted: string[];
  /** Folders without a readable record, and partial transfers with nothing committed. */
  readonly discarded: string[];
}

/** fsync a folder so the renames into and out of it are durable. */
export function syncFolder(path: string): void {
  let fd = -1;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch (err) {
    throw fileIoError(path, "fsync the folder", err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function allocatedBytes(path: string): number {
  try {
    const st = statSync(path);
    return st.blocks * 512;
  } catch {
    return 0;
  }
}

function listNames(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fileIoError(folder, "list", err);
  }
}

export class DiskStore {
  readonly dir: string;
  readonly partialDir: string;
  readonly fragmentDir: string;
  readonly doneDir: string;
  readonly limits: StoreLimits;
  readonly #now: () => number;
  /** What the sweep made when the store was opened. */
  opened: SweepReport = { recovered: [], expired: [], evicted: [], discarded: [] };

  private constructor(dir: string, limits: StoreLimits, now: () => number) {
    this.dir = dir;
    this.partialDir = join(dir, PARTIAL_FOLDER);
    this.fragmentDir = join(dir, FRAGMENT_FOLDER);
    this.doneDir = join(dir, DONE_FOLDER);
    this.limits = limits;
    this.#now = now;
  }

  /** Opens (creating its folders) the store of `dir`, which must be a writable folder, and sweeps it. */
  static open(dir: string, limits: StoreLimits, now: () => number = Date.now): DiskStore {
    let isFolder = false;
    try {
      isFolder = statSync(dir).isDirectory();
    } catch (err) {
      throw fileIoError(dir, "use the disk folder", err);
    }
    if (!isFolder) throw fileIoError(dir, "use the disk folder", Object.assign(new Error("not a folder"), { code: "ENOTDIR" }));
    const store = new DiskStore(dir, limits, now);
    for (const folder of [store.partialDir, store.fragmentDir, store.doneDir]) {
      try {
        mkdirSync(folder, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw fileIoError(folder, "create", err);
      }
    }
    store.opened = store.sweep();
    return store;
  }

  partialPath(name: string): string { return join(this.partialDir, name); }
  fragmentPath(name: string): string { return join(this.fragmentDir, name); }
  finishedPath(name: string): string { return join(this.dir, name); }
  donePath(name: string): string { return join(this.doneDir, name); }

  /** The record of a finished image of `name`, when it is there, readable and not expired. */
  doneRecord(name: string): DiskRecord | null {
    try {
      const r = readRecord(join(this.donePath(name), "record"));
      return this.#now() - r.updatedMs > this.limits.fragmentTtlMs ? null : r;
    } catch {
      return null;
    }
  }

  /** After the data of `name` was renamed into place: its partial folder (the record) goes to the done folder. */
  finish(name: string): void {
    if (listNames(this.doneDir).indexOf(name) >= 0) this.remove(this.donePath(name));
    this.#move(this.partialPath(name), this.donePath(name), this.partialDir, this.doneDir);
  }

  /** The fragment of `name` and its record, or why there is none usable (the unusable one is deleted). */
  takeRecord(name: string): { record: DiskRecord } | { record: null; reason: "no fragment" | "record expired" | "fragment damaged" } {
    const folder = this.fragmentPath(name);
    if (listNames(this.fragmentDir).indexOf(name) < 0) return { record: null, reason: "no fragment" };
    let record: DiskRecord;
    try {
      record = readRecord(join(folder, "record"));
    } catch {
      this.remove(folder);
      return { record: null, reason: "fragment damaged" };
    }
    if (this.#now() - record.updatedMs > this.limits.fragmentTtlMs) {
      this.remove(folder);
      return { record: null, reason: "record expired" };
    }
    return { record };
  }

  /** Moves the partial transfer of `name` into the fragment store (replacing an older fragment of it), then keeps the limit. */
  stash(name: string): void {
    const to = this.fragmentPath(name);
    if (listNames(this.fragmentDir).indexOf(name) >= 0) this.remove(to);
    this.#move(this.partialPath(name), to, this.partialDir, this.fragmentDir);
    this.enforceLimit();
  }

  /** Moves the fragment of `name` back to where transfers run. */
  restore(name: string): void {
    this.#move(this.fragmentPath(name), this.partialPath(name), this.fragmentDir, this.partialDir);
  }

  /** Deletes a folder crash-safely: renamed into the trash, then removed. */
  remove(folder: string): void {
    const trash = join(this.fragmentDir, `${TRASH_PREFIX}${randomBytes(6).toString("hex")}`);
    try {
      renameSync(folder, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw fileIoError(folder, "move to the trash", err);
    }
    syncFolder(this.fragmentDir);
    rmSync(trash, { recursive: true, force: true });
  }

  /** See the file header. */
  sweep(): SweepReport {
    const report: SweepReport = { recovered: [], expired: [], evicted: [], discarded: [] };
    for (const name of listNames(this.partialDir)) {
      if (!existsSync(join(this.partialPath(name), "data")) && existsSync(this.finishedPath(name))) {
        this.finish(name); // killed between the rename into place and the move of the record
        continue;
      }
      let committed = 0;
      try {
        committed = readRecord(join(this.partialPath(name), "record")).committedBytes;
      } catch {
        committed = 0;
      }
      if (committed > 0) {
        this.stash(name);
        report.recovered.push(name);
      } else {
        this.remove(this.partialPath(name));
        report.discarded.push(name);
      }
    }
    for (const name of listNames(this.fragmentDir)) {
      if (name.startsWith(TRASH_PREFIX)) {
        rmSync(join(this.fragmentDir, name), { recursive: true, force: true });
        continue;
      }
      const taken = this.takeRecord(name);
      if (taken.record === null && taken.reason === "record expired") report.expired.push(name);
      if (taken.record === null && taken.reason === "fragment damaged") report.discarded.push(name);
    }
    for (const name of listNames(this.doneDir)) {
      if (this.doneRecord(name) === null) this.remove(this.donePath(name));
    }
    report.evicted.push(...this.enforceLimit());
    return report;
  }

  /** Deletes the oldest fragments while the store holds more than maxStoreBytes; returns their names. */
  enforceLimit(): string[] {
    const fragments = listFragments(this.dir, this.limits, this.#now()).sort((a, b) => b.ageMs - a.ageMs);
    let total = fragments.reduce((sum, f) => sum + f.storedBytes, 0);
    const evicted: string[] = [];
    for (const f of fragments) {
      if (total <= this.limits.maxStoreBytes) break;
      this.remove(this.fragmentPath(f.name));
      total -= f.storedBytes;
      evicted.push(f.name);
    }
    return evicted;
  }

  #move(from: string, to: string, fromParent: string, toParent: string): void {
    try {
      renameSync(from, to);
    } catch (err) {
      throw fileIoError(from, `move to ${to}`, err);
    }
    syncFolder(fromParent);
    if (toParent !== fromParent) syncFolder(toParent);
  }
}

/** The fragments of the store in `dir` with a readable record (read only: nothing is moved or deleted). */
export function listFragments(dir: string, limits: Pick<StoreLimits, "fragmentTtlMs">, nowMs: number = Date.now()): FragmentInfo[] {
  const folder = join(dir, FRAGMENT_FOLDER);
  try {
    statSync(dir);
  } catch (err) {
    throw fileIoError(dir, "use the disk folder", err);
  }
  const out: FragmentInfo[] = [];
  for (const name of listNames(folder)) {
    if (name.startsWith(TRASH_PREFIX)) continue;
    let r: DiskRecord;
    try {
      r = readRecord(join(folder, name, "record"));
    } catch {
      continue; // a folder without a readable record: the next sweep deletes it
    }
    const ageMs = Math.max(0, nowMs - r.updatedMs);
    out.push({
      name: r.name, sizeBytes: r.sizeBytes, committedBytes: r.committedBytes, ageMs,
      storedBytes: allocatedBytes(join(folder, name, "data")) + allocatedBytes(join(folder, name, "record")),
      expiresInMs: limits.fragmentTtlMs - ageMs,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
