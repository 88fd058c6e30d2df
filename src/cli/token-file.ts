// The shared secret of a TCP migration, read from --token-file with the
// library's loadToken (trimmed, not empty); a refusal names the flag and the
// path as every option error does.
import { HypermemError } from "../errors.js";
import { loadToken } from "../net/handshake.js";
import { optionError } from "./option-error.js";

const FLAG = "--token-file";

/** The token in the file at `path`, or ERR_BAD_OPTION `--token-file PATH: why`. */
export async function readTokenFile(path: string): Promise<Uint8Array> {
  try {
    return await loadToken(path);
  } catch (err) {
    if (!(err instanceof HypermemError)) throw err;
    const lead = `${FLAG}: `;
    const why = err.message.startsWith(lead) ? err.message.slice(lead.length) : err.message;
    throw optionError(FLAG, path, why, { ...err.details }, err.code);
  }
}
