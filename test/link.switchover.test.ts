// The bandwidth a measured link's switchover decision uses: the slowest of
// the last five windows of at least 100 ms, so that a decision checked
// after every chunk does not fire on one lucky window (issue 10: the TCP
// downtime exceeded its limit when the last window alone was trusted).
import { describe, expect, it } from "vitest";
import { MEASURE_WINDOW_NS, MeasuredLink, SWITCHOVER_WINDOWS } from "../src/sim/link.js";
import type { WallClock } from "../src/sim/wall-clock.js";

/** A wall clock whose time the test sets. */
function fakeClock(): { clock: WallClock; set(ns: number): void } {
  let now = 0;
  const clock = { get nowNs() { return now; }, settle() {}, async sleep(ns: number) { now += ns; } } as unknown as WallClock;
  return { clock, set: (ns) => { now = ns; } };
}

/** Sends `bytesPerWindow` in each 100 ms window, one window per entry. */
async function windows(link: MeasuredLink, t: { set(ns: number): void }, startNs: number, rates: number[]): Promise<number> {
  let now = startNs;
  for (const rate of rates) {
    now += MEASURE_WINDOW_NS;
    t.set(now);
    await link.transmit(rate * (MEASURE_WINDOW_NS / 1e9));
  }
  return now;
}

describe("MeasuredLink switchover bandwidth", () => {
  it("is the rate so far before the first window closes, 0 before anything was sent", async () => {
    const t = fakeClock();
    const link = new MeasuredLink(t.clock, null);
    expect(link.bandwidthBytesPerSec).toBe(0);
    t.set(50e6);
    await link.transmit(5e6);
    expect(link.bandwidthBytesPerSec).toBe(100e6); // 5 MB in 50 ms, no window closed yet
  });

  it("is the slowest of the last five windows: a fast window does not raise it, a slow one leaves after five more", async () => {
    expect(SWITCHOVER_WINDOWS).toBe(5);
    const t = fakeClock();
    const link = new MeasuredLink(t.clock, null);
    let now = await windows(link, t, 0, [100e6, 50e6, 80e6, 90e6, 120e6]);
    expect(link.bandwidthBytesPerSec).toBe(50e6);
    now = await windows(link, t, now, [200e6]);
    expect(link.bandwidthBytesPerSec).toBe(50e6); // the 50 MB/s window is still one of the last five
    now = await windows(link, t, now, [150e6]);
    expect(link.bandwidthBytesPerSec).toBe(80e6); // it left
    await windows(link, t, now, [300e6, 300e6, 300e6]);
    expect(link.bandwidthBytesPerSec).toBe(150e6);
    expect(link.endPeriod()).toBe(150e6);
  });

  it("closes a window only once it is 100 ms long", async () => {
    const t = fakeClock();
    const link = new MeasuredLink(t.clock, null);
    await windows(link, t, 0, [40e6]);
    t.set(MEASURE_WINDOW_NS + 99e6);
    await link.transmit(100e6); // 100 MB in 99 ms: the window stays open, the estimate unchanged
    expect(link.bandwidthBytesPerSec).toBe(40e6);
    t.set(2 * MEASURE_WINDOW_NS);
    await link.transmit(0);
    expect(link.bandwidthBytesPerSec).toBe(40e6); // the closed window ran at 1 GB/s: the slower one stays
  });
});
