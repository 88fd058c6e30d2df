// The stop rules of precopy at their boundaries, with inputs chosen so the
// arithmetic is exact in binary floating point (no tolerance hides an
// off-by-one): QEMU's switchover rule exactly at, 1 ns under and 1 ns over
// its downtime limit, and in the units it is given (ns, bytes/s, 4104-byte
// page records); Xen's three rules at, under and over each limit; and the
// auto-converge throttle of QEMU's once-a-second dirty sync step by step.
import { describe, expect, it } from "vitest";
import { MIGRATION_DEFAULTS, type ResolvedAutoConverge } from "../src/migration/options.js";
import { expectedDowntimeNs, qemuShouldSwitchover, SyncPeriod, xenStopReason, type XenInput } from "../src/migration/policy.js";

/** Wire bytes of one page: an 8-byte PAGE record header and the 4096-byte page (docs/migration-stream.md). */
const RECORD_BYTES = 8 + 4096;
/** 10 Gbit/s in bytes/s. */
const TEN_GBIT = 1.25e9;

describe("QEMU: expected downtime", () => {
  it("is pending page records / bandwidth, in ns, plus the latency once", () => {
    expect(expectedDowntimeNs({ remainingPages: 1, bandwidthBytesPerSec: RECORD_BYTES, latencyNs: 0, downtimeLimitNs: 1 })).toBe(1e9);
    // 1000 records of 4104 bytes at 8 × 4,104,000 B/s: 1/8 s exactly, plus 5 ms.
    expect(expectedDowntimeNs({ remainingPages: 1000, bandwidthBytesPerSec: 32_832_000, latencyNs: 5e6, downtimeLimitNs: 1 })).toBe(130e6);
    expect(expectedDowntimeNs({ remainingPages: 0, bandwidthBytesPerSec: TEN_GBIT, latencyNs: 100_000, downtimeLimitNs: 1 })).toBe(100_000);
    // 10^6 pages at 10 Gbit/s: 4.104e9 bytes / 1.25e9 B/s = 3.2832 s.
    expect(expectedDowntimeNs({ remainingPages: 1e6, bandwidthBytesPerSec: TEN_GBIT, latencyNs: 0, downtimeLimitNs: 1 })).toBeCloseTo(3.2832e9, 0);
  });

  it("counts the bytes queued ahead of the stop-and-copy (sends in flight over TCP) at the same rate", () => {
    // 1000 records (4,104,000 bytes) and 4 MiB in flight at 41.04 MB/s: 100 ms + 4,194,304 / 41.04e6 s.
    const queued = { remainingPages: 1000, bandwidthBytesPerSec: 41_040_000, latencyNs: 0, downtimeLimitNs: 150e6, queuedBytes: 4 * 2 ** 20 };
    expect(expectedDowntimeNs(queued)).toBeCloseTo(100e6 + (4 * 2 ** 20 / 41_040_000) * 1e9, 0);
    // Without the queue the pages alone fit a 150 ms limit; with it they do not.
    expect(qemuShouldSwitchover({ ...queued, queuedBytes: 0 })).toBe(true);
    expect(qemuShouldSwitchover(queued)).toBe(false);
  });
});

