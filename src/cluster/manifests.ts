// Kubernetes manifests in, pods out. Files hold YAML or JSON documents; each
// is an object of a kind this model reads, or is ignored with a warning:
//
//   kind            apiVersion              becomes
//   Pod             v1                      one pod
//   List            v1                      its items, each read as above
//   Deployment      apps/v1                 spec.replicas pods named NAME-0, NAME-1...
//   RuntimeClass    node.k8s.io/v1          overhead.podFixed for pods naming it
//   PriorityClass   scheduling.k8s.io/v1    value (and globalDefault) for pods naming it
//
// RuntimeClasses and PriorityClasses are collected from every file first, so
// a pod may name one defined in another file. A pod name used twice in a
// namespace is an error naming both places.
import { ErrorCode, HypermemError } from "../errors.js";
import { readDocuments, type ParsedDocument } from "./documents.js";
import { Fields } from "./fields.js";
import { labelNameProblem, nameProblem, readPodTemplate, readResource, type ClassLookup, type Pod, type RuntimeClass } from "./pod.js";
import { subjectLabel, whereOf, type Path, type Subject } from "./source.js";
import { Warnings } from "./warnings.js";

export interface ManifestFile {
  /** The name errors and warnings use ("web.yaml"). */
  readonly file: string;
  readonly text: string;
}

export interface ManifestSet {
  readonly pods: readonly Pod[];
  readonly classes: ClassLookup;
  readonly warnings: Warnings;
}

/** One top-level object (or List item) of a document. */
export interface ManifestObject {
  readonly doc: ParsedDocument;
  readonly base: Path;
  readonly value: unknown;
}

const API_VERSIONS: Readonly<Record<string, string>> = {
  Pod: "v1", List: "v1", Deployment: "apps/v1", RuntimeClass: "node.k8s.io/v1", PriorityClass: "scheduling.k8s.io/v1",
};
/** Replicas of one Deployment. */
export const MAX_REPLICAS = 1_000_000;
/** PriorityClass values users may give (higher ones are reserved for system classes). */
const MAX_USER_PRIORITY = 1_000_000_000;

interface Header {
  readonly kind: string;
  readonly fields: Fields;
  readonly metadata: Fields;
  readonly name: string;
  readonly namespace: string;
}

function subjectOf(o: ManifestObject, kind: string, name: string | null): Subject {
  return { kind, name, source: o.doc.source, base: o.base };
}

/** Kind, apiVersion, metadata.name and namespace of an object of a known kind. */
function readHeader(o: ManifestObject, kind: string): Header {
  // The name is peeked at first, unchecked, so that every error (about the metadata too) names the object.
  const anonymous = Fields.of(subjectOf(o, kind, null), [], o.value);
  const metadata = anonymous.map("metadata");
  const rawName = metadata?.value.name;
  const name = typeof rawName === "string" ? rawName : null;
  const namespace = typeof metadata?.value.namespace === "string" ? metadata.value.namespace : "default";
  const scoped = kind === "RuntimeClass" || kind === "PriorityClass" ? name : name && `${namespace}/${name}`;
  const fields = Fields.of(subjectOf(o, kind, scoped), [], o.value);
  fields.accept("kind");
  const apiVersion = fields.requiredString("apiVersion");
  if (apiVersion !== API_VERSIONS[kind]) throw fields.fail(["apiVersion"], `must be ${API_VERSIONS[kind]} for a ${kind}, got ${JSON.stringify(apiVersion)}`);
  const meta = fields.map("metadata");
  if (meta === null) throw fields.fail(["metadata"], "is required (with a name)");
  const checkedName = meta.requiredString("name");
  const badName = nameProblem(checkedName);
  if (badName) throw meta.fail(["name"], badName);
  const ns = meta.string("namespace") ?? "default";
  const badNs = labelNameProblem(ns);
  if (badNs) throw meta.fail(["namespace"], badNs);
  return { kind, fields, metadata: meta, name: checkedName, namespace: ns };
}

/** The objects of `docs`, a List's items in its place. */
export function objectsOf(docs: readonly ParsedDocument[]): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const doc of docs) {
    const top: ManifestObject = { doc, base: [], value: doc.value };
    if (kindOf(top) !== "List") {
      out.push(top);
      continue;
    }
    const list = readHeaderless(top, "List");
    list.maps("items").forEach((item, i) => out.push({ doc, base: ["items", i], value: item.value }));
  }
  return out;
}

/** A List has no metadata.name to require. */
function readHeaderless(o: ManifestObject, kind: string): Fields {
  const f = Fields.of(subjectOf(o, kind, null), [], o.value);
  const apiVersion = f.requiredString("apiVersion");
  if (apiVersion !== API_VERSIONS[kind]) throw f.fail(["apiVersion"], `must be ${API_VERSIONS[kind]} for a ${kind}, got ${JSON.stringify(apiVersion)}`);
  return f;
}

/** The object's kind (checked to be a non-empty string). */
function kindOf(o: ManifestObject): string {
  const f = Fields.of(subjectOf(o, "object", null), [], o.value);
  return f.requiredString("kind");
}

function readRuntimeClass(h: Header, warnings: Warnings): RuntimeClass {
  const handler = h.fields.requiredString("handler");
  const overhead = h.fields.map("overhead");
  const podFixed = overhead?.map("podFixed") ?? null;
  const memoryBytes = podFixed?.has("memory") ? readResource(podFixed, "memory", "bytes") : 0;
  const milliCpu = podFixed?.has("cpu") ? readResource(podFixed, "cpu", "milli") : 0;
  podFixed?.done(warnings);
  overhead?.done(warnings);
  return Object.freeze({ name: h.name, handler, overhead: Object.freeze({ memoryBytes, milliCpu }) });
}

