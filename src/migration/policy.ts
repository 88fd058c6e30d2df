// When precopy stops, and how fast the guest may run meanwhile.
//
// QEMU (migration.c, ram.c): bandwidth is measured per iteration as bytes /
// time; the source switches over once the pending bytes can be sent within
// the downtime limit. Auto-converge is evaluated at dirty-bitmap syncs at
// most once per second: when the bytes dirtied in the period exceed the
// trigger share of the bytes sent, twice, the vCPUs are throttled (20 %, then
// +10 % per step, up to 99 %).
//
// Xen (xc_domain_save): stop after 30 rounds, after sending 3x the guest, or
// when fewer than 50 pages are left.
import { XEN_MAX_FACTOR, XEN_MAX_ROUNDS, XEN_MIN_PAGES, type ResolvedAutoConverge } from "./options.js";

/** Wire bytes of a whole page record (8-byte header + page). */
export const PAGE_RECORD_BYTES = 8 + 4096;

export interface SwitchoverInput {
  readonly remainingPages: number;
  /** Bandwidth measured over the last iteration, bytes/s. */
  readonly bandwidthBytesPerSec: number;
  readonly latencyNs: number;
  readonly downtimeLimitNs: number;
  /**
   * Bytes handed to the channel and not yet taken by it (sends in flight):
   * they go before the stop-and-copy's pages. 0 on a simulated link.
   */
  readonly queuedBytes?: number;
}

/** Expected stop-and-copy time in ns for the pages left and the bytes queued ahead of them (whole records plus the last byte's latency). */
export function expectedDowntimeNs(i: SwitchoverInput): number {
  return ((i.remainingPages * PAGE_RECORD_BYTES + (i.queuedBytes ?? 0)) / i.bandwidthBytesPerSec) * 1e9 + i.latencyNs;
}

/** QEMU's rule: switch over when the pending bytes fit in bandwidth × downtime limit. */
export function qemuShouldSwitchover(i: SwitchoverInput): boolean {
  return expectedDowntimeNs(i) <= i.downtimeLimitNs;
}

export interface XenInput {
  /** Precopy rounds done, the bulk pass included. */
  readonly roundsDone: number;
  readonly pagesSentTotal: number;
  readonly guestPages: number;
  readonly remainingPages: number;
}

/** Xen's rules; the reason they stop, or null to go on. */
export function xenStopReason(i: XenInput): string | null {
  if (i.remainingPages < XEN_MIN_PAGES) return `fewer than ${XEN_MIN_PAGES} pages left (${i.remainingPages})`;
  if (i.roundsDone >= XEN_MAX_ROUNDS) return `${XEN_MAX_ROUNDS} rounds done`;
  if (i.pagesSentTotal > XEN_MAX_FACTOR * i.guestPages) return `sent more than ${XEN_MAX_FACTOR}x the guest (${i.pagesSentTotal} pages)`;
  return null;
}

/**
 * The once-a-second sync period of QEMU's migration_bitmap_sync: measures the
 * dirty-page rate (over the last full second; before the first, over what
 * was measured so far) and, with auto-converge, raises the throttle.
 */
export class SyncPeriod {
  readonly #autoConverge: ResolvedAutoConverge | null;
  #startNs: number;
  #bytesXferAtStart = 0;
  #dirtyPages = 0;
  #highCount = 0;
  #periodDone = false;
  throttlePct = 0;
  dirtyPagesRate = 0;

  constructor(nowNs: number, autoConverge: ResolvedAutoConverge | null) {
    this.#startNs = nowNs;
    this.#autoConverge = autoConverge;
  }

  /** A dirty-bitmap sync found `dirtyPages` at `nowNs` with `transferredBytes` sent so far. */
  onSync(nowNs: number, transferredBytes: number, dirtyPages: number): void {
    this.#dirtyPages += dirtyPages;
    if (nowNs <= this.#startNs + 1e9) {
      // Before the first full period, the rate over what was measured so far (QEMU would say 0).
      if (!this.#periodDone && nowNs > this.#startNs) this.dirtyPagesRate = (this.#dirtyPages * 1e9) / (nowNs - this.#startNs);
      return;
    }
    this.#periodDone = true;
    const ac = this.#autoConverge;
    if (ac) {
      const bytesXferPeriod = transferredBytes - this.#bytesXferAtStart;
      const bytesDirtyPeriod = this.#dirtyPages * 4096;
      if (bytesDirtyPeriod > (bytesXferPeriod * ac.triggerThresholdPct) / 100 && ++this.#highCount >= 2) {
        this.#highCount = 0;
        this.throttlePct = this.throttlePct === 0 ? ac.initialPct : Math.min(this.throttlePct + ac.incrementPct, ac.maxPct);
      }
    }
    this.dirtyPagesRate = (this.#dirtyPages * 1e9) / (nowNs - this.#startNs);
    this.#startNs = nowNs;
    this.#bytesXferAtStart = transferredBytes;
    this.#dirtyPages = 0;
  }
}
