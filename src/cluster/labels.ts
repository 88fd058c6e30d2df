// Labels and selectors, with Kubernetes' meaning:
//
// - a label selector (pod affinity terms): matchLabels AND matchExpressions
//   (In, NotIn, Exists, DoesNotExist); an empty selector matches every pod, an
//   absent one matches none;
// - a node selector term (node affinity): matchExpressions (In, NotIn, Exists,
//   DoesNotExist, Gt, Lt on integers) AND matchFields (metadata.name In/NotIn);
//   an empty term matches no node; terms are ORed by the caller.
//
// NotIn and DoesNotExist match an object without the key, as in Kubernetes.
import type { Fields } from "./fields.js";
import type { Warnings } from "./warnings.js";

export type Labels = Readonly<Record<string, string>>;

export type SetOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";
export type NodeOperator = SetOperator | "Gt" | "Lt";

export interface Requirement<Op extends string = SetOperator> {
  readonly key: string;
  readonly operator: Op;
  readonly values: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels: ReadonlyArray<readonly [string, string]>;
  readonly matchExpressions: ReadonlyArray<Requirement>;
}

export interface NodeSelectorTerm {
  readonly matchExpressions: ReadonlyArray<Requirement<NodeOperator>>;
  /** Only metadata.name, as Kubernetes allows. */
  readonly matchFields: ReadonlyArray<Requirement<"In" | "NotIn">>;
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a label key ("prefix/name", name at most 63 characters), or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf("/");
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [null, key];
  if (prefix !== null && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `label key ${JSON.stringify(key)}: the prefix must be a DNS subdomain`;
  if (name.length > 63 || !NAME.test(name)) return `label key ${JSON.stringify(key)}: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  return null;
}

/** Why `value` is not a label value (at most 63 characters, may be empty), or null. */
export function labelValueProblem(value: string): string | null {
  if (value === "") return null;
  if (value.length > 63 || !NAME.test(value)) return `label value ${JSON.stringify(value)} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  return null;
}

/** Reads a labels map at `key` of `f`, every key and value checked. */
export function readLabels(f: Fields, key: string): Labels {
  const labels = f.stringMap(key);
  for (const [k, v] of Object.entries(labels)) {
    const why = labelKeyProblem(k) ?? labelValueProblem(v);
    if (why) throw f.fail([key, k], why);
  }
  return Object.freeze(labels);
}

function readRequirement<Op extends string>(f: Fields, operators: readonly Op[], warnings: Warnings): Requirement<Op> {
  const key = f.requiredString("key");
  const operator = f.requiredString("operator");
  if (!operators.includes(operator as Op)) throw f.fail(["operator"], `must be one of ${operators.join(", ")}, got ${JSON.stringify(operator)}`);
  const values = f.list("values").map((v, i) => {
    if (typeof v !== "string") throw f.fail(["values", i], `must be a string, got ${JSON.stringify(v)}`);
    return v;
  });
  const op = operator as Op;
  if ((op === "In" || op === "NotIn") && values.length === 0) throw f.fail(["values"], `must not be empty for ${op}`);
  if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) throw f.fail(["values"], `must be empty for ${op}`);
  if (op === "Gt" || op === "Lt") {
    if (values.length !== 1 || !/^-?\d+$/.test(values[0])) throw f.fail(["values"], `${op} takes exactly one integer value`);
  }
  f.done(warnings);
  return Object.freeze({ key, operator: op, values: Object.freeze(values) });
}

/** A label selector (matchLabels, matchExpressions). */
export function readLabelSelector(f: Fields, warnings: Warnings): LabelSelector {
  const matchLabels = Object.entries(readLabels(f, "matchLabels"));
  const matchExpressions = f.maps("matchExpressions").map((e) => readRequirement(e, ["In", "NotIn", "Exists", "DoesNotExist"] as const, warnings));
  f.done(warnings);
  return Object.freeze({ matchLabels: Object.freeze(matchLabels), matchExpressions: Object.freeze(matchExpressions) });
}

/** A node selector term of node affinity. */
export function readNodeSelectorTerm(f: Fields, warnings: Warnings): NodeSelectorTerm {
  const matchExpressions = f.maps("matchExpressions").map((e) => readRequirement(e, ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] as const, warnings));
  const matchFields = f.maps("matchFields").map((e) => {
    const r = readRequirement(e, ["In", "NotIn"] as const, warnings);
    if (r.key !== "metadata.name") throw e.fail(["key"], `matchFields supports only metadata.name, got ${JSON.stringify(r.key)}`);
    return r;
  });
  f.done(warnings);
  return Object.freeze({ matchExpressions: Object.freeze(matchExpressions), matchFields: Object.freeze(matchFields) });
}

function requirementMatches(r: Requirement<NodeOperator>, value: string | undefined): boolean {
  switch (r.operator) {
    case "In": return value !== undefined && r.values.includes(value);
    case "NotIn": return value === undefined || !r.values.includes(value);
    case "Exists": return value !== undefined;
    case "DoesNotExist": return value === undefined;
    case "Gt":
    case "Lt": {
      if (value === undefined || !/^-?\d+$/.test(value)) return false;
      const [have, bound] = [Number(value), Number(r.values[0])];
      return r.operator === "Gt" ? have > bound : have < bound;
    }
  }
}

/** Does `selector` select an object with `labels`? (null: matches nothing.) */
export function selectorMatches(selector: LabelSelector | null, labels: Labels): boolean {
  if (selector === null) return false;
  for (const [k, v] of selector.matchLabels) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions) if (!requirementMatches(r, labels[r.key])) return false;
  return true;
}

/** Does `term` select the node `name` with `labels`? (An empty term selects nothing.) */
export function nodeTermMatches(term: NodeSelectorTerm, name: string, labels: Labels): boolean {
  if (term.matchExpressions.length === 0 && term.matchFields.length === 0) return false;
  for (const r of term.matchExpressions) if (!requirementMatches(r, labels[r.key])) return false;
  for (const r of term.matchFields) if (!requirementMatches(r, name)) return false;
  return true;
}
