// Nested page tables: one 4-level radix per VM (512 u64 entries per 4 KiB
// table, stored in host frames), rooted at the VM descriptor's rootFrame.
// Guest frame number bits: 35..27 PML4, 26..18 PDPT, 17..9 PD, 8..0 leaf.
import { FRAME_POISONED, FRAME_ZERO, OWNER_HOST, PAGE_SIZE, ctrlBase, frameAddr, metaAddr, VM_DESC_BYTES } from "./layout";
import { allocFrame, allocFrameUncleared, allocTable, freeFrame, retireFrame } from "./frames";
import {
  PTE_COW, PTE_ELSEWHERE, PTE_FRAME_MASK, PTE_LEAF_RW, PTE_R, PTE_STATE_BITS, PTE_SWAPPED, PTE_TRACED, PTE_TABLE, PTE_W, PTE_WP, PTE_MT_WB, PTE_X, PTE_A, PTE_D,
} from "./pte";
import { ERR_GFN_RANGE, ERR_PAGE_STATE } from "./status";

// VM descriptor field offsets (see layout.ts).
// @ts-ignore: decorator
@inline export const VM_ROOT: u32 = 0;
// @ts-ignore: decorator
@inline export const VM_ID: u32 = 4;
// @ts-ignore: decorator
@inline export const VM_GUEST_PAGES: u32 = 8;
// @ts-ignore: decorator
@inline export const VM_TABLE_FRAMES: u32 = 24;
// @ts-ignore: decorator
@inline export const VM_PRIVATE_FRAMES: u32 = 28;
// @ts-ignore: decorator
@inline export const VM_SWAPPED_PAGES: u32 = 16;
// @ts-ignore: decorator
@inline export const VM_BALLOONED_PAGES: u32 = 20;
// @ts-ignore: decorator
@inline export const VM_POISONED_PAGES: u32 = 32;
// @ts-ignore: decorator
@inline export const VM_TRACED_PAGES: u32 = 36;
// @ts-ignore: decorator
@inline export const VM_ELSEWHERE_PAGES: u32 = 40;

/** Adds `delta` to the u32 count at descriptor offset `field`. */
// @ts-ignore: decorator
@inline export function bumpCount(d: usize, field: u32, delta: i32): void {
  store<u32>(d + field, <u32>(<i32>load<u32>(d + field) + delta));
}

/** Address of VM slot `slot`'s descriptor. */
// @ts-ignore: decorator
@inline export function vmDesc(slot: u32): usize {
  return ctrlBase + <usize>slot * VM_DESC_BYTES;
}

/** Host frame number held in an entry. */
// @ts-ignore: decorator
@inline export function pteFrame(e: u64): u32 {
  return <u32>((e & PTE_FRAME_MASK) >> 12);
}

/** Address of the table that entry `e` points to. */
// @ts-ignore: decorator
@inline export function tableOf(e: u64): usize {
  return frameAddr(pteFrame(e));
}

/**
 * Sets up VM slot `slot`: allocates its PML4 and records its id and size.
 * Returns 0 or a negative status.
 */
export function vmInit(slot: u32, vmId: u32, guestPages: u64): i32 {
  const root = allocTable(4);
  if (root < 0) return root;
  const d = vmDesc(slot);
  memory.fill(d, 0, VM_DESC_BYTES);
  store<u32>(d, <u32>root, VM_ROOT);
  store<u32>(d, vmId, VM_ID);
  store<u64>(d, guestPages, VM_GUEST_PAGES);
  store<u32>(d, 1, VM_TABLE_FRAMES);
  return 0;
}

/**
 * Returns the address of the leaf entry for `gfn`, creating missing tables
 * when `create`; 0 when a table is missing and !create; a negative status
 * (as i64) when a table cannot be allocated.
 */
export function leafEntry(d: usize, gfn: u64, create: bool): i64 {
  let table = frameAddr(load<u32>(d, VM_ROOT));
  for (let shift: u64 = 27; shift > 0; shift -= 9) {
    const p = table + ((<usize>(gfn >> shift) & 511) << 3);
    let e = load<u64>(p);
    if ((e & PTE_R) == 0) {
      if (!create) return 0;
      const t = allocTable(<u32>(shift / 9));
      if (t < 0) return t;
      e = (<u64>t << 12) | PTE_TABLE;
      store<u64>(p, e);
      bumpCount(d, VM_TABLE_FRAMES, 1);
    }
    table = tableOf(e);
  }
  return <i64>(table + ((<usize>gfn & 511) << 3));
}

