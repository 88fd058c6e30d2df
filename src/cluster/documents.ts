// Reading a YAML or JSON file into its documents with yaml (eemeli/yaml, YAML
// 1.2: JSON is valid YAML, `yes` stays a string), keeping each document's
// source ranges and a line counter so later errors can name a line. A syntax
// error is the file kind's typed error with the line and column; empty
// documents (a trailing `---`) are skipped.
import { LineCounter, parseAllDocuments } from "yaml";
import { ErrorCode, HypermemError } from "../errors.js";
import type { DocumentSource } from "./source.js";

/** A document's source and its value as plain JavaScript. */
export interface ParsedDocument {
  readonly source: DocumentSource;
  readonly value: unknown;
}

/** Aliases a document may expand (a YAML "billion laughs" stops here). */
const MAX_ALIASES = 1000;

/** The non-empty documents of `text` (file `file`). */
export function readDocuments(file: string, text: string, code: ErrorCode = ErrorCode.Manifest): ParsedDocument[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const documents = Array.isArray(parsed) ? parsed : [];
  const out: ParsedDocument[] = [];
  documents.forEach((document, index) => {
    const error = document.errors[0];
    if (error) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new HypermemError(code, `${file}:${line}:${col}: not valid YAML or JSON: ${error.message.split("\n")[0]}`, { file, line, column: col });
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      throw new HypermemError(code, `${file}: document ${index + 1}: ${err instanceof Error ? err.message : String(err)}`, { file });
    }
    if (value === null || value === undefined) return;
    out.push({ source: { file, index, document, lines }, value });
  });
  return out;
}