/** RuntimeClasses and PriorityClasses of every object. */
export function readClasses(objects: readonly ManifestObject[], warnings: Warnings): ClassLookup {
  const runtimeClasses = new Map<string, RuntimeClass>();
  const priorityClasses = new Map<string, number>();
  const seen = new Map<string, string>();
  let defaultPriority: { value: number; where: string } | null = null;
  for (const o of objects) {
    const kind = kindOf(o);
    if (kind !== "RuntimeClass" && kind !== "PriorityClass") continue;
    const h = readHeader(o, kind);
    const where = whereOf(h.fields.subject);
    const id = `${kind}/${h.name}`;
    if (seen.has(id)) throw h.metadata.fail(["name"], `${kind} ${h.name} is defined twice (also at ${seen.get(id)})`);
    seen.set(id, where);
    if (kind === "RuntimeClass") {
      runtimeClasses.set(h.name, readRuntimeClass(h, warnings));
    } else {
      const value = h.fields.integer("value", -MAX_USER_PRIORITY, MAX_USER_PRIORITY);
      if (value === undefined) throw h.fields.fail(["value"], "is required");
      priorityClasses.set(h.name, value);
      if (h.fields.boolean("globalDefault") === true) {
        if (defaultPriority) throw h.fields.fail(["globalDefault"], `a second globalDefault PriorityClass (the first is at ${defaultPriority.where})`);
        defaultPriority = { value, where };
      }
      h.fields.accept("description", "preemptionPolicy");
    }
    h.metadata.done(warnings);
    h.fields.done(warnings);
  }
  return Object.freeze({ runtimeClasses, priorityClasses, defaultPriority: defaultPriority?.value ?? 0 });
}

function readPod(h: Header, classes: ClassLookup, warnings: Warnings): Pod {
  const spec = h.fields.map("spec");
  if (spec === null) throw h.fields.fail(["spec"], "is required (with containers)");
  const template = readPodTemplate(h.metadata, spec, h.namespace, classes, warnings);
  h.metadata.done(warnings);
  h.fields.accept("status");
  h.fields.done(warnings);
  return Object.freeze({ name: h.name, namespace: h.namespace, key: `${h.namespace}/${h.name}`, template, owner: null });
}

function readDeployment(h: Header, classes: ClassLookup, warnings: Warnings): Pod[] {
  const spec = h.fields.map("spec");
  if (spec === null) throw h.fields.fail(["spec"], "is required (with a template)");
  const replicas = spec.integer("replicas", 0, MAX_REPLICAS) ?? 1;
  const templateFields = spec.map("template");
  if (templateFields === null) throw spec.fail(["template"], "is required");
  const podSpec = templateFields.map("spec");
  if (podSpec === null) throw templateFields.fail(["spec"], "is required (with containers)");
  const local = new Warnings();
  const podMeta = templateFields.map("metadata");
  const template = readPodTemplate(podMeta, podSpec, h.namespace, classes, local);
  podMeta?.accept("name", "namespace");
  podMeta?.done(local);
  templateFields.done(local);
  warnings.merge(local, Math.max(1, replicas));
  spec.accept("selector");
  spec.done(warnings);
  h.metadata.accept("labels");
  h.metadata.done(warnings);
  h.fields.accept("status");
  h.fields.done(warnings);
  const owner = `Deployment ${h.namespace}/${h.name}`;
  const pods: Pod[] = [];
  for (let i = 0; i < replicas; i++) {
    const name = `${h.name}-${i}`;
    if (nameProblem(name)) throw h.metadata.fail(["name"], `replica name ${JSON.stringify(name)} is too long`);
    pods.push(Object.freeze({ name, namespace: h.namespace, key: `${h.namespace}/${name}`, template, owner }));
  }
  return pods;
}

/** The pods of `objects` (Pods and Deployments' replicas), in order; other kinds are warned about. */
export function readPods(objects: readonly ManifestObject[], classes: ClassLookup, warnings: Warnings): Pod[] {
  const pods: Pod[] = [];
  for (const o of objects) {
    const kind = kindOf(o);
    if (kind === "Pod") pods.push(readPod(readHeader(o, kind), classes, warnings));
    else if (kind === "Deployment") pods.push(...readDeployment(readHeader(o, kind), classes, warnings));
    else if (kind !== "RuntimeClass" && kind !== "PriorityClass") {
      const subject = subjectOf(o, kind, null);
      warnings.add(`ignored kind ${kind} (not modelled)`, `${subjectLabel(subject)} (${whereOf(subject)})`);
    }
  }
  return pods;
}

/** Throws ERR_MANIFEST when two pods share a namespace and name. */
export function checkUniqueNames(pods: readonly Pod[]): void {
  const seen = new Map<string, Pod>();
  for (const p of pods) {
    const first = seen.get(p.key);
    if (first) {
      throw new HypermemError(ErrorCode.Manifest, `pod ${p.key} is defined twice: ${first.owner ?? "a Pod"} at ${first.template.where} and ${p.owner ?? "a Pod"} at ${p.template.where}`, { pod: p.key });
    }
    seen.set(p.key, p);
  }
}

/** Reads manifest files into pods, the classes they name and the warnings about what was ignored. */
export function parseManifests(files: readonly ManifestFile[]): ManifestSet {
  const warnings = new Warnings();
  const objects = objectsOf(files.flatMap((f) => readDocuments(f.file, f.text)));
  const classes = readClasses(objects, warnings);
  const pods = readPods(objects, classes, warnings);
  checkUniqueNames(pods);
  return Object.freeze({ pods: Object.freeze(pods), classes, warnings });
}
