// The command registry on a toy command: how arguments become values (negative
// numbers, --flag=value, defaults through the same parse), what is refused and
// how (ERR_USAGE for the shape of the command line, ERR_BAD_OPTION naming the
// flag and the text), the rules between flags, and the generated help.
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { commandHelp, usageLine } from "../src/cli/help-text.js";
import { choice, duration, flag, integer, size, words } from "../src/cli/option-kinds.js";
import { defineCommand } from "../src/cli/registry.js";

const toy = defineCommand({
  name: ["toy", "run"],
  summary: "a toy",
  options: {
    count: integer({ help: "how many", min: 1, max: 10, required: true }),
    offset: integer({ help: "where", min: -100, max: 100, default: "-3" }),
    memory: size({ help: "how big", default: "1MiB", minBytes: 4096, maxBytes: 2 ** 30, maxWhy: "(one toy)", multipleOf: "page" }),
    wait: duration({ help: "how long", minNs: 1 }),
    mode: choice({ help: "how", default: "fast", choices: ["fast", "slow"] }),
    loud: flag({ help: "shout" }),
    remote: flag({ help: "far away" }),
    local: flag({ help: "near" }),
    key: integer({ help: "secret", min: 0, max: 9 }),
  },
  positionals: { rest: words({ help: "the rest", placeholder: "WORDS" }) },
  rules: { notWith: [["local", "remote", "a toy is in one place"]], needs: [["key", "remote", "only a remote toy is locked"]] },
  examples: ["hypermem toy run --count 2"],
  run: () => 0,
});

async function parse(args: string[]): Promise<Record<string, unknown>> {
  return (await toy.prepare(args)) as Record<string, unknown>;
}

async function refusal(args: string[]): Promise<HypermemError> {
  const err = await toy.prepare(args).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

describe("defineCommand: values", () => {
  it("parses flags, --flag=value and negative numbers; defaults go through the same parse", async () => {
    expect(await parse(["--count", "2"])).toEqual({ count: 2, offset: -3, memory: 2 ** 20, mode: "fast", loud: false, remote: false, local: false });
    expect(await parse(["--count=3", "--offset", "-7", "--memory", "8KiB", "--wait", "2ms", "--loud", "--mode=slow", "a", "b"]))
      .toEqual({ count: 3, offset: -7, memory: 8192, wait: 2e6, mode: "slow", loud: true, remote: false, local: false, rest: "a b" });
    expect(await parse(["--offset=-100", "--count", "10"])).toMatchObject({ offset: -100, count: 10 });
    expect(await parse(["--count", "1", "--", "--not-a-flag"])).toMatchObject({ rest: "--not-a-flag" });
  });

  it("a negative number reaches its option's own check, not Node's 'ambiguous'", async () => {
    for (const args of [["--count", "-5"], ["--count=-5"]]) {
      const err = await refusal(args);
      expect(err.code).toBe(ErrorCode.BadOption);
      expect(err.message).toBe("--count -5: must be an integer from 1 to 10");
      expect(err.details).toMatchObject({ option: "--count", value: "-5" });
    }
  });

  it.each([
    [["--count", "2", "--memory", "2GiB"], "--memory 2GiB: at most 1GiB (one toy)"],
    [["--count", "2", "--memory", "6KiB"], "--memory 6KiB: not a whole number of 4 KiB pages (4KiB or 8KiB would be)"],
    [["--count", "2", "--memory", "0"], "--memory 0: at least 4KiB"],
    [["--count", "2", "--wait", "0s"], "--wait 0s: at least 1ns"],
    [["--count", "2", "--mode", "medium"], "--mode medium: must be one of fast, slow"],
    [["--count", "2.5"], "--count 2.5: must be an integer from 1 to 10"],
    [["--count", "two"], "--count two: not a number"],
    [["--count", ""], "--count \"\": not a number"],
  ])("%j → ERR_BAD_OPTION %j", async (args, message) => {
    const err = await refusal(args);
    expect(err.code).toBe(ErrorCode.BadOption);
    expect(err.message).toBe(message);
  });
});

describe("defineCommand: the shape of the command line (ERR_USAGE)", () => {
  it.each([
    [["--count", "2", "--cuont", "3"], "unknown option --cuont (did you mean --count?)"],
    [["--count", "2", "-x"], "unknown option -x"],
    [["--count"], "--count needs a value (--count N)"],
    [["--count", "--loud"], "--count needs a value (--count N)"],
    [["--count", "2", "--loud=yes"], "--loud takes no value (got \"yes\")"],
    [["--count", "2", "--count", "3"], "--count is given twice"],
    [[], "missing --count N (required)"],
  ])("%j → %j", async (args, message) => {
    const err = await refusal(args);
    expect(err.code).toBe(ErrorCode.Usage);
    expect(err.message).toBe(message);
  });

  it("checks the rules between flags before any value", async () => {
    const both = await refusal(["--count", "2", "--local", "--remote"]);
    expect(both.message).toBe("--local: not with --remote (a toy is in one place)");
    const lonely = await refusal(["--count", "2", "--key", "99"]);
    expect(lonely.message).toBe("--key 99: needs --remote (only a remote toy is locked)");
    expect(await parse(["--count", "2", "--key", "9", "--remote"])).toMatchObject({ key: 9, remote: true });
  });

  it("refuses unknown keys in definitions", () => {
    expect(() => defineCommand({ name: "x", summary: "x", options: {}, run: () => 0, helpText: "no" } as never)).toThrow(/unknown option "helpText"/);
    expect(() => integer({ help: "x", min: 0, max: 1, maximum: 2 } as never)).toThrow(/unknown option "maximum"/);
  });
});

describe("generated help", () => {
  it("has the usage line, every option with its placeholder, rule, rules between flags and default, and the examples", () => {
    expect(usageLine(toy)).toBe("hypermem toy run --count N [WORDS...] [options]");
    const help = commandHelp(toy);
    expect(help).toMatch(/^ {2}--count N +how many; 1\.\.10 \(required\)$/m);
    expect(help).toMatch(/^ {2}--offset N +where; -100\.\.100 \(default -3\)$/m);
    expect(help).toMatch(/^ {2}--memory SIZE +how big; 4KiB\.\.1GiB, whole 4 KiB pages \(default 1MiB\)$/m);
    expect(help).toMatch(/^ {2}--mode fast\|slow +how \(default fast\)$/m);
    expect(help).toMatch(/^ {2}--local +near \(not with --remote\)$/m);
    expect(help).toMatch(/^ {2}--key N +secret; 0\.\.9 \(needs --remote\)$/m);
    expect(help).toMatch(/^ {2}WORDS +the rest$/m);
    expect(help).toMatch(/^ {2}hypermem toy run --count 2$/m);
  });
});