describe("QEMU: switch over when the expected downtime is within the limit", () => {
  /** 1000 pages at 1/8 s per 1000 records, 5 ms latency: 130,000,000 ns exactly. */
  const exact = { remainingPages: 1000, bandwidthBytesPerSec: 32_832_000, latencyNs: 5e6 };

  it("exactly at the limit: switch over (the rule is <=)", () => {
    expect(qemuShouldSwitchover({ ...exact, downtimeLimitNs: 130e6 })).toBe(true);
  });

  it("1 ns over the limit: go on, whether the limit or the latency moves by 1 ns", () => {
    expect(qemuShouldSwitchover({ ...exact, downtimeLimitNs: 130e6 - 1 })).toBe(false);
    expect(qemuShouldSwitchover({ ...exact, latencyNs: 5e6 + 1, downtimeLimitNs: 130e6 })).toBe(false);
  });

  it("1 ns under the limit: switch over", () => {
    expect(qemuShouldSwitchover({ ...exact, downtimeLimitNs: 130e6 + 1 })).toBe(true);
    expect(qemuShouldSwitchover({ ...exact, latencyNs: 5e6 - 1, downtimeLimitNs: 130e6 })).toBe(true);
  });

  it("one page more than fits: go on", () => {
    expect(qemuShouldSwitchover({ ...exact, remainingPages: 1001, downtimeLimitNs: 130e6 })).toBe(false);
    expect(qemuShouldSwitchover({ ...exact, remainingPages: 999, downtimeLimitNs: 130e6 })).toBe(true);
  });

  it("units: the default 300 ms limit, in ns, at 10 Gbit/s in bytes/s with 0.1 ms latency", () => {
    const link = { bandwidthBytesPerSec: TEN_GBIT, latencyNs: 100_000, downtimeLimitNs: MIGRATION_DEFAULTS.downtimeLimitNs };
    expect(MIGRATION_DEFAULTS.downtimeLimitNs).toBe(300e6);
    // 3.28 s pending: far over 300 ms (a rule computing ms, or bits, would say yes)
    expect(qemuShouldSwitchover({ ...link, remainingPages: 1e6 })).toBe(false);
    // 3.28 ms pending: far under (a rule comparing ns with a limit in ms would say no)
    expect(qemuShouldSwitchover({ ...link, remainingPages: 1000 })).toBe(true);
    // (300 ms - 0.1 ms) × 1.25e9 B/s / 4104 B = 91,344.8: 91,343 pages fit, 91,344 (374,875,776 bytes) do not
    expect(qemuShouldSwitchover({ ...link, remainingPages: 91_343 })).toBe(true);
    expect(qemuShouldSwitchover({ ...link, remainingPages: 91_344 })).toBe(false);
  });

  it("nothing pending switches over whenever the latency fits, and never when it alone exceeds the limit", () => {
    expect(qemuShouldSwitchover({ remainingPages: 0, bandwidthBytesPerSec: TEN_GBIT, latencyNs: 100_000, downtimeLimitNs: 100_000 })).toBe(true);
    expect(qemuShouldSwitchover({ remainingPages: 0, bandwidthBytesPerSec: TEN_GBIT, latencyNs: 100_000, downtimeLimitNs: 99_999 })).toBe(false);
  });
});

describe("Xen: stop after 30 rounds, after sending more than 3x the guest, or with fewer than 50 pages left", () => {
  /** Far from every limit. */
  const going: XenInput = { roundsDone: 5, pagesSentTotal: 2000, guestPages: 1000, remainingPages: 500 };

  it("far from every limit: go on", () => {
    expect(xenStopReason(going)).toBeNull();
  });

  it("rounds: 29 go on; 30 and 31 stop", () => {
    expect(xenStopReason({ ...going, roundsDone: 29 })).toBeNull();
    expect(xenStopReason({ ...going, roundsDone: 30 })).toMatch(/30 rounds/);
    expect(xenStopReason({ ...going, roundsDone: 31 })).toMatch(/30 rounds/);
  });

  it("volume: 3x the guest - 1 and exactly 3x go on; 3x + 1 page stops", () => {
    expect(xenStopReason({ ...going, pagesSentTotal: 2999 })).toBeNull();
    expect(xenStopReason({ ...going, pagesSentTotal: 3000 })).toBeNull();
    expect(xenStopReason({ ...going, pagesSentTotal: 3001 })).toMatch(/3x the guest \(3001 pages\)/);
  });

  it("pages left: 49 stops; 50 and 51 go on", () => {
    expect(xenStopReason({ ...going, remainingPages: 49 })).toMatch(/fewer than 50 pages left \(49\)/);
    expect(xenStopReason({ ...going, remainingPages: 50 })).toBeNull();
    expect(xenStopReason({ ...going, remainingPages: 51 })).toBeNull();
    expect(xenStopReason({ ...going, remainingPages: 0 })).toMatch(/\(0\)/);
  });
});

