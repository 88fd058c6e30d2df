// The shared secret of a TCP migration, read from --token-file with the
// library's loadToken (bytes, trimmed, 16 to 4096 of them); a refusal names
// the flag and the path as every option error does. Warnings (a token file
// other users may read) are kept with the token for the command to print on
// stderr when it runs.
import { HypermemError } from "../errors.js";
import { loadToken } from "../net/token.js";
import { optionError } from "./option-error.js";
import type { TextSink } from "./registry.js";

const FLAG = "--token-file";

export interface TokenFile {
  readonly token: Uint8Array;
  /** Said on stderr when the command runs (permissions too open). */
  readonly warnings: readonly string[];
}

/** The token in the file at `path`, or ERR_BAD_OPTION `--token-file PATH: why`. */
export async function readTokenFile(path: string): Promise<TokenFile> {
  const warnings: string[] = [];
  try {
    const token = await loadToken(path, { onWarning: (message) => warnings.push(message) });
    return Object.freeze({ token, warnings: Object.freeze(warnings) });
  } catch (err) {
    if (!(err instanceof HypermemError)) throw err;
    const lead = `${FLAG}: `;
    const why = err.message.startsWith(lead) ? err.message.slice(lead.length) : err.message;
    throw optionError(FLAG, path, why, { ...err.details }, err.code);
  }
}

/** Writes each warning as `hypermem COMMAND: warning: ...`. */
export function printWarnings(command: string, warnings: readonly string[], stderr: TextSink): void {
  for (const w of warnings) stderr.write(`hypermem ${command}: warning: ${w}\n`);
}
