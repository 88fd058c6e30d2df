// The files and links the documentation names exist: every repository path
// in README.md, docs/*.md and bench/gates.md (src/, test/, bench/, assembly/,
// docs/, .ci/; a module specifier ending .js names its .ts source), every
// relative Markdown link (inside the repository: a user's clone has nothing
// beside it) with its #anchor, slugged as GitHub slugs headings, and every
// bench case a `--case NAME` names. A renamed module, heading or case would
// otherwise leave a reader a dead pointer or a refused command.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { allCases, scenarioCases } from "../bench/cases/index.js";
import { migrationBench } from "../bench/migration.bench.js";
import { tcpBenches } from "../bench/tcp.bench.js";
import { docs, REPO } from "./docs/examples.js";

const DOCS = [...docs(), "bench/gates.md"];
const PATH = /(?<![\w/.-])(?:src|test|bench|assembly|docs|\.ci)\/[\w./-]*\w\.(?:ts|md|mjs|json|js|c)\b/g;
const LINK = /\]\(([^)\s]+)\)/g;
/** `--case NAME` in a command; NAME in capitals is a placeholder. */
const CASE = /--case ([a-z0-9][\w-]*)/g;
const CASES = new Set([...allCases, ...scenarioCases, migrationBench, ...tcpBenches].map((c) => c.name));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The anchors of a Markdown file's headings (outside code blocks), with GitHub's -1, -2 for repeats. */
function anchors(file: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of readFileSync(join(REPO, file), "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const h = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const exists = (path: string): boolean => existsSync(join(REPO, path)) || (path.endsWith(".js") && existsSync(join(REPO, path.replace(/\.js$/, ".ts"))));

describe("paths and links in the documentation", () => {
  it("slugs headings as GitHub does", () => {
    expect(slug("Wall-clock cost")).toBe("wall-clock-cost");
    expect(slug("The swap cases (issue 16)")).toBe("the-swap-cases-issue-16");
    expect(slug("`hypermem migrate` options")).toBe("hypermem-migrate-options");
  });

  for (const file of DOCS) {
    it(`${file}: every repository path it names exists`, () => {
      const text = readFileSync(join(REPO, file), "utf8");
      const missing = [...new Set(text.match(PATH) ?? [])].filter((p) => !exists(p));
      expect(missing).toEqual([]);
    });

    it(`${file}: every relative link and its anchor resolve`, () => {
      const text = readFileSync(join(REPO, file), "utf8");
      const broken: string[] = [];
      for (const [, target] of text.matchAll(LINK)) {
        if (/^[a-z]+:/i.test(target)) continue;
        const [path, anchor] = target.split("#");
        const resolved = path === "" ? file : normalize(join(dirname(file), path));
        if (resolved.startsWith("..") || !existsSync(join(REPO, resolved))) broken.push(target);
        else if (anchor !== undefined && resolved.endsWith(".md") && !anchors(resolved).has(anchor)) broken.push(target);
      }
      expect(broken).toEqual([]);
    });

    it(`${file}: every bench case a --case names exists`, () => {
      const text = readFileSync(join(REPO, file), "utf8");
      expect([...text.matchAll(CASE)].map((m) => m[1]).filter((name) => !CASES.has(name))).toEqual([]);
    });
  }
});
