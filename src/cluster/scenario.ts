// Pods added and deleted over time: a scenario file.
//
//   kind: Scenario                     # optional
//   events:
//     - at: 0s                         # 500ms, 30s, 1.5min, 2h, or a number of seconds
//       add: [web.yaml, db.yaml]       # manifest files (relative to this file) or inline manifests
//     - at: 30s
//       delete: [web, default/db-0]    # a pod ("ns/name", or "name" in default), else a Deployment's replicas
//     - at: 45s
//       add:
//         - { apiVersion: v1, kind: Pod, metadata: { name: batch }, spec: { containers: [...] } }
//
// Events run in time order (a stable sort); within one event the deletes come
// first. Every manifest of every event (and the --pods files, added at time 0)
// is read before the run: RuntimeClasses and PriorityClasses are shared, and a
// pod added while one of its name lives, or a delete naming nothing alive at
// its time, is ERR_SCENARIO before any pod is placed.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown } from "../options.js";
import type { Cluster } from "./cluster.js";
import { readDocuments, type ParsedDocument } from "./documents.js";
import { Fields } from "./fields.js";
import { checkUniqueNames, objectsOf, readClasses, readPods, type ManifestFile, type ManifestObject } from "./manifests.js";
import { podsNamed } from "./names.js";
import type { Pod } from "./pod.js";
import type { Subject } from "./source.js";
import { Warnings } from "./warnings.js";

export interface ScenarioStep {
  readonly atNs: number;
  readonly delete: readonly string[];
  readonly add: readonly Pod[];
}

export interface ClusterScenario {
  /** In time order. */
  readonly steps: readonly ScenarioStep[];
  /** What the manifests held that the model ignores. */
  readonly warnings: Warnings;
}

export interface ScenarioInput {
  /** Manifests whose pods are added at time 0 (hypermem cluster --pods). */
  readonly pods?: readonly ManifestFile[];
  /** A scenario file. */
  readonly scenario?: ManifestFile;
  /** Reads a manifest a scenario names (a path relative to the scenario's folder). @default readFileSync as UTF-8 */
  readonly readText?: (path: string) => string;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|min|h)$/;
const NS_PER: Readonly<Record<string, number>> = { ms: 1e6, s: 1e9, min: 60e9, h: 3600e9 };
const EVENT_KEYS = ["at", "add", "delete"];

function readTime(f: Fields): number {
  const v = f.raw("at");
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v * 1e9;
  const m = typeof v === "string" ? DURATION.exec(v.trim()) : null;
  if (m === null) throw f.fail(["at"], `must be a time such as 0s, 500ms, 30s, 1.5min or 2h, got ${JSON.stringify(v) ?? "nothing"}`);
  return Number(m[1]) * NS_PER[m[2]];
}

interface RawStep {
  readonly atNs: number;
  readonly order: number;
  readonly delete: readonly string[];
  readonly objects: readonly ManifestObject[];
  readonly fields: Fields;
}

