// A small technique built on the platform's seams, the worked example of
// docs/adding-a-technique.md: cold pages leave host memory for a store and
// come back on their next access. Every period (an event on the VM's
// timeline) it samples its own reader of the accessed log; a page not
// accessed for `idleSamples` periods moves "elsewhere" (a page-state move
// that frees its frame); the VM fault handler it registers brings a page
// back when the guest, or the hypervisor (vm.read, a migration's packer,
// verification), touches it.
import {
  FaultReason, type Cancel, type Clock, type Disposer, type Fault, type FaultAction, type PageLogReader, type Vm,
} from "../../src/index.js";

export interface ColdPagesOptions {
  /** How often the accessed log is sampled, ns. @default 100 ms */
  periodNs?: number;
  /** Samples without an access before a page leaves memory. @default 2 */
  idleSamples?: number;
}

export class ColdPageOffloader {
  readonly vm: Vm;
  /** Pages moved out, and brought back, so far. */
  offloaded = 0;
  broughtBack = 0;
  readonly #store = new Map<number, Uint8Array>();
  readonly #idle = new Map<number, number>();
  readonly #accessed: PageLogReader;
  readonly #disposeHandler: Disposer;
  readonly #clock: Clock;
  readonly #periodNs: number;
  readonly #idleSamples: number;
  #nextLocation = 0;
  #cancelTick: Cancel;

  constructor(vm: Vm, clock: Clock, options: ColdPagesOptions = {}) {
    this.vm = vm;
    this.#clock = clock;
    this.#periodNs = options.periodNs ?? 100e6;
    this.#idleSamples = options.idleSamples ?? 2;
    this.#accessed = vm.accessedLog.open("cold-pages");
    this.#disposeHandler = vm.onFault(FaultReason.Elsewhere, (f) => this.#bringBack(f));
    this.#cancelTick = clock.schedule(clock.nowNs + this.#periodNs, () => this.#tick());
  }

  /** Pages in the store now. */
  get storedPages(): number { return this.#store.size; }

  #tick(): void {
    this.#accessed.sync();
    const touched = this.#accessed.pages;
    for (let pfn = 0; pfn < this.vm.pages; pfn++) {
      if (this.vm.states.of(pfn).kind !== "present") continue;
      const idle = touched.has(pfn) ? 0 : (this.#idle.get(pfn) ?? 0) + 1;
      if (idle >= this.#idleSamples) this.#moveOut(pfn);
      else this.#idle.set(pfn, idle);
    }
    touched.clear();
    this.#cancelTick = this.#clock.schedule(this.#clock.nowNs + this.#periodNs, () => this.#tick());
  }

  #moveOut(pfn: number): void {
    const location = this.#nextLocation++;
    this.#store.set(location, this.vm.read(pfn * 4096, 4096));
    this.vm.states.moveElsewhere(pfn, location);
    this.#idle.delete(pfn);
    this.offloaded++;
  }

  #bringBack(f: Fault): FaultAction {
    const state = this.vm.states.of(f.pfn);
    if (state.kind !== "elsewhere" || !this.#store.has(state.location)) return "pass";
    this.vm.states.bringBack(f.pfn, this.#store.get(state.location)!);
    this.#store.delete(state.location);
    this.broughtBack++;
    return "retry";
  }

  /** Stops sampling and brings every stored page back. */
  close(): void {
    this.#cancelTick();
    for (let pfn = 0; pfn < this.vm.pages && this.#store.size > 0; pfn++) {
      if (this.vm.states.of(pfn).kind === "elsewhere") this.vm.accessPage(pfn, false);
    }
    this.#disposeHandler();
    this.#accessed.close();
  }
}
