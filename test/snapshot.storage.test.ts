// The storage model of snapshot files: one 4 KiB read costs exactly one
// random read at queue depth 1, a longer request its latency plus the bytes
// at the sequential rate, a fault the handler's round trip on top; the gap
// a request reads through is where reading costs less than a new request;
// models of the caller's are checked and frozen.
import { describe, expect, it } from "vitest";
import { faultNs, readNs, resolveStorage, STORAGE_PRESETS, writeNs } from "../src/index.js";
import { readThroughSlots } from "../src/snapshot/page-loader.js";
import { readLatencyNs } from "../src/snapshot/storage.js";
import { thrownCode } from "./helpers.js";

const { nvme, "sata-ssd": sata } = STORAGE_PRESETS;

describe("the storage model", () => {
  it("the presets are the data sheets' figures", () => {
    expect(nvme).toEqual({ name: "nvme", seqReadBytesPerSec: 7e9, seqWriteBytesPerSec: 5e9, randomReadIops: 22_000, faultOverheadNs: 5_600 });
    expect(sata).toEqual({ name: "sata-ssd", seqReadBytesPerSec: 560e6, seqWriteBytesPerSec: 530e6, randomReadIops: 13_000, faultOverheadNs: 5_600 });
  });

  it("a 4 KiB read costs one QD1 random read; n bytes cost the latency plus n at the sequential rate; writes stream", () => {
    expect(readNs(nvme, 4096)).toBeCloseTo(1e9 / 22_000, 9);
    expect(readNs(sata, 4096)).toBeCloseTo(1e9 / 13_000, 9);
    expect(readNs(nvme, 4 << 20)).toBeCloseTo(1e9 / 22_000 + ((4 << 20) - 4096) / 7e9 * 1e9, 6);
    expect(readNs(nvme, 0)).toBe(0);
    expect(writeNs(sata, 530e6)).toBeCloseTo(1e9, 6);
    expect(faultNs(nvme)).toBeCloseTo(5_600 + 1e9 / 22_000, 9);
  });

  it("a request reads through a gap while reading it costs less than a new request's latency", () => {
    const gap = readThroughSlots(nvme);
    expect(gap * 4096 / 7e9 * 1e9).toBeLessThanOrEqual(readLatencyNs(nvme));
    expect((gap + 1) * 4096 / 7e9 * 1e9).toBeGreaterThan(readLatencyNs(nvme));
    expect([readThroughSlots(nvme), readThroughSlots(sata)]).toEqual([76, 9]);
  });

  it("a model of the caller's is checked and frozen; a preset by name", () => {
    const model = { name: "hdd", seqReadBytesPerSec: 200e6, seqWriteBytesPerSec: 180e6, randomReadIops: 150, faultOverheadNs: 0 };
    const resolved = resolveStorage(model);
    expect(resolved).toEqual(model);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(resolveStorage("sata-ssd")).toBe(sata);
    expect(resolveStorage(undefined)).toBe(nvme);
    expect(thrownCode(() => resolveStorage("floppy" as never))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => resolveStorage({ ...model, rpm: 7200 } as never))).toBe("ERR_UNKNOWN_OPTION");
    expect(thrownCode(() => resolveStorage({ ...model, seqReadBytesPerSec: -1 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => resolveStorage({ ...model, name: "" }))).toBe("ERR_BAD_OPTION");
    // More 4 KiB reads per second than the sequential rate carries cannot be.
    expect(thrownCode(() => resolveStorage({ ...model, randomReadIops: 200e6 / 4096 + 1 }))).toBe("ERR_BAD_OPTION");
  });
});
