// Nondeterministic events: what makes two copies of one guest, run from the
// same state with the same inputs, diverge. They arrive as a Poisson process
// at `ratePerSec` (seeded; the outside world, not guest state), each on ONE
// copy, of one of three kinds:
//
//   timer          a timer read returns another value on this copy; the
//                  value goes into the reply being built on a connection:
//                  a different value written -> the next packet differs
//   interrupt      an interrupt lands elsewhere in the instruction stream:
//                  a different page touched (8 bytes changed on a random
//                  page) -> divergence that may produce no output at all
//   io-completion  I/O completions arrive in another order: the copy's next
//                  reply on a connection goes out late, with the one after
//                  it -> its counterpart waits (held output, or a timeout)
//
// With the rate at zero no event ever happens and the copies stay equal.
import type { TimelineProcess } from "../sim/clock.js";
import type { Timeline } from "../sim/timeline.js";
import type { ReplySource, Side } from "./output.js";
import { SeededRng } from "./rng.js";

export const NONDETERMINISM_KINDS = ["timer", "interrupt", "io-completion"] as const;
export type NondeterminismKind = (typeof NONDETERMINISM_KINDS)[number];

export interface NondeterministicEvent {
  readonly kind: NondeterminismKind;
  readonly side: Side;
  readonly atNs: number;
  /** Connection (timer, io-completion) or -1. */
  readonly connection: number;
  /** Address changed (timer, interrupt) or -1. */
  readonly gpa: number;
}

/** Bytes a timer or interrupt event changes. */
const CHANGED_BYTES = 8;

export class NondeterminismSource implements TimelineProcess {
  readonly #timeline: Timeline;
  readonly #perNs: number;
  readonly #rng: SeededRng;
  readonly #sources: Record<Side, ReplySource>;
  readonly #connections: number;
  #nextAtNs: number;
  /** Sides that still run (the primary leaves at its failure). */
  readonly live = new Set<Side>(["primary", "secondary"]);
  readonly counts: Record<NondeterminismKind, number> = { timer: 0, interrupt: 0, "io-completion": 0 };
  onEvent: ((e: NondeterministicEvent) => void) | null = null;

  constructor(timeline: Timeline, ratePerSec: number, seed: number, sources: Record<Side, ReplySource>, connections: number) {
    this.#timeline = timeline;
    this.#perNs = ratePerSec / 1e9;
    this.#rng = new SeededRng(seed ^ 0x4e0d37);
    this.#sources = sources;
    this.#connections = connections;
    this.#nextAtNs = timeline.nowNs + this.#gapNs();
  }

  #gapNs(): number {
    return this.#perNs === 0 ? Infinity : -Math.log(1 - this.#rng.unit()) / this.#perNs;
  }

  get total(): number { return this.counts.timer + this.counts.interrupt + this.counts["io-completion"]; }

  advance(durationNs: number): void {
    const endNs = this.#timeline.nowNs + durationNs;
    while (this.#nextAtNs < endNs) {
      const atNs = this.#nextAtNs;
      this.#nextAtNs += this.#gapNs();
      const side: Side = this.#rng.next() % 2 === 0 ? "primary" : "secondary";
      const kind = NONDETERMINISM_KINDS[this.#rng.next() % NONDETERMINISM_KINDS.length];
      const connection = this.#rng.next() % this.#connections;
      const draw = this.#rng.next();
      const source = this.#sources[side];
      if (!this.live.has(side) || source.vm.paused) continue;
      this.#apply({ kind, side, atNs, connection: kind === "interrupt" ? -1 : connection, gpa: -1 }, source, draw);
    }
  }

  #apply(e: NondeterministicEvent, source: ReplySource, draw: number): void {
    const vm = source.vm;
    let gpa = -1;
    if (e.kind === "io-completion") source.delayNext(e.connection);
    else {
      gpa = e.kind === "timer"
        ? source.nextSlotGpa(e.connection)
        : (draw % vm.pages) * 4096 + ((draw >>> 20) % (4096 / CHANGED_BYTES)) * CHANGED_BYTES;
      const bytes = vm.read(gpa, CHANGED_BYTES);
      bytes[0] ^= (draw & 0x7f) | 1;
      for (let i = 1; i < CHANGED_BYTES; i++) bytes[i] ^= this.#rng.next() & 0xff;
      vm.write(gpa, bytes);
    }
    this.counts[e.kind]++;
    this.onEvent?.({ ...e, gpa });
  }
}
