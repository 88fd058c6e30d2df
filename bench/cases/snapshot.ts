// Bench cases of snapshots (issue 14): a 1 GiB guest saved to a file and
// restored from it (eager), each timed against plain Node fs doing the same
// I/O in the same process: writing the guest's bytes to a file with one
// fsync, and reading the snapshot's page bytes into a 1 GiB buffer (both
// sides end with the guest's 1 GiB in memory; the buffer, like the
// restore's host, is allocated once, so neither pays first-touch page
// faults in the timed passes). The
// "wasm" side is the whole library path (the kernels, the format, the
// crash-safe writer, the checksums); the ratio is the snapshot's bytes per
// second over plain fs's (the target: at least 0.7x). Both sides
// are verified before anything is timed.
import { randomFillSync } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../case.js";
import { createHost, guestDigest, restoreSnapshot, saveSnapshot, snapshotInfo, verifySnapshot, type RestoredGuest, type Vm } from "../../src/index.js";

const GUEST_PAGES = 262_144; // 1 GiB
const GUEST_BYTES = GUEST_PAGES * 4096;
const HOST_MIB = 1024 + 64;
const IO_BYTES = 4 << 20;

/** A 1 GiB guest whose every page holds random bytes. */
function randomGuest(): Vm {
  const vm = createHost({ memoryMiB: HOST_MIB }).createVm({ pages: GUEST_PAGES });
  const chunk = new Uint8Array(IO_BYTES);
  for (let pfn = 0; pfn < GUEST_PAGES; pfn += IO_BYTES / 4096) vm.writePages(pfn, randomFillSync(chunk));
  return vm;
}

/** Writes `bytes` to `path` with plain fs: 4 MiB writes, one fsync. */
function plainWrite(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "w", 0o600);
  try {
    for (let at = 0; at < bytes.length; at += IO_BYTES) writeSync(fd, bytes, at, Math.min(IO_BYTES, bytes.length - at), at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads `into.length` bytes of `path` from `offset` into `into` with plain fs, 4 MiB at a time. */
function plainRead(path: string, offset: number, into: Uint8Array): void {
  const fd = openSync(path, "r");
  try {
    for (let at = 0; at < into.length;) at += readSync(fd, into, at, Math.min(IO_BYTES, into.length - at), offset + at);
  } finally {
    closeSync(fd);
  }
}

const saveCase: BenchCase = {
  name: "snapshot-save-1GiB-vs-fs-write",
  bytesPerPass: GUEST_BYTES,
  opsPerPass: GUEST_PAGES,
  setup() {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-snapshot-"));
    const snapshotPath = join(dir, "guest.hmsn");
    const plainPath = join(dir, "plain.bin");
    const vm = randomGuest();
    const bytes = vm.readPages(0, GUEST_PAGES);
    return {
      wasm: { run: () => { saveSnapshot(vm, snapshotPath); } },
      ts: { run: () => plainWrite(plainPath, bytes) },
      verify() {
        saveSnapshot(vm, snapshotPath);
        const info = snapshotInfo(snapshotPath);
        if (info.entries.data !== GUEST_PAGES || info.dataSlots !== GUEST_PAGES) throw new Error(`${saveCase.name}: ${info.entries.data} data pages saved, not ${GUEST_PAGES}`);
        if (verifySnapshot(snapshotPath).pagesChecked !== GUEST_PAGES) throw new Error(`${saveCase.name}: a saved page fails its checksum`);
        plainWrite(plainPath, bytes);
        const back = new Uint8Array(IO_BYTES);
        plainRead(plainPath, GUEST_BYTES - IO_BYTES, back);
        if (Buffer.compare(back, bytes.subarray(GUEST_BYTES - IO_BYTES)) !== 0) throw new Error(`${saveCase.name}: the plain write wrote other bytes`);
      },
      teardown: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const restoreCase: BenchCase = {
  name: "snapshot-restore-1GiB-vs-fs-read",
  bytesPerPass: GUEST_BYTES,
  opsPerPass: GUEST_PAGES,
  setup() {
    const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-snapshot-"));
    const path = join(dir, "guest.hmsn");
    let source: Vm | null = randomGuest();
    saveSnapshot(source, path);
    const digest = guestDigest(source).digest;
    const source0 = source.readPages(0, IO_BYTES / 4096);
    source = null;
    // One host for every restore: its memory is committed by the first one (as the baseline's buffer is reused).
    const host = createHost({ memoryMiB: HOST_MIB });
    let restored: RestoredGuest | null = null;
    const drop = (): void => {
      restored?.vm.destroy();
      restored = null;
    };
    const restore = (): void => {
      restored = restoreSnapshot(host, path, { mode: "eager", resumeWorkload: false });
      restored.close();
    };
    const buffer = new Uint8Array(GUEST_BYTES).fill(1);
    return {
      wasm: { beforeEach: drop, run: restore },
      ts: { run: () => plainRead(path, 4096, buffer) },
      verify() {
        drop();
        restore();
        const got = guestDigest(restored!.vm).digest;
        if (got !== digest) throw new Error(`${restoreCase.name}: the restored guest's digest ${got} is not the saved guest's ${digest}`);
        drop();
        plainRead(path, 4096, buffer);
        if (Buffer.compare(buffer.subarray(0, IO_BYTES), source0) !== 0) throw new Error(`${restoreCase.name}: the plain read read other bytes`);
      },
      teardown() {
        drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const snapshotCases: BenchCase[] = [saveCase, restoreCase];
