// Who each used slot of the swap file belongs to: the guest (a small index
// given at attach) and its page, in two arrays indexed by slot, beside the
// file's own used flags and hashes. A swapoff walks them in slot order
// (one read per run of slots) without a map or a sort.
//
//   guest[slot]  u16: 0 = no owner, else the guest's index (1..65535)
//   pfn[slot]    u32: the guest page swapped to that slot
import { ErrorCode, HypermemError } from "../errors.js";

/** Most guests one swap device holds over its life (indices are not reused). */
export const MAX_SWAP_GUESTS = 65_535;

export class SlotOwners<G> {
  readonly #guest: Uint16Array;
  readonly #pfn: Uint32Array;
  readonly #guests: (G | undefined)[] = [undefined];

  constructor(capacitySlots: number) {
    this.#guest = new Uint16Array(capacitySlots);
    this.#pfn = new Uint32Array(capacitySlots);
  }

  /** A new guest's index (1, 2, ...). ERR_BAD_OPTION past MAX_SWAP_GUESTS. */
  register(guest: G): number {
    if (this.#guests.length > MAX_SWAP_GUESTS) throw new HypermemError(ErrorCode.BadOption, `a swap device serves at most ${MAX_SWAP_GUESTS} guests over its life`, { guests: MAX_SWAP_GUESTS });
    this.#guests.push(guest);
    return this.#guests.length - 1;
  }

  set(slot: number, guestIndex: number, pfn: number): void {
    this.#guest[slot] = guestIndex;
    this.#pfn[slot] = pfn;
  }

  delete(slot: number): void { this.#guest[slot] = 0; }
  has(slot: number): boolean { return this.#guest[slot] !== 0; }
  /** The guest that owns `slot`, or undefined. */
  guestOf(slot: number): G | undefined { return this.#guests[this.#guest[slot]]; }
  pfnOf(slot: number): number { return this.#pfn[slot]; }

  /** The slots of guest `guestIndex`, in slot order, and their pages. */
  slotsOf(guestIndex: number): { slots: Uint32Array; pfns: Uint32Array } {
    let n = 0;
    for (let s = 0; s < this.#guest.length; s++) if (this.#guest[s] === guestIndex) n++;
    const slots = new Uint32Array(n);
    const pfns = new Uint32Array(n);
    for (let s = 0, i = 0; i < n; s++) {
      if (this.#guest[s] !== guestIndex) continue;
      slots[i] = s;
      pfns[i++] = this.#pfn[s];
    }
    return { slots, pfns };
  }
}