/** Leaf table found by findLeaf. */
export let walkLeaf: usize = 0;

/**
 * Finds the leaf table covering guest page `base` (any page of it) and puts
 * it in walkLeaf, returning 0; or returns the number of pages spanned by
 * the missing table entry met on the way (512, 2^18 or 2^27), so a walk can
 * skip the whole unpopulated subtree.
 */
export function findLeaf(d: usize, base: u64): u64 {
  let table = frameAddr(load<u32>(d, VM_ROOT));
  for (let shift: u64 = 27; shift > 0; shift -= 9) {
    const e = load<u64>(table + ((<usize>(base >> shift) & 511) << 3));
    if ((e & PTE_R) == 0) return (<u64>1) << shift;
    table = tableOf(e);
  }
  walkLeaf = table;
  return 0;
}

/** Leaf entry of `gfn` (0 when unpopulated). For the TS side and tests. */
export function nptLookup(slot: u32, gfn: u32): u64 {
  const d = vmDesc(slot);
  if (<u64>gfn >= load<u64>(d, VM_GUEST_PAGES)) return 0;
  const p = leafEntry(d, <u64>gfn, false);
  return p <= 0 ? 0 : load<u64>(<usize>p);
}

/**
 * Page-table frames that populating guest pages [first, first + count) of
 * VM `slot` would add (missing PDPT, PD and leaf tables), so a caller can
 * check the host has room before it changes anything.
 */
export function nptTablesNeeded(slot: u32, first: u32, count: u32): u32 {
  const d = vmDesc(slot);
  const root = frameAddr(load<u32>(d, VM_ROOT));
  let needed: u32 = 0;
  let missing4: i64 = -1; // the PML4 slot whose new PDPT (and everything below) is counted
  let missing3: i64 = -1; // the PDPT slot (i4 << 9 | i3) whose new PD is counted
  const end = <u64>first + <u64>count;
  for (let block = <u64>first >> 9; block << 9 < end; block++) {
    const i4 = <i64>(block >> 18);
    const i3 = <i64>(block >> 9);
    const e4 = load<u64>(root + ((<usize>i4 & 511) << 3));
    if ((e4 & PTE_R) == 0) {
      if (i4 != missing4) { needed++; missing4 = i4; }
      if (i3 != missing3) { needed++; missing3 = i3; }
      needed++;
      continue;
    }
    const e3 = load<u64>(tableOf(e4) + ((<usize>i3 & 511) << 3));
    if ((e3 & PTE_R) == 0) {
      if (i3 != missing3) { needed++; missing3 = i3; }
      needed++;
      continue;
    }
    const e2 = load<u64>(tableOf(e3) + ((<usize>block & 511) << 3));
    if ((e2 & PTE_R) == 0) needed++;
  }
  return needed;
}

/** Replaces the leaf entry of `gfn` (tables created as needed). Returns 0 or a negative status. */
export function nptSet(slot: u32, gfn: u32, pte: u64): i32 {
  const d = vmDesc(slot);
  if (<u64>gfn >= load<u64>(d, VM_GUEST_PAGES)) return -ERR_GFN_RANGE;
  const p = leafEntry(d, <u64>gfn, true);
  if (p < 0) return <i32>p;
  store<u64>(<usize>p, pte);
  return 0;
}

/**
 * Populates `gfn` on first touch: a read maps the zero frame read-only (COW);
 * a write maps a fresh private zeroed frame. Returns the host frame number.
 */
export function nptPopulate(slot: u32, gfn: u32, write: bool): i32 {
  return populate(slot, gfn, write, true);
}

/**
 * nptPopulate for a write that overwrites the whole page (a received PAGE
 * record): a reused frame is not cleared first.
 */
export function nptPopulateForOverwrite(slot: u32, gfn: u32): i32 {
  return populate(slot, gfn, true, false);
}

