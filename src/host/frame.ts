// Host frame metadata, as laid out in assembly/layout.ts (16 bytes per frame:
// u32 gfn, u16 owner, u16 flags, u32 free-list link, u32 reserved).
import { FRAME_META_BYTES, type Kernels } from "../wasm/kernels.js";

export const FRAME_FLAGS = {
  zero: 1 << 0,
  table: 1 << 1,
  poisoned: 1 << 2,
  poisonKnown: 1 << 3,
  retired: 1 << 4,
  pinned: 1 << 5,
  cleanBacked: 1 << 6,
  buffer: 1 << 7,
} as const;
export type FrameFlag = keyof typeof FRAME_FLAGS;

/** Owner value of a free frame and of host-owned frames (tables, bitmaps). */
export const OWNER_FREE = 0;
export const OWNER_HOST = 0xffff;

export interface FrameInfo {
  readonly hfn: number;
  /** VM id, OWNER_FREE or OWNER_HOST. */
  readonly owner: number;
  /** Guest frame number the frame backs (for VM frames). */
  readonly gfn: number;
  readonly flags: readonly FrameFlag[];
}

export function readFrameInfo(k: Kernels, hfn: number): FrameInfo {
  const at = k.layout.metaBase + hfn * FRAME_META_BYTES;
  const view = k.heap.view;
  const bits = view.getUint16(at + 6, true);
  const flags = (Object.keys(FRAME_FLAGS) as FrameFlag[]).filter((f) => (bits & FRAME_FLAGS[f]) !== 0);
  return { hfn, owner: view.getUint16(at + 4, true), gfn: view.getUint32(at, true), flags };
}

/** Raw flag bits of host frame `hfn`. */
export function frameFlagBits(k: Kernels, hfn: number): number {
  return k.heap.view.getUint16(k.layout.metaBase + hfn * FRAME_META_BYTES + 6, true);
}

/** Sets flag bits of host frame `hfn` (OR-ed in). */
export function setFrameFlagBits(k: Kernels, hfn: number, bits: number): void {
  const at = k.layout.metaBase + hfn * FRAME_META_BYTES + 6;
  k.heap.view.setUint16(at, k.heap.view.getUint16(at, true) | bits, true);
}
