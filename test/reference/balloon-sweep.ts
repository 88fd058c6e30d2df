// The oracle of assembly/balloon.ts balloonSweep: the balloon driver's clock
// as it was written page by page, one victim at a time (each search passes
// at most 2 × guest pages), over page kinds and plain sets. Slow and plain
// on purpose.
export type SweepKind = "unpopulated" | "zero-mapped" | "present" | "other";

export interface SweepResult {
  /** Victims in order: pfn, and whether the page holds data. */
  readonly victims: readonly { readonly pfn: number; readonly hadData: boolean }[];
  readonly hand: number;
}

/** Up to `want` victims from `hand`; `referenced` loses the bits of pages given their second chance; `chosen` pages are passed over (and gain the victims). */
export function sweepOracle(kinds: readonly SweepKind[], hand: number, want: number, exclude: number, referenced: Set<number>, chosen: Set<number>): SweepResult {
  const pages = kinds.length;
  let at = hand < pages ? hand : 0;
  const victims: { pfn: number; hadData: boolean }[] = [];
  search: while (victims.length < want) {
    for (let scanned = 0; scanned < 2 * pages; scanned++) {
      const pfn = at;
      at = (at + 1) % pages;
      if (pfn === exclude || chosen.has(pfn)) continue;
      const kind = kinds[pfn];
      if (kind === "unpopulated" || kind === "zero-mapped") {
        victims.push({ pfn, hadData: false });
        chosen.add(pfn);
        continue search;
      }
      if (kind !== "present") continue;
      if (!referenced.has(pfn)) {
        victims.push({ pfn, hadData: true });
        chosen.add(pfn);
        continue search;
      }
      referenced.delete(pfn);
    }
    break;
  }
  return { victims, hand: at };
}
