// Every example of README.md and docs/ runs as written, so none can break
// silently: each ```ts program (the package name pointing at this source),
// and each `hypermem ...` command line in a fresh folder, as a new user would
// type it: exit status 0, no stack trace. The two-terminal TCP example runs
// as a pair. Commands whose guest is 8 GiB or more run in .ci/run instead
// (test/docs/examples.ts --heavy).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI_ARGS, cliExamples, isHeavy, REPO, runCli, runTs, tsExamples, type CliExample } from "./docs/examples.js";

const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;
const dir = mkdtempSync(join(tmpdir(), "hypermem-docs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const where = (e: { file: string; line: number }): string => `${e.file}:${e.line}`;
const all = cliExamples();
const tcp = (e: CliExample): boolean => e.argv[0] === "listen" || e.argv.includes("--to");

describe("documentation examples", () => {
  it("finds the examples (a renamed block or a moved line would silently drop one)", () => {
    expect(tsExamples().map(where)).toEqual(expect.arrayContaining([expect.stringMatching(/^README\.md:/), expect.stringMatching(/^docs\/migration\.md:/)]));
    expect(all.length).toBeGreaterThanOrEqual(10);
    expect(all.filter(isHeavy).map((e) => e.argv.join(" "))).toEqual(["migrate --guest 16GiB --prefill 0.125 --workload-pages 2GiB --host-memory 4GiB"]);
  });

  for (const e of tsExamples()) {
    it(`the program at ${where(e)} runs`, () => {
      const r = runTs(e.code, dir);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.status, r.stderr).toBe(0);
    }, 120_000);
  }

  // In document order: `trace record` writes the file `trace info` and `migrate --workload trace:` read.
  for (const e of all.filter((x) => !isHeavy(x) && !tcp(x))) {
    it(`hypermem ${e.argv.join(" ")} (${where(e)})`, () => {
      const r = runCli(e.argv, dir);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
      if (e.argv.includes("--json")) expect(() => JSON.parse(r.stdout)).not.toThrow();
    }, 120_000);
  }

  it("the two-terminal example: listen, then migrate --to it (on a free port instead of 7000)", async () => {
    const [listen, send] = [all.find((e) => e.argv[0] === "listen")!, all.find((e) => e.argv.includes("--to"))!];
    expect([listen, send].every(Boolean)).toBe(true);
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
    });
    const swap = (argv: string[]): string[] => argv.map((a) => a.replace("7000", String(port)));
    writeFileSync(join(dir, "secret.txt"), randomBytes(32).toString("hex"), { mode: 0o600 });
    const listener = spawn(process.execPath, [...CLI_ARGS, ...swap(listen.argv)], { cwd: dir, env: { ...process.env, NO_COLOR: "1" } });
    let out = "";
    let err = "";
    listener.stdout.on("data", (d: Buffer) => { out += d; });
    listener.stderr.on("data", (d: Buffer) => { err += d; });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the listener did not start: ${out}${err}`)), 30_000);
        const poll = setInterval(() => { if (/listening on/.test(out)) { clearTimeout(t); clearInterval(poll); resolve(); } }, 50);
      });
      const r = runCli(swap(send.argv), dir);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/Migration status\s+completed/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(out).toMatch(/received 256 MiB guest/);
    } finally {
      listener.kill("SIGTERM");
    }
    expect(err).not.toMatch(STACK_LINE);
  }, 180_000);

  it("the README's excerpt of `npm start` is what the demo prints, line for line", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const excerpt = /## What `npm start` shows[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1].trimEnd().split("\n") ?? [];
    expect(excerpt.length).toBeGreaterThanOrEqual(5);
    const r = runCli(["demo"], dir);
    expect(r.status, r.stderr).toBe(0);
    const printed = r.stdout.split("\n").map((l) => l.trimEnd());
    for (const line of excerpt) expect(printed).toContain(line.trimEnd());
  }, 180_000);
});
