// Links: the path bytes take between two hosts, owning what the transfer
// costs in time. A SimulatedLink is a model on a Timeline: bytes take
// bytes / rate (the line rate, or QEMU's max-bandwidth cap if lower) plus a
// one-way latency, and time advances by that much (the guests run
// meanwhile). A MeasuredLink is a real connection on the WallClock: it
// only meters what was sent and, with a cap, waits until the bytes sent so
// far fit it (QEMU's rate limit). The bandwidth policies decide with is
// measured: on a SimulatedLink over each period the engine closes (a
// pre-copy round), which is exact in simulated time; on a MeasuredLink over
// windows of at least 100 ms (QEMU's BUFFER_DELAY), since a short period of
// real time measures the overheads, not the link; and it decides with the
// slowest of the last five windows (half a second), not the last one: a
// decision checked after every chunk against a noisy rate fires on the
// luckiest window, and the stop-and-copy then gets the ordinary rate.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Clock } from "./clock.js";
import type { Timeline } from "./timeline.js";
import type { WallClock } from "./wall-clock.js";

/** The model of a simulated link. */
export interface LinkModel {
  /** Line rate in bytes per second. */
  readonly bandwidthBytesPerSec: number;
  /** One-way latency in ns. */
  readonly latencyNs: number;
  /** Cap on the rate migration may use, bytes/s (QEMU max-bandwidth); null = none. */
  readonly maxBandwidthBytesPerSec: number | null;
}

export interface Link {
  readonly clock: Clock;
  /** One-way latency, ns (0 on a measured link: it is inside what is measured). */
  readonly latencyNs: number;
  /** Bytes metered so far. */
  readonly bytesSent: number;
  /**
   * The bandwidth to decide with, bytes/s: the rate measured over the last
   * completed period; before any, the model's rate (simulated) or the rate
   * measured so far (measured; 0 before anything was sent).
   */
  readonly bandwidthBytesPerSec: number;
  /**
   * Puts `bytes` on the link and lets the time it costs pass (simulated:
   * bytes / rate, at least `minNs`, e.g. the encoding time of what they
   * carry; measured: the wait the rate cap imposes, then the clock settles).
   */
  transmit(bytes: number, minNs?: number): Promise<void>;
  /** Lets one-way latency × `trips` pass (a handshake round trip is 2). */
  propagate(trips: number): Promise<void>;
  /**
   * Ends the engine's measurement period (a round): on a simulated link its
   * rate becomes bandwidthBytesPerSec (unless nothing was measured); a
   * measured link keeps its own 100 ms windows. Returns the estimate.
   */
  endPeriod(): number;
  /** Lifts the rate cap (QEMU lifts max-bandwidth for the completion). */
  unlimit(): void;
}

/** A transmit of `bytes` lasting at least `minNs`: both finite and >= 0, or a typed error naming them. */
function checkTransmit(bytes: number, minNs: number): void {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) {
    throw new HypermemError(ErrorCode.BadOption, `a link transmits a finite number of bytes >= 0, got ${String(bytes)}`, { option: "bytes", value: bytes });
  }
  if (typeof minNs !== "number" || !Number.isFinite(minNs) || minNs < 0) {
    throw new HypermemError(ErrorCode.BadOption, `minNs must be a finite number of ns >= 0, got ${String(minNs)}`, { option: "minNs", value: minNs });
  }
}

/** Meters bytes over periods of a clock's time. */
class Meter {
  bytesSent = 0;
  #periodStartNs: number;
  #periodBytes = 0;
  lastRate: number | null = null;

