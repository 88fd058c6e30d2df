// Where a manifest value came from, for error messages that point at it:
// the file, the YAML document in it, the object (its kind and name) and the
// field path inside the object, turned into a line number through the parsed
// document's source ranges (yaml's LineCounter). Every malformed value is
// ERR_MANIFEST (or the code of the file kind: hosts, scenario) with a message
// such as
//
//   pod default/web: spec.containers[1].resources.limits.memory: "12Qi" is not a
//   Kubernetes quantity (such as 512Mi, 1Gi, 500m, 0.5 or 2e3) (web.yaml:14)
import type { Document, LineCounter } from "yaml";
import { ErrorCode, HypermemError } from "../errors.js";

/** A path into a parsed object: keys and list indices. */
export type Path = ReadonlyArray<string | number>;

/** One YAML (or JSON) document of a file. */
export interface DocumentSource {
  readonly file: string;
  /** 0-based index of the document in its file (documents are separated by `---`). */
  readonly index: number;
  readonly document: Document.Parsed;
  readonly lines: LineCounter;
}

/** The object a value belongs to: "pod default/web-0", "Deployment default/web", "host esx-1". */
export interface Subject {
  readonly kind: string;
  readonly name: string | null;
  readonly source: DocumentSource;
  /** Path of the object inside its document (a List item: ["items", 3]). */
  readonly base: Path;
  /** The error code for this kind of file. @default ERR_MANIFEST */
  readonly code?: ErrorCode;
}

/** "spec.containers[1].resources", or "(the object)" for the empty path. */
export function spellPath(path: Path): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  return out === "" ? "(the object)" : out;
}

/** The path with list indices blanked ("spec.containers[].ports"), to group warnings. */
export function genericPath(path: Path): string {
  return spellPath(path.map((p) => (typeof p === "number" ? -1 : p))).replace(/\[-1\]/g, "[]");
}

/** The 1-based line of the value at `path` of `subject` (or of its nearest present parent). */
export function lineOf(subject: Subject, path: Path): number {
  const full = [...subject.base, ...path];
  for (let n = full.length; n >= 0; n--) {
    const node = subject.source.document.getIn(full.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return subject.source.lines.linePos(node.range[0]).line;
  }
  return 1;
}

/** "web.yaml:14". */
export function whereOf(subject: Subject, path: Path = []): string {
  return `${subject.source.file}:${lineOf(subject, path)}`;
}

/** "pod default/web-0". */
export function subjectLabel(subject: Subject): string {
  return `${subject.kind} ${subject.name ?? "(unnamed)"}`;
}

/** The typed error for the value at `path` of `subject`: what, which field, why, where. */
export function fieldError(subject: Subject, path: Path, why: string): HypermemError {
  const field = spellPath(path);
  const where = whereOf(subject, path);
  return new HypermemError(subject.code ?? ErrorCode.Manifest, `${subjectLabel(subject)}: ${field}: ${why} (${where})`, {
    kind: subject.kind, name: subject.name, field, file: subject.source.file, line: lineOf(subject, path),
  });
}
