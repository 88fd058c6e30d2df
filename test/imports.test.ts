// Dependencies run one way. Between the folders of src/ (each technique and
// each platform layer is one) no import may form a cycle, type imports
// included; between files, no runtime import may (type-only imports vanish
// at run time, and a VM and its host name each other's types). The package
// root src/index.ts, which re-exports everything, is left out; the other
// files at the top of src/ (errors, options) count as nodes of their own.
// The check fails naming the cycle; a planted cycle proves it can.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?[^"';]*?from\s+["'](\.[^"']+)["']/g;

interface Edge { readonly to: string; readonly typeOnly: boolean }

/** Every .ts file under `dir` with its relative imports. */
function importGraph(dir: string, read: (path: string) => string = (p) => readFileSync(p, "utf8")): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts")) {
        const edges = [...read(path).matchAll(IMPORT)].map((m) => ({ to: resolve(dirname(path), m[2].replace(/\.js$/, ".ts")), typeOnly: m[1] !== undefined }));
        graph.set(path, edges);
      }
    }
  };
  walk(dir);
  return graph;
}

/** The first cycle of a graph, as the list of its nodes (first = last), or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, "done");
    return null;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return null;
}

/** The folder a file belongs to; a file at the top of src/ is a node of its own. */
function nodeOf(root: string, file: string): string {
  return relative(root, dirname(file)) || relative(root, file);
}

function folderCycle(root: string, graph: Map<string, Edge[]>): string[] | null {
  const folders = new Map<string, Set<string>>();
  for (const [file, edges] of graph) {
    if (relative(root, file) === "index.ts") continue;
    const from = nodeOf(root, file);
    for (const e of edges) {
      const to = nodeOf(root, e.to);
      if (to === from) continue;
      if (!folders.has(from)) folders.set(from, new Set());
      folders.get(from)!.add(to);
    }
  }
  return findCycle(folders);
}

function runtimeFileCycle(root: string, graph: Map<string, Edge[]>): string[] | null {
  const files = new Map<string, Set<string>>();
  for (const [file, edges] of graph) files.set(file, new Set(edges.filter((e) => !e.typeOnly).map((e) => e.to)));
  return findCycle(files)?.map((f) => relative(root, f)) ?? null;
}

describe("dependencies one way", () => {
  const graph = importGraph(SRC);

  it("reads every file of src/", () => {
    expect(graph.size).toBeGreaterThan(60);
    expect([...graph.keys()].map((f) => relative(SRC, f))).toEqual(expect.arrayContaining(["host/vm.ts", "migration/precopy.ts", "wasm/kernels.ts"]));
  });

  it("no cycle between the folders of src/", () => {
    expect(folderCycle(SRC, graph)?.join(" -> ") ?? "none").toBe("none");
  });

  it("no runtime import cycle between files", () => {
    expect(runtimeFileCycle(SRC, graph)?.join(" -> ") ?? "none").toBe("none");
  });

  it("a planted cycle is found and named (host -> ras -> host)", () => {
    const planted = importGraph(SRC, (path) => {
      const text = readFileSync(path, "utf8");
      return relative(SRC, path) === "host/faults.ts" ? `import { handlePoisonedAccess } from "../ras/machine-check.js";\n${text}` : text;
    });
    expect(folderCycle(SRC, planted)).toEqual(["host", "ras", "host"]);
    expect(runtimeFileCycle(SRC, planted)).toEqual(["host/faults.ts", "ras/machine-check.ts", "host/faults.ts"]);
  });
});
