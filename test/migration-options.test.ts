// resolveMigrationOptions (src/migration/options.ts): the defaults resolve to
// QEMU's and Xen's reference values in one frozen object; every numeric
// option is accepted at both ends of its range and refused just outside it
// (ERR_BAD_OPTION naming the option and the value); the XBZRLE cache size must
// be a power-of-two number of pages up to 4 GiB; auto-converge takes
// defaults, partial settings and refuses an initial step above its ceiling.
import { describe, expect, it } from "vitest";
import { thrownError as thrown } from "./helpers.js";
import { Timeline } from "../src/index.js";
import { MIGRATION_DEFAULTS, resolveMigrationOptions, type MigrationOptions } from "../src/migration/options.js";

const badNumber = (option: string, value: unknown, min: number, max: number): unknown => ({
  code: "ERR_BAD_OPTION", message: `${option} must be a number in [${min}, ${max}], got ${String(value)}`, details: { option, value },
});
const badInt = (option: string, value: unknown, min: number, max: number): unknown => ({
  code: "ERR_BAD_OPTION", message: `${option} must be an integer in [${min}, ${max}], got ${String(value)}`, details: { option, value },
});

describe("resolveMigrationOptions: defaults", () => {
  it("no options: QEMU's defaults, no limits, verification on, frozen", () => {
    const o = resolveMigrationOptions();
    expect(o).toEqual({
      link: { bandwidthBytesPerSec: 1.25e9, latencyNs: 100_000, maxBandwidthBytesPerSec: null },
      policy: "qemu",
      downtimeLimitNs: 300e6,
      autoConverge: null,
      zeroPageDetection: true,
      xbzrleCacheBytes: null,
      xbzrleEncodeNsPerPage: 1800,
      maxRounds: null,
      maxTotalTimeNs: null,
      workload: null,
      verify: true,
      onProgress: null,
      timeline: null,
      signal: null,
    });
    expect([Object.isFrozen(o), Object.isFrozen(o.link)]).toEqual([true, true]);
    expect(resolveMigrationOptions({ maxRounds: null, maxTotalTimeNs: undefined, xbzrleCacheBytes: false, autoConverge: false })).toEqual(o);
  });

  it("given values are kept as given", () => {
    const timeline = new Timeline();
    const signal = new AbortController().signal;
    const onProgress = (): void => {};
    const o = resolveMigrationOptions({
      bandwidthBytesPerSec: 1e8, latencyNs: 0, maxBandwidthBytesPerSec: 5e7, policy: "xen", downtimeLimitNs: 1e6,
      zeroPageDetection: false, xbzrleCacheBytes: 8192, xbzrleEncodeNsPerPage: 0, maxRounds: 7, maxTotalTimeNs: 2e9,
      verify: false, onProgress, timeline, signal,
    });
    expect(o.link).toEqual({ bandwidthBytesPerSec: 1e8, latencyNs: 0, maxBandwidthBytesPerSec: 5e7 });
    expect([o.policy, o.downtimeLimitNs, o.zeroPageDetection, o.xbzrleCacheBytes, o.xbzrleEncodeNsPerPage, o.maxRounds, o.maxTotalTimeNs, o.verify])
      .toEqual(["xen", 1e6, false, 8192, 0, 7, 2e9, false]);
    expect([o.onProgress === onProgress, o.timeline === timeline, o.signal === signal]).toEqual([true, true, true]);
  });
});

describe("resolveMigrationOptions: ranges", () => {
  const cases: Array<[keyof MigrationOptions, number, number, "number" | "int"]> = [
    ["bandwidthBytesPerSec", 1, 1e15, "number"],
    ["latencyNs", 0, 60e9, "number"],
    ["maxBandwidthBytesPerSec", 1, 1e15, "number"],
    ["downtimeLimitNs", 1, 3600e9, "number"],
    ["xbzrleEncodeNsPerPage", 0, 1e9, "number"],
    ["maxRounds", 1, 1e6, "int"],
    ["maxTotalTimeNs", 1, Number.MAX_SAFE_INTEGER, "number"],
  ];

  it.each(cases)("%s: accepted at %s and at %s, refused just outside, and when not a finite number", (option, min, max, kind) => {
    const read = (o: ReturnType<typeof resolveMigrationOptions>): unknown =>
      option in o.link ? o.link[option as keyof typeof o.link] : o[option as keyof typeof o];
    expect(read(resolveMigrationOptions({ [option]: min }))).toBe(min);
    expect(read(resolveMigrationOptions({ [option]: max }))).toBe(max);
    const bad = kind === "int" ? badInt : badNumber;
    const below = min - (min >= 1 ? 0.5 : 1);
    const above = max === Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : max * 1.5;
    for (const value of [below, above, Number.NaN, "5"]) {
      expect(thrown(() => resolveMigrationOptions({ [option]: value }))).toEqual(bad(option, value, min, max));
    }
  });

  it("maxRounds must be a whole number", () => {
    expect(thrown(() => resolveMigrationOptions({ maxRounds: 2.5 }))).toEqual(badInt("maxRounds", 2.5, 1, 1e6));
  });

  it.each([4096, 8192, 2 ** 20 * 4096, MIGRATION_DEFAULTS.xbzrleCacheBytes])("xbzrleCacheBytes %s (a power-of-two number of pages) is accepted", (bytes) => {
    expect(resolveMigrationOptions({ xbzrleCacheBytes: bytes }).xbzrleCacheBytes).toBe(bytes);
  });

  it.each([0, 2048, 3 * 4096, 4096 + 1, 2 ** 21 * 4096, -4096])("xbzrleCacheBytes %s is refused naming it", (bytes) => {
    expect(thrown(() => resolveMigrationOptions({ xbzrleCacheBytes: bytes }))).toEqual({
      code: "ERR_BAD_OPTION",
      message: `xbzrleCacheBytes must be a power-of-two number of 4 KiB pages (up to 4 GiB), got ${bytes}`,
      details: { option: "xbzrleCacheBytes", value: bytes },
    });
  });
});

