// No command-line input produces a stack trace. Every command runs with bad
// inputs (missing, folder, unreadable and empty files, absurd numbers, unknown
// flags, broken rules between flags): each fails at once (under 2 s, before
// any work) with exit status 2 and one message that starts with the flag as
// the user typed it; with --json the same error is a JSON object on stdout.
// A failed run exits 1, a bug 70; real processes behave the same.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/cli.js";
import type { CliIo } from "../src/cli/io.js";
import { flag } from "../src/cli/option-kinds.js";
import { defineCommand } from "../src/cli/registry.js";
import { recordTrace } from "../src/host/workload.js";
import { CLI_ARGS } from "./docs/examples.js";

const CLI = CLI_ARGS;
const STACK_LINE = /^\s+at /m;

interface Outcome { status: number; stdout: string; stderr: string; ms: number }

async function run(argv: readonly string[], options: { debug?: boolean; commands?: Parameters<typeof runCli>[2] } = {}): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (t: string) => { stdout += t; } },
    stderr: { write: (t: string) => { stderr += t; } },
    debug: options.debug ?? false,
    watchInterrupts: () => () => {},
  };
  const started = performance.now();
  const status = await runCli(argv, io, options.commands);
  return { status, stdout, stderr, ms: performance.now() - started };
}

const dir = mkdtempSync(join(tmpdir(), "hypermem-cli-errors-"));
const f = {
  missing: join(dir, "missing.hmtr"),
  folder: join(dir, "folder"),
  empty: join(dir, "empty"),
  unreadable: join(dir, "unreadable"),
  token: join(dir, "token"),
  blankToken: join(dir, "blank-token"),
  trace: join(dir, "small.hmtr"),
  notATrace: join(dir, "not-a-trace.hmtr"),
  out: join(dir, "out.hmtr"),
};
const isRoot = process.getuid?.() === 0;

beforeAll(() => {
  mkdirSync(f.folder);
  writeFileSync(f.empty, "");
  writeFileSync(f.unreadable, "secret\n");
  chmodSync(f.unreadable, 0o000);
  writeFileSync(f.token, "a shared secret of 16+ bytes\n", { mode: 0o600 }); // at least 16 bytes, and private (no warning)
  writeFileSync(f.blankToken, "  \n\t\n");
  writeFileSync(f.notATrace, "this is not a trace, but it is long enough to hold a header\n");
  recordTrace(f.trace, { kind: "uniform", ratePerSec: 1000 }, 4096, 100);
});

/** The bad-file cases: what the message says after the path. */
const BAD_FILES: ReadonlyArray<[keyof typeof f, RegExp]> = [
  ["missing", /: cannot read \S+: no such file$/],
  ["folder", / is a folder, not a file$/],
  ["empty", / is empty$/],
  ...(isRoot ? [] : [["unreadable", /: cannot read \S+: permission denied$/] as [keyof typeof f, RegExp]]),
];

/** Where each command takes an input file: its arguments around the path, and the flag as typed. */
const FILE_INPUTS: ReadonlyArray<{ command: string; args: (path: string) => string[]; typed: (path: string) => string }> = [
  { command: "migrate", args: (p) => ["--workload", `trace:${p}`], typed: (p) => `--workload trace:${p}` },
  { command: "migrate", args: (p) => ["--to", "127.0.0.1:9", "--token-file", p], typed: (p) => `--token-file ${p}` },
  { command: "listen", args: (p) => ["--port", "0", "--token-file", p], typed: (p) => `--token-file ${p}` },
  { command: "trace record", args: (p) => ["--workload", `trace:${p}`, "--duration", "1s", "--out", f.out], typed: (p) => `--workload trace:${p}` },
  { command: "trace info", args: (p) => [p], typed: (p) => `FILE ${p}` },
];

