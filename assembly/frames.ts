// Host frame allocator: a bump pointer over never-used frames plus a LIFO free
// list threaded through the frame metadata. Linear memory grows on demand, in
// chunks, never past frameBase + maxFrames × 4 KiB. Exhaustion is a status,
// never a trap. A retired frame (an uncorrectable error, too many corrected
// ones) is host-owned and flagged FRAME_RETIRED for good; reserveFrame()
// retires a frame before first use (a bad frame remembered across a reboot),
// and the bump pointer steps over such frames.
import {
  FRAME_BUFFER, FRAME_RETIRED, FRAME_TABLE, FRAME_ZERO, OWNER_FREE, OWNER_HOST,
  PAGE_SHIFT, PAGE_SIZE, frameAddr, frameBase, maxFrames, metaAddr,
} from "./layout";
import { ERR_GFN_RANGE, ERR_MEMORY_GROW, ERR_OUT_OF_FRAMES, ERR_PAGE_STATE } from "./status";

/** Frames never handed out yet start at bumpFrame. Frame 0 is the zero frame. */
export let bumpFrame: u32 = 1;
export let freeHead: u32 = 0;
export let freeCount: u32 = 0;
export let usedFrames: u32 = 1;
export let peakUsedFrames: u32 = 1;
/**
 * Wasm pages (64 KiB) to grow by at least, so growth is rare; and at least
 * half the memory's size (geometric, capped at the host's frames): V8 may
 * run a full GC when a memory grows, and a 1 GiB guest touched in 16 MiB
 * steps made `hypermem demo` run 257 mark-compacts (39 now). Growing only
 * reserves address space: a frame costs memory when it is first touched.
 */
const GROW_CHUNK_PAGES: i32 = 256;

/** Grows memory so that byte `end` (exclusive, as u64) is addressable. */
export function ensureMemory(end: u64): i32 {
  const have = <u64>memory.size() << 16;
  if (end <= have) return 0;
  const need = <i32>((end - have + 0xffff) >> 16);
  const maxPages = <i32>((<u64>frameBase + (<u64>maxFrames << PAGE_SHIFT) + 0xffff) >> 16);
  let delta = need > GROW_CHUNK_PAGES ? need : GROW_CHUNK_PAGES;
  const half = memory.size() >> 1;
  if (delta < half) delta = half;
  const room = maxPages - memory.size();
  if (delta > room) delta = room;
  if (delta < need) return -ERR_MEMORY_GROW;
  if (memory.grow(delta) >= 0 || (delta > need && memory.grow(need) >= 0)) return 0;
  return -ERR_MEMORY_GROW;
}

/** Marks the metadata of a newly allocated frame. */
// @ts-ignore: decorator
@inline function claim(hfn: u32, owner: u16, gfn: u32, flags: u16): void {
  const m = metaAddr(hfn);
  store<u32>(m, gfn);
  store<u16>(m, owner, 4);
  store<u16>(m, flags, 6);
  store<u32>(m, 0, 8);
  usedFrames++;
  if (usedFrames > peakUsedFrames) peakUsedFrames = usedFrames;
}

/**
 * Allocates one zero-filled frame for `owner`. Returns the host frame number
 * (> 0), or -ERR_OUT_OF_FRAMES / -ERR_MEMORY_GROW.
 */
export function allocFrame(owner: u16, gfn: u32, flags: u16): i32 {
  const reused = freeHead != 0;
  const hfn = allocFrameUncleared(owner, gfn, flags);
  if (hfn > 0 && reused) memory.fill(frameAddr(<u32>hfn), 0, PAGE_SIZE);
  return hfn;
}

/**
 * allocFrame without clearing a reused frame: for a caller that overwrites
 * all 4 KiB before anything can read them (a received PAGE record), so a
 * previous owner's bytes never show. Never-used frames are zero anyway.
 */
export function allocFrameUncleared(owner: u16, gfn: u32, flags: u16): i32 {
  let hfn: u32;
  if (freeHead != 0) {
    hfn = freeHead;
    freeHead = load<u32>(metaAddr(hfn), 8);
    freeCount--;
  } else {
    while (bumpFrame < maxFrames && isRetired(bumpFrame)) bumpFrame++;
    if (bumpFrame >= maxFrames) return -ERR_OUT_OF_FRAMES;
    const st = ensureMemory(<u64>frameAddr(bumpFrame) + PAGE_SIZE);
    if (st < 0) return st;
    hfn = bumpFrame++;
  }
  claim(hfn, owner, gfn, flags);
  return <i32>hfn;
}

/**
 * Allocates `count` contiguous zero-filled frames for host use (bitmaps,
 * buffers). A single frame may come from the free list; longer runs come
 * from never-used frames, or else from a run of freed frames (a scan of the
 * metadata, the slow path). Returns the first frame number.
 */
export function allocContiguous(count: u32): i32 {
  if (count == 1) return allocFrame(OWNER_HOST, 0, FRAME_BUFFER);
  if (count == 0) return -ERR_OUT_OF_FRAMES;
  let first = bumpRun(count);
  if (first > 0) {
    const st = ensureMemory(<u64>frameAddr(first) + (<u64>count << PAGE_SHIFT));
    if (st < 0) return st;
    for (let hfn = bumpFrame; hfn < first; hfn++) if (!isRetired(hfn)) pushFree(hfn); // stepped over, still usable
    bumpFrame = first + count;
  } else {
    const run = takeFreeRun(count);
    if (run < 0) return run;
    first = <u32>run;
    memory.fill(frameAddr(first), 0, <usize>count << PAGE_SHIFT);
  }
  for (let i: u32 = 0; i < count; i++) claim(first + i, OWNER_HOST, i, FRAME_BUFFER);
  return <i32>first;
}

