// The destination of a disk transfer killed at every file-system call of a
// resumed transfer, in one process and deterministically. node:fs is wrapped:
// each call that changes files (open for writing, write, truncate, fsync,
// rename, mkdir, remove) counts as a crash point; at the chosen one the call
// takes effect and then the "process dies": it and every later changing call
// throw, so nothing after it reaches the disk, as with a kill -9 (the page
// cache keeps what was written before; so fsync and fdatasync are counted as
// crash points but not run, which keeps the ~35 scenarios fast). A restart revives the file system and
// the next connection sweeps the folder as a new destination would. The
// callback-style calls of the commits on libuv's thread pool are crash
// points too: the kill reaches their callbacks.
//
// The scenario: attempt 1 dies right after its second commit (two intervals
// acknowledged); attempt 2 resumes and dies at call k; attempt 3 must resume
// at or past every offset acknowledged before (an acknowledged offset is
// durable) and end with a file identical to the image. k runs over every
// call attempt 2 makes: the sweep, the match, the truncation at START, the
// writes, the commits, the promotion.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mulberry32 } from "../src/sim/prng.js";
import { sendDisk } from "../src/storage/sender.js";
import { diskBed, firstDifference, TOKEN, type DiskBed } from "./storage-helpers.js";

/** The crash switch shared with the node:fs wrapper. */
const kill = vi.hoisted(() => ({
  /** Changing calls made since the last reset. */
  calls: 0,
  /** Die right after this call (1-based; 0: never). */
  atCall: 0,
  /** Or right after the first call this predicate accepts. */
  when: null as ((name: string, args: readonly unknown[]) => boolean) | null,
  dead: false,
}));

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const killed = (name: string): Error => Object.assign(new Error(`the process was killed (simulated) at ${name}`), { code: "ESIMKILLED" });
  const changing = (name: string, isChange: (args: unknown[]) => boolean = () => true, skip = false) => {
    const real = skip ? () => undefined : (fs as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    return (...args: unknown[]): unknown => {
      if (!isChange(args)) return real(...args);
      if (kill.dead) throw killed(name);
      const out = real(...args);
      kill.calls++;
      if (kill.calls === kill.atCall || kill.when?.(name, args)) {
        kill.dead = true;
        throw killed(name);
      }
      return out;
    };
  };
  /** The same for a callback-style call (the thread-pool commits): the callback gets the kill. */
  const changingCb = (name: string, isChange: (args: unknown[]) => boolean = () => true, skip = false) => {
    const real = (fs as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    return (...args: unknown[]): void => {
      if (!isChange(args)) { real(...args); return; }
      const callback = args.pop() as (err: Error | null, ...rest: unknown[]) => void;
      if (kill.dead) { process.nextTick(callback, killed(name)); return; }
      const done = (err: Error | null, ...rest: unknown[]): void => {
        if (err) { callback(err); return; }
        if (kill.dead) { callback(killed(name)); return; }
        kill.calls++;
        if (kill.calls === kill.atCall || kill.when?.(name, args)) {
          kill.dead = true;
          callback(killed(name));
          return;
        }
        callback(null, ...rest);
      };
      if (skip) process.nextTick(done, null);
      else real(...args, done);
    };
  };
  const wrapped = {
    open: changingCb("open", (a) => typeof a[1] === "string" && a[1] !== "r"),
    write: changingCb("write"),
    fchmod: changingCb("fchmod"),
    fsync: changingCb("fsync", undefined, true),
    fdatasync: changingCb("fdatasync", undefined, true),
    rename: changingCb("rename"),
    unlink: changingCb("unlink"),
    openSync: changing("openSync", (a) => a[1] !== undefined && a[1] !== "r"),
    writeSync: changing("writeSync"),
    ftruncateSync: changing("ftruncateSync"),
    fdatasyncSync: changing("fdatasyncSync", undefined, true),
    fsyncSync: changing("fsyncSync", undefined, true),
    fchmodSync: changing("fchmodSync"),
    renameSync: changing("renameSync"),
    mkdirSync: changing("mkdirSync"),
    rmSync: changing("rmSync"),
    unlinkSync: changing("unlinkSync"),
  };
  return { ...fs, ...wrapped, default: { ...fs, ...wrapped } };
});