function populate(slot: u32, gfn: u32, write: bool, clear: bool): i32 {
  const d = vmDesc(slot);
  if (<u64>gfn >= load<u64>(d, VM_GUEST_PAGES)) return -ERR_GFN_RANGE;
  const p = leafEntry(d, <u64>gfn, true);
  if (p < 0) return <i32>p;
  const e = load<u64>(<usize>p);
  if ((e & (PTE_R | PTE_STATE_BITS)) != 0) return -ERR_PAGE_STATE;
  const ad = e & (PTE_A | PTE_D); // left by a deflated balloon page: the dirty log must still see it
  if (!write) {
    store<u64>(<usize>p, PTE_R | PTE_X | PTE_MT_WB | PTE_COW | ad);
    return 0;
  }
  const hfn = clear ? allocFrame(<u16>load<u32>(d, VM_ID), gfn, 0) : allocFrameUncleared(<u16>load<u32>(d, VM_ID), gfn, 0);
  if (hfn < 0) return hfn;
  store<u64>(<usize>p, (<u64>hfn << 12) | PTE_LEAF_RW | ad);
  bumpCount(d, VM_PRIVATE_FRAMES, 1);
  return hfn;
}

/**
 * Breaks copy-on-write for `gfn`: gives it a private frame holding a copy of
 * the shared one; A, D and WP are kept, and W is set unless WP is. A traced
 * zero-mapped page (a hypervisor write to it) stays traced: R and W clear.
 * Returns the new frame number.
 */
export function nptBreakCow(slot: u32, gfn: u32): i32 {
  const d = vmDesc(slot);
  if (<u64>gfn >= load<u64>(d, VM_GUEST_PAGES)) return -ERR_GFN_RANGE;
  const p = leafEntry(d, <u64>gfn, false);
  if (p <= 0) return -ERR_PAGE_STATE;
  const e = load<u64>(<usize>p);
  if ((e & PTE_COW) == 0 || (e & (PTE_R | PTE_TRACED)) == 0) return -ERR_PAGE_STATE;
  const hfn = allocFrame(<u16>load<u32>(d, VM_ID), gfn, 0);
  if (hfn < 0) return hfn;
  const shared = pteFrame(e);
  if ((load<u16>(metaAddr(shared), 6) & FRAME_ZERO) == 0) {
    memory.copy(frameAddr(<u32>hfn), frameAddr(shared), PAGE_SIZE);
  }
  const keep = e & (PTE_A | PTE_D | PTE_WP);
  const access: u64 = (e & PTE_TRACED) != 0 ? PTE_TRACED : PTE_R | ((e & PTE_WP) != 0 ? 0 : PTE_W);
  store<u64>(<usize>p, (<u64>hfn << 12) | PTE_X | PTE_MT_WB | access | keep);
  bumpCount(d, VM_PRIVATE_FRAMES, 1);
  return hfn;
}

/** Frees every frame of VM `slot` (private frames and tables; poisoned frames are retired, never reused). Returns frames freed. */
export function vmDestroy(slot: u32): u32 {
  const d = vmDesc(slot);
  const freed = freeTable(frameAddr(load<u32>(d, VM_ROOT)), 4) + 1;
  freeFrame(load<u32>(d, VM_ROOT));
  memory.fill(d, 0, VM_DESC_BYTES);
  return freed;
}

function freeTable(table: usize, level: u32): u32 {
  let freed: u32 = 0;
  for (let i: usize = 0; i < 512; i++) {
    const e = load<u64>(table + (i << 3));
    const hfn = pteFrame(e);
    if (level > 1) {
      if ((e & PTE_R) == 0) continue;
      freed += freeTable(frameAddr(hfn), level - 1) + 1;
      freeFrame(hfn);
    } else if (hfn != 0 && (e & (PTE_SWAPPED | PTE_ELSEWHERE)) == 0 && load<u16>(metaAddr(hfn), 4) != OWNER_HOST) {
      // (a swapped or elsewhere entry's frame field is a slot or a location, not a frame)
      if ((load<u16>(metaAddr(hfn), 6) & FRAME_POISONED) != 0) {
        retireFrame(hfn);
      } else {
        freeFrame(hfn);
        freed++;
      }
    }
  }
  return freed;
}

