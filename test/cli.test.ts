// The command line: values with units, bad values named with their option,
// and a real `hypermem migrate --json` run whose JSON carries the statistics,
// the rounds, the poisoned pages and the verification.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseMigrateArgs } from "../src/cli/migrate.js";
import { parseDuration, parseRate, parseSize } from "../src/cli/units.js";

const CLI = ["--import", "tsx", "src/cli/main.ts"];

describe("units", () => {
  it("reads sizes, rates and durations", () => {
    expect(parseSize("--guest", "1GiB")).toBe(2 ** 30);
    expect(parseSize("--guest", "64MiB")).toBe(64 * 2 ** 20);
    expect(parseSize("--write-size", "4096")).toBe(4096);
    expect(parseRate("--bandwidth", "10Gbit")).toBe(1.25e9);
    expect(parseRate("--bandwidth", "1GiB/s")).toBe(2 ** 30);
    expect(parseRate("--bandwidth", "100MB/s")).toBe(1e8);
    expect(parseDuration("--latency", "100us")).toBe(1e5);
    expect(parseDuration("--downtime-limit", "1.5s")).toBe(1.5e9);
  });

  it.each([
    [["--bandwidth", "10Gbits"], /--bandwidth.*"10Gbits"/],
    [["--bandwidth=-1Gbit"], /--bandwidth.*"-1Gbit"/],
    [["--guest", "1.5KiB"], /--guest/],
    [["--downtime-limit", "soon"], /--downtime-limit.*"soon"/],
    [["--policy", "kvm"], /--policy.*"kvm"/],
    [["--prefill", "2"], /--prefill.*"2"/],
    [["--workload", "zipf:"], /zipf/],
    [["--xbzrle-cache", "3MiB"], /xbzrleCacheBytes.*3145728/],
  ])("%j is refused, naming the option and the value", (args, message) => {
    const parse = (): unknown => {
      const cmd = parseMigrateArgs(args as string[]);
      if (cmd.migration.xbzrleCacheBytes) return import("../src/migration/options.js").then((m) => m.resolveMigrationOptions(cmd.migration));
      return cmd;
    };
    try {
      const r = parse();
      if (r instanceof Promise) return expect(r).rejects.toThrow(message);
      throw new Error("accepted");
    } catch (err) {
      expect((err as Error).message).toMatch(message);
    }
  });

  it("an unknown flag is a usage error with status 2", () => {
    const r = spawnSync("node", [...CLI, "migrate", "--bandwith", "1Gbit"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bandwith/);
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
