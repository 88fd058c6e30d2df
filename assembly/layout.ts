// Linear memory map of one host instance. init() fixes every base once; the
// regions never move. TypeScript reads the bases through the exported getters.
//
//  0 ──────────────── __heap_base : static data (stub runtime, kernels allocate nothing)
//  ctrlBase    ┌────────────────────────────┐ CTRL_BYTES (64 KiB)
//              │ +0      VM table           │ MAX_VMS × VM_DESC_BYTES
//              │ +16 KiB workload slots     │ MAX_WORKLOADS × WORKLOAD_DESC_BYTES
//  scratchBase ├────────────────────────────┤ scratchBytes (kernel I/O: access batches,
//              │                            │ pages in and out of the public helpers)
//  metaBase    ├────────────────────────────┤ maxFrames × FRAME_META_BYTES
//  frameBase   ├────────────────────────────┤ (64 KiB aligned)
//              │ frame 0: the zero frame    │ 4 KiB, read-only, shared
//              │ frame 1 ...                │ allocated on demand; memory grows
//              └────────────────────────────┘ up to frameBase + maxFrames × 4 KiB ≤ 4 GiB
//
// Frame metadata (FRAME_META_BYTES = 16, little endian):
//  +0  u32 gfn     guest frame number the frame backs (owner's), or table level
//  +4  u16 owner   VM id (1..MAX_VMS), 0 = free, OWNER_HOST = host use (tables, bitmaps)
//  +6  u16 flags   FRAME_* below
//  +8  u32 next    free-list link while free
//  +12 u32 rsvd
//
// VM descriptor (VM_DESC_BYTES = 64), kept by npt.ts and page-state.ts:
//  +0  u32 rootFrame        PML4 of the nested page table
//  +4  u32 vmId
//  +8  u64 guestPages
//  +16 u32 swappedPages     pages in state swapped
//  +20 u32 balloonedPages   pages in state ballooned
//  +24 u32 tableFrames      frames used by the NPT
//  +28 u32 privateFrames    frames the VM's leaves hold (present, traced, poisoned with a frame)
//  +32 u32 poisonedPages    pages in state poisoned (PSN or LAT)
//  +36 u32 tracedPages      pages in state traced
//  +40 u32 elsewherePages   pages in state elsewhere
//  +44 .. +63 rsvd

// @ts-ignore: decorator
@inline export const PAGE_SHIFT: u32 = 12;
// @ts-ignore: decorator
@inline export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
// @ts-ignore: decorator
@inline export const CTRL_BYTES: u32 = 64 << 10;
// @ts-ignore: decorator
@inline export const MAX_VMS: u32 = 255;
// @ts-ignore: decorator
@inline export const VM_DESC_BYTES: u32 = 64;
// @ts-ignore: decorator
@inline export const WORKLOAD_SLOTS_OFFSET: u32 = 16 << 10;
// @ts-ignore: decorator
@inline export const MAX_WORKLOADS: u32 = 256;
// @ts-ignore: decorator
@inline export const WORKLOAD_DESC_BYTES: u32 = 128;
// @ts-ignore: decorator
@inline export const FRAME_META_BYTES: u32 = 16;
// @ts-ignore: decorator
@inline export const OWNER_FREE: u16 = 0;
// @ts-ignore: decorator
@inline export const OWNER_HOST: u16 = 0xffff;

// Frame flags (metadata +6).
// @ts-ignore: decorator
@inline export const FRAME_ZERO: u16 = 1 << 0;
// @ts-ignore: decorator
@inline export const FRAME_TABLE: u16 = 1 << 1;
// @ts-ignore: decorator
@inline export const FRAME_POISONED: u16 = 1 << 2;
// @ts-ignore: decorator
@inline export const FRAME_POISON_KNOWN: u16 = 1 << 3;
// @ts-ignore: decorator
@inline export const FRAME_RETIRED: u16 = 1 << 4;
// @ts-ignore: decorator
@inline export const FRAME_PINNED: u16 = 1 << 5;
// @ts-ignore: decorator
@inline export const FRAME_CLEAN_BACKED: u16 = 1 << 6;
// @ts-ignore: decorator
@inline export const FRAME_BUFFER: u16 = 1 << 7;
// overcommit: a frame taken from a VM's ballooned page, held by the host until
// it is mapped into another VM (zeroed first) or freed.
// @ts-ignore: decorator
@inline export const FRAME_HANDOVER: u16 = 1 << 8;

export let ctrlBase: usize = 0;
export let scratchBase: usize = 0;
export let scratchBytes: usize = 0;
export let metaBase: usize = 0;
export let frameBase: usize = 0;
export let maxFrames: u32 = 0;

/** Byte address of host frame `hfn`. INVARIANT: hfn < maxFrames. */
// @ts-ignore: decorator
@inline export function frameAddr(hfn: u32): usize {
  return frameBase + (<usize>hfn << PAGE_SHIFT);
}

/** Byte address of the metadata of host frame `hfn`. */
// @ts-ignore: decorator
@inline export function metaAddr(hfn: u32): usize {
  return metaBase + <usize>hfn * FRAME_META_BYTES;
}

/** Fixes the regions. Called once by init(); returns the first byte past the zero frame. */
export function computeLayout(scratch: usize, frames: u32): u64 {
  ctrlBase = (__heap_base + 0xffff) & ~<usize>0xffff;
  scratchBase = ctrlBase + CTRL_BYTES;
  scratchBytes = scratch;
  metaBase = scratchBase + scratch;
  frameBase = (metaBase + <usize>frames * FRAME_META_BYTES + 0xffff) & ~<usize>0xffff;
  maxFrames = frames;
  return <u64>frameBase + PAGE_SIZE;
}
