// The adapter: one wasm instance and its memory, split by kernel family
// (frames, page tables and MMU, pages and bitmaps, stream, workloads) over
// that one instance. Domain code (src/host, src/stream, src/migration...)
// calls these, never the exports, and moves bytes in and out of linear
// memory only through `heap`'s bulk copies (copyIn, copyOut, borrow, fill).
import { check } from "../errors.js";
import type { HvExports } from "./abi.js";
import { FRAME_META_BYTES, PAGE_SIZE } from "./codes.js";
import { BalloonKernels } from "./balloon.js";
import { FrameKernels } from "./frames.js";
import { GatherKernels } from "./gather.js";
import { GuestPageKernels } from "./guest-pages.js";
import { Heap } from "./heap.js";
import { instantiate } from "./loader.js";
import { MmuKernels } from "./mmu.js";
import { PageHashKernels } from "./page-hashes.js";
import { PageKernels } from "./pages.js";
import { ScratchStack } from "./scratch.js";
import { StreamKernels } from "./stream.js";
import { SwapInKernels } from "./swap-in.js";
import { WorkloadKernels } from "./workloads.js";

const FOUR_GIB = 2 ** 32;
const CTRL_BYTES = 64 << 10;

export interface KernelLayout {
  readonly ctrlBase: number;
  readonly scratchBase: number;
  readonly scratchBytes: number;
  readonly metaBase: number;
  readonly frameBase: number;
  readonly maxFrames: number;
}

/** The most frames that fit in one 4 GiB wasm memory after the fixed regions. */
export function maxFramesFor(scratchBytes: number): number {
  const fixed = 2 * CTRL_BYTES + scratchBytes + 0x10000;
  return Math.floor((FOUR_GIB - fixed) / (PAGE_SIZE + FRAME_META_BYTES));
}

export class Kernels {
  readonly heap: Heap;
  readonly layout: KernelLayout;
  readonly scratch: ScratchStack;
  readonly frames: FrameKernels;
  readonly mmu: MmuKernels;
  readonly pages: PageKernels;
  readonly stream: StreamKernels;
  readonly workloads: WorkloadKernels;
  readonly guestPages: GuestPageKernels;
  readonly gather: GatherKernels;
  readonly balloon: BalloonKernels;
  readonly pageHashes: PageHashKernels;
  readonly swapIn: SwapInKernels;

  constructor(scratchBytes: number, maxFrames: number) {
    const e: HvExports = instantiate();
    this.heap = new Heap(e.memory);
    check(e.init(scratchBytes, maxFrames), "init", { scratchBytes, maxFrames });
    this.layout = Object.freeze({
      ctrlBase: e.getCtrlBase() >>> 0,
      scratchBase: e.getScratchBase() >>> 0,
      scratchBytes: e.getScratchBytes() >>> 0,
      metaBase: e.getMetaBase() >>> 0,
      frameBase: e.getFrameBase() >>> 0,
      maxFrames: e.getMaxFrames() >>> 0,
    });
    this.scratch = new ScratchStack(this.layout.scratchBase, this.layout.scratchBytes);
    this.frames = new FrameKernels(e, this.heap, this.layout.metaBase, this.layout.frameBase);
    this.mmu = new MmuKernels(e, this.heap, this.layout.ctrlBase);
    this.pages = new PageKernels(e, this.heap);
    this.stream = new StreamKernels(e, this.heap);
    this.workloads = new WorkloadKernels(e, this.heap, this.layout.ctrlBase);
    this.guestPages = new GuestPageKernels(e);
    this.gather = new GatherKernels(e);
    this.balloon = new BalloonKernels(e, this.heap, this.scratch);
    this.pageHashes = new PageHashKernels(e);
    this.swapIn = new SwapInKernels(e);
  }
}
