// The package installs like any npm package: `npm pack` (its prepare script
// builds dist/ and the wasm) gives a tarball that, installed into a scratch
// project with nothing else, runs the README's library example, type-checks
// it (with @types/node, as the README says), and runs `npx hypermem help`.
// The pack runs in a copy of the working tree, so rebuilding the wasm there
// cannot disturb the tests that load it here.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO, TSX_ARGS, tsExamples } from "./docs/examples.js";

const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
const scratch = mkdtempSync(join(tmpdir(), "hypermem-pack-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 180_000, env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false" } });
}

/** The working tree as git sees it (tracked and new files, not ignored ones), with this checkout's node_modules. */
function copyTree(to: string): void {
  const listed = run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO);
  expect(listed.status, listed.stderr).toBe(0);
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(REPO, file), join(to, file), { errorOnExist: false, force: true, recursive: true });
  }
  symlinkSync(join(REPO, "node_modules"), join(to, "node_modules"), "dir");
}

describe("the packed package, installed into another project", () => {
  it("runs the README library example, type-checks it and runs npx hypermem help", () => {
    const tree = join(scratch, "tree");
    const app = join(scratch, "app");
    copyTree(tree);
    const packed = run("npm", ["pack", "--silent", "--pack-destination", scratch], tree);
    expect(packed.status, packed.stderr).toBe(0);
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"));
    expect(tarball).toMatch(/^hypermem-sim-\d+\.\d+\.\d+\.tgz$/);

    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    const installed = run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(scratch, tarball!)], app);
    expect(installed.status, installed.stderr).toBe(0);

    const example = tsExamples().find((e) => e.file === "README.md")!;
    expect(example.code).toContain('from "hypermem-sim"');
    writeFileSync(join(app, "example.ts"), example.code);
    const ran = run(process.execPath, [...TSX_ARGS, "example.ts"], app);
    expect(ran.stderr).not.toMatch(STACK_LINE);
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/^completed /);

    const checked = run(process.execPath, [TSC, "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext",
      "--moduleResolution", "nodenext", "--typeRoots", join(REPO, "node_modules/@types"), "--types", "node", "example.ts"], app);
    expect(checked.status, checked.stdout).toBe(0);

    const help = run("npx", ["--no-install", "hypermem", "help"], app);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: hypermem COMMAND/);
  }, 300_000);
});
