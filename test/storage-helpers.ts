// Shared by the disk-transfer tests: a temporary folder with an image and a
// destination, an in-process listener serving disk transfers (its reports
// kept), and a byte-for-byte comparison of two files.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenForMigrations, type MigrationListener } from "../src/migration/listener.js";
import { DISK_MAGIC } from "../src/storage/protocol.js";
import type { DiskReport, DiskServeOptions } from "../src/storage/options.js";
import { diskStreamHandler } from "../src/storage/receiver.js";

export const TOKEN = new Uint8Array(randomBytes(32));

export interface DiskBed {
  readonly root: string;
  readonly dst: string;
  readonly listener: MigrationListener;
  readonly reports: DiskReport[];
  readonly port: number;
  close(): Promise<void>;
}

/** A listener serving disk transfers into a fresh folder. */
export async function diskBed(serve: Omit<DiskServeOptions, "dir" | "onReport"> = {}, idleTimeoutMs = 10_000): Promise<DiskBed> {
  const root = mkdtempSync(join(tmpdir(), "hypermem-disk-"));
  const dst = join(root, "dst");
  mkdirSync(dst);
  const reports: DiskReport[] = [];
  const listener = await listenForMigrations({
    port: 0, token: TOKEN, hostMiB: 1, idleTimeoutMs,
    streams: { [DISK_MAGIC]: diskStreamHandler({ ...serve, dir: dst, onReport: (r) => reports.push(r) }) },
  });
  return {
    root, dst, listener, reports, port: listener.address.port,
    async close() {
      await listener.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Waits until the listener has reported `n` disk connections. */
export async function reportsAt(bed: DiskBed, n: number, timeoutMs = 30_000): Promise<DiskReport[]> {
  const deadline = Date.now() + timeoutMs;
  while (bed.reports.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${bed.reports.length} of ${n} disk reports`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return bed.reports;
}

/** The first differing offset of two files, or -1 when they are identical. */
export function firstDifference(a: string, b: string): number {
  const x = readFileSync(a);
  const y = readFileSync(b);
  if (x.length === y.length && Buffer.compare(x, y) === 0) return -1;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i;
  return n;
}