function expectRefusal(o: Outcome, command: string, start: string, status = 2): void {
  expect(o.stderr.startsWith(`hypermem ${command}: ${start}`), o.stderr).toBe(true);
  expect(o.stderr).not.toMatch(STACK_LINE);
  expect(o.status).toBe(status);
  expect(o.stdout).toBe("");
  expect(o.ms).toBeLessThan(2000);
}

describe("bad files: every command, every file it reads", () => {
  const cases = FILE_INPUTS.flatMap((input) => BAD_FILES.map(([kind, why]) => [input.command, kind, input, why] as const));
  it.each(cases)("%s with a %s file", async (command, kind, input, why) => {
    const path = f[kind];
    const o = await run([...command.split(" "), ...input.args(path)]);
    expectRefusal(o, command, `${input.typed(path)}: `);
    expect(o.stderr.trimEnd()).toMatch(why);
  });

  it("an unreadable file (as a user without permission, even when the tests run as root)", () => {
    for (const input of FILE_INPUTS) {
      const r = spawnSync(process.execPath, [...CLI, ...input.command.split(" "), ...input.args(f.unreadable)],
        { encoding: "utf8", ...(isRoot ? { uid: 65534, gid: 65534 } : {}) });
      expect(r.stderr).toBe(`hypermem ${input.command}: ${input.typed(f.unreadable)}: cannot read ${f.unreadable}: permission denied\n`);
      expect(r.status).toBe(2);
    }
  });

  it("the output file of trace record: a folder that does not exist, a folder as the file", async () => {
    const base = ["trace", "record", "--workload", "uniform", "--duration", "1ms"];
    const gone = join(dir, "gone", "x.hmtr");
    expectRefusal(await run([...base, "--out", gone]), "trace record", `--out ${gone}: cannot write into folder ${join(dir, "gone")}: no such file`);
    expectRefusal(await run([...base, "--out", f.folder]), "trace record", `--out ${f.folder}: ${f.folder} is a folder; name a file inside it`);
  });

  it("a token file of whitespace only, and a file that is not a trace", async () => {
    expectRefusal(await run(["listen", "--port", "0", "--token-file", f.blankToken]), "listen", `--token-file ${f.blankToken}: "${f.blankToken}" is empty`);
    expectRefusal(await run(["migrate", "--workload", `trace:${f.notATrace}`]), "migrate", `--workload trace:${f.notATrace}: trace ${f.notATrace}: header field magic (offset 0) is "this"`);
    expectRefusal(await run(["trace", "info", f.notATrace]), "trace info", `FILE ${f.notATrace}: trace ${f.notATrace}: header field magic (offset 0) is "this"`);
  });
});

