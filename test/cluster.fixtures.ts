// Pods, hosts and random clusters for the cluster tests, built directly (no
// YAML): templates are frozen like the manifest reader's, so the schedulers'
// per-template caches work as they do on real input.
import fc from "fast-check";
import { HOSTNAME_LABEL, type ClusterHost } from "../src/cluster/hosts.js";
import type { LabelSelector, NodeSelectorTerm } from "../src/cluster/labels.js";
import type { ContainerSpec, Pod, PodAffinityTerm, PodTemplate } from "../src/cluster/pod.js";

export const MI = 2 ** 20;
export const GI = 2 ** 30;

export interface PodShape {
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  /** Container requests and limits (MiB, millicores); null: not given. */
  readonly requestMi?: number | null;
  readonly limitMi?: number | null;
  readonly requestMilli?: number | null;
  readonly limitMilli?: number | null;
  readonly overheadMi?: number;
  readonly overheadMilli?: number;
  readonly priority?: number;
  readonly nodeSelector?: Record<string, string>;
  readonly nodeAffinity?: NodeSelectorTerm[] | null;
  readonly podAffinity?: PodAffinityTerm[];
  readonly podAntiAffinity?: PodAffinityTerm[];
}

/** A template of one container shaped by `s`. */
export function template(s: PodShape = {}): PodTemplate {
  const amount = (mi: number | null | undefined, milli: number | null | undefined) => ({ memoryBytes: mi == null ? null : mi * MI, milliCpu: milli ?? null });
  const limits = amount(s.limitMi, s.limitMilli);
  const given = amount(s.requestMi, s.requestMilli);
  const container: ContainerSpec = {
    name: "c", image: null, limits,
    requests: { memoryBytes: given.memoryBytes ?? limits.memoryBytes, milliCpu: given.milliCpu ?? limits.milliCpu },
  };
  const overhead = s.overheadMi !== undefined || s.overheadMilli !== undefined;
  return Object.freeze({
    namespace: s.namespace ?? "default",
    labels: Object.freeze({ ...(s.labels ?? {}) }),
    containers: [container],
    initContainers: [],
    runtimeClass: overhead ? { name: "rc", handler: "rc", overhead: { memoryBytes: (s.overheadMi ?? 0) * MI, milliCpu: s.overheadMilli ?? 0 } } : null,
    priority: s.priority ?? 0,
    nodeSelector: Object.freeze({ ...(s.nodeSelector ?? {}) }),
    nodeAffinity: s.nodeAffinity ?? null,
    podAffinity: s.podAffinity ?? [],
    podAntiAffinity: s.podAntiAffinity ?? [],
    where: "test",
  });
}

export function podOf(name: string, t: PodTemplate, owner: string | null = null): Pod {
  return Object.freeze({ name, namespace: t.namespace, key: `${t.namespace}/${name}`, template: t, owner });
}

/** `count` replicas NAME-0.. of one template, owned by Deployment NAME. */
export function replicas(name: string, count: number, t: PodTemplate): Pod[] {
  return Array.from({ length: count }, (_, i) => podOf(`${name}-${i}`, t, `Deployment ${t.namespace}/${name}`));
}

export function host(name: string, memoryGi: number, cpus: number, labels: Record<string, string> = {}, extra: Partial<ClusterHost> = {}): ClusterHost {
  return Object.freeze({ name, memoryBytes: memoryGi * GI, cpus, maxPods: 110, vms: [], ...extra, labels: Object.freeze({ ...labels, [HOSTNAME_LABEL]: name }) });
}

export const selector = (labels: Record<string, string>): LabelSelector => ({ matchLabels: Object.entries(labels), matchExpressions: [] });

export function term(labels: Record<string, string>, topologyKey: string, namespaces: string[] | null = ["default"]): PodAffinityTerm {
  return Object.freeze({ selector: selector(labels), namespaces, topologyKey });
}

const ZONE = "topology.kubernetes.io/zone";
export const KEYS = [HOSTNAME_LABEL, ZONE, "rack"] as const;

/** Random hosts: 1-8, memory 1-8 GiB, 1-8 CPUs, a zone (sometimes none), a rack, small maxPods, sometimes a plain VM. */
export const arbHosts: fc.Arbitrary<ClusterHost[]> = fc.array(
  fc.record({
    memoryGi: fc.integer({ min: 1, max: 8 }),
    cpus: fc.integer({ min: 1, max: 8 }),
    zone: fc.constantFrom("a", "b", "c", null),
    rack: fc.constantFrom("r1", "r2", null),
    maxPods: fc.integer({ min: 1, max: 8 }),
    plainMi: fc.constantFrom(0, 0, 512, 1024),
  }),
  { minLength: 1, maxLength: 8 },
).map((rows) => rows.map((r, i) => {
  const labels: Record<string, string> = {};
  if (r.zone) labels[ZONE] = r.zone;
  if (r.rack) labels.rack = r.rack;
  const vms = r.plainMi > 0 && r.plainMi < r.memoryGi * 1024 ? [{ name: "vm", memoryBytes: r.plainMi * MI, milliCpu: 500 }] : [];
  return host(`h${i}`, r.memoryGi, r.cpus, labels, { maxPods: r.maxPods, vms });
}));

const arbTerm: fc.Arbitrary<PodAffinityTerm> = fc.record({
  app: fc.constantFrom("x", "y", "z"),
  key: fc.constantFrom(...KEYS),
  ns: fc.constantFrom<string[] | null>(["default"], ["other"], null),
}).map((t) => term({ app: t.app }, t.key, t.ns));

/** Random pod templates: sizes, labels, namespaces, node selectors, affinity and anti-affinity terms. */
export const arbTemplate: fc.Arbitrary<PodTemplate> = fc.record({
  requestMi: fc.constantFrom(null, 64, 256, 512, 1024),
  extraLimitMi: fc.constantFrom(null, 0, 256, 1024),
  requestMilli: fc.constantFrom(null, 100, 500, 1000),
  overheadMi: fc.constantFrom(0, 120),
  app: fc.constantFrom("x", "y", "z"),
  namespace: fc.constantFrom("default", "default", "other"),
  priority: fc.integer({ min: 0, max: 2 }),
  zoneSelector: fc.constantFrom(null, null, "a", "b"),
  affinity: fc.array(arbTerm, { maxLength: 2 }),
  antiAffinity: fc.array(arbTerm, { maxLength: 2 }),
}).map((s) => template({
  requestMi: s.requestMi,
  limitMi: s.requestMi !== null && s.extraLimitMi !== null ? s.requestMi + s.extraLimitMi : null,
  requestMilli: s.requestMilli,
  overheadMi: s.overheadMi,
  labels: { app: s.app },
  namespace: s.namespace,
  priority: s.priority,
  nodeSelector: s.zoneSelector ? { [ZONE]: s.zoneSelector } : {},
  podAffinity: s.affinity,
  podAntiAffinity: s.antiAffinity,
}));

/** Random pods: up to 24, from up to 6 templates (so some share one, as replicas do). */
export const arbPods: fc.Arbitrary<Pod[]> = fc.tuple(
  fc.array(arbTemplate, { minLength: 1, maxLength: 6 }),
  fc.array(fc.nat(), { minLength: 1, maxLength: 24 }),
).map(([templates, picks]) => picks.map((n, i) => podOf(`p${i}`, templates[n % templates.length])));
