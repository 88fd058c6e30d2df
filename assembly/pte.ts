// Nested page-table entry (EPT-like, u64). Defined once here and mirrored in
// src/wasm/codes.ts; test/abi.test.ts checks that the two agree bit for bit.
//
//  63 62..59 58  57  56  55  54  53  52  51 ........................ 12  11  10  9  8  7..6  5..3  2  1  0
// ┌──┬──────┬───┬───┬───┬───┬───┬───┬───┬────────────────────────────────┬───┬───┬───┬───┬─────┬─────┬───┬───┬───┐
// │0 │ rsvd │ELS│LAT│WP │TRC│PSN│BLN│SWP│ frame field (40 bits)          │ 0 │COW│ D │ A │  0  │ MT  │ X │ W │ R │
// └──┴──────┴───┴───┴───┴───┴───┴───┴───┴────────────────────────────────┴───┴───┴───┴───┴─────┴─────┴───┴───┴───┘
//
//  R   readable; the entry is present iff R is set (as EPT: present = R|W|X)
//  W   writable
//  X   executable (always set for guest RAM)
//  MT  memory type, 6 = write-back (leaf entries only)
//  A   accessed, set by the MMU on any access (leaf); kept across page states
//  D   dirty, set by the MMU on a write (leaf); kept across page states, so a
//      dirty-log sync still sees a page written before it left memory
//  COW software: W is clear because the frame is shared (the zero frame);
//      a write faults with reason COW
//  SWP software: page is on the swap device (R = W = 0)
//  BLN software: page was given to the balloon (R = W = 0)
//  PSN software: page is poisoned (uncorrectable memory error, R = W = 0)
//  TRC software: page is traced; any access faults (R = W = 0, frame kept)
//  WP  software: W is clear for write-protect dirty tracking
//  LAT models the memory controller: the frame holds a latent uncorrectable
//      error nobody has reported yet (R = W = 0, frame kept); the first
//      access faults with reason POISONED and the error becomes known
//  ELS software: page is backed elsewhere (remote memory, an NVM tier...),
//      R = W = 0; the first access faults with reason ELSEWHERE
//
// What the frame field holds, by page state (assembly/page-state.ts moves
// pages between them and keeps the VM's counts right):
//
//  state          bits set            frame field
//  unpopulated    (entry is 0)        -
//  zero-mapped    R X COW             0 (the shared zero frame)
//  present        R W X (or WP)       host frame number (private)
//  traced         TRC                 host frame number (kept)
//  poisoned       PSN (or LAT)        the poisoned host frame, or 0 when none
//                                     (a page received poisoned has no frame)
//  swapped        SWP                 swap slot number
//  ballooned      BLN                 0 (the frame went back to the host)
//  elsewhere      ELS                 location (e.g. a page index in a remote
//                                     region), defined by whoever put it there
//
// Non-leaf entries: next table's frame << 12 | R | W | X.
// An all-zero entry is "not populated": the subtree below it does not exist.

// @ts-ignore: decorator
@inline export const PTE_R: u64 = 1 << 0;
// @ts-ignore: decorator
@inline export const PTE_W: u64 = 1 << 1;
// @ts-ignore: decorator
@inline export const PTE_X: u64 = 1 << 2;
// @ts-ignore: decorator
@inline export const PTE_MT_WB: u64 = 6 << 3;
// @ts-ignore: decorator
@inline export const PTE_A_BIT: u32 = 8;
// @ts-ignore: decorator
@inline export const PTE_D_BIT: u32 = 9;
// @ts-ignore: decorator
@inline export const PTE_A: u64 = 1 << PTE_A_BIT;
// @ts-ignore: decorator
@inline export const PTE_D: u64 = 1 << PTE_D_BIT;
// @ts-ignore: decorator
@inline export const PTE_COW: u64 = 1 << 10;
// @ts-ignore: decorator
@inline export const PTE_FRAME_MASK: u64 = 0x000f_ffff_ffff_f000;
// @ts-ignore: decorator
@inline export const PTE_SWAPPED: u64 = 1 << 52;
// @ts-ignore: decorator
@inline export const PTE_BALLOONED: u64 = 1 << 53;
// @ts-ignore: decorator
@inline export const PTE_POISONED: u64 = 1 << 54;
// @ts-ignore: decorator
@inline export const PTE_TRACED: u64 = 1 << 55;
// @ts-ignore: decorator
@inline export const PTE_WP: u64 = 1 << 56;
// @ts-ignore: decorator
@inline export const PTE_LATENT: u64 = 1 << 57;
// @ts-ignore: decorator
@inline export const PTE_ELSEWHERE: u64 = 1 << 58;
/** Page-state bits: any of them set means the page is not mapped for the guest. */
// @ts-ignore: decorator
@inline export const PTE_STATE_BITS: u64 = PTE_SWAPPED | PTE_BALLOONED | PTE_POISONED | PTE_TRACED | PTE_LATENT | PTE_ELSEWHERE;
/** Frame field value of a non-present page: the largest slot or location it can hold is FRAME_FIELD_MAX. */
// @ts-ignore: decorator
@inline export const FRAME_FIELD_MAX: u64 = (<u64>1 << 40) - 1;

/** Permission bits of a present, writable leaf that maps a private frame. */
// @ts-ignore: decorator
@inline export const PTE_LEAF_RW: u64 = PTE_R | PTE_W | PTE_X | PTE_MT_WB;
/** Permission bits of a non-leaf entry. */
// @ts-ignore: decorator
@inline export const PTE_TABLE: u64 = PTE_R | PTE_W | PTE_X;

// Fault reasons reported by the MMU. Mirrored in src/wasm/codes.ts.
// @ts-ignore: decorator
@inline export const FAULT_NONE: u32 = 0;
// @ts-ignore: decorator
@inline export const FAULT_NOT_PRESENT: u32 = 1;
// @ts-ignore: decorator
@inline export const FAULT_WRITE_PROTECT: u32 = 2;
// @ts-ignore: decorator
@inline export const FAULT_COW: u32 = 3;
// @ts-ignore: decorator
@inline export const FAULT_POISONED: u32 = 4;
// @ts-ignore: decorator
@inline export const FAULT_TRACED: u32 = 5;
// @ts-ignore: decorator
@inline export const FAULT_SWAPPED: u32 = 6;
// @ts-ignore: decorator
@inline export const FAULT_BALLOONED: u32 = 7;
/** The access record itself is invalid (past the guest end, length, page crossing). */
// @ts-ignore: decorator
@inline export const FAULT_BAD_ACCESS: u32 = 8;
// @ts-ignore: decorator
@inline export const FAULT_ELSEWHERE: u32 = 9;
