// Bench cases of the checkpoint pause path: a dirty-log sync of a 1 GiB
// guest (every page populated) with 1 %, 10 % or 50 % of its pages dirty,
// the list of dirty pages taken, and their copy into staging
// (src/checkpoint/staging.ts: one gather into a staging buffer in host
// frames, reused from the pause before, as a run reuses it once a
// checkpoint is on the wire), in bytes per second of dirty pages, beside
// the baseline in the same window: page-copy-256MiB, a native copy
// (`Uint8Array.set`, a memmove) of 256 MiB between two buffers, in bytes
// per second. The rates are compared (the two sides copy different byte
// counts). Target: >= 0.5x. The host has room for the staging beside the
// guest (1 GiB + up to 640 MiB of staging at 50 %), as a Remus host needs.
// Between passes (not timed) the guest writes 8 bytes to each of its dirty
// pages through the MMU, as a running guest dirties them, leaving no JS
// garbage to be collected inside the timed pass.
import type { BenchCase } from "../case.js";
import { createHost, type Access } from "../../src/index.js";
import { PendingCheckpoint } from "../../src/checkpoint/pending.js";
import { StagingArea, takeAll } from "../../src/checkpoint/staging.js";
import { PfnList } from "../../src/host/page-set.js";
import { splitmix } from "./prng.js";

const GUEST_PAGES = 262_144;
const PAGE = 4096;
/** The baseline's copy: page-copy-256MiB of ../shared/native/run. */
const NATIVE_COPY_BYTES = 256 * 2 ** 20;

function pauseCase(pct: number): BenchCase {
  const name = `checkpoint-pause-${pct}pct`;
  const dirtyCount = Math.round((GUEST_PAGES * pct) / 100);
  return {
    name,
    bytesPerPass: dirtyCount * PAGE,
    opsPerPass: dirtyCount,
    referenceBytesPerPass: NATIVE_COPY_BYTES,
    setup() {
      const host = createHost({ memoryMiB: 1792 });
      const vm = host.createVm({ pages: GUEST_PAGES });
      vm.prefillPages(0, GUEST_PAGES, 7);
      const reader = vm.dirtyLog.open("checkpoint");
      reader.sync();
      reader.pages.clear();
      const rng = splitmix(0xc4e0n + BigInt(pct));
      const dirty = new Set<number>();
      while (dirty.size < dirtyCount) dirty.add(Number(rng() % BigInt(GUEST_PAGES)));
      const dirtyList = [...dirty].sort((a, b) => a - b);
      const writes: Access[] = dirtyList.map((g) => ({ op: "write", gpa: g * PAGE, seed: g }));
      const redirty = (): void => { vm.run(writes); };
      const list = new PfnList(host.kernels, GUEST_PAGES);
      const staging = new StagingArea(vm);
      let staged = new PendingCheckpoint(0);
      const source = new Uint8Array(NATIVE_COPY_BYTES).fill(0x5a);
      const target = new Uint8Array(NATIVE_COPY_BYTES);
      const pausePath = (): void => {
        staging.recycle(staged);
        staged = new PendingCheckpoint(0);
        reader.sync();
        staging.stage(takeAll(reader, list), staged);
      };
      return {
        wasm: { beforeEach: redirty, run: pausePath },
        ts: { run: () => { target.set(source); } },
        verify() {
          redirty();
          pausePath();
          if (staging.hostBuffersAllocated === 0) throw new Error(`${name}: the staging is not in host frames`);
          if (staged.unsentPages !== dirtyCount) throw new Error(`${name}: staged ${staged.unsentPages} pages, not the ${dirtyCount} dirtied`);
          for (const pfn of [dirtyList[0], dirtyList[dirtyList.length - 1]]) {
            let page: Uint8Array | null = null;
            for (let p = staged.takeNext(); p; p = staged.takeNext()) if (p.pfn === pfn) page = p.bytes;
            if (!page || Buffer.compare(page, vm.read(pfn * PAGE, PAGE)) !== 0) throw new Error(`${name}: staged page ${pfn} differs from the guest's`);
            redirty();
            pausePath();
          }
          target.set(source);
          if (Buffer.compare(target, source) !== 0) throw new Error(`${name}: the native copy differs`);
        },
        teardown() { staging.close(); list.free(); reader.close(); },
      };
    },
  };
}

/** The pause path at 1 %, 10 % and 50 % of a 1 GiB guest dirty, beside a native copy of the same bytes. */
export const checkpointCases: BenchCase[] = [pauseCase(1), pauseCase(10), pauseCase(50)];
