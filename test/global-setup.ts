// Before any test file runs: the compiled CLI in dist/ is as new as src/.
// Tests run `hypermem` as a user does, `node dist/cli/main.js` (a process
// starts in a fraction of a second, where compiling src/ through tsx on
// every spawn took about a second). `npm test` builds dist/ first; a test
// file run alone after an edit of src/ gets it rebuilt here, so no test can
// run a stale CLI.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { DIST_CLI, REPO } from "./docs/examples.js";

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const sources = Math.max(newestMtimeMs(join(REPO, "src")), statSync(join(REPO, "tsconfig.build.json")).mtimeMs);
  if (existsSync(DIST_CLI) && statSync(DIST_CLI).mtimeMs >= sources) return;
  const tsc = createRequire(join(REPO, "package.json")).resolve("typescript/bin/tsc");
  process.stderr.write("test setup: dist/ is older than src/, compiling it (tsc -p tsconfig.build.json)\n");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(REPO, "tsconfig.build.json")], { cwd: REPO, stdio: "inherit" });
  } catch {
    // tsc emits despite type errors (reported above, and failed by `npm run typecheck`): the tests run on what it emitted.
    process.stderr.write("test setup: tsc reported type errors; dist/ was emitted anyway\n");
  }
}
