// A repeatable flag of the command registry (option-kinds.ts repeated(), used
// by `hypermem overcommit --vm`): every use is parsed and kept in order, its
// default is one use, a bad use is refused naming the flag and its text, and
// a flag that is not repeatable is still refused when given twice.
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { commandHelp } from "../src/cli/help-text.js";
import { integer, repeated, size } from "../src/cli/option-kinds.js";
import { defineCommand } from "../src/cli/registry.js";

const toy = defineCommand({
  name: ["toy", "many"],
  summary: "a toy with a repeatable flag",
  options: {
    disk: repeated(size({ help: "a disk", minBytes: 4096, multipleOf: "page", default: "4KiB" })),
    count: integer({ help: "how many", min: 1, max: 10, default: "1" }),
  },
  run: () => 0,
});

async function refusal(args: string[]): Promise<HypermemError> {
  const err = await toy.prepare(args).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(HypermemError);
  return err as HypermemError;
}

describe("a repeatable flag", () => {
  it("keeps every use, in order, and one use from its default", async () => {
    expect(await toy.prepare(["--disk", "8KiB", "--count", "2", "--disk=1MiB", "--disk", "4KiB"])).toEqual({ disk: [8192, 1 << 20, 4096], count: 2 });
    expect(await toy.prepare([])).toEqual({ disk: [4096], count: 1 });
  });

  it("refuses a bad use naming the flag and that use's text", async () => {
    const err = await refusal(["--disk", "8KiB", "--disk", "5000"]);
    expect(err.code).toBe(ErrorCode.BadOption);
    expect(err.message).toMatch(/^--disk 5000: /);
  });

  it("leaves the other flags single: given twice is a usage error", async () => {
    const err = await refusal(["--count", "1", "--count", "2"]);
    expect([err.code, err.message]).toEqual([ErrorCode.Usage, "--count is given twice"]);
  });

  it("says in help that it may be given more than once", () => {
    expect(commandHelp(toy)).toMatch(/--disk SIZE +a disk;.*may be given more than once/);
  });
});
