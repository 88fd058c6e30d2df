// Help is generated from the registry: `hypermem help` lists every command and
// every option with its default; `hypermem help COMMAND` and `hypermem
// COMMAND --help` print the same help. Today's commands keep every option and
// default with the same meaning (the values they resolve to are the ones the
// hand-written parser gave).
import { describe, expect, it } from "vitest";
import { runCliCaptured as run } from "./cli-capture.js";
import { COMMANDS } from "../src/cli/commands.js";
import { commandHelp } from "../src/cli/help-text.js";
import { parseMigrateArgs } from "../src/cli/migrate.js";
import { flagUsage } from "../src/cli/registry.js";


/** Today's flags and defaults, as the hand-written usage text listed them. */
const TODAY: Record<string, Record<string, string | null>> = {
  "demo": {},
  "demo host": { guest: "1GiB", rate: "2000000", zipf: "1.1", seed: "1" },
  "migrate": {
    "guest": "1GiB", "host-memory": null, "prefill": "1", "workload": "hotcold:0.1,0.9", "rate": null, "write-fraction": "0.3",
    "write-size": "64", "bandwidth": "10Gbit", "latency": "100us", "downtime-limit": "300ms", "max-bandwidth": null, "policy": "qemu",
    "xbzrle": null, "xbzrle-cache": "64MiB", "auto-converge": null, "inject-errors": "0", "latent-errors": "0", "max-rounds": null,
    "max-time": null, "seed": "1", "json": null, "to": null, "token-file": null, "idle-timeout": "10s",
  },
  "listen": { "port": null, "host": "127.0.0.1", "token-file": null, "host-memory": "4GiB", "idle-timeout": "10s", "json": null },
};

describe("hypermem help", () => {
  it("lists every command, and every option of every command with its placeholder and default", async () => {
    const r = await run(["help"]);
    expect(r.status).toBe(0);
    for (const c of COMMANDS) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${c.name} +${c.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"));
      expect(r.stdout).toContain(commandHelp(c));
      for (const [name, o] of Object.entries(c.options)) {
        const line = r.stdout.split("\n").find((l) => l.startsWith(`  ${flagUsage(name, o)} `) || l === `  ${flagUsage(name, o)}`);
        expect(line, `${c.name} --${name}`).toBeDefined();
      }
    }
  });

  it("keeps today's commands, their flags and their defaults", () => {
    for (const [name, flags] of Object.entries(TODAY)) {
      const c = COMMANDS.find((x) => x.name === name)!;
      expect(c).toBeDefined();
      for (const [flag, def] of Object.entries(flags)) {
        expect(c.options[flag], `${name} --${flag}`).toBeDefined();
        expect(c.options[flag].default).toBe(def);
        if (def !== null) expect(commandHelp(c).replace(/\s+/g, " ")).toContain(`default ${def})`);
      }
    }
  });

  it("the defaults resolve to what the hand-written parser gave the library", async () => {
    const plan = await parseMigrateArgs([]);
    expect(plan.migration).toEqual({
      bandwidthBytesPerSec: 1.25e9, latencyNs: 100_000, downtimeLimitNs: 300e6, maxBandwidthBytesPerSec: null, policy: "qemu",
      xbzrleCacheBytes: false, autoConverge: false, maxRounds: null, maxTotalTimeNs: null,
    });
    expect(plan.scenario).toEqual({
      guestMiB: 1024, hostMiB: 1024 + 256, prefill: 1, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 },
      ratePerSec: undefined, writeFraction: 0.3, writeBytes: 64, seed: 1, injectErrors: 0, latentErrors: 0,
    });
    expect(plan.to).toBeNull();
    expect(plan.json).toBe(false);
    expect((await parseMigrateArgs(["--xbzrle"])).migration.xbzrleCacheBytes).toBe(64 * 2 ** 20);
    expect((await parseMigrateArgs(["--xbzrle-cache", "8MiB"])).migration.xbzrleCacheBytes).toBe(8 * 2 ** 20);
  });

  it("help COMMAND, COMMAND --help and COMMAND -h print the command's help", async () => {
    for (const c of COMMANDS) {
      const expected = `${commandHelp(c)}\n`;
      expect((await run(["help", ...c.words])).stdout).toBe(expected);
      expect((await run([...c.words, "--help"])).stdout).toBe(expected);
      expect((await run([...c.words, "--guest", "0", "-h"])).stdout).toBe(expected);
    }
    expect((await run(["--help", "migrate"])).stdout).toBe(`${commandHelp(COMMANDS.find((c) => c.name === "migrate")!)}\n`);
    // No one command, but help asked for: the command list.
    const family = await run(["trace", "--help"]);
    expect(family.status).toBe(0);
    expect(family.stdout).toMatch(/^usage: hypermem COMMAND \[options\]\n/);
    expect(family.stdout).toMatch(/^ {2}trace record +/m);
  });

  it("without a command: the list on stderr and exit status 2", async () => {
    const r = await run([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^usage: hypermem COMMAND \[options\]\n/);
    for (const c of COMMANDS) expect(r.stderr).toContain(`  ${c.name} `);
  });
});
