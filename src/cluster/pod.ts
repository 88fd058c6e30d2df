// The pod model read from a manifest: what the two schedulers and the podVM
// sizing need, validated field by field (ERR_MANIFEST naming the pod, the
// field and the line). A Deployment's replicas share one PodTemplate.
//
//   Pod ── name, namespace, owner (the Deployment)
//    └─ PodTemplate ── labels, priority, runtimeClass (overhead.podFixed)
//        ├─ containers[], initContainers[] ── requests, limits (memory bytes, millicores)
//        ├─ nodeSelector, nodeAffinity (required terms, ORed)
//        └─ podAffinity, podAntiAffinity (required terms: selector, namespaces, topologyKey)
//
// Kubernetes' defaulting is applied: a container's missing request takes its
// limit. A request above its limit is refused, as the API server does.
import { Fields } from "./fields.js";
import { readLabels, readLabelSelector, readNodeSelectorTerm, type LabelSelector, type Labels, type NodeSelectorTerm } from "./labels.js";
import { parseQuantity, quantityBytes, quantityMilli } from "./quantity.js";
import { whereOf } from "./source.js";
import type { Warnings } from "./warnings.js";

/** Memory in bytes and CPU in millicores; null where the manifest says nothing. */
export interface ResourceAmounts {
  readonly memoryBytes: number | null;
  readonly milliCpu: number | null;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string | null;
  /** After defaulting: a missing request takes the limit. */
  readonly requests: ResourceAmounts;
  readonly limits: ResourceAmounts;
}

/** A RuntimeClass (node.k8s.io/v1) and its fixed per-pod overhead. */
export interface RuntimeClass {
  readonly name: string;
  readonly handler: string;
  readonly overhead: { readonly memoryBytes: number; readonly milliCpu: number };
}

/** A required pod (anti-)affinity term. */
export interface PodAffinityTerm {
  /** null: the term selects no pod (no labelSelector). */
  readonly selector: LabelSelector | null;
  /** The namespaces whose pods the term looks at; null: every namespace (namespaceSelector: {}). */
  readonly namespaces: readonly string[] | null;
  readonly topologyKey: string;
}

export interface PodTemplate {
  readonly namespace: string;
  readonly labels: Labels;
  readonly containers: readonly ContainerSpec[];
  readonly initContainers: readonly ContainerSpec[];
  readonly runtimeClass: RuntimeClass | null;
  readonly priority: number;
  readonly nodeSelector: Labels;
  /** Required node affinity: ORed terms; null when the pod has none. */
  readonly nodeAffinity: readonly NodeSelectorTerm[] | null;
  readonly podAffinity: readonly PodAffinityTerm[];
  readonly podAntiAffinity: readonly PodAffinityTerm[];
  /** Where the template was read ("web.yaml:7"). */
  readonly where: string;
}

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  /** "namespace/name", unique in a cluster. */
  readonly key: string;
  readonly template: PodTemplate;
  /** "Deployment default/web" for a replica; null for a plain Pod. */
  readonly owner: string | null;
}

/** What a template may refer to, from every manifest of the run. */
export interface ClassLookup {
  readonly runtimeClasses: ReadonlyMap<string, RuntimeClass>;
  readonly priorityClasses: ReadonlyMap<string, number>;
  /** The value of the PriorityClass marked globalDefault, or 0. */
  readonly defaultPriority: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_PRIORITY = 2_000_001_000;

/** Why `name` is not an object name (a DNS subdomain, at most 253 characters), or null. */
export function nameProblem(name: string): string | null {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name) ? null : `${JSON.stringify(name)} is not a valid name (lowercase letters, digits, '-' and '.', at most 253 characters)`;
}

/** Why `name` is not a DNS label (namespaces, container names), or null. */
export function labelNameProblem(name: string): string | null {
  return name.length <= 63 && DNS_LABEL.test(name) ? null : `${JSON.stringify(name)} is not a valid DNS label (lowercase letters, digits and '-', at most 63 characters)`;
}

