// Reading a map of a parsed manifest field by field: each accessor checks the
// type and throws the typed error naming the object, the field and the line;
// the keys a reader never asked for are what the model ignores, reported as
// warnings when the reader is done (grouped by kind and field).
import { fieldError, genericPath, subjectLabel, whereOf, type Path, type Subject } from "./source.js";
import type { Warnings } from "./warnings.js";

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The JSON type of a value, for messages ("a list", "a string"...). */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  return `${typeof v === "string" ? "a string" : typeof v === "number" ? "a number" : `a ${typeof v}`} (${JSON.stringify(v)})`;
}

export class Fields {
  readonly subject: Subject;
  readonly path: Path;
  readonly value: Readonly<Record<string, unknown>>;
  readonly #read = new Set<string>();

  private constructor(subject: Subject, path: Path, value: Record<string, unknown>) {
    this.subject = subject;
    this.path = path;
    this.value = value;
  }

  /** A reader over `value`, which must be a map. */
  static of(subject: Subject, path: Path, value: unknown): Fields {
    if (!isMap(value)) throw fieldError(subject, path, `must be a map, got ${typeName(value)}`);
    return new Fields(subject, path, value);
  }

  /** The path of `key` (or deeper). */
  at(...rest: Path): Path { return [...this.path, ...rest]; }

  /** The error for `key` (or a path below it). */
  fail(rest: Path, why: string): Error { return fieldError(this.subject, this.at(...rest), why); }

  has(key: string): boolean { return this.value[key] !== undefined && this.value[key] !== null; }

  /** The raw value of `key` (undefined when absent or null); marks it read. */
  raw(key: string): unknown {
    this.#read.add(key);
    const v = this.value[key];
    return v === null ? undefined : v;
  }

  /** Marks keys read without using them (fields that mean nothing to the model but are expected). */
  accept(...keys: string[]): void {
    for (const k of keys) this.#read.add(k);
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw this.fail([key], `must be a string, got ${typeName(v)}`);
    return v;
  }

  requiredString(key: string): string {
    const v = this.string(key);
    if (v === undefined || v === "") throw this.fail([key], "is required");
    return v;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      throw this.fail([key], `must be an integer from ${min} to ${max}, got ${typeName(v)}`);
    }
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") throw this.fail([key], `must be true or false, got ${typeName(v)}`);
    return v;
  }

  /** The map at `key` as a reader, or null when absent. */
  map(key: string): Fields | null {
    const v = this.raw(key);
    return v === undefined ? null : Fields.of(this.subject, this.at(key), v);
  }

  /** The list at `key` (empty when absent). */
  list(key: string): readonly unknown[] {
    const v = this.raw(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw this.fail([key], `must be a list, got ${typeName(v)}`);
    return v;
  }

  /** Readers over the maps of the list at `key`. */
  maps(key: string): Fields[] {
    return this.list(key).map((item, i) => Fields.of(this.subject, this.at(key, i), item));
  }

  /** A map of strings to strings at `key` (labels, nodeSelector), or an empty one. */
  stringMap(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined) return {};
    if (!isMap(v)) throw this.fail([key], `must be a map of strings, got ${typeName(v)}`);
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== "string") throw this.fail([key, k], `must be a string (quote it: "${String(x)}"), got ${typeName(x)}`);
    }
    return { ...(v as Record<string, string>) };
  }

  /** For hypermem's own files: a key nobody read is an error naming it and the keys that exist. */
  strict(known: readonly string[]): void {
    for (const key of Object.keys(this.value)) {
      if (!this.#read.has(key)) throw this.fail([key], `unknown field (known: ${known.join(", ")})`);
    }
  }

  /** Warns about every key nobody read: "ignored spec.tolerations of pod (not modelled)". */
  done(warnings: Warnings): void {
    for (const key of Object.keys(this.value)) {
      if (this.#read.has(key) || this.value[key] === null) continue;
      warnings.add(`ignored ${genericPath(this.at(key))} of ${this.subject.kind} (not modelled)`, `${subjectLabel(this.subject)} (${whereOf(this.subject, this.at(key))})`);
    }
  }
}
