// Victim selection: the clock (second-chance) algorithm over accessed bits,
// the swap device's default policy. A hand sweeps the guest's pages in pfn
// order; a resident page whose accessed bit is set since the hand last
// passed loses the bit and is spared once; the first resident page without
// it is a victim. The bits come from the swap device's own reader of the
// VM's accessed log (one harvest, shared with every other reader).
import type { PageLogReader } from "../host/page-log.js";
import type { Vm } from "../host/vm.js";

export class ClockHand {
  readonly #vm: Vm;
  readonly #accessed: PageLogReader;
  #hand = 0;

  constructor(vm: Vm) {
    this.#vm = vm;
    this.#accessed = vm.accessedLog.open("swap-clock");
  }

  /** Up to `count` resident pages to swap out, in the hand's order (fewer when the guest has fewer resident pages). */
  pick(count: number): number[] {
    const vm = this.#vm;
    const victims: number[] = [];
    if (count <= 0) return victims;
    const chosen = new Set<number>();
    this.#accessed.sync();
    const referenced = this.#accessed.pages;
    for (let scanned = 0; victims.length < count && scanned < 2 * vm.pages; scanned++) {
      const pfn = this.#hand;
      this.#hand = pfn + 1 === vm.pages ? 0 : pfn + 1;
      if (chosen.has(pfn) || vm.states.of(pfn).kind !== "present") continue;
      if (referenced.has(pfn)) {
        referenced.delete(pfn);
        continue;
      }
      victims.push(pfn);
      chosen.add(pfn);
    }
    return victims;
  }

  close(): void { this.#accessed.close(); }
}