/** [argv, what stderr starts with after `hypermem COMMAND: `, error code]. */
const BAD_VALUES: ReadonlyArray<readonly [string[], string, string]> = [
  // The lines, each refused before any work.
  [["migrate", "--write-size", "3"], "--write-size 3: must be a power of two from 8 to 4096 bytes", "ERR_BAD_OPTION"],
  [["migrate", "--xbzrle-cache", "3MiB"], "--xbzrle-cache 3MiB: must be a power-of-two number of 4 KiB pages", "ERR_BAD_OPTION"],
  [["migrate", "--host-memory", "8GiB"], "--host-memory 8GiB: at most 4GiB per host (one WebAssembly memory)", "ERR_BAD_OPTION"],
  [["demo", "host", "--guest", "0"], "--guest 0: at least 4KiB", "ERR_BAD_OPTION"],
  [["migrate", "--rate", "-5"], "--rate -5: must be an integer from 1 to 4294967295", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "1TiB"], "--guest 1TiB: this guest can outgrow a 4GiB host", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "16GiB", "--prefill", "0.125", "--host-memory", "4GiB"], "--guest 16GiB: this guest can outgrow a 4GiB host", "ERR_BAD_OPTION"],
  // migrate
  [["migrate", "--guest", "2TiB"], "--guest 2TiB: at most 1TiB (the largest guest)", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "1GiB", "--host-memory", "512MiB"], "--host-memory 512MiB: too small for this guest", "ERR_BAD_OPTION"],
  [["migrate", "--host-memory", "1000KiB"], "--host-memory 1000KiB: at least 1MiB", "ERR_BAD_OPTION"],
  [["migrate", "--host-memory", "1.5MiB"], "--host-memory 1.5MiB: not a whole number of MiB (1MiB or 2MiB would be)", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "16MiB", "--inject-errors", "5000"], "--inject-errors 5000: at most 4,096: errors go into the 4,096 pages the prefill writes", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "16MiB", "--prefill", "0.001", "--inject-errors", "3", "--latent-errors", "2"], "--latent-errors 2: at most 1: errors go into the 4 pages", "ERR_BAD_OPTION"],
  [["migrate", "--seed", "-1"], "--seed -1: must be an integer from 0 to 9007199254740991", "ERR_BAD_OPTION"],
  [["migrate", "--max-rounds", "0"], "--max-rounds 0: must be an integer from 1 to 1000000", "ERR_BAD_OPTION"],
  [["migrate", "--latency", "-1ms"], "--latency -1ms: must not be negative", "ERR_BAD_OPTION"],
  [["migrate", "--bandwidth", "0Gbit"], "--bandwidth 0Gbit: must be more than 0", "ERR_BAD_OPTION"],
  [["migrate", "--downtime-limit", "2h"], "--downtime-limit 2h: not a duration", "ERR_BAD_OPTION"],
  [["migrate", "--write-fraction", "1.5"], "--write-fraction 1.5: must be a fraction from 0 to 1", "ERR_BAD_OPTION"],
  [["migrate", "--workload", "hotcold:0.1"], "--workload hotcold:0.1: hotcold needs a hot fraction and a probability", "ERR_BAD_OPTION"],
  [["migrate", "--workload", "sequentail"], "--workload sequentail: unknown kind \"sequentail\"", "ERR_BAD_OPTION"],
  [["migrate", "--guest", "1GiB", "--workload-pages", "2GiB"], "--workload-pages 2GiB: at most the guest's 262,144 pages (--guest 1GiB)", "ERR_BAD_OPTION"],
  [["migrate", "--workload-pages", "0"], "--workload-pages 0: at least 1 page", "ERR_BAD_OPTION"],
  [["migrate", "--to", "nowhere", "--token-file", "t"], "--to nowhere: must be HOST:PORT with a port from 1 to 65535", "ERR_BAD_OPTION"],
  [["migrate", "--to", "127.0.0.1:7000"], "--to 127.0.0.1:7000: needs --token-file FILE (the destination's shared secret)", "ERR_BAD_OPTION"],
  [["migrate", "--to", "127.0.0.1:7000", "--token-file", "t", "--bandwidth", "1Gbit"], "--bandwidth 1Gbit: not with --to (the link of an in-process migration is simulated", "ERR_BAD_OPTION"],
  [["migrate", "--idle-timeout", "5s"], "--idle-timeout 5s: needs --to HOST:PORT", "ERR_BAD_OPTION"],
  [["migrate", "--max-bandwith", "1Gbit"], "unknown option --max-bandwith (did you mean --max-bandwidth?)", "ERR_USAGE"],
  [["migrate", "--guest"], "--guest needs a value (--guest SIZE)", "ERR_USAGE"],
  [["migrate", "extra"], "unexpected argument \"extra\" (migrate takes no arguments, only flags)", "ERR_USAGE"],
  // listen
  [["listen", "--port", "70000", "--token-file", "t"], "--port 70000: must be an integer from 0 to 65535", "ERR_BAD_OPTION"],
  [["listen", "--port", "-1", "--token-file", "t"], "--port -1: must be an integer from 0 to 65535", "ERR_BAD_OPTION"],
  [["listen", "--port", "0", "--token-file", f.token, "--host-memory", "8GiB"], "--host-memory 8GiB: at most 4GiB per host", "ERR_BAD_OPTION"],
  [["listen", "--port", "0", "--token-file", f.token, "--host", "not a host"], "--host \"not a host\": not an IP address or a host name", "ERR_BAD_OPTION"],
  [["listen", "--port", "0", "--token-file", f.token, "--idle-timeout", "0s"], "--idle-timeout 0s: at least 1ms", "ERR_BAD_OPTION"],
  [["listen", "--token-file", "t"], "missing --port P (required)", "ERR_USAGE"],
  [["listen"], "missing --port P and --token-file FILE (required)", "ERR_USAGE"],
  [["listen", "--prot", "1"], "unknown option --prot (did you mean --port?)", "ERR_USAGE"],
  // trace record
  [["trace", "record", "--workload", "zipf:1.2", "--duration", "0s", "--out", "x"], "--duration 0s: at least 1ns", "ERR_BAD_OPTION"],
  [["trace", "record", "--workload", "zipf:1.2", "--duration", "1ns", "--out", "x"], "--duration 1ns: records no access at 1,000,000 accesses/s (at least 1us)", "ERR_BAD_OPTION"],
  [["trace", "record", "--workload", "zipf:1.2", "--duration", "1000s", "--out", "x"], "--duration 1000s: 1,000,000,000 accesses at 1,000,000/s; a trace holds at most 67,108,864", "ERR_BAD_OPTION"],
  [["trace", "record", "--workload", "zipf:0", "--duration", "1s", "--out", "x"], "--workload zipf:0: exponent \"0\" is not a number > 0", "ERR_BAD_OPTION"],
  [["trace", "record", "--workload", "uniform", "--duration", "1s", "--out", "x", "--guest", "0"], "--guest 0: at least 4KiB", "ERR_BAD_OPTION"],
  [["trace", "record", "--workload", "uniform"], "missing --duration DURATION and --out FILE (required)", "ERR_USAGE"],
  // trace info
  [["trace", "info"], "missing FILE (the trace file)", "ERR_USAGE"],
  // demo host, demo, help
  [["demo", "host", "--guest", "4GiB"], "--guest 4GiB: at most 3.75GiB (the demo's host holds the guest plus 256MiB", "ERR_BAD_OPTION"],
  [["demo", "host", "--rate", "0"], "--rate 0: must be an integer from 1 to 4294967295", "ERR_BAD_OPTION"],
  [["demo", "host", "--zipf", "0"], "--zipf 0: must be a number from 0.01 to 100", "ERR_BAD_OPTION"],
  [["demo", "host", "--seed", "1.5"], "--seed 1.5: must be an integer", "ERR_BAD_OPTION"],
  [["demo", "--guest", "1GiB"], "unknown option --guest", "ERR_USAGE"],
  [["help", "nonexistent"], "no command \"nonexistent\"", "ERR_USAGE"],
];