  constructor(startNs: number) { this.#periodStartNs = startNs; }

  add(bytes: number): void {
    this.bytesSent += bytes;
    this.#periodBytes += bytes;
  }

  /** Rate of the current period so far, or null when nothing measurable happened. */
  periodRate(nowNs: number): number | null {
    const durationNs = nowNs - this.#periodStartNs;
    return durationNs > 0 && this.#periodBytes > 0 ? (this.#periodBytes * 1e9) / durationNs : null;
  }

  /** ns since the current period began. */
  periodNs(nowNs: number): number { return nowNs - this.#periodStartNs; }

  endPeriod(nowNs: number): void {
    this.lastRate = this.periodRate(nowNs) ?? this.lastRate;
    this.#periodStartNs = nowNs;
    this.#periodBytes = 0;
  }
}

export class SimulatedLink implements Link {
  readonly clock: Timeline;
  readonly model: LinkModel;
  readonly #meter: Meter;
  #capped = true;

  constructor(timeline: Timeline, model: LinkModel) {
    this.clock = timeline;
    this.model = model;
    this.#meter = new Meter(timeline.nowNs);
  }

  get latencyNs(): number { return this.model.latencyNs; }
  get bytesSent(): number { return this.#meter.bytesSent; }

  /** The rate bytes get: the line rate, or the cap if lower (and not lifted). */
  get effectiveRate(): number {
    const cap = this.#capped ? this.model.maxBandwidthBytesPerSec : null;
    return cap === null ? this.model.bandwidthBytesPerSec : Math.min(this.model.bandwidthBytesPerSec, cap);
  }

  get bandwidthBytesPerSec(): number { return this.#meter.lastRate ?? this.effectiveRate; }

  async transmit(bytes: number, minNs = 0): Promise<void> {
    checkTransmit(bytes, minNs);
    this.#meter.add(bytes);
    this.clock.advance(Math.max((bytes / this.effectiveRate) * 1e9, minNs));
  }

  async propagate(trips: number): Promise<void> { this.clock.advance(trips * this.model.latencyNs); }

  endPeriod(): number {
    this.#meter.endPeriod(this.clock.nowNs);
    return this.bandwidthBytesPerSec;
  }

  unlimit(): void { this.#capped = false; }
}

/** QEMU's BUFFER_DELAY: the shortest window a measured link's rate is taken over, ns. */
export const MEASURE_WINDOW_NS = 100e6;

/** A measured link's bandwidth is the slowest of this many recent windows (5 x 100 ms). */
export const SWITCHOVER_WINDOWS = 5;

export class MeasuredLink implements Link {
  readonly clock: WallClock;
  readonly latencyNs = 0;
  readonly #meter: Meter;
  #capBytesPerSec: number | null;

  constructor(clock: WallClock, maxBandwidthBytesPerSec: number | null) {
    this.clock = clock;
    this.#capBytesPerSec = maxBandwidthBytesPerSec;
    this.#meter = new Meter(clock.nowNs);
  }

  get bytesSent(): number { return this.#meter.bytesSent; }

  /** Rates of the last SWITCHOVER_WINDOWS windows, oldest first. */
  readonly #recentRates: number[] = [];

  /**
   * The slowest of the last five windows of at least 100 ms (fewer at the
   * start); before the first, the rate so far (0 before anything was sent).
   */
  get bandwidthBytesPerSec(): number {
    return this.#recentRates.length > 0 ? Math.min(...this.#recentRates) : this.#meter.periodRate(this.clock.nowNs) ?? 0;
  }

  /** Closes the measurement window once it is 100 ms long. */
  #measure(): void {
    if (this.#meter.periodNs(this.clock.nowNs) < MEASURE_WINDOW_NS) return;
    const rate = this.#meter.periodRate(this.clock.nowNs);
    this.#meter.endPeriod(this.clock.nowNs);
    if (rate === null) return;
    this.#recentRates.push(rate);
    if (this.#recentRates.length > SWITCHOVER_WINDOWS) this.#recentRates.shift();
  }

  async transmit(bytes: number): Promise<void> {
    checkTransmit(bytes, 0);
    this.#meter.add(bytes);
    const cap = this.#capBytesPerSec;
    if (cap !== null) {
      const allowedNs = ((this.#meter.bytesSent - bytes) * 1e9) / cap;
      const waitNs = allowedNs - this.clock.nowNs;
      if (waitNs > 0) await this.clock.sleep(waitNs);
    }
    this.clock.settle();
    this.#measure();
  }

  async propagate(): Promise<void> { this.clock.settle(); }

  /** A measured link's windows are its own (100 ms), not the engine's periods: returns the current estimate. */
  endPeriod(): number {
    this.#measure();
    return this.bandwidthBytesPerSec;
  }

  unlimit(): void { this.#capBytesPerSec = null; }
}
