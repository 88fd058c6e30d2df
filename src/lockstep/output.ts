// The guest's externally visible output, one ReplySource per copy: a
// process on the timeline that, while its VM runs, emits `packetsPerSec`
// packets spread over `connections` connections. A packet's payload is read
// from guest memory, from the next slot of its connection's transmit ring
// (the last connections × ringPages pages of the guest), so two copies with
// equal memory emit equal packets. Its `seq` is its place on the
// connection's wire (0, 1, 2...). Everything here is guest state, copied
// from the primary to the secondary at a resync (adopt()).
//
//  guest pages:  0 ........................ pages - C×R │ ring 0 │ ring 1 │ ... │ ring C-1 │
//  ring c:       slot 0 │ slot 1 │ ... (packetBytes each; slot = sent count mod slots)
import type { TimelineProcess } from "../sim/clock.js";
import type { Timeline } from "../sim/timeline.js";
import type { Vm } from "../host/vm.js";
import { SeededRng } from "./rng.js";

export type Side = "primary" | "secondary";

export interface Packet {
  readonly side: Side;
  readonly connection: number;
  /** Place on the connection's wire, from 0. */
  readonly seq: number;
  /** When the copy sent it, ns on the timeline. */
  readonly emittedNs: number;
  readonly payload: Uint8Array;
}

export interface RingLayout {
  readonly connections: number;
  readonly ringPages: number;
  readonly packetBytes: number;
}

/** Guest-physical address of slot `slot` of connection `c`'s ring in a guest of `pages` pages. */
export function slotGpa(layout: RingLayout, pages: number, c: number, slot: number): number {
  const ringBytes = layout.ringPages * 4096;
  const slots = Math.floor(ringBytes / layout.packetBytes);
  const ringBase = (pages - layout.connections * layout.ringPages + c * layout.ringPages) * 4096;
  return ringBase + (slot % slots) * layout.packetBytes;
}

export class ReplySource implements TimelineProcess {
  readonly side: Side;
  readonly vm: Vm;
  readonly #timeline: Timeline;
  readonly #layout: RingLayout;
  readonly #perNs: number;
  #rng: SeededRng;
  #carry = 0;
  /** Per connection: packets sent (the next seq and ring slot). */
  #sent: number[];
  /** Per connection: the next reply's completion is late (it goes with the one after it). */
  #late: boolean[];
  /** Per connection: a reply built and waiting for its completion. */
  #waiting: Array<{ payload: Uint8Array } | null>;
  /** Where packets go. */
  sink: (p: Packet) => void;
  stopped = false;

  constructor(side: Side, vm: Vm, timeline: Timeline, layout: RingLayout, packetsPerSec: number, seed: number, sink: (p: Packet) => void) {
    this.side = side;
    this.vm = vm;
    this.#timeline = timeline;
    this.#layout = layout;
    this.#perNs = packetsPerSec / 1e9;
    this.#rng = new SeededRng(seed ^ 0x7e91a5);
    this.#sent = new Array<number>(layout.connections).fill(0);
    this.#late = new Array<boolean>(layout.connections).fill(false);
    this.#waiting = new Array<{ payload: Uint8Array } | null>(layout.connections).fill(null);
    this.sink = sink;
  }

  /** Packets sent on connection `c` so far (the next seq). */
  sentOn(c: number): number { return this.#sent[c]; }

  /** Address of the reply connection `c` will send next (what a timer read lands in). */
  nextSlotGpa(c: number): number { return slotGpa(this.#layout, this.vm.pages, c, this.#sent[c] + (this.#waiting[c] ? 1 : 0)); }

  /** An I/O completion arrives late: the next reply on `c` waits and goes out with the one after it. */
  delayNext(c: number): void { this.#late[c] = true; }

  advance(durationNs: number): void {
    if (this.stopped || this.vm.paused || this.#perNs === 0) return;
    const want = durationNs * this.#perNs + this.#carry;
    const n = Math.floor(want);
    this.#carry = want - n;
    const atNs = this.#timeline.nowNs + durationNs;
    for (let i = 0; i < n; i++) this.#reply(this.#rng.next() % this.#layout.connections, atNs);
  }

  #reply(c: number, atNs: number): void {
    const slot = this.#sent[c] + (this.#waiting[c] ? 1 : 0);
    const payload = this.vm.read(slotGpa(this.#layout, this.vm.pages, c, slot), this.#layout.packetBytes);
    if (this.#late[c] && !this.#waiting[c]) {
      this.#late[c] = false;
      this.#waiting[c] = { payload };
      return;
    }
    const waiting = this.#waiting[c];
    this.#waiting[c] = null;
    if (waiting) this.#send(c, waiting.payload, atNs);
    this.#send(c, payload, atNs);
  }

  #send(c: number, payload: Uint8Array, atNs: number): void {
    this.sink({ side: this.side, connection: c, seq: this.#sent[c]++, emittedNs: atNs, payload });
  }

  /** A resync: this copy's output state becomes `from`'s (its generator, counts and waiting replies). */
  adopt(from: ReplySource): void {
    this.#rng = new SeededRng(0);
    this.#rng.state = from.#rng.state;
    this.#carry = from.#carry;
    this.#sent = [...from.#sent];
    this.#late = [...from.#late];
    this.#waiting = from.#waiting.map((w) => (w ? { payload: w.payload.slice() } : null));
  }
}