/** Reads a memory or CPU quantity at `key` of `f`: bytes or millicores. */
export function readResource(f: Fields, key: string, unit: "bytes" | "milli"): number {
  const q = parseQuantity(f.raw(key));
  if (typeof q === "string") throw f.fail([key], q);
  const v = unit === "bytes" ? quantityBytes(q) : quantityMilli(q);
  if (typeof v === "string") throw f.fail([key], v);
  return v;
}

interface ReadAmounts {
  readonly amounts: ResourceAmounts;
  /** The manifest's text of each, for messages. */
  readonly texts: { readonly memory: string; readonly cpu: string };
}

function readAmounts(f: Fields | null, warnings: Warnings): ReadAmounts {
  if (f === null) return { amounts: { memoryBytes: null, milliCpu: null }, texts: { memory: "", cpu: "" } };
  const memoryBytes = f.has("memory") ? readResource(f, "memory", "bytes") : null;
  const milliCpu = f.has("cpu") ? readResource(f, "cpu", "milli") : null;
  f.done(warnings);
  return { amounts: { memoryBytes, milliCpu }, texts: { memory: String(f.value.memory), cpu: String(f.value.cpu) } };
}

function readContainer(f: Fields, warnings: Warnings): ContainerSpec {
  const name = f.requiredString("name");
  const bad = labelNameProblem(name);
  if (bad) throw f.fail(["name"], bad);
  const image = f.string("image") ?? null;
  const r = f.map("resources");
  const limits = readAmounts(r?.map("limits") ?? null, warnings);
  const given = readAmounts(r?.map("requests") ?? null, warnings);
  r?.done(warnings);
  const requests = {
    memoryBytes: given.amounts.memoryBytes ?? limits.amounts.memoryBytes,
    milliCpu: given.amounts.milliCpu ?? limits.amounts.milliCpu,
  };
  const pairs = [["memory", given.amounts.memoryBytes, limits.amounts.memoryBytes], ["cpu", given.amounts.milliCpu, limits.amounts.milliCpu]] as const;
  for (const [key, request, limit] of pairs) {
    if (request !== null && limit !== null && request > limit) {
      throw f.fail(["resources", "requests", key], `the request ${given.texts[key]} is more than the limit ${limits.texts[key]}`);
    }
  }
  f.done(warnings);
  return Object.freeze({ name, image, requests: Object.freeze(requests), limits: Object.freeze(limits.amounts) });
}

function readAffinityTerms(f: Fields | null, namespace: string, warnings: Warnings): PodAffinityTerm[] {
  if (f === null) return [];
  const terms = f.maps("requiredDuringSchedulingIgnoredDuringExecution").map((t) => {
    const topologyKey = t.requiredString("topologyKey");
    const selectorFields = t.map("labelSelector");
    const selector = selectorFields === null ? null : readLabelSelector(selectorFields, warnings);
    const listed = t.list("namespaces").map((n, i) => {
      if (typeof n !== "string" || labelNameProblem(n)) throw t.fail(["namespaces", i], `must be a namespace name, got ${JSON.stringify(n)}`);
      return n;
    });
    const nsSelector = t.map("namespaceSelector");
    const everyNamespace = nsSelector !== null && Object.keys(nsSelector.value).length === 0;
    if (nsSelector !== null && !everyNamespace) {
      warnings.add(`ignored a non-empty namespaceSelector of a ${f.subject.kind} affinity term (namespaces carry no labels here; the term looks at its own namespaces)`, `${f.subject.kind} ${f.subject.name} (${whereOf(t.subject, t.at("namespaceSelector"))})`);
    }
    t.done(warnings);
    const namespaces = everyNamespace ? null : Object.freeze(listed.length > 0 ? listed : [namespace]);
    return Object.freeze({ selector, namespaces, topologyKey });
  });
  f.done(warnings);
  return terms;
}