describe("SyncPeriod: QEMU's once-a-second dirty sync and auto-converge", () => {
  const DEFAULTS: ResolvedAutoConverge = MIGRATION_DEFAULTS.autoConverge;
  const SECOND = 1e9;
  /** Bytes sent per period in the throttle tests: the 50 % trigger is then 100 pages of 4096 bytes. */
  const SENT_PER_PERIOD = 819_200;

  it("a period ends only more than 1 s after the last: the dirty-page rate is measured over it", () => {
    const sync = new SyncPeriod(0, null);
    sync.onSync(SECOND / 2, 0, 100); // before the first full period: the rate so far, 100 pages in 0.5 s
    expect(sync.dirtyPagesRate).toBe(200);
    sync.onSync(SECOND, 0, 200); // exactly 1 s: not yet a period; 300 pages in 1 s so far
    expect(sync.dirtyPagesRate).toBe(300);
    sync.onSync(2 * SECOND, 0, 900); // 1200 pages over 2 s
    expect(sync.dirtyPagesRate).toBe(600);
    sync.onSync(2.5 * SECOND, 0, 0); // within the second period: the last full period's rate stands
    expect(sync.dirtyPagesRate).toBe(600);
    sync.onSync(3 * SECOND + 1, 0, 0); // the next period starts where that one ended, with nothing carried over
    expect(sync.dirtyPagesRate).toBe(0);
    sync.onSync(5 * SECOND + 1, 0, 500);
    expect(sync.dirtyPagesRate).toBe(250);
  });

  it("1 ns past the second ends the period", () => {
    const sync = new SyncPeriod(0, null);
    sync.onSync(SECOND + 1, 0, 1000);
    expect(sync.dirtyPagesRate).toBeCloseTo(1000 * SECOND / (SECOND + 1), 9);
    expect(sync.dirtyPagesRate).toBeGreaterThan(999);
  });

  it("without auto-converge the throttle stays 0 however fast the guest dirties", () => {
    const sync = new SyncPeriod(0, null);
    for (let p = 1; p <= 10; p++) sync.onSync(2 * p * SECOND, p * SENT_PER_PERIOD, 100_000);
    expect(sync.throttlePct).toBe(0);
  });

  /** Runs periods of 2 s each sending SENT_PER_PERIOD, dirtying `dirty[i]` pages in period i; returns the throttle after each. */
  function throttleSteps(ac: ResolvedAutoConverge, dirty: readonly number[], firstSentBytes = 0): number[] {
    const sync = new SyncPeriod(0, ac);
    let sent = firstSentBytes;
    return dirty.map((pages, i) => {
      sent += SENT_PER_PERIOD;
      sync.onSync(2 * (i + 1) * SECOND, sent, pages);
      return sync.throttlePct;
    });
  }

  it("dirtying exactly the trigger share (50 %) is not too fast; one page more is, on the second such period", () => {
    expect(throttleSteps(DEFAULTS, [100, 100, 100, 100])).toEqual([0, 0, 0, 0]);
    expect(throttleSteps(DEFAULTS, [101, 101])).toEqual([0, 20]);
  });

  it("steps 20, 30, ... 90, then 99 and no higher, every second high period", () => {
    const after = throttleSteps(DEFAULTS, Array(22).fill(10_000));
    expect(after.filter((_, i) => i % 2 === 1)).toEqual([20, 30, 40, 50, 60, 70, 80, 90, 99, 99, 99]);
    expect(after.filter((_, i) => i % 2 === 0)).toEqual([0, 20, 30, 40, 50, 60, 70, 80, 90, 99, 99]);
  });

  it("counts high periods, not consecutive ones (QEMU does not reset the count on a low period)", () => {
    expect(throttleSteps(DEFAULTS, [101, 0, 101])).toEqual([0, 0, 20]);
  });

  it("compares the period's bytes, not the totals: a large bulk period before does not hide a fast guest", () => {
    // the first period carries a terabyte (the bulk pass): not too fast; the next two are
    expect(throttleSteps(DEFAULTS, [101, 101, 101], 1e12)).toEqual([0, 0, 20]);
  });

  it("dirty pages found by syncs inside the period add up", () => {
    const sync = new SyncPeriod(0, DEFAULTS);
    for (const period of [1, 2]) {
      sync.onSync((2 * period - 1) * SECOND, (period - 1) * SENT_PER_PERIOD, 60); // inside the period
      sync.onSync(2 * period * SECOND, period * SENT_PER_PERIOD, 41); // ends it: 101 pages
    }
    expect(sync.throttlePct).toBe(20);
  });

  it("takes its steps from the options", () => {
    const ac: ResolvedAutoConverge = { triggerThresholdPct: 25, initialPct: 30, incrementPct: 25, maxPct: 80 };
    // 25 % of 819,200 bytes is 50 pages: 50 is not above, 51 is
    expect(throttleSteps(ac, [50, 50])).toEqual([0, 0]);
    expect(throttleSteps(ac, Array(8).fill(51))).toEqual([0, 30, 30, 55, 55, 80, 80, 80]);
  });
});

describe("SyncPeriod before its first full second", () => {
  it("a sync at the period's start measures nothing (no rate over 0 ns); the rate so far is over the time since the period began, not since 0", () => {
    const sync = new SyncPeriod(2e9, null);
    sync.onSync(2e9, 0, 5);
    expect(sync.dirtyPagesRate).toBe(0);
    // 5 + 45 pages in the 0.5 s since the start at 2 s.
    sync.onSync(2.5e9, 0, 45);
    expect(sync.dirtyPagesRate).toBe(100);
  });
});