describe("resolveMigrationOptions: refused shapes", () => {
  it("options that are not an object, unknown keys, a bad policy, a timeline that is not one", () => {
    expect(thrown(() => resolveMigrationOptions(null as unknown as MigrationOptions))).toEqual({
      code: "ERR_BAD_OPTION", message: "migrate: options must be an object, got null", details: { option: "options" },
    });
    expect(thrown(() => resolveMigrationOptions(5 as unknown as MigrationOptions))).toMatchObject({ code: "ERR_BAD_OPTION", details: { option: "options" } });
    expect(thrown(() => resolveMigrationOptions({ downtimeLimitMs: 300 } as MigrationOptions))).toMatchObject({
      code: "ERR_UNKNOWN_OPTION", message: expect.stringMatching(/^migrate: unknown option "downtimeLimitMs" \(known: bandwidthBytesPerSec, /), details: { option: "downtimeLimitMs" },
    });
    expect(thrown(() => resolveMigrationOptions({ policy: "kvm" as "xen" }))).toEqual({
      code: "ERR_BAD_OPTION", message: 'policy must be "qemu" or "xen", got "kvm"', details: { option: "policy", value: "kvm" },
    });
    expect(thrown(() => resolveMigrationOptions({ timeline: { nowNs: 0 } as unknown as Timeline }))).toEqual({
      code: "ERR_BAD_OPTION", message: "timeline must be a Timeline (src/sim/timeline.ts)", details: { option: "timeline" },
    });
  });
});

describe("resolveMigrationOptions: auto-converge", () => {
  it("true and {} give QEMU's steps (50 % trigger, 20 % then +10 %, up to 99 %); partial settings keep the other defaults", () => {
    const qemu = { triggerThresholdPct: 50, initialPct: 20, incrementPct: 10, maxPct: 99 };
    expect(resolveMigrationOptions({ autoConverge: true }).autoConverge).toEqual(qemu);
    const empty = resolveMigrationOptions({ autoConverge: {} }).autoConverge;
    expect(empty).toEqual(qemu);
    expect(Object.isFrozen(empty)).toBe(true);
    expect(resolveMigrationOptions({ autoConverge: { initialPct: 5, maxPct: 40 } }).autoConverge).toEqual({ ...qemu, initialPct: 5, maxPct: 40 });
    expect(resolveMigrationOptions({ autoConverge: { triggerThresholdPct: 12.5, incrementPct: 1 } }).autoConverge).toEqual({ ...qemu, triggerThresholdPct: 12.5, incrementPct: 1 });
  });

  it("each step is range-checked by its dotted name; an initial step equal to the ceiling is allowed, above it is refused", () => {
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { triggerThresholdPct: 100.5 } }))).toEqual(badNumber("autoConverge.triggerThresholdPct", 100.5, 1, 100));
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { triggerThresholdPct: 0.5 } }))).toEqual(badNumber("autoConverge.triggerThresholdPct", 0.5, 1, 100));
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { initialPct: 0 } }))).toEqual(badInt("autoConverge.initialPct", 0, 1, 99));
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { incrementPct: 100 } }))).toEqual(badInt("autoConverge.incrementPct", 100, 1, 99));
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { maxPct: 99.5 } }))).toEqual(badInt("autoConverge.maxPct", 99.5, 1, 99));
    expect(resolveMigrationOptions({ autoConverge: { initialPct: 30, maxPct: 30 } }).autoConverge?.maxPct).toBe(30);
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { initialPct: 31, maxPct: 30 } }))).toEqual({
      code: "ERR_BAD_OPTION", message: "autoConverge.initialPct 31 exceeds maxPct 30", details: { initialPct: 31 },
    });
    expect(thrown(() => resolveMigrationOptions({ autoConverge: { maxPercent: 50 } as never }))).toMatchObject({
      code: "ERR_UNKNOWN_OPTION", message: expect.stringMatching(/^autoConverge: unknown option "maxPercent"/), details: { option: "maxPercent" },
    });
  });
});
