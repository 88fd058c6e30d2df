// The arbitration between the swap device's queues. "priority" (the seed,
// after Fastswap's queue pairs): one queue per request type, served in
// strict priority demand > prefetch > write-back, each type limited to its
// queue depth at the device; when free frames run low, write-back goes
// first (anti-starvation: frames come back only when write-backs finish).
// "fifo" (Linux: no priority between swap-in, readahead and swap-out): one
// queue in arrival order, at most `parallelism` requests at the device.
//
//            priority                                    fifo
//  demand    ──► [▮▮      ] ─┐ 1st (2nd when frames low)  all ──► [▮▮▮▮▮▮▮] ──► device
//  prefetch  ──► [▮       ] ─┼─► device, depth per type
//  writeBack ──► [▮▮▮▮▮▮  ] ─┘ 3rd (1st when frames low)
import type { QueueDepths } from "./device.js";
import type { RequestType, SwapRequest } from "./request.js";

export type QueueMode = "priority" | "fifo";
export const QUEUE_MODES: readonly QueueMode[] = Object.freeze(["priority", "fifo"]);

/** A first-in first-out list with lazy removal (entries no longer queued are skipped). */
class Fifo {
  #items: SwapRequest[] = [];
  #head = 0;

  push(r: SwapRequest): void { this.#items.push(r); }

  /** The first entry still queued (and of `type`, when given), or null. */
  peek(type: RequestType | null): SwapRequest | null {
    while (this.#head < this.#items.length) {
      const r = this.#items[this.#head];
      if (r.state === "queued" && (type === null || r.type === type)) return r;
      this.#head++;
    }
    return null;
  }

  /** Drops the first entry (after peek returned it); compacts the list now and then. */
  shift(): void {
    this.#head++;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

export class Queues {
  readonly mode: QueueMode;
  readonly #depth: QueueDepths;
  readonly #parallelism: number;
  readonly #byType: Record<RequestType, Fifo> = { demand: new Fifo(), prefetch: new Fifo(), writeBack: new Fifo() };
  readonly #all = new Fifo();

  constructor(mode: QueueMode, depth: QueueDepths, parallelism: number) {
    this.mode = mode;
    this.#depth = depth;
    this.#parallelism = parallelism;
  }

  /** Enqueues `r` (new, or a prefetch just promoted: in fifo it keeps its place). */
  push(r: SwapRequest): void {
    if (this.mode === "fifo") {
      this.#all.push(r);
      return;
    }
    this.#byType[r.type].push(r);
  }

  /**
   * The request a free channel serves next, removed from its queue; null
   * when none may go. `framesLow` is asked only when it decides something
   * (a write-back and another request could both go).
   */
  next(inService: Readonly<Record<RequestType, number>>, framesLow: () => boolean): SwapRequest | null {
    if (this.mode === "fifo") {
      const total = inService.demand + inService.prefetch + inService.writeBack;
      const r = total < this.#parallelism ? this.#all.peek(null) : null;
      if (r) this.#all.shift();
      return r;
    }
    const head = (type: RequestType): SwapRequest | null => (inService[type] < this.#depth[type] ? this.#byType[type].peek(type) : null);
    const demand = head("demand");
    const prefetch = head("prefetch");
    const writeBack = head("writeBack");
    const r = writeBack !== null && (demand === null && prefetch === null || framesLow()) ? writeBack : demand ?? prefetch;
    if (r) this.#byType[r.type].shift();
    return r;
  }
}
