// The output comparator (COLO's colo-compare), on the primary's host: the
// primary's packets and the secondary's (forwarded over the link) queue per
// connection and are compared in order, head against head, on payload.
//
//  primary packets ──► queue P[c] ─┐
//                                  ├─ compare heads ─ equal ──► release P's to the outside, drop S's
//  secondary packets ─► queue S[c] ─┘                └ differ ──► hold; checkpoint (mismatch)
//  P[c] head without counterpart for compareTimeout ────────────► hold; checkpoint (timeout)
//  a queue reaching maxQueuePackets ────────────────────────────► hold; checkpoint (queue-full)
//  checkpoint done ──► every held primary packet released in order, every secondary one dropped
//
// While a checkpoint is pending nothing is compared or released. Secondary
// packets sent before a checkpoint that arrive after it are dropped (their
// generation is over). The Outside records what the world saw.
import type { Timeline } from "../sim/timeline.js";
import type { Packet } from "./output.js";

export type CheckpointCause = "initial" | "mismatch" | "timeout" | "queue-full" | "periodic";

/** Why the outside has a packet: its two copies matched, a checkpoint released it, or the secondary sent it after a failover. */
export type ReleaseOrigin = "matched" | "checkpoint" | "secondary";

export interface ReleasedPacket {
  readonly connection: number;
  readonly seq: number;
  readonly origin: ReleaseOrigin;
  readonly emittedNs: number;
  readonly releasedNs: number;
  readonly payload: Uint8Array;
}

/** The world outside: every packet it received, in order, and how many per connection. */
export class Outside {
  readonly released: ReleasedPacket[] = [];
  readonly #next: number[];
  /** Packets that arrived with another seq than the next one on their connection (a duplicate or a gap): must stay 0. */
  outOfOrder = 0;

  constructor(connections: number) {
    this.#next = new Array<number>(connections).fill(0);
  }

