// The swap device on the simulated timeline: `parallelism` channels, each
// serving one request at a time for the model's service time (an adjacent
// slot costs the adjacent time), fed by the queues' arbitration. Time
// inside the device moves only forward: advanceTo(t) completes what ends by
// t and starts what the arbitration lets go; a request submitted for an
// earlier time than the device's clock arrives at the device's clock.
// Figures: latency (arrival in its queue to completion) per type, and the
// depth of each queue (queued + at the device) as a maximum per interval.
import type { DeviceModel } from "./device.js";
import { Queues, type QueueMode } from "./queues.js";
import { REQUEST_TYPES, type RequestRecord, type RequestType, type SwapRequest } from "./request.js";

export interface DeviceHooks {
  /** A request finished (not called for cancelled ones). */
  completed(r: SwapRequest): void;
  /** True when free frames are low (write-back then goes first). */
  framesLow(): boolean;
}

/** One interval of the queue-depth series: the most requests of each type queued or at the device. */
export interface DepthSample {
  readonly atNs: number;
  readonly demand: number;
  readonly prefetch: number;
  readonly writeBack: number;
}

/** Most depth samples kept (later intervals are folded into the last). */
export const MAX_DEPTH_SAMPLES = 10_000;

type Counts = Record<RequestType, number>;
const zero = (): Counts => ({ demand: 0, prefetch: 0, writeBack: 0 });

export class SimulatedDevice {
  readonly model: DeviceModel;
  readonly queues: Queues;
  /** Latencies of finished requests per type, ns. */
  readonly latenciesNs: Record<RequestType, number[]> = { demand: [], prefetch: [], writeBack: [] };
  /**
   * Latencies of demand reads that arrived under a write-back burst (at
   * least `parallelism` write-backs queued or at the device), ns.
   */
  readonly demandUnderBurstNs: number[] = [];
  /** Every submission and promotion, in order, when the device records them (for a replay with --io real). */
  readonly log: RequestRecord[] = [];
  readonly #record: boolean;
  readonly depthSamples: DepthSample[] = [];
  readonly #hooks: DeviceHooks;
  readonly #busy: Array<SwapRequest | null>;
  readonly #lastSlot: Int32Array;
  readonly #inService: Counts = zero();
  readonly #pending: Counts = zero();
  readonly #sampleNs: number;
  readonly #underBurst = new Set<SwapRequest>();
  #intervalMax: Counts = zero();
  #interval = 0;
  #nowNs = 0;
  #nextId = 1;

  constructor(model: DeviceModel, mode: QueueMode, sampleNs: number, hooks: DeviceHooks, recordRequests = true) {
    this.model = model;
    this.#record = recordRequests;
    this.queues = new Queues(mode, model.queueDepth, model.parallelism);
    this.#hooks = hooks;
    this.#busy = new Array<SwapRequest | null>(model.parallelism).fill(null);
    this.#lastSlot = new Int32Array(model.parallelism).fill(-2);
    this.#sampleNs = sampleNs;
  }