describe("absurd numbers, broken rules, unknown flags: every command", () => {
  it.each(BAD_VALUES)("%j", async (argv, start) => {
    const command = argv[0] === "demo" && argv[1] === "host" ? "demo host" : argv[0] === "trace" ? `trace ${argv[1]}` : argv[0];
    expectRefusal(await run(argv), command, start);
  });

  it("an unknown flag on every command", async () => {
    for (const command of ["demo", "demo host", "migrate", "listen", "trace record", "trace info", "help"]) {
      expectRefusal(await run([...command.split(" "), "--bogus"]), command, "unknown option --bogus");
    }
  });

  it("a second argument where one file is expected, and an unknown command", async () => {
    expectRefusal(await run(["trace", "info", f.trace, f.trace]), "trace info", `unexpected argument ${JSON.stringify(f.trace)}`);
    const o = await run(["migrat"]);
    expect(o.stderr).toBe("hypermem: unknown command \"migrat\" (did you mean \"migrate\"?)\n(hypermem help lists the commands)\n");
    expect((await run(["listen", "--prot", "1"])).stderr).toBe("hypermem listen: unknown option --prot (did you mean --port?)\n(hypermem help listen lists its options)\n");
    expect(o.status).toBe(2);
    expect((await run(["trace"])).stderr).toMatch(/^hypermem: trace needs a subcommand: trace record, trace info\n/);
    expect((await run(["demo", "hots"])).stderr).toMatch(/^hypermem: unknown command "demo hots" \(did you mean "demo host"\?\)\n/);
    expect((await run([])).status).toBe(2);
  });

  it("flags a trace replay ignores are refused, not dropped", async () => {
    expectRefusal(await run(["migrate", "--guest", "16MiB", "--workload", `trace:${f.trace}`, "--write-size", "64"]), "migrate",
      `--write-size 64: does not apply to --workload trace:${f.trace} (a trace replays its recorded accesses)`);
    expectRefusal(await run(["trace", "record", "--workload", `trace:${f.trace}`, "--duration", "1ms", "--out", f.out, "--guest", "16MiB", "--seed", "3"]), "trace record",
      `--seed 3: does not apply to --workload trace:${f.trace}`);
  });
});

