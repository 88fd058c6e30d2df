// Bench cases of hypervisor swap (issue 16): 256 MiB of a guest swapped out
// to the swap file and swapped back in (swapoff: bringBackAll), each timed
// against plain Node fs doing the same I/O in the same process: writing the
// same bytes to a file, and reading them back into a buffer, 4 MiB at a
// time (neither side fsyncs: a swap device does not). The "wasm" side is the
// whole library path: the clock's choice of victims, the gather of their
// bytes, the slot allocator and a hash per slot, the page-state moves that
// free (or take) the frames, and the simulated device's write-back queue.
// The ratio is the swap's bytes per second over plain fs's (the issue's
// target: at least 0.7x). Both sides are verified before anything is timed.
import { randomFillSync } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchCase } from "../case.js";
import { createHost, guestDigest, HostSwap, Timeline, type Vm } from "../../src/index.js";

const GUEST_PAGES = 65_536; // 256 MiB
const GUEST_BYTES = GUEST_PAGES * 4096;
const IO_BYTES = 4 << 20;

interface Rig { vm: Vm; swap: HostSwap; dir: string; bytes: Uint8Array; digest: bigint }

/** A 256 MiB guest of random bytes with a swap device whose file holds all of it. */
function rig(): Rig {
  const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-swap-"));
  const vm = createHost({ memoryMiB: 256 + 64 }).createVm({ pages: GUEST_PAGES });
  const chunk = new Uint8Array(IO_BYTES);
  for (let pfn = 0; pfn < GUEST_PAGES; pfn += IO_BYTES / 4096) vm.writePages(pfn, randomFillSync(chunk));
  const swap = new HostSwap(vm.host, new Timeline(), { path: join(dir, "guest.swap"), capacityPages: GUEST_PAGES });
  swap.attach(vm);
  return { vm, swap, dir, bytes: vm.readPages(0, GUEST_PAGES), digest: guestDigest(vm).digest };
}

/** Plain fs: `bytes` to `path`, 4 MiB per write. */
function plainWrite(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "w", 0o600);
  try {
    for (let at = 0; at < bytes.length; at += IO_BYTES) writeSync(fd, bytes, at, Math.min(IO_BYTES, bytes.length - at), at);
  } finally {
    closeSync(fd);
  }
}

/** Plain fs: `into.length` bytes of `path` into `into`, 4 MiB per read. */
function plainRead(path: string, into: Uint8Array): void {
  const fd = openSync(path, "r");
  try {
    for (let at = 0; at < into.length;) at += readSync(fd, into, at, Math.min(IO_BYTES, into.length - at), at);
  } finally {
    closeSync(fd);
  }
}

function swapOutAll(r: Rig): void {
  if (r.swap.swapOut(r.vm, GUEST_PAGES) !== GUEST_PAGES) throw new Error("swap-out: not every page went out");
}

function swapInAll(r: Rig): void {
  if (r.swap.bringBackAll(r.vm) !== GUEST_PAGES) throw new Error("swap-in: not every page came back");
}

/** The guest is whole again and its pages are where they were. */
function checkBack(name: string, r: Rig): void {
  if (r.vm.states.counts().swappedPages !== 0) throw new Error(`${name}: ${r.vm.states.counts().swappedPages} pages still swapped`);
  const got = guestDigest(r.vm).digest;
  if (got !== r.digest) throw new Error(`${name}: the guest's digest ${got} after swap-out and swap-in is not ${r.digest}`);
}

function checkPlain(name: string, path: string, bytes: Uint8Array, buffer: Uint8Array): void {
  plainWrite(path, bytes);
  plainRead(path, buffer);
  if (Buffer.compare(buffer, bytes) !== 0) throw new Error(`${name}: the plain write and read moved other bytes`);
}

const swapOutCase: BenchCase = {
  name: "swap-out-256MiB-vs-fs-write",
  bytesPerPass: GUEST_BYTES,
  opsPerPass: GUEST_PAGES,
  setup() {
    const r = rig();
    const plainPath = join(r.dir, "plain.bin");
    const buffer = new Uint8Array(GUEST_BYTES);
    return {
      wasm: { beforeEach: () => { if (r.vm.states.counts().swappedPages > 0) swapInAll(r); }, run: () => swapOutAll(r) },
      ts: { run: () => plainWrite(plainPath, r.bytes) },
      verify() {
        swapOutAll(r);
        if (r.vm.states.counts().swappedPages !== GUEST_PAGES || r.swap.file.usedSlots !== GUEST_PAGES) throw new Error(`${swapOutCase.name}: ${r.vm.states.counts().swappedPages} pages swapped`);
        swapInAll(r);
        checkBack(swapOutCase.name, r);
        checkPlain(swapOutCase.name, plainPath, r.bytes, buffer);
      },
      teardown() {
        r.swap.close();
        rmSync(r.dir, { recursive: true, force: true });
      },
    };
  },
};

const swapInCase: BenchCase = {
  name: "swap-in-256MiB-vs-fs-read",
  bytesPerPass: GUEST_BYTES,
  opsPerPass: GUEST_PAGES,
  setup() {
    const r = rig();
    const plainPath = join(r.dir, "plain.bin");
    const buffer = new Uint8Array(GUEST_BYTES).fill(1);
    plainWrite(plainPath, r.bytes);
    return {
      wasm: { beforeEach: () => { if (r.vm.states.counts().swappedPages === 0) swapOutAll(r); }, run: () => swapInAll(r) },
      ts: { run: () => plainRead(plainPath, buffer) },
      verify() {
        swapOutAll(r);
        swapInAll(r);
        checkBack(swapInCase.name, r);
        checkPlain(swapInCase.name, plainPath, r.bytes, buffer);
      },
      teardown() {
        r.swap.close();
        rmSync(r.dir, { recursive: true, force: true });
      },
    };
  },
};

export const swapCases: BenchCase[] = [swapOutCase, swapInCase];
