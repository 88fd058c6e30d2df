// Nested page-table entry bits, mirrored from assembly/pte.ts (the diagram is
// there and in docs/architecture.md); test/abi.test.ts checks both agree.

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
} as const;

/** Bit numbers of A and D, as the harvest kernel takes them. */
export const PTE_A_BIT = 8;
export const PTE_D_BIT = 9;

/** The host frame number an entry maps. */
export function pteFrame(pte: bigint): number {
  return Number((pte & PTE.FRAME_MASK) >> 12n);
}

/** A decoded leaf entry, for tools and tests. */
export interface PteInfo {
  readonly present: boolean;
  readonly writable: boolean;
  readonly accessed: boolean;
  readonly dirty: boolean;
  readonly cow: boolean;
  readonly swapped: boolean;
  readonly ballooned: boolean;
  readonly poisoned: boolean;
  readonly traced: boolean;
  readonly writeProtected: boolean;
  /** A latent uncorrectable error in the frame, not reported yet. */
  readonly latentError: boolean;
  readonly hfn: number;
}

export function decodePte(pte: bigint): PteInfo {
  const has = (bit: bigint): boolean => (pte & bit) !== 0n;
  return {
    present: has(PTE.R),
    writable: has(PTE.W),
    accessed: has(PTE.A),
    dirty: has(PTE.D),
    cow: has(PTE.COW),
    swapped: has(PTE.SWAPPED),
    ballooned: has(PTE.BALLOONED),
    poisoned: has(PTE.POISONED),
    traced: has(PTE.TRACED),
    writeProtected: has(PTE.WP),
    latentError: has(PTE.LATENT),
    hfn: pteFrame(pte),
  };
}