describe("--json: errors are JSON objects on stdout as well as text on stderr", () => {
  // The commands that have a --json flag.
  const withJson = BAD_VALUES.filter(([argv]) => ["migrate", "listen", "trace"].includes(argv[0]));
  it.each(withJson)("%j", async (argv, start, code) => {
    const o = await run([...argv, "--json"]);
    expect(o.status).toBe(2);
    expect(o.stderr).not.toMatch(STACK_LINE);
    const error = (JSON.parse(o.stdout) as { error: Record<string, unknown> }).error;
    expect(error.code).toBe(code);
    expect(String(error.message).startsWith(start)).toBe(true);
    const command = argv[0] === "trace" ? `trace ${argv[1]}` : argv[0];
    expect(o.stderr.split("\n")[0]).toBe(`hypermem ${command}: ${String(error.message).split("\n")[0]}`);
    if (code === "ERR_BAD_OPTION") expect(start.startsWith(String(error.option))).toBe(true);
  });

  it("trace info and trace record too, with the option and the path", async () => {
    const info = await run(["trace", "info", f.missing, "--json"]);
    expect(JSON.parse(info.stdout)).toEqual({ error: { code: "ERR_BAD_OPTION", message: `FILE ${f.missing}: cannot read ${f.missing}: no such file`, option: "FILE", value: f.missing, path: f.missing, errno: "ENOENT" } });
    const record = await run(["trace", "record", "--workload", "uniform", "--duration", "1ms", "--out", f.folder, "--json"]);
    expect(JSON.parse(record.stdout).error).toMatchObject({ code: "ERR_BAD_OPTION", option: "--out", value: f.folder });
  });

  it("the fit refusal carries the arithmetic as numbers", async () => {
    const o = await run(["migrate", "--guest", "16GiB", "--prefill", "0.125", "--host-memory", "4GiB", "--json"]);
    const error = JSON.parse(o.stdout).error;
    expect(error).toMatchObject({ code: "ERR_BAD_OPTION", option: "--guest", value: "16GiB", hostMiB: 4096, side: "destination", writtenPages: 4 * 2 ** 20 });
    expect(error.needFrames).toBeGreaterThan(error.hostFrames);
  });
});

