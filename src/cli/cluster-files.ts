// The files `hypermem cluster` reads: manifests, a hosts file, a scenario.
// Each is a path, or example:NAME for a file of the examples/ folder that
// ships with hypermem (so `hypermem cluster --pods example:web.yaml` works
// from any folder, on a clone or an installed package). Paths are checked
// when the flag is parsed (file-checks.ts); the text is read at once, so a
// manifest error is reported before any work, naming the file.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkInputFile } from "./file-checks.js";
import { custom, type Common } from "./option-kinds.js";
import { optionError } from "./option-error.js";

/** examples/ beside src/ (or dist/): both are two levels above this file. */
export const EXAMPLES_DIR = fileURLToPath(new URL("../../examples/", import.meta.url));
const EXAMPLE = /^example:([A-Za-z0-9][A-Za-z0-9._-]*)$/;

/** A file as read: the path (for messages and relative references), its text, and the flag and words that named it. */
export interface InputText {
  readonly file: string;
  readonly text: string;
  readonly flag: string;
  readonly given: string;
}

/** The path `text` names for `flag`: itself, or an example's path. */
export function resolveInput(flag: string, text: string): string {
  if (!text.startsWith("example:")) return text;
  const m = EXAMPLE.exec(text);
  if (m === null) throw optionError(flag, text, "example:NAME names a file of hypermem's examples/ folder, such as example:web.yaml");
  return `${EXAMPLES_DIR}${m[1]}`;
}

/** Checks and reads the file of `flag` given as `text`. */
export function readInput(flag: string, text: string): InputText {
  const path = resolveInput(flag, text);
  checkInputFile(flag, text, path);
  return Object.freeze({ file: path, text: readFileSync(path, "utf8"), flag, given: text });
}

/** A flag naming one input file (a path or example:NAME), read when parsed. */
export function inputText<const C extends Common>(c: C) {
  return custom({ ...c, placeholder: "FILE", rule: "a path, or example:NAME for a file of hypermem's examples/" }, (text, flag) => readInput(flag, text));
}

/** The last positional argument: more files, one per word (paths with spaces go through a flag). */
export function moreInputs<const C extends Common>(c: C) {
  return Object.freeze({
    ...custom({ ...c, placeholder: "FILE" }, (text, flag): InputText[] => text.split(/\s+/).filter(Boolean).map((word) => readInput(flag, word))),
    variadic: true,
  });
}