  get nowNs(): number { return this.#nowNs; }
  /** Requests submitted so far. */
  get requests(): number { return this.#nextId - 1; }
  /** Requests of `type` queued or at the device now. */
  pending(type: RequestType): number { return this.#pending[type]; }

  /** Submits a request of `type` for `slot` at `atNs` (or the device's clock, if later). */
  submit(type: RequestType, slot: number, atNs: number): SwapRequest {
    return this.submitMany(type, [slot], atNs)[0];
  }

  /** Submits one request of `type` per slot of `slots`, in order, at `atNs` (or the device's clock, if later). */
  submitMany(type: RequestType, slots: readonly number[], atNs: number): SwapRequest[] {
    this.advanceTo(atNs);
    const out: SwapRequest[] = [];
    for (const slot of slots) {
      const r: SwapRequest = { id: this.#nextId++, type, slot, arrivalNs: this.#nowNs, startNs: NaN, doneNs: NaN, state: "queued", promoted: false, logIndex: -1 };
      this.#log(r);
      this.#pending[type]++;
      this.#noteBurst(r);
      this.queues.push(r);
      out.push(r);
    }
    this.#observe();
    this.#dispatch();
    return out;
  }

  #log(r: SwapRequest): void {
    if (!this.#record) return;
    r.logIndex = this.log.length;
    this.log.push({ type: r.type, slot: r.slot, atNs: r.arrivalNs, dropped: false });
  }

  #drop(r: SwapRequest): void {
    if (r.logIndex >= 0) this.log[r.logIndex].dropped = true;
  }

  /** A fault hit the queued prefetch `r`: it becomes a demand read, queued as one from `atNs`. */
  promote(r: SwapRequest, atNs: number): void {
    this.advanceTo(atNs);
    if (r.state !== "queued" || r.type !== "prefetch") return;
    this.#pending.prefetch--;
    this.#pending.demand++;
    r.type = "demand";
    r.promoted = true;
    r.arrivalNs = this.#nowNs;
    this.#drop(r);
    this.#log(r);
    this.#noteBurst(r);
    if (this.queues.mode === "priority") this.queues.push(r);
    this.#observe();
    this.#dispatch();
  }

  /** Cancels `r` if it has not started; true when it was cancelled. */
  cancel(r: SwapRequest): boolean {
    if (r.state !== "queued") return false;
    r.state = "cancelled";
    this.#drop(r);
    this.#pending[r.type]--;
    this.#observe();
    return true;
  }

  /** Runs the device until `targetNs`: completions up to then, and the starts they allow. */
  advanceTo(targetNs: number): void {
    for (;;) {
      this.#dispatch();
      const next = this.#nextCompletionNs();
      if (next > targetNs) break;
      this.#moveTo(next);
      this.#completeAt(next);
    }
    if (targetNs > this.#nowNs) this.#moveTo(targetNs);
  }

  #noteBurst(r: SwapRequest): void {
    if (r.type === "demand" && this.#pending.writeBack >= this.model.parallelism) this.#underBurst.add(r);
  }

  #nextCompletionNs(): number {
    let next = Infinity;
    for (const r of this.#busy) if (r !== null && r.doneNs < next) next = r.doneNs;
    return next;
  }

  #dispatch(): void {
    for (let c = 0; c < this.#busy.length; c++) {
      if (this.#busy[c] !== null) continue;
      const r = this.queues.next(this.#inService, this.#hooks.framesLow);
      if (r === null) return;
      const adjacent = r.slot === this.#lastSlot[c] + 1;
      const read = r.type !== "writeBack";
      const serviceNs = read ? (adjacent ? this.model.adjacentReadNs : this.model.readNs) : (adjacent ? this.model.adjacentWriteNs : this.model.writeNs);
      r.state = "service";
      r.startNs = this.#nowNs;
      r.doneNs = this.#nowNs + serviceNs;
      this.#busy[c] = r;
      this.#lastSlot[c] = r.slot;
      this.#inService[r.type]++;
    }
  }

  #completeAt(atNs: number): void {
    for (let c = 0; c < this.#busy.length; c++) {
      const r = this.#busy[c];
      if (r === null || r.doneNs !== atNs) continue;
      this.#busy[c] = null;
      r.state = "done";
      this.#inService[r.type]--;
      this.#pending[r.type]--;
      this.latenciesNs[r.type].push(r.doneNs - r.arrivalNs);
      if (this.#underBurst.delete(r)) this.demandUnderBurstNs.push(r.doneNs - r.arrivalNs);
      this.#hooks.completed(r);
    }
    this.#observe();
  }

  /** Moves the device clock, closing the depth intervals it passes. */
  #moveTo(ns: number): void {
    const interval = Math.floor(ns / this.#sampleNs);
    while (this.#interval < interval) {
      this.#pushSample();
      this.#interval++;
      this.#intervalMax = { ...this.#pending };
      if (this.#interval < interval && this.#pending.demand + this.#pending.prefetch + this.#pending.writeBack === 0) {
        this.#interval = interval;
        this.#intervalMax = zero();
      }
    }
    this.#nowNs = Math.max(this.#nowNs, ns);
  }

  #pushSample(): void {
    const m = this.#intervalMax;
    if (this.depthSamples.length === MAX_DEPTH_SAMPLES) return;
    this.depthSamples.push({ atNs: this.#interval * this.#sampleNs, demand: m.demand, prefetch: m.prefetch, writeBack: m.writeBack });
  }

  #observe(): void {
    for (const t of REQUEST_TYPES) if (this.#pending[t] > this.#intervalMax[t]) this.#intervalMax[t] = this.#pending[t];
  }

  /** Closes the depth series at the device's clock. */
  finish(): void { this.#pushSample(); }
}
