// The examples of README.md and docs/*.md, as a new user would copy them:
// every ```ts block (a block marked ```ts snippet is an excerpt, not a
// program) and every line that starts with `hypermem ` in a code block.
// test/docs.examples.test.ts runs them; lines whose guest is 8 GiB or more
// are left to .ci/run (`npx tsx test/docs/examples.ts --heavy`), which runs
// them with this same module.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const REPO = resolve(import.meta.dirname, "../..");
const TSX = pathToFileURL(createRequire(join(REPO, "package.json")).resolve("tsx")).href;
/** Node's arguments that run a TypeScript file (through tsx), from any folder. */
export const TSX_ARGS: readonly string[] = ["--import", TSX];
/** The compiled CLI, as the package's `hypermem` bin runs it (test/global-setup.ts keeps it as new as src/). */
export const DIST_CLI = join(REPO, "dist/cli/main.js");
/** Node's arguments that run the `hypermem` command, from any folder. */
export const CLI_ARGS: readonly string[] = [DIST_CLI];
const HEAVY_GUEST_BYTES = 8 * 2 ** 30;

export interface TsExample { readonly file: string; readonly line: number; readonly code: string }
export interface CliExample { readonly file: string; readonly line: number; readonly argv: string[] }

/** README.md and every page of docs/, as paths from the repository root. */
export function docs(): string[] {
  return ["README.md", ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))];
}

/** The code blocks of `file`: info string, first line number, text. */
function blocks(file: string): Array<{ info: string; line: number; text: string }> {
  const lines = readFileSync(join(REPO, file), "utf8").split("\n");
  const out: Array<{ info: string; line: number; text: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i + 1;
    while (++i < lines.length && !lines[i].startsWith("```"));
    out.push({ info: open[1].trim(), line: start + 1, text: lines.slice(start, i).join("\n") });
  }
  return out;
}

/** Every runnable TypeScript example. */
export function tsExamples(): TsExample[] {
  return docs().flatMap((file) => blocks(file).filter((b) => b.info === "ts").map((b) => ({ file, line: b.line, code: b.text })));
}

/** Splits a shell line into words (double quotes, trailing `# comment`, `\` continuations already joined). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\s#.*$/, "").matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]);
  return out;
}

/** Every `hypermem ...` line of a code block (with its continuation lines). */
export function cliExamples(): CliExample[] {
  const out: CliExample[] = [];
  for (const file of docs()) {
    for (const b of blocks(file)) {
      const lines = b.text.split("\n");
      for (let i = 0; i < lines.length; i++) {
        let text = lines[i];
        const at = i;
        while (text.trimEnd().endsWith("\\") && i + 1 < lines.length) text = `${text.trimEnd().slice(0, -1)} ${lines[++i]}`;
        const argv = words(text.replace(/^\s*(\$ )?(npx )?/, ""));
        if (argv[0] === "hypermem") out.push({ file, line: b.line + at, argv: argv.slice(1) });
      }
    }
  }
  return out;
}

const SIZE = /^(\d+(?:\.\d+)?)(GiB|TiB)$/;

/** True for an example whose guest is 8 GiB or more (run in .ci/run, not in npm test). */
export function isHeavy(e: CliExample): boolean {
  const at = e.argv.indexOf("--guest");
  const m = at >= 0 ? SIZE.exec(e.argv[at + 1] ?? "") : null;
  return m !== null && Number(m[1]) * (m[2] === "TiB" ? 2 ** 40 : 2 ** 30) >= HEAVY_GUEST_BYTES;
}

/** Runs `hypermem argv` in `cwd` as a user would (the compiled CLI). */
export function runCli(argv: string[], cwd: string, timeoutMs = 300_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...CLI_ARGS, ...argv], { cwd, encoding: "utf8", timeout: timeoutMs, env: { ...process.env, NO_COLOR: "1" } });
}

/** Runs a TypeScript example with the package name pointing at this repository's source. */
export function runTs(code: string, cwd: string, timeoutMs = 300_000): SpawnSyncReturns<string> {
  const source = code.replace(/from "hypermem(-sim)?"/g, `from ${JSON.stringify(pathToFileURL(join(REPO, "src/index.ts")).href)}`);
  return spawnSync(process.execPath, [...TSX_ARGS, "--input-type=module", "-e", source], { cwd, encoding: "utf8", timeout: timeoutMs });
}

if (process.argv.includes("--heavy")) {
  const heavy = cliExamples().filter(isHeavy);
  for (const e of heavy) {
    process.stderr.write(`${e.file}:${e.line}: hypermem ${e.argv.join(" ")}\n`);
    const r = runCli(e.argv, REPO, 600_000);
    if (r.status !== 0) {
      process.stderr.write(`${r.stdout}\n${r.stderr}\nexit ${r.status}\n`);
      process.exit(1);
    }
  }
  process.stderr.write(`${heavy.length} heavy documentation commands ran\n`);
}