  /** Packets the outside has on connection `c` (it expects seq nextOn(c) next). */
  nextOn(c: number): number { return this.#next[c]; }

  release(p: Packet, origin: ReleaseOrigin, nowNs: number): void {
    if (p.seq !== this.#next[p.connection]) this.outOfOrder++;
    this.#next[p.connection] = Math.max(this.#next[p.connection], p.seq + 1);
    this.released.push({ connection: p.connection, seq: p.seq, origin, emittedNs: p.emittedNs, releasedNs: nowNs, payload: p.payload });
  }
}

export interface CompareCounts {
  compared: number;
  matched: number;
  mismatched: number;
  timedOut: number;
  queueFull: number;
  /** Secondary packets dropped: matched, cleared at a checkpoint, or arriving after one. */
  secondaryDropped: number;
}

export interface ComparatorOptions {
  readonly connections: number;
  readonly compareTimeoutNs: number;
  readonly maxQueuePackets: number;
}

function samePayload(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Comparator {
  readonly #timeline: Timeline;
  readonly #o: ComparatorOptions;
  readonly #outside: Outside;
  readonly #trigger: (cause: CheckpointCause) => void;
  readonly #primary: Packet[][];
  readonly #secondary: Packet[][];
  readonly #timers: Array<{ seq: number; cancel: () => void } | null>;
  readonly counts: CompareCounts = { compared: 0, matched: 0, mismatched: 0, timedOut: 0, queueFull: 0, secondaryDropped: 0 };
  /** A checkpoint is pending: output is held, nothing compared. */
  holding = false;
  /** Checkpoints completed so far: a secondary packet of an earlier one is stale. */
  generation = 0;
  /** The primary failed: the comparator is gone. */
  dead = false;

  constructor(timeline: Timeline, o: ComparatorOptions, outside: Outside, trigger: (cause: CheckpointCause) => void) {
    this.#timeline = timeline;
    this.#o = o;
    this.#outside = outside;
    this.#trigger = trigger;
    this.#primary = Array.from({ length: o.connections }, () => []);
    this.#secondary = Array.from({ length: o.connections }, () => []);
    this.#timers = new Array(o.connections).fill(null);
  }

  /** Primary packets held now (not released), per connection in order. */
  get heldPackets(): number { return this.#primary.reduce((n, q) => n + q.length, 0); }

  /** Every held primary packet, connection by connection, in order. */
  held(): Packet[] { return this.#primary.flat(); }

  /** Holds all output and asks for a checkpoint (also used for the initial and the periodic ones). */
  requestCheckpoint(cause: CheckpointCause): void {
    this.holding = true;
    for (let c = 0; c < this.#timers.length; c++) this.#disarm(c);
    this.#trigger(cause);
  }

  pushPrimary(p: Packet): void {
    if (this.dead) return;
    this.#primary[p.connection].push(p);
    this.#afterPush(p.connection, this.#primary[p.connection].length);
  }

  /** A secondary packet arrives (sent during checkpoint generation `generation`). */
  pushSecondary(p: Packet, generation: number): void {
    if (this.dead) return;
    if (generation !== this.generation) {
      this.counts.secondaryDropped++;
      return;
    }
    this.#secondary[p.connection].push(p);
    this.#afterPush(p.connection, this.#secondary[p.connection].length);
  }

  #afterPush(c: number, length: number): void {
    if (this.holding) return;
    if (length >= this.#o.maxQueuePackets) {
      this.counts.queueFull++;
      this.requestCheckpoint("queue-full");
      return;
    }
    this.#compare(c);
  }

  #compare(c: number): void {
    const p = this.#primary[c];
    const s = this.#secondary[c];
    while (!this.holding && p.length > 0 && s.length > 0) {
      this.counts.compared++;
      if (!samePayload(p[0].payload, s[0].payload)) {
        this.counts.mismatched++;
        this.requestCheckpoint("mismatch");
        return;
      }
      this.counts.matched++;
      this.counts.secondaryDropped++;
      s.shift();
      this.#outside.release(p.shift()!, "matched", this.#timeline.nowNs);
    }
    this.#arm(c);
  }

  /** The head of P[c] waits for a counterpart: a timeout at its emission + compareTimeout. */
  #arm(c: number): void {
    const head = this.#primary[c][0];
    if (!head || this.#secondary[c].length > 0) {
      this.#disarm(c);
      return;
    }
    if (this.#timers[c]?.seq === head.seq) return;
    this.#disarm(c);
    const generation = this.generation;
    const cancel = this.#timeline.schedule(head.emittedNs + this.#o.compareTimeoutNs, () => {
      this.#timers[c] = null;
      if (this.dead || this.holding || generation !== this.generation || this.#primary[c][0]?.seq !== head.seq) return;
      this.counts.timedOut++;
      this.requestCheckpoint("timeout");
    });
    this.#timers[c] = { seq: head.seq, cancel };
  }

  #disarm(c: number): void {
    this.#timers[c]?.cancel();
    this.#timers[c] = null;
  }

  /** The checkpoint is acknowledged: every held primary packet goes out in order, every secondary one is dropped. */
  checkpointDone(nowNs: number): number {
    let released = 0;
    for (let c = 0; c < this.#primary.length; c++) {
      const held = this.#primary[c].splice(0);
      for (const p of held) this.#outside.release(p, "checkpoint", nowNs);
      released += held.length;
      this.counts.secondaryDropped += this.#secondary[c].splice(0).length;
      this.#disarm(c);
    }
    this.generation++;
    this.holding = false;
    return released;
  }

  /** The primary failed: its held packets never leave. Returns how many. */
  die(): number {
    this.dead = true;
    let dropped = 0;
    for (let c = 0; c < this.#primary.length; c++) {
      dropped += this.#primary[c].splice(0).length;
      this.#secondary[c].length = 0;
      this.#disarm(c);
    }
    return dropped;
  }
}
