// Output commit (Remus): the guest's externally visible output is held on
// the primary and released only when the checkpoint holding the state that
// produced it is acknowledged by the backup. The guest's network output is
// modelled by a PacketSource, a process on the timeline that emits packets
// at a rate while the guest runs, each carrying bytes read from guest
// memory at a seeded address; the OutputBuffer holds them, tagged with the
// epoch that produced them, and releases each exactly once.
import type { TimelineProcess } from "../sim/clock.js";
import type { Timeline } from "../sim/timeline.js";
import { mulberry32 } from "../sim/prng.js";
import type { Vm } from "../host/vm.js";

export interface Packet {
  readonly id: number;
  /** The epoch whose run produced it: it is released once a checkpoint of that epoch's pause (or a later one) is acknowledged. */
  readonly epoch: number;
  readonly emittedNs: number;
  readonly gpa: number;
  readonly bytes: Uint8Array;
}

export interface ReleasedPacket {
  readonly id: number;
  readonly epoch: number;
  readonly emittedNs: number;
  readonly releasedNs: number;
}

export class OutputBuffer {
  readonly #held: Packet[] = [];
  readonly released: ReleasedPacket[] = [];
  emitted = 0;
  dropped = 0;

  hold(p: Packet): void {
    this.#held.push(p);
    this.emitted++;
  }

  get heldPackets(): number { return this.#held.length; }

  /** Releases, in order, every held packet of an epoch up to `epoch` (a checkpoint of that pause was acknowledged at `nowNs`). */
  releaseUpTo(epoch: number, nowNs: number): number {
    let n = 0;
    while (n < this.#held.length && this.#held[n].epoch <= epoch) n++;
    for (const p of this.#held.splice(0, n)) this.released.push({ id: p.id, epoch: p.epoch, emittedNs: p.emittedNs, releasedNs: nowNs });
    return n;
  }

  /** The primary failed: what it still holds never leaves. */
  dropAll(): number {
    const n = this.#held.length;
    this.dropped += n;
    this.#held.length = 0;
    return n;
  }
}

/** A vCPU's network output: `packetsPerSec` packets of `packetBytes` bytes read from guest memory while the guest runs. */
export class PacketSource implements TimelineProcess {
  readonly #vm: Vm;
  readonly #timeline: Timeline;
  readonly #startNs: number;
  readonly #out: OutputBuffer;
  readonly #perNs: number;
  readonly #bytes: number;
  readonly #rng: () => number;
  #carry = 0;
  #nextId = 0;
  /** The epoch now running. */
  epoch = 0;
  stopped = false;

  constructor(vm: Vm, timeline: Timeline, startNs: number, out: OutputBuffer, packetsPerSec: number, packetBytes: number, seed: number) {
    this.#vm = vm;
    this.#timeline = timeline;
    this.#startNs = startNs;
    this.#out = out;
    this.#perNs = packetsPerSec / 1e9;
    this.#bytes = packetBytes;
    this.#rng = mulberry32(seed ^ 0x9ac4e7);
  }

  advance(durationNs: number): void {
    if (this.stopped || this.#vm.paused || this.#perNs === 0) return;
    const want = durationNs * this.#perNs + this.#carry;
    const n = Math.floor(want);
    this.#carry = want - n;
    const startNs = this.#timeline.nowNs - this.#startNs;
    const span = this.#vm.memoryBytes - this.#bytes;
    for (let i = 0; i < n; i++) {
      const gpa = span > 0 ? this.#rng() % span : 0;
      this.#out.hold({
        id: this.#nextId++, epoch: this.epoch, emittedNs: startNs + ((i + 1) * durationNs) / n,
        gpa, bytes: this.#vm.read(gpa, Math.min(this.#bytes, this.#vm.memoryBytes)),
      });
    }
  }
}