function readPriority(spec: Fields, classes: ClassLookup): number {
  const className = spec.string("priorityClassName");
  const explicit = spec.integer("priority", -MAX_PRIORITY, MAX_PRIORITY);
  if (className === undefined) return explicit ?? classes.defaultPriority;
  const value = classes.priorityClasses.get(className);
  if (value === undefined) {
    const known = [...classes.priorityClasses.keys()];
    throw spec.fail(["priorityClassName"], `no PriorityClass ${JSON.stringify(className)} in the manifests${known.length ? ` (known: ${known.join(", ")})` : ""}`);
  }
  if (explicit !== undefined && explicit !== value) {
    throw spec.fail(["priority"], `${explicit} differs from PriorityClass ${className}'s value ${value}`);
  }
  return value;
}

function readRuntimeClass(spec: Fields, classes: ClassLookup): RuntimeClass | null {
  const name = spec.string("runtimeClassName");
  if (name === undefined) return null;
  const rc = classes.runtimeClasses.get(name);
  if (rc === undefined) {
    const known = [...classes.runtimeClasses.keys()];
    throw spec.fail(["runtimeClassName"], `no RuntimeClass ${JSON.stringify(name)} in the manifests${known.length ? ` (known: ${known.join(", ")})` : " (add one, with overhead.podFixed)"}`);
  }
  return rc;
}

/**
 * Reads a pod's metadata labels and spec (a Pod's own, or a Deployment's
 * template) into a template of namespace `namespace`.
 */
export function readPodTemplate(metadata: Fields | null, spec: Fields, namespace: string, classes: ClassLookup, warnings: Warnings): PodTemplate {
  const labels = metadata === null ? Object.freeze({}) : readLabels(metadata, "labels");
  const containerFields = spec.maps("containers");
  if (containerFields.length === 0) throw spec.fail(["containers"], "a pod needs at least one container");
  const containers = containerFields.map((c) => readContainer(c, warnings));
  const initContainers = spec.maps("initContainers").map((c) => readContainer(c, warnings));
  const names = new Set<string>();
  for (const [list, field] of [[containers, "containers"], [initContainers, "initContainers"]] as const) {
    list.forEach((c, i) => {
      if (names.has(c.name)) throw spec.fail([field, i, "name"], `container name ${JSON.stringify(c.name)} is used twice in the pod`);
      names.add(c.name);
    });
  }
  const runtimeClass = readRuntimeClass(spec, classes);
  const priority = readPriority(spec, classes);
  const nodeSelector = readLabels(spec, "nodeSelector");
  const affinity = spec.map("affinity");
  const nodeAffinityFields = affinity?.map("nodeAffinity") ?? null;
  const required = nodeAffinityFields?.map("requiredDuringSchedulingIgnoredDuringExecution") ?? null;
  let nodeAffinity: NodeSelectorTerm[] | null = null;
  if (required !== null) {
    nodeAffinity = required.maps("nodeSelectorTerms").map((t) => readNodeSelectorTerm(t, warnings));
    if (nodeAffinity.length === 0) throw required.fail(["nodeSelectorTerms"], "must hold at least one term");
    required.done(warnings);
  }
  nodeAffinityFields?.done(warnings);
  const podAffinity = readAffinityTerms(affinity?.map("podAffinity") ?? null, namespace, warnings);
  const podAntiAffinity = readAffinityTerms(affinity?.map("podAntiAffinity") ?? null, namespace, warnings);
  affinity?.done(warnings);
  spec.done(warnings);
  return Object.freeze({
    namespace, labels, containers: Object.freeze(containers), initContainers: Object.freeze(initContainers), runtimeClass, priority,
    nodeSelector, nodeAffinity: nodeAffinity && Object.freeze(nodeAffinity), podAffinity: Object.freeze(podAffinity),
    podAntiAffinity: Object.freeze(podAntiAffinity), where: whereOf(spec.subject, spec.path),
  });
}