/** True when frame `hfn` is retired (never handed out again). */
// @ts-ignore: decorator
@inline function isRetired(hfn: u32): bool {
  return (load<u16>(metaAddr(hfn), 6) & FRAME_RETIRED) != 0;
}

/**
 * The first frame of `count` never-used frames at or after bumpFrame with
 * no retired frame among them, or 0 when the never-used frames run out.
 */
function bumpRun(count: u32): u32 {
  let first = bumpFrame;
  for (let hfn = first; hfn < first + count; hfn++) {
    if (first + count > maxFrames) return 0;
    if (isRetired(hfn)) first = hfn + 1;
  }
  return first + count <= maxFrames ? first : 0;
}

/** Puts a frame that was never handed out on the free list (the used count is not touched). */
function pushFree(hfn: u32): void {
  const m = metaAddr(hfn);
  store<u16>(m, OWNER_FREE, 4);
  store<u16>(m, 0, 6);
  store<u32>(m, freeHead, 8);
  freeHead = hfn;
  freeCount++;
}

/**
 * Finds `count` consecutive free frames below bumpFrame, takes them off the
 * free list (which is rebuilt without them) and returns the first, or
 * -ERR_OUT_OF_FRAMES.
 */
function takeFreeRun(count: u32): i32 {
  let run: u32 = 0;
  let first: u32 = 0;
  for (let hfn: u32 = 1; hfn < bumpFrame && run < count; hfn++) {
    if (load<u16>(metaAddr(hfn), 4) == OWNER_FREE && (load<u16>(metaAddr(hfn), 6) & FRAME_RETIRED) == 0) {
      if (run == 0) first = hfn;
      run++;
    } else {
      run = 0;
    }
  }
  if (run < count) return -ERR_OUT_OF_FRAMES;
  freeHead = 0;
  freeCount = 0;
  for (let hfn = bumpFrame - 1; hfn >= 1; hfn--) {
    if (hfn >= first && hfn < first + count) continue;
    const m = metaAddr(hfn);
    if (load<u16>(m, 4) != OWNER_FREE) continue;
    store<u32>(m, freeHead, 8);
    freeHead = hfn;
    freeCount++;
  }
  return <i32>first;
}

/** Returns a frame to the free list. INVARIANT: hfn > 0 and currently allocated. */
export function freeFrame(hfn: u32): void {
  const m = metaAddr(hfn);
  store<u32>(m, 0);
  store<u16>(m, OWNER_FREE, 4);
  store<u16>(m, 0, 6);
  store<u32>(m, freeHead, 8);
  freeHead = hfn;
  freeCount++;
  usedFrames--;
}

/** Takes a frame with an uncorrectable error out of use for good: host-owned, flagged retired. */
export function retireFrame(hfn: u32): void {
  const m = metaAddr(hfn);
  store<u16>(m, OWNER_HOST, 4);
  store<u16>(m, load<u16>(m, 6) | FRAME_RETIRED, 6);
}

/**
 * Retires frame `hfn` before anything uses it: a frame found bad before this
 * host started. A never-used frame is marked and the bump pointer will step
 * over it; a free frame leaves the free list. Returns 1 when it retired the
 * frame, 0 when it was retired already, -ERR_PAGE_STATE when the frame is in
 * use (its contents must move first), -ERR_GFN_RANGE for frame 0 or past
 * the last frame. Counted as used, as every retired frame is.
 */
export function reserveFrame(hfn: u32): i32 {
  if (hfn == 0 || hfn >= maxFrames) return -ERR_GFN_RANGE;
  if (isRetired(hfn)) return 0;
  const m = metaAddr(hfn);
  if (hfn < bumpFrame) {
    if (load<u16>(m, 4) != OWNER_FREE) return -ERR_PAGE_STATE;
    unlinkFree(hfn);
  }
  store<u32>(m, 0);
  store<u16>(m, OWNER_HOST, 4);
  store<u16>(m, FRAME_RETIRED, 6);
  store<u32>(m, 0, 8);
  usedFrames++;
  if (usedFrames > peakUsedFrames) peakUsedFrames = usedFrames;
  return 1;
}

/** Takes free frame `hfn` off the free list. INVARIANT: it is on the list. */
function unlinkFree(hfn: u32): void {
  const next = load<u32>(metaAddr(hfn), 8);
  if (freeHead == hfn) {
    freeHead = next;
  } else {
    let at = freeHead;
    while (load<u32>(metaAddr(at), 8) != hfn) at = load<u32>(metaAddr(at), 8);
    store<u32>(metaAddr(at), next, 8);
  }
  freeCount--;
}

/** Sets the bits `set` and clears the bits `clear` of frame `hfn`'s flags. INVARIANT: hfn < maxFrames. */
export function frameUpdateFlags(hfn: u32, set: u16, clear: u16): void {
  const m = metaAddr(hfn);
  store<u16>(m, (load<u16>(m, 6) & ~clear) | set, 6);
}

/** Sets up frame 0 as the shared, read-only zero frame. */
export function initFrames(): void {
  const m = metaAddr(0);
  store<u32>(m, 0);
  store<u16>(m, OWNER_HOST, 4);
  store<u16>(m, FRAME_ZERO, 6);
  bumpFrame = 1;
  freeHead = 0;
  freeCount = 0;
  usedFrames = 1;
  peakUsedFrames = 1;
}

/** Allocates a page-table frame (host-owned, flagged as a table). */
// @ts-ignore: decorator
@inline export function allocTable(level: u32): i32 {
  return allocFrame(OWNER_HOST, level, FRAME_TABLE);
}