function readEvents(file: ManifestFile, readText: (path: string) => string): RawStep[] {
  const docs = readDocuments(file.file, file.text, ErrorCode.Scenario);
  if (docs.length !== 1) throw new HypermemError(ErrorCode.Scenario, `${file.file}: a scenario file holds one document, found ${docs.length}`, { file: file.file });
  const doc = docs[0];
  const subject: Subject = { kind: "scenario", name: file.file, source: doc.source, base: [], code: ErrorCode.Scenario };
  const top = Fields.of(subject, [], doc.value);
  const kind = top.string("kind");
  if (kind !== undefined && kind !== "Scenario") throw top.fail(["kind"], `must be Scenario, got ${JSON.stringify(kind)}`);
  const events = top.maps("events");
  top.strict(["kind", "events"]);
  if (events.length === 0) throw top.fail(["events"], "must list at least one event");
  return events.map((e, order) => {
    const atNs = readTime(e);
    const deletes = e.list("delete").map((n, i) => {
      if (typeof n !== "string" || n === "") throw e.fail(["delete", i], `must be a pod or Deployment name, got ${JSON.stringify(n)}`);
      return n;
    });
    const objects: ManifestObject[] = [];
    e.list("add").forEach((item, i) => {
      if (typeof item === "string") {
        const path = isAbsolute(item) ? item : join(dirname(file.file), item);
        let text: string;
        try {
          text = readText(path);
        } catch (err) {
          throw e.fail(["add", i], `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        objects.push(...objectsOf(readDocuments(path, text)));
      } else {
        const inline: ParsedDocument = { source: doc.source, value: item };
        objects.push(...objectsOf([inline]).map((o) => ({ ...o, base: ["events", order, "add", i, ...o.base] })));
      }
    });
    e.strict(EVENT_KEYS);
    return { atNs, order, delete: deletes, objects, fields: e };
  });
}

/** Checks every step against the pods alive at its time. */
function checkNames(steps: readonly ScenarioStep[], raw: readonly (RawStep | null)[]): void {
  const live = new Map<string, Pod>();
  steps.forEach((step, s) => {
    const at = `${step.atNs / 1e9} s`;
    step.delete.forEach((name, i) => {
      const found = podsNamed(name, live);
      if (found.length === 0) {
        const why = `no pod or Deployment named ${JSON.stringify(name)} is alive at ${at}`;
        throw raw[s] ? raw[s]!.fields.fail(["delete", i], why) : new HypermemError(ErrorCode.Scenario, why, { pod: name });
      }
      for (const p of found) live.delete(p.key);
    });
    checkUniqueNames(step.add);
    for (const p of step.add) {
      if (live.has(p.key)) throw new HypermemError(ErrorCode.Scenario, `pod ${p.key} (${p.template.where}) is added at ${at} while a pod of that name is alive (delete it first)`, { pod: p.key });
      live.set(p.key, p);
    }
  });
}

/** Reads the pods of `input.pods` (added at time 0) and the events of `input.scenario`, checked. */
export function parseClusterScenario(input: ScenarioInput): ClusterScenario {
  rejectUnknown(input, ["pods", "scenario", "readText"], "parseClusterScenario");
  const readText = input.readText ?? ((path: string) => readFileSync(path, "utf8"));
  const initial = objectsOf((input.pods ?? []).flatMap((f) => readDocuments(f.file, f.text)));
  const events = input.scenario ? readEvents(input.scenario, readText) : [];
  const warnings = new Warnings();
  const classes = readClasses([...initial, ...events.flatMap((e) => e.objects)], warnings);
  const steps: ScenarioStep[] = [];
  const raw: (RawStep | null)[] = [];
  if (initial.length > 0) {
    steps.push({ atNs: 0, delete: [], add: readPods(initial, classes, warnings) });
    raw.push(null);
  }
  const ordered = [...events].sort((a, b) => a.atNs - b.atNs || a.order - b.order);
  for (const e of ordered) {
    steps.push({ atNs: e.atNs, delete: e.delete, add: readPods(e.objects, classes, warnings) });
    raw.push(e);
  }
  if (steps.length === 0) throw new HypermemError(ErrorCode.Scenario, "no pods: give manifests, a scenario, or both", {});
  checkNames(steps, raw);
  return Object.freeze({ steps: Object.freeze(steps), warnings });
}

/**
 * Schedules every step on the cluster's clock and runs the clock until the
 * last one has happened; `afterStep` is called as each step is done.
 */
export function runClusterScenario(cluster: Cluster, scenario: ClusterScenario, afterStep?: (step: ScenarioStep) => void): void {
  for (const step of scenario.steps) {
    cluster.clock.schedule(step.atNs, () => {
      if (step.delete.length > 0) cluster.delete(step.delete);
      if (step.add.length > 0) cluster.submit(step.add);
      afterStep?.(step);
    });
  }
  cluster.clock.runUntilIdle();
}
