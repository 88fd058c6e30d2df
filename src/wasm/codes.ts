// The numbers the wasm module and TypeScript share, in one place: page-table
// entry bits (assembly/pte.ts has the diagram), fault reasons, page-state
// operations, the access-record layout (assembly/mmu.ts), the VM descriptor
// and frame metadata layouts (assembly/layout.ts), the stream's record types,
// failure reasons and statistics indices (assembly/stream.ts).
// test/abi.test.ts checks every value against the module's ABI_* globals.

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** Nested page-table entry bits. */
export const PTE = {
  R: 1n << 0n,
  W: 1n << 1n,
  X: 1n << 2n,
  MT_WB: 6n << 3n,
  A: 1n << 8n,
  D: 1n << 9n,
  COW: 1n << 10n,
  FRAME_MASK: 0x000f_ffff_ffff_f000n,
  SWAPPED: 1n << 52n,
  BALLOONED: 1n << 53n,
  POISONED: 1n << 54n,
  TRACED: 1n << 55n,
  WP: 1n << 56n,
  LATENT: 1n << 57n,
  ELSEWHERE: 1n << 58n,
} as const;

/** Bit numbers of A and D, as the harvest kernel takes them. */
export const PTE_A_BIT = 8;
export const PTE_D_BIT = 9;

/** Why the MMU stopped at an access. */
export const FaultReason = {
  NotPresent: 1,
  WriteProtect: 2,
  Cow: 3,
  Poisoned: 4,
  Traced: 5,
  Swapped: 6,
  Ballooned: 7,
  BadAccess: 8,
  Elsewhere: 9,
} as const;
export type FaultReason = (typeof FaultReason)[keyof typeof FaultReason];

/** Page-state operations of assembly/page-state.ts. */
export const PageOp = {
  SwapOut: 1,
  MoveElsewhere: 2,
  BringBack: 3,
  Balloon: 4,
  Deflate: 5,
  Poison: 6,
  PoisonLatent: 7,
  ReportLatent: 8,
  PoisonNoFrame: 9,
  Trace: 10,
  Untrace: 11,
  WriteProtect: 12,
  Unprotect: 13,
  Repair: 14,
  Migrate: 15,
  PlaceElsewhere: 16,
  RelocateElsewhere: 26,
  BalloonHandover: 20,
  DeflateOnto: 21,
  ReleaseHandover: 22,
} as const;
export type PageOp = (typeof PageOp)[keyof typeof PageOp];

/**
 * Access record (ACCESS_BYTES, little endian), as the MMU reads it:
 *  +0 u64 gpa · +8 u32 seed · +12 u16 length · +14 u8 op (0 read, 1 write) · +15 u8 rsvd
 */
export const ACCESS_BYTES = 16;
export const Access = { gpa: 0, seed: 8, length: 12, op: 14, rsvd: 15 } as const;
export const OP_READ = 0;
export const OP_WRITE = 1;

/** Frame metadata (FRAME_META_BYTES per frame): +0 u32 gfn · +4 u16 owner · +6 u16 flags · +8 u32 next. */
export const FRAME_META_BYTES = 16;
export const FrameMeta = { gfn: 0, owner: 4, flags: 6, next: 8 } as const;
export const FRAME_FLAGS = {
  zero: 1 << 0,
  table: 1 << 1,
  poisoned: 1 << 2,
  poisonKnown: 1 << 3,
  retired: 1 << 4,
  pinned: 1 << 5,
  cleanBacked: 1 << 6,
  buffer: 1 << 7,
  handover: 1 << 8,
} as const;
export type FrameFlag = keyof typeof FRAME_FLAGS;
/** Owner value of a free frame and of host-owned frames (tables, bitmaps). */
export const OWNER_FREE = 0;
export const OWNER_HOST = 0xffff;

/** VM descriptor (VM_DESC_BYTES per VM slot) field offsets. */
export const VM_DESC_BYTES = 64;
export const VmDesc = {
  root: 0,
  swappedPages: 16,
  balloonedPages: 20,
  tableFrames: 24,
  privateFrames: 28,
  poisonedPages: 32,
  tracedPages: 36,
  elsewherePages: 40,
} as const;
export const MAX_VMS = 255;

/** Workload descriptor slots in the control block. */
export const WORKLOAD_SLOTS_OFFSET = 16 << 10;
export const WORKLOAD_DESC_BYTES = 128;
export const MAX_WORKLOADS = 256;

/** Migration stream record types. */
export const RecordType = {
  Page: 1,
  Zero: 2,
  Xbzrle: 3,
  Poison: 4,
  EndRound: 5,
  EndStream: 6,
  Commit: 7,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
export const RECORD_HEADER_BYTES = 8;
export const MAX_RECORD_BYTES = RECORD_HEADER_BYTES + PAGE_SIZE;
/** END_STREAM payload: u64 digest, u32 guest pages, u32 poisoned pages. */
export const END_STREAM_BYTES = 16;

/** Packer stages (QEMU: bulk stage, iterations, last stage) and the zero-detection switch OR-ed in. */
export const Stage = { bulk: 0, iterate: 1, final: 2 } as const;
export const STAGE_NO_ZERO_DETECTION = 0x100;

/** streamUnpack flags. */
export const UNPACK_XBZRLE = 1;
export const UNPACK_VALIDATE_ONLY = 2;

/** Why a stream kernel failed (the info block's reason). */
export const StreamReason = {
  RecordHeader: 1,
  Type: 2,
  Flags: 3,
  Length: 4,
  Overrun: 5,
  PfnRange: 6,
  XbzrleInvalid: 7,
  XbzrleDisabled: 8,
  PageState: 9,
  OutOfFrames: 10,
  Field: 11,
  NotResident: 12,
} as const;
export type StreamReason = (typeof StreamReason)[keyof typeof StreamReason];

/** The pack statistics block: u32 words, in this order. */
export const PACK_STATS = [
  "consumed", "records", "zeroPages", "normalPages", "xbzrlePages", "xbzrleBytes",
  "xbzrleCacheMiss", "xbzrleOverflow", "xbzrleUnchanged", "poisonedPages", "latentFound", "payloadBytes",
] as const;
export const PACK_STATS_WORDS = PACK_STATS.length;

/** Bytes of a streaming XXH3 state (assembly/xxh3.ts): the packer's chunk checksum, hashed as pages are copied. */
export const XXH3_STREAM_STATE_BYTES = 72;

/** The fingerprint of a poisoned page ("PSN_MARK"). */
export const POISON_MARK = 0x50534e5f4d41524bn;
