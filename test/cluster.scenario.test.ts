// Pods added and deleted over time: the example scenario run through both
// flows (placements reported as they happen, at their times; waiting pods
// placed when others leave), inline manifests, and the scenario files
// refused with ERR_SCENARIO before any pod is placed.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Cluster } from "../src/cluster/cluster.js";
import { parseHostsFile } from "../src/cluster/hosts.js";
import type { ClusterEvent } from "../src/cluster/options.js";
import { compareSchedulers } from "../src/cluster/run.js";
import { parseClusterScenario, runClusterScenario } from "../src/cluster/scenario.js";
import { HypermemError } from "../src/errors.js";
import { host } from "./cluster.fixtures.js";
import { thrownCode } from "./helpers.js";

const EXAMPLES = fileURLToPath(new URL("../examples/", import.meta.url));
const example = (name: string) => ({ file: `${EXAMPLES}${name}`, text: readFileSync(`${EXAMPLES}${name}`, "utf8") });
const hosts = parseHostsFile("hosts.yaml", example("hosts.yaml").text);

function scenarioError(text: string, files: Record<string, string> = {}): HypermemError {
  try {
    parseClusterScenario({ scenario: { file: "/s/scenario.yaml", text }, readText: (p) => {
      if (!(p in files)) throw Object.assign(new Error("no"), { code: "ENOENT" });
      return files[p];
    } });
  } catch (err) {
    if (err instanceof HypermemError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

const POD = (name: string, mi = 256) => `{ apiVersion: v1, kind: Pod, metadata: { name: ${name} }, spec: { containers: [{ name: c, resources: { limits: { memory: ${mi}Mi, cpu: 100m } } }] } }`;

describe("the example scenario", () => {
  const scenario = parseClusterScenario({ scenario: example("scenario.yaml") });

  it("reads three steps in time order: 10 pods at 0 s, 2 at 60 s, a Deployment deleted at 120 s", () => {
    expect(scenario.steps.map((s) => [s.atNs / 1e9, s.add.length, s.delete])).toEqual([[0, 10, []], [60, 2, []], [120, 0, ["web"]]]);
    expect(scenario.warnings.lines()).toEqual([]);
  });

  it("reports placements as they happen, at their times; both flows end with every remaining pod placed", () => {
    const seen: ClusterEvent[] = [];
    const c = new Cluster(hosts, { mode: "unified", onEvent: (e) => seen.push(e) });
    runClusterScenario(c, scenario);
    expect(seen).toEqual(c.events);
    expect(seen.filter((e) => e.kind === "placed").map((e) => [e.atNs / 1e9, e.pod])).toEqual([
      [0, "default/db-0"], [0, "default/db-1"], ...Array.from({ length: 8 }, (_, i) => [0, `default/web-${i}`]), [60, "default/report"], [120, "default/train"],
    ]);
    // train (5 GiB + 120 MiB) waited for the web tier to leave.
    expect(seen.find((e) => e.pod === "default/train" && e.kind === "refused")).toMatchObject({ atNs: 60e9 });
    expect(seen.filter((e) => e.kind === "deleted")).toHaveLength(8);
    const r = compareSchedulers(hosts, scenario);
    expect(r.unified.totals).toMatchObject({ pods: 12, placed: 4, refused: 0, deleted: 8, bindFailures: 0 });
    // The baseline keeps binding to esx-b1, whose 6 GiB VM it cannot see, until the web tier is gone.
    expect(r.independent.totals).toMatchObject({ pods: 12, placed: 4, refused: 0, deleted: 8 });
    expect(r.independent.totals.bindFailures).toBeGreaterThan(0);
    expect(new Set(r.independent.events.filter((e) => e.kind === "bind-failed").map((e) => e.host))).toEqual(new Set(["esx-b1"]));
  });
});

describe("scenario files", () => {
  it("inline manifests, relative files, numbers of seconds, deletes before adds within an event", () => {
    const s = parseClusterScenario({
      scenario: { file: "/s/scenario.yaml", text: `events:
  - { at: 1.5, add: [${POD("a")}] }
  - { at: 500ms, add: [pods.yaml] }
  - { at: 2min, delete: [a], add: [${POD("a", 512)}] }
` },
      readText: (p) => (p === "/s/pods.yaml" ? POD("b") : ""),
    });
    expect(s.steps.map((x) => [x.atNs, x.delete, x.add.map((p) => p.key)])).toEqual([
      [0.5e9, [], ["default/b"]], [1.5e9, [], ["default/a"]], [120e9, ["a"], ["default/a"]],
    ]);
    const c = new Cluster([host("h", 1, 2)]);
    runClusterScenario(c, s);
    expect(c.records.map((r) => [r.pod.key, r.status])).toEqual([["default/b", "running"], ["default/a", "deleted"], ["default/a", "running"]]);
    expect(c.vmLayer.ledger.memoryReserved[0]).toBe(768 * 2 ** 20);
  });

  it("the --pods manifests come first, at time 0", () => {
    const s = parseClusterScenario({ pods: [{ file: "p.yaml", text: POD("x") }] });
    expect(s.steps).toHaveLength(1);
    expect(s.steps[0].atNs).toBe(0);
  });

  const refusals: Array<[string, string, RegExp]> = [
    ["a delete of a pod not alive then", `events:\n  - { at: 0s, add: [${POD("a")}] }\n  - { at: 1s, delete: [b] }\n`,
      /^scenario \/s\/scenario\.yaml: events\[1\]\.delete\[0\]: no pod or Deployment named "b" is alive at 1 s \(\/s\/scenario\.yaml:3\)$/],
    ["a delete before the add (times, not file order)", `events:\n  - { at: 2s, add: [${POD("a")}] }\n  - { at: 1s, delete: [a] }\n`,
      /events\[1\]\.delete\[0\]: no pod or Deployment named "a" is alive at 1 s/],
    ["a pod added twice", `events:\n  - { at: 0s, add: [${POD("a")}] }\n  - { at: 1s, add: [${POD("a")}] }\n`,
      /^pod default\/a \(\/s\/scenario\.yaml:3\) is added at 1 s while a pod of that name is alive \(delete it first\)$/],
    ["a bad time", `events:\n  - { at: soon, add: [${POD("a")}] }\n`, /events\[0\]\.at: must be a time such as 0s, 500ms, 30s, 1\.5min or 2h, got "soon"/],
    ["an unknown field", `events:\n  - { at: 0s, remove: [a] }\n`, /events\[0\]\.remove: unknown field \(known: at, add, delete\)/],
    ["a file that cannot be read", "events:\n  - { at: 0s, add: [missing.yaml] }\n", /events\[0\]\.add\[0\]: cannot read \/s\/missing\.yaml: ENOENT/],
    ["no events", "events: []\n", /events: must list at least one event/],
    ["another kind", "kind: Pod\nevents: []\n", /kind: must be Scenario, got "Pod"/],
  ];
  for (const [what, text, message] of refusals) {
    it(`refuses ${what}`, () => {
      const err = scenarioError(text);
      expect(err.code).toBe("ERR_SCENARIO");
      expect(err.message).toMatch(message);
    });
  }

  it("a bad manifest inside a scenario is ERR_MANIFEST naming the scenario file and line", () => {
    const err = scenarioError(`events:\n  - at: 0s\n    add:\n      - { apiVersion: v1, kind: Pod, metadata: { name: a }, spec: { containers: [{ name: c, resources: { limits: { memory: lots } } }] } }\n`);
    expect(err.code).toBe("ERR_MANIFEST");
    expect(err.message).toMatch(/^Pod default\/a: spec\.containers\[0\]\.resources\.limits\.memory: "lots" is not a Kubernetes quantity .* \(\/s\/scenario\.yaml:4\)$/);
  });

  it("no pods at all is refused; so are unknown keys", () => {
    expect(() => parseClusterScenario({})).toThrow(/no pods: give manifests, a scenario, or both/);
    expect(thrownCode(() => parseClusterScenario({ manifests: [] } as never))).toBe("ERR_UNKNOWN_OPTION");
  });
});

describe("cluster options", () => {
  it("are resolved once: defaults, ranges, unknown keys refused", () => {
    const c = new Cluster([host("h", 1, 1)]);
    expect(c.options).toMatchObject({ mode: "unified", headroom: 0, seed: 1, percentageOfNodesToScore: 0, sizing: { memoryBytes: 2 ** 31, milliCpu: 1000 }, materialize: false, onEvent: null });
    expect(Object.isFrozen(c.options)).toBe(true);
    expect(thrownCode(() => new Cluster([host("h", 1, 1)], { mode: "both" as never }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => new Cluster([host("h", 1, 1)], { headroom: 0.95 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => new Cluster([host("h", 1, 1)], { percentageOfNodesToScore: 101 }))).toBe("ERR_BAD_OPTION");
    expect(thrownCode(() => new Cluster([host("h", 1, 1)], { modes: "unified" } as never))).toBe("ERR_UNKNOWN_OPTION");
    expect(thrownCode(() => new Cluster([]))).toBe("ERR_BAD_OPTION");
  });
});
