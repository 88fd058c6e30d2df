// Leaf entries decoded for tools, tests and techniques: the bits
// (src/wasm/codes.ts PTE, diagram in assembly/pte.ts) and the page state
// they encode, with what the frame field holds in that state.
import { PTE } from "../wasm/codes.js";

export { PTE };

/** The frame field of an entry: a host frame, a swap slot or a location, by state. */
export function pteFrame(pte: bigint): number {
  return Number((pte & PTE.FRAME_MASK) >> 12n);
}

/** A page's state and what its entry's frame field holds in it. */
export type PageState =
  | { readonly kind: "unpopulated" }
  | { readonly kind: "zero-mapped" }
  | { readonly kind: "present"; readonly hfn: number }
  | { readonly kind: "traced"; readonly hfn: number }
  /** hfn 0: no frame (the page arrived poisoned in a migration). */
  | { readonly kind: "poisoned"; readonly hfn: number; readonly latent: boolean }
  | { readonly kind: "swapped"; readonly slot: number }
  | { readonly kind: "ballooned" }
  | { readonly kind: "elsewhere"; readonly location: number };

export function pageStateOf(pte: bigint): PageState {
  const field = pteFrame(pte);
  if ((pte & (PTE.POISONED | PTE.LATENT)) !== 0n) return { kind: "poisoned", hfn: field, latent: (pte & PTE.LATENT) !== 0n };
  if ((pte & PTE.SWAPPED) !== 0n) return { kind: "swapped", slot: field };
  if ((pte & PTE.ELSEWHERE) !== 0n) return { kind: "elsewhere", location: field };
  if ((pte & PTE.BALLOONED) !== 0n) return { kind: "ballooned" };
  if ((pte & PTE.TRACED) !== 0n) return { kind: "traced", hfn: field };
  if ((pte & PTE.R) === 0n) return { kind: "unpopulated" };
  if ((pte & PTE.COW) !== 0n || field === 0) return { kind: "zero-mapped" };
  return { kind: "present", hfn: field };
}

/** A decoded leaf entry. */
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
  readonly elsewhere: boolean;
  /** The frame field: a host frame, or a swap slot / location for swapped / elsewhere pages. */
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
    elsewhere: has(PTE.ELSEWHERE),
    hfn: pteFrame(pte),
  };
}
