// The cluster's scale target: 1,000 hosts and 20,000 pods placed in under
// 10 s of wall time (metadata only: podVMs without guest memory), by the
// unified flow and, in the same run, by the two independent schedulers.
//
//   hosts  1,000 × 64 GiB, 32 CPUs, in 10 zones
//   pods   20 Deployments × 1,000 replicas from manifests (parsed untimed), kata overhead
//          120Mi/250m; every fifth Deployment one replica per host (required anti-affinity
//          on the host name), four others pinned to half the zones (node affinity In)
//
// Each pass is verified before its time counts: every pod placed, no host
// reserved past its capacity (recomputed from the podVM sizes), one replica
// per host where anti-affinity asks, and in the unified flow every pod bound
// to the host its VM scheduler selected. As scenario rows of `npm run bench`
// GB/s is podVM memory placed per wall second; `npx tsx bench/cases/cluster.ts`
// prints the wall times against the target and exits 1 above it.
import { pathToFileURL } from "node:url";
import type { ScenarioBench } from "../case.js";
import { parseManifests } from "../../src/cluster/manifests.js";
import { uniformHosts, type ClusterHost } from "../../src/cluster/hosts.js";
import { runCluster } from "../../src/cluster/run.js";
import type { ClusterReport } from "../../src/cluster/figures.js";
import type { ClusterScenario } from "../../src/cluster/scenario.js";
import type { ClusterMode } from "../../src/cluster/flows.js";
import type { Pod } from "../../src/cluster/pod.js";

export const SCALE_HOSTS = 1000;
export const SCALE_PODS = 20_000;
export const SCALE_TARGET_MS = 10_000;
const ZONES = 10;
const DEPLOYMENTS = 20;

function manifests(): string {
  const docs = ["apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: { name: kata }\nhandler: kata\noverhead: { podFixed: { memory: 120Mi, cpu: 250m } }"];
  for (let d = 0; d < DEPLOYMENTS; d++) {
    const rules: string[] = [];
    if (d % 4 === 1 && d % 5 !== 0) rules.push(`nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n              - matchExpressions: [{ key: topology.kubernetes.io/zone, operator: In, values: [z0, z1, z2, z3, z4] }]`);
    if (d % 5 === 0) rules.push(`podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - { labelSelector: { matchLabels: { app: app-${d} } }, topologyKey: kubernetes.io/hostname }`);
    docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: { name: app-${d} }
spec:
  replicas: ${SCALE_PODS / DEPLOYMENTS}
  selector: { matchLabels: { app: app-${d} } }
  template:
    metadata: { labels: { app: app-${d} } }
    spec:
      runtimeClassName: kata${rules.length ? `\n      affinity:\n        ${rules.join("\n        ")}` : ""}
      containers:
        - name: main
          image: app:${d}
          resources:
            requests: { memory: ${256 + 64 * (d % 7)}Mi, cpu: ${100 + 50 * (d % 4)}m }
            limits: { memory: ${512 + 128 * (d % 7)}Mi, cpu: ${200 + 100 * (d % 4)}m }`);
  }
  return docs.join("\n---\n");
}

export interface ScaleInput {
  readonly hosts: readonly ClusterHost[];
  readonly scenario: ClusterScenario;
  readonly parseMs: number;
}

/** The hosts and the pods (manifests parsed here, untimed by the passes). */
export function scaleInput(): ScaleInput {
  const started = performance.now();
  const set = parseManifests([{ file: "scale.yaml", text: manifests() }]);
  const parseMs = performance.now() - started;
  const hosts = uniformHosts({ count: SCALE_HOSTS, memoryBytes: 64 * 2 ** 30, cpus: 32 })
    .map((h, i) => Object.freeze({ ...h, labels: Object.freeze({ ...h.labels, "topology.kubernetes.io/zone": `z${i % ZONES}` }) }));
  return { hosts, scenario: { steps: [{ atNs: 0, delete: [], add: set.pods }], warnings: set.warnings }, parseMs };
}

/** Throws when `r` is not a correct placement of every pod. */
export function verifyScale(input: ScaleInput, r: ClusterReport): void {
  const fail = (why: string): never => { throw new Error(`cluster bench (${r.mode}): ${why}`); };
  if (r.totals.placed !== SCALE_PODS) fail(`${r.totals.placed} of ${SCALE_PODS} pods placed`);
  const pods = new Map<string, Pod>(input.scenario.steps[0].add.map((p) => [p.key, p]));
  const reserved = new Map<string, number>();
  const spread = new Set<string>();
  for (const p of r.pods) {
    const pod = pods.get(p.pod)!;
    reserved.set(p.host!, (reserved.get(p.host!) ?? 0) + p.podVm.memoryBytes);
    if (pod.template.podAntiAffinity.length > 0) {
      const key = `${pod.owner} ${p.host}`;
      if (spread.has(key)) fail(`two replicas of ${pod.owner} on ${p.host} despite their anti-affinity`);
      spread.add(key);
    }
    if (r.mode === "unified" && p.selectedHost !== p.host) fail(`${p.pod} bound to ${p.host}, selected ${p.selectedHost}`);
  }
  for (const h of input.hosts) if ((reserved.get(h.name) ?? 0) > h.memoryBytes) fail(`${h.name} reserved past its memory`);
}

function scenarioBench(mode: ClusterMode): ScenarioBench {
  return {
    name: `cluster-${SCALE_HOSTS}-hosts-${SCALE_PODS}-pods-${mode}`,
    passes: 3,
    async setup() {
      const input = scaleInput();
      return {
        async run() {
          const started = performance.now();
          const r = runCluster(input.hosts, input.scenario, { mode });
          const wallMs = performance.now() - started;
          verifyScale(input, r);
          return { bytes: r.totals.memoryReservedBytes, ops: r.totals.placed, wallMs };
        },
      };
    },
  };
}

export const clusterScenarios: readonly ScenarioBench[] = [scenarioBench("unified"), scenarioBench("independent")];

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const input = scaleInput();
  console.log(`manifests parsed in ${(input.parseMs / 1e3).toFixed(2)} s: ${input.scenario.steps[0].add.length} pods`);
  let over = false;
  for (const mode of ["unified", "independent"] as const) {
    const started = performance.now();
    const r = runCluster(input.hosts, input.scenario, { mode });
    const ms = performance.now() - started;
    verifyScale(input, r);
    over ||= ms > SCALE_TARGET_MS;
    console.log(`${mode}: ${r.totals.placed} pods on ${SCALE_HOSTS} hosts in ${(ms / 1e3).toFixed(2)} s (target < ${SCALE_TARGET_MS / 1e3} s), ` +
      `${r.totals.bindFailures} binds failed, fragmentation ${(r.totals.fragmentation * 100).toFixed(1)} %, memory balance ${(r.totals.memoryBalanceStdDev * 100).toFixed(2)} %`);
  }
  process.exitCode = over ? 1 : 0;
}