const BLOCK = 64 * 1024;
const INTERVAL = 2 * BLOCK;
const PAGE = 4096;
const SIZE = 6 * BLOCK + 5000;

/** Seeded data with zero pages at the end of blocks 1 and 3 (the ends of commits), block 4 all zeros. */
function writeImage(path: string): string {
  const next = mulberry32(17);
  const bytes = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += 4) new DataView(bytes.buffer).setUint32(i, next(), true);
  bytes.fill(0, 2 * BLOCK - 3 * PAGE, 2 * BLOCK);
  bytes.fill(0, 4 * BLOCK - 4 * PAGE, 5 * BLOCK);
  writeFileSync(path, bytes);
  return createHash("sha256").update(bytes).digest("hex");
}

/** A restart: the file system works again and nothing is armed. */
function restart(): void {
  kill.dead = false;
  kill.calls = 0;
  kill.atCall = 0;
  kill.when = null;
}

interface Attempt { startedAtBytes: number; offer: string; ackedBytes: number; sha256: string | null }

async function attempt(b: DiskBed, image: string): Promise<Attempt> {
  const a: Attempt = { startedAtBytes: -1, offer: "", ackedBytes: 0, sha256: null };
  try {
    const r = await sendDisk(image, {
      host: "127.0.0.1", port: b.port, token: TOKEN, blockBytes: BLOCK, retryDelaysMs: [],
      onStart: (s) => { a.startedAtBytes = s.startedAtBytes; a.offer = s.offer; },
      onProgress: (p) => { a.ackedBytes = Math.max(a.ackedBytes, p.ackedBytes); },
    });
    a.sha256 = r.sha256;
  } catch {
    // the destination died: the next attempt resumes
  }
  return a;
}

let bed: DiskBed | null = null;
afterEach(async () => {
  restart();
  await bed?.close();
  bed = null;
});

/** Attempt 1, killed right after its second commit's record is in place; returns what it acknowledged. */
async function firstAttemptKilled(b: DiskBed, image: string): Promise<Attempt> {
  let records = 0;
  kill.when = (name, args) => (name === "renameSync" || name === "rename") && String(args[1]).endsWith("/record") && ++records === 3;
  const a = await attempt(b, image);
  restart();
  return a;
}

describe("disk transfer: the destination killed at every file-system call of a resume", () => {
  it("each resume starts at or past every acknowledged offset, and the file ends identical", async () => {
    const b = await diskBed({ progressIntervalBytes: INTERVAL });
    bed = b;
    // A dry run counts the calls of a resume that is not killed.
    const sha256 = writeImage(join(b.root, "dry.raw"));
    const first = await firstAttemptKilled(b, join(b.root, "dry.raw"));
    expect(first.ackedBytes).toBe(INTERVAL); // the second commit died before its ACK
    const clean = await attempt(b, join(b.root, "dry.raw"));
    expect(clean).toMatchObject({ startedAtBytes: 2 * INTERVAL, offer: "resumed", sha256 });
    const callsOfResume = kill.calls;
    expect(callsOfResume).toBeGreaterThan(20);
    for (let k = 1; k <= callsOfResume; k++) {
      // One image name per k, in the same folder: each sweep also meets the others' done records.
      const img = join(b.root, `disk-${k}.raw`);
      writeImage(img);
      const a1 = await firstAttemptKilled(b, img);
      kill.atCall = k;
      const a2 = await attempt(b, img);
      const killedAt = kill.calls;
      restart();
      const a3 = await attempt(b, img);
      const context = `killed at call ${k} of the resume (${killedAt} made); attempt 2 started at ${a2.startedAtBytes} (${a2.offer}), acked ${a2.ackedBytes}; attempt 3 ${a3.startedAtBytes} (${a3.offer})`;
      expect(a1.ackedBytes, context).toBe(INTERVAL);
      expect(a2.startedAtBytes < 0 || a2.startedAtBytes === 2 * INTERVAL, context).toBe(true);
      expect(a3.startedAtBytes, context).toBeGreaterThanOrEqual(Math.max(2 * INTERVAL, a2.ackedBytes));
      expect(a3.sha256, context).toBe(sha256);
      expect(firstDifference(img, join(b.dst, `disk-${k}.raw`)), context).toBe(-1);
    }
  });
});
