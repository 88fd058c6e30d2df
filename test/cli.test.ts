// The command line: values with units, bad values named with their option
// and the user's text, and a real `hypermem migrate --json` run whose JSON
// carries the statistics, the rounds, the poisoned pages and the verification.
import { execFileSync, spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { parseMigrateArgs } from "../src/cli/migrate.js";
import { parseDuration, parseRate, parseSize, spellDuration, spellSize } from "../src/cli/units.js";
import { CLI_ARGS } from "./docs/examples.js";

const CLI = CLI_ARGS;

describe("units", () => {
  it("reads sizes, rates and durations", () => {
    expect(parseSize("--guest", "1GiB")).toBe(2 ** 30);
    expect(parseSize("--guest", "64MiB")).toBe(64 * 2 ** 20);
    expect(parseSize("--write-size", "4096")).toBe(4096);
    expect(parseSize("--guest", "1.5GB")).toBe(1.5e9);
    expect(parseSize("--guest", "-1GiB")).toBe(-(2 ** 30));
    expect(parseRate("--bandwidth", "10Gbit")).toBe(1.25e9);
    expect(parseRate("--bandwidth", "1GiB/s")).toBe(2 ** 30);
    expect(parseRate("--bandwidth", "100MB/s")).toBe(1e8);
    expect(parseDuration("--latency", "100us")).toBe(1e5);
    expect(parseDuration("--downtime-limit", "1.5s")).toBe(1.5e9);
  });

  it("refuses unreadable text with ERR_BAD_OPTION naming the flag and the text", () => {
    for (const [parse, flag, text] of [[parseSize, "--guest", "1 gigabyte"], [parseRate, "--bandwidth", "very fast"], [parseDuration, "--latency", "1 fortnight"]] as const) {
      let err: unknown;
      try {
        parse(flag, text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HypermemError);
      expect((err as HypermemError).code).toBe(ErrorCode.BadOption);
      expect((err as HypermemError).message.startsWith(`${flag} ${JSON.stringify(text)}: not a `)).toBe(true);
      expect((err as HypermemError).details).toMatchObject({ option: flag, value: text });
    }
    // One printable word is shown bare.
    expect(() => parseRate("--bandwidth", "fast")).toThrow(/^--bandwidth fast: not a rate/);
  });

  it("spells sizes and durations back so that they read as the same value", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 4096 }), (shift, k) => {
      const bytes = k * 2 ** shift;
      expect(parseSize("--x", spellSize(bytes))).toBe(bytes);
    }));
    expect(spellSize(2 ** 32)).toBe("4GiB");
    expect(spellSize(3840 * 2 ** 20)).toBe("3.75GiB");
    expect(spellSize(64)).toBe("64");
    for (const ns of [1, 100e3, 300e6, 1.5e9, 3600e9]) expect(parseDuration("--x", spellDuration(ns))).toBe(ns);
  });

  it.each([
    [["--bandwidth", "10Gbits"], /^--bandwidth 10Gbits: not a rate/],
    [["--bandwidth=-1Gbit"], /^--bandwidth -1Gbit: must be more than 0$/],
    [["--guest", "6KiB"], /^--guest 6KiB: not a whole number of 4 KiB pages \(4KiB or 8KiB would be\)$/],
    [["--guest", "1.5KiB"], /^--guest 1.5KiB: at least 4KiB$/],
    [["--downtime-limit", "soon"], /^--downtime-limit soon: not a duration/],
    [["--policy", "kvm"], /^--policy kvm: must be one of qemu, xen$/],
    [["--prefill", "2"], /^--prefill 2: must be a fraction from 0 to 1/],
    [["--workload", "zipf:"], /^--workload zipf:: exponent "" is not a number > 0/],
    [["--workload", "zipf"], /^--workload zipf: zipf needs an exponent/],
    [["--xbzrle-cache", "3MiB"], /^--xbzrle-cache 3MiB: must be a power-of-two number of 4 KiB pages.*such as 2MiB or 4MiB$/],
  ])("%j is refused when parsed, naming the option and the value", async (args, message) => {
    const err = await parseMigrateArgs(args).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HypermemError);
    expect((err as HypermemError).code).toBe(ErrorCode.BadOption);
    expect((err as HypermemError).message).toMatch(message);
  });

  it("an unknown flag is a usage error with status 2", () => {
    const r = spawnSync("node", [...CLI, "migrate", "--bandwith", "1Gbit"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hypermem migrate: unknown option --bandwith \(did you mean --bandwidth\?\)/);
  });
});

describe("hypermem migrate --json", () => {
  it("prints one JSON object: statistics, rounds, poisoned pages, verification", () => {
    const out = execFileSync("node", [...CLI, "migrate", "--guest", "16MiB", "--workload", "zipf:1.2", "--rate", "200000",
      "--bandwidth", "1Gbit", "--inject-errors", "2", "--latent-errors", "1", "--xbzrle", "--xbzrle-cache", "4MiB", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const r = JSON.parse(out);
    expect(r.status).toBe("completed");
    expect(r.ram.total).toBe(16 * 2 ** 20);
    expect(r.rounds.length).toBe(r.ram.dirtySyncCount);
    expect(r.poisonedPagesSent).toBe(3);
    expect(r.verification).toMatchObject({ ok: true, poisonedPages: 3 });
    expect(r.xbzrleCache.cacheSize).toBe(4 * 2 ** 20);
  });
});
