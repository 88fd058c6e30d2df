// The copy of dirty pages into the primary's staging area: what happens
// while the guest is paused (and, for pages sent early, while it runs).
// One call gathers every listed page into one staging buffer (the page
// table is walked in wasm); a page that reads as zeros (never touched, or
// mapped to the shared zero frame) is staged as null and goes as a ZERO
// record. A page that lives elsewhere is brought back through the VM's page
// hook.
//
// Staging buffers are host frames when the host can lend them (HostBuffer:
// then each page is copied once, frame to staging, by Vm.gatherPagesInto),
// else JS memory (copied through the kernel scratch). The host lends frames
// only while every guest could still be fully backed, as Remus's staging
// lives in the memory of the host's control domain.
//
// Staging buffers are reused: a checkpoint keeps the buffers its pages are
// copies in until its COMMIT is encoded (every page was copied into a chunk
// by then), and recycle() hands them back for later pauses, so a steady run
// allocates no staging memory per pause. close() returns every host frame.
import { HostBuffer } from "../host/host-buffer.js";
import type { PageLogReader } from "../host/page-log.js";
import type { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import type { PendingCheckpoint, StagingBuffer } from "./pending.js";

const PAGE_BYTES = 4096;
/** Free buffers kept for reuse; a larger pool only holds memory no pause asks for. */
const MAX_FREE_BUFFERS = 4;
/** A new buffer's room, in pages, is rounded up to a multiple of this (1 MiB)... */
const BUFFER_GRAIN_PAGES = 256;
/** ...after this headroom, so that a slightly larger pause later still fits it. */
const BUFFER_HEADROOM = 1.25;

/** Pages staged by one copy: those copied, and those that read as zeros. */
export interface StagedCount {
  readonly copiedPages: number;
  readonly zeroPages: number;
}

/** Moves every pending page of `reader` into `list` (sized for the whole guest) and returns them. */
export function takeAll(reader: PageLogReader, list: PfnList): Uint32Array {
  const n = reader.takeWindow(0, Math.ceil(list.capacity / 64), list);
  return n === 0 ? new Uint32Array(0) : list.toUint32Array();
}

export class StagingArea {
  readonly #vm: Vm;
  readonly #free: StagingBuffer[] = [];
  /** Host buffers allocated and not freed, wherever they are (pool or checkpoint). */
  readonly #hostBuffers = new Set<HostBuffer>();
  #zeroFlags = new Uint8Array(0);
  /** Staging buffers allocated so far (reuse keeps this flat in a steady run)... */
  allocatedBuffers = 0;
  /** ...and how many of them are in host frames. */
  hostBuffersAllocated = 0;

  constructor(vm: Vm) {
    this.#vm = vm;
  }

  /** Copies pages `pfns` of the VM into `cp`'s staging, in one gather. */
  stage(pfns: Uint32Array | readonly number[], cp: PendingCheckpoint): StagedCount {
    const count = pfns.length;
    if (count === 0) return { copiedPages: 0, zeroPages: 0 };
    const buffer = this.#take(count * PAGE_BYTES);
    cp.buffers.push(buffer);
    if (this.#zeroFlags.length < count) this.#zeroFlags = new Uint8Array(count);
    const zeroFlags = this.#zeroFlags;
    if (buffer instanceof HostBuffer) this.#vm.gatherPagesInto(pfns, buffer, zeroFlags);
    else this.#vm.gatherPages(pfns, buffer, zeroFlags);
    cp.stageGathered(pfns, buffer, zeroFlags);
    let zeroPages = 0;
    for (let i = 0; i < count; i++) zeroPages += zeroFlags[i];
    return { copiedPages: count - zeroPages, zeroPages };
  }

  /** `cp`'s COMMIT is encoded: no record will read its staged copies again, its buffers serve later pauses. */
  recycle(cp: PendingCheckpoint): void {
    for (const buffer of cp.buffers.splice(0)) {
      this.#free.push(buffer);
      if (this.#free.length > MAX_FREE_BUFFERS) {
        this.#free.sort((a, b) => b.byteLength - a.byteLength);
        this.#release(this.#free.pop()!);
      }
    }
  }

  /** The run is over: every host frame the staging holds goes back to the host (pending checkpoints' copies with them). */
  close(): void {
    for (const buffer of this.#hostBuffers) buffer.free();
    this.#hostBuffers.clear();
    this.#free.length = 0;
  }

  /** Host frames the staging holds now. */
  get hostBytes(): number {
    let bytes = 0;
    for (const buffer of this.#hostBuffers) bytes += buffer.byteLength;
    return bytes;
  }

  #release(buffer: StagingBuffer): void {
    if (buffer instanceof HostBuffer) {
      this.#hostBuffers.delete(buffer);
      buffer.free();
    }
  }

  /** The smallest free buffer of at least `bytes`, or a new one (host frames when the host lends them). */
  #take(bytes: number): StagingBuffer {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i].byteLength;
      if (len >= bytes && (best < 0 || len < this.#free[best].byteLength)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0];
    this.allocatedBuffers++;
    const room = Math.ceil((bytes / PAGE_BYTES) * BUFFER_HEADROOM / BUFFER_GRAIN_PAGES) * BUFFER_GRAIN_PAGES * PAGE_BYTES;
    const host = HostBuffer.tryAlloc(this.#vm.host, room);
    if (host === null) return new Uint8Array(room);
    this.hostBuffersAllocated++;
    this.#hostBuffers.add(host);
    return host;
  }
}