describe("exit status: 2 for input, 1 for a failed run, 70 for a bug", () => {
  it("a run that fails (nothing listens at --to) exits 1, its error as text and JSON", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const o = await run(["migrate", "--guest", "4MiB", "--to", `127.0.0.1:${port}`, "--token-file", f.token, "--json"]);
    expect(o.status).toBe(1);
    expect(o.stderr).toBe(`hypermem migrate: cannot migrate to 127.0.0.1:${port}: connection to 127.0.0.1:${port} failed: ECONNREFUSED\n`);
    expect(o.stderr).not.toMatch(STACK_LINE);
    expect(JSON.parse(o.stdout).error).toMatchObject({ code: "ERR_PEER_CLOSED", cause: "ECONNREFUSED" });
  });

  it("a bug is an internal error, exit 70, with the stack only under HYPERMEM_DEBUG=1", async () => {
    const broken = defineCommand({
      name: "broken", summary: "throws", options: {},
      run: () => {
        throw new TypeError("cannot read properties of undefined");
      },
    });
    const plain = await run(["broken"], { commands: [broken] });
    expect(plain.status).toBe(70);
    expect(plain.stderr).toBe("hypermem broken: internal error: cannot read properties of undefined (please report)\n");
    const debug = await run(["broken"], { commands: [broken], debug: true });
    expect(debug.status).toBe(70);
    expect(debug.stderr).toMatch(STACK_LINE);
  });

  it("a failed system call while running is a failed run (exit 1, ERR_SYSTEM), not a bug", async () => {
    const full = defineCommand({
      name: "full", summary: "writes to a full disk", options: { json: flag({ help: "JSON" }) },
      run: () => {
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", syscall: "write" });
      },
    });
    const o = await run(["full", "--json"], { commands: [full] });
    expect(o.status).toBe(1);
    expect(o.stderr).toBe("hypermem full: ENOSPC: no space left on device, write\n");
    expect(JSON.parse(o.stdout)).toEqual({ error: { code: "ERR_SYSTEM", message: "ENOSPC: no space left on device, write", errno: "ENOSPC", syscall: "write" } });
  });
});

describe("real processes", () => {
  it.each([
    [["migrate", "--workload", "trace:/nonexistent.hmtr"], "hypermem migrate: --workload trace:/nonexistent.hmtr: cannot read /nonexistent.hmtr: no such file\n"],
    [["migrate", "--workload", `trace:${tmpdir()}`], `hypermem migrate: --workload trace:${tmpdir()}: ${tmpdir()} is a folder, not a file\n`],
    [["migrate", "--rate", "-5"], "hypermem migrate: --rate -5: must be an integer from 1 to 4294967295\n"],
  ])("%j exits 2 with one line on stderr", (argv, stderr) => {
    const r = spawnSync(process.execPath, [...CLI, ...argv], { encoding: "utf8" });
    expect(r.stderr).toBe(stderr);
    expect(r.stdout).toBe("");
    expect(r.status).toBe(2);
  });

  it("--json puts the error on stdout as JSON", () => {
    const r = spawnSync(process.execPath, [...CLI, "migrate", "--host-memory", "8GiB", "--json"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: "ERR_BAD_OPTION", message: "--host-memory 8GiB: at most 4GiB per host (one WebAssembly memory)", option: "--host-memory", value: "8GiB", bytes: 2 ** 33 } });
    expect(r.stderr).toBe("hypermem migrate: --host-memory 8GiB: at most 4GiB per host (one WebAssembly memory)\n");
  });

  it("Ctrl-C on an in-process migration prints the figures so far and cancelled (interrupted), exit 130", async () => {
    const child = spawn(process.execPath, [...CLI, "migrate", "--guest", "256MiB", "--workload", "uniform", "--rate", "2000000",
      "--bandwidth", "1Gbit", "--max-time", "600s"], { env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d; });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (/round 1\b/.test(stderr)) child.kill("SIGINT");
    });
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).not.toMatch(STACK_LINE);
    expect(status, stderr).toBe(130);
    expect(stdout).toMatch(/^Migration status\s+cancelled$/m);
    expect(stdout).toMatch(/^stop reason\s+cancelled \(interrupted\)$/m);
    expect(stdout).toMatch(/^dirty sync count\s+[1-9]/m);
  }, 120_000);
});
