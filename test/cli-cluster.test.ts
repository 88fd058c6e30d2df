// `hypermem cluster`: the examples side by side (totals, tables, placements
// on stderr as they happen), --json with every figure, N identical hosts,
// more manifest files after --pods, a large run's per-step progress, and the
// refusals that name the flag, the file and the field (exit status 2).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ClusterReport } from "../src/cluster/figures.js";
import { runCliCaptured as run } from "./cli-capture.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-cli-cluster-"));
const EXAMPLE_PODS = ["--pods", "example:runtimeclass.yaml", "example:web.yaml", "example:db.yaml"];

describe("hypermem cluster", () => {
  it("--compare: the totals side by side, then per host and per pod tables; placements on stderr as they happen", async () => {
    const r = await run(["cluster", ...EXAMPLE_PODS, "--hosts-file", "example:hosts.yaml", "--compare"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("4 hosts, 10 pods in 1 scenario step(s)");
    expect(lines[2]).toMatch(/^\s+unified \(podVM\)\s+independent$/);
    expect(r.stdout).toMatch(/^pods placed \(running\)\s+10\s+7$/m);
    expect(r.stdout).toMatch(/^binds failed \(layers disagreed\)\s+0\s+3$/m);
    expect(r.stdout).toContain("hosts, unified (podVM)\nhost    podVMs  other VMs  memory    reserved  used      k8s requests  CPUs  reserved  vCPUs\nesx-a1  ");
    expect(r.stdout).toMatch(/^esx-b1\s+2\s+1\s+8\.00 GiB\s+7\.48 GiB\s+6\.86 GiB\s+880 MiB\s+4\s+3\.70\s+2$/m);
    expect(r.stdout).toMatch(/^default\/web-5\s+pending\s+-\s+760 MiB\s+1\s+440 MiB, 0\.55 CPU\s+1\s+\S+ \S+\s+VM layer refused the podVM: esx-b1 has 0\.52 GiB of memory unreserved, the podVM needs 0\.74 GiB$/m);
    expect(r.stderr).toContain("t=0s unified: placed default/db-0 on esx-a1\n");
    expect(r.stderr).toContain("t=0s independent: bind-failed default/web-5 to esx-b1 (VM layer refused the podVM: esx-b1 has 0.52 GiB of memory unreserved, the podVM needs 0.74 GiB)\n");
    expect(r.stderr).toMatch(/^independent: 7 pods placed, 3 waiting, 3 binds failed, in \d+\.\d\d s$/m);
  });

  it("--json: every figure of each flow, and the warnings", async () => {
    const r = await run(["cluster", "--scenario", "example:scenario.yaml", "--hosts-file", "example:hosts.yaml", "--compare", "--json"]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { hosts: number; warnings: string[]; results: Record<string, ClusterReport> };
    expect(out.hosts).toBe(4);
    expect(out.warnings).toEqual([]);
    expect(Object.keys(out.results)).toEqual(["unified", "independent"]);
    expect(out.results.unified.totals).toMatchObject({ pods: 12, placed: 4, refused: 0, deleted: 8, bindFailures: 0, memoryUsed: "model" });
    expect(out.results.unified.pods.map((p) => p.pod)).toHaveLength(12);
    expect(out.results.independent.events.filter((e) => e.kind === "bind-failed").length).toBe(out.results.independent.totals.bindFailures);
  });

  it("N identical hosts, one flow, more files after --pods; --rows clips the tables", async () => {
    const r = await run(["cluster", "--pods", "example:web.yaml", "example:runtimeclass.yaml", "--hosts", "3", "--host-memory", "4GiB", "--host-cpus", "4", "--mode", "independent", "--rows", "2"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\s+independent$/m);
    expect(r.stdout).toContain("(1 more hosts: --rows N, or --json for all)");
    expect(r.stdout).toContain("(6 more pods: --rows N, or --json for all)");
    expect(r.stdout).toMatch(/^pods placed \(running\)\s+8$/m);
  });

  it("a large run reports one line per scenario step", async () => {
    const file = join(dir, "many.yaml");
    writeFileSync(file, "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: m }\nspec:\n  replicas: 150\n  template:\n    spec:\n      containers: [{ name: c, resources: { limits: { memory: 64Mi, cpu: 10m } } }]\n");
    const r = await run(["cluster", "--pods", file, "--hosts", "2", "--host-memory", "4GiB", "--host-cpus", "8"]);
    expect(r.status).toBe(0);
    // 64 podVMs of 64 MiB fill each 4 GiB host: 128 placed, 22 wait.
    expect(r.stderr.split("\n")[0]).toBe("t=0s unified: 0 deleted, 128 placed, 22 refused, 0 binds failed");
  });

  it("warns on stderr about what the manifests hold that the model ignores", async () => {
    const file = join(dir, "tolerations.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: Pod\nmetadata: { name: t }\nspec:\n  tolerations: [{ operator: Exists }]\n  containers: [{ name: c }]\n");
    const r = await run(["cluster", "--pods", file, "--hosts", "1", "--host-memory", "4GiB", "--host-cpus", "2"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`warning: ignored spec.tolerations of Pod (not modelled): 1 object, first Pod default/t (${file}:5)\n`);
  });

  const refusals: Array<[string, string[], RegExp]> = [
    ["no hosts", ["--pods", "example:small.yaml"], /^hypermem cluster: missing --hosts-file FILE, or --hosts N with --host-memory SIZE and --host-cpus N\n/],
    ["no pods", ["--hosts", "1", "--host-memory", "1GiB", "--host-cpus", "1"], /^hypermem cluster: missing --pods FILE or --scenario FILE \(the pods to schedule\)\n/],
    ["--hosts without --host-cpus", ["--pods", "example:small.yaml", "--hosts", "2", "--host-memory", "1GiB"], /^hypermem cluster: --hosts 2: needs --host-cpus N \(every host needs its CPUs\)\n/],
    ["--hosts-file with --hosts", ["--pods", "example:small.yaml", "--hosts-file", "example:hosts.yaml", "--hosts", "2"], /--hosts-file example:hosts\.yaml: not with --hosts/],
    ["--compare with --mode", ["--pods", "example:small.yaml", "--hosts-file", "example:hosts.yaml", "--compare", "--mode", "unified"], /--compare: not with --mode/],
    ["a missing file", ["--pods", "nope.yaml", "--hosts-file", "example:hosts.yaml"], /^hypermem cluster: --pods nope\.yaml: cannot read nope\.yaml: no such file\n/],
    ["a missing example", ["--pods", "example:nope.yaml", "--hosts-file", "example:hosts.yaml"], /--pods example:nope\.yaml: cannot read .*examples\/nope\.yaml: no such file/],
    ["a path as an example name", ["--pods", "example:../package.json", "--hosts-file", "example:hosts.yaml"], /--pods example:\.\.\/package\.json: example:NAME names a file of hypermem's examples\/ folder/],
    ["a manifest missing its RuntimeClass", ["--pods", "example:web.yaml", "--hosts-file", "example:hosts.yaml"],
      /^hypermem cluster: --pods example:web\.yaml: Deployment default\/web: spec\.template\.spec\.runtimeClassName: no RuntimeClass "kata-fc" in the manifests \(add one, with overhead\.podFixed\) \(.*examples\/web\.yaml:\d+\)\n/],
    ["a hosts file that is not one", ["--pods", "example:small.yaml", "--hosts-file", "example:web.yaml"], /--hosts-file example:web\.yaml: hosts file .*web\.yaml: kind: must be Cluster, got "Deployment"/],
    ["--materialize on a cluster too large", ["--pods", "example:small.yaml", "--hosts", "3", "--host-memory", "4GiB", "--host-cpus", "1", "--materialize"],
      /^hypermem cluster: --materialize: 12288 MiB of host memory in all; at most 8192 MiB become real\n/],
    ["a bad --headroom", ["--pods", "example:small.yaml", "--hosts", "1", "--host-memory", "1GiB", "--host-cpus", "1", "--headroom", "2"], /--headroom 2: must be a number from 0 to 0\.9/],
  ];
  for (const [what, args, message] of refusals) {
    it(`refuses ${what}, naming it (exit 2)`, async () => {
      const r = await run(["cluster", ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    });
  }

  it("a manifest error names the argument that gave the file, after --pods or as a scenario's", async () => {
    const bad = join(dir, "badcpu.yaml");
    writeFileSync(bad, "apiVersion: v1\nkind: Pod\nmetadata: { name: x }\nspec: { containers: [{ name: c, resources: { limits: { cpu: lots } } }] }\n");
    const why = `Pod default/x: spec.containers[0].resources.limits.cpu: "lots" is not a Kubernetes quantity (such as 512Mi, 1Gi, 500m, 0.5 or 2e3) (${bad}:4)`;
    const hosts = ["--hosts", "1", "--host-memory", "1GiB", "--host-cpus", "1"];
    expect((await run(["cluster", "--pods", "example:small.yaml", bad, ...hosts])).stderr).toBe(`hypermem cluster: FILE ${bad}: ${why}\n`);
    const scenario = join(dir, "bad-scenario.yaml");
    writeFileSync(scenario, "events:\n  - { at: 0s, add: [badcpu.yaml] }\n");
    expect((await run(["cluster", "--scenario", scenario, "--pods", "example:small.yaml", ...hosts])).stderr).toBe(`hypermem cluster: --scenario ${scenario}: ${why}\n`);
  });

  it("a manifest error with --json is one JSON object naming the field", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: Pod\nmetadata: { name: b }\nspec:\n  containers: [{ name: c, resources: { limits: { memory: 1Qi } } }]\n");
    const r = await run(["cluster", "--pods", file, "--hosts", "1", "--host-memory", "1GiB", "--host-cpus", "1", "--json"]);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: "ERR_MANIFEST", option: "--pods", kind: "Pod", name: "default/b", field: "spec.containers[0].resources.limits.memory", line: 5 });
  });
});
