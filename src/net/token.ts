// The shared token of migration connections: the secret both ends prove in
// the handshake and derive the session keys from. A token is bytes: a file
// is read as bytes (not decoded as text, which would map different binary
// files to the same replacement characters), with ASCII whitespace trimmed
// from both ends (so `openssl rand -hex 32 > token` and the same text without
// its newline agree). It must hold MIN_TOKEN_BYTES to MAX_TOKEN_BYTES bytes;
// reading stops past the limit, so a file such as /dev/zero is refused at
// once. A token file that group or others may access draws a warning, as
// ssh gives for a private key; the library hands it to the caller, which
// says it where its user looks (the CLI: stderr).
import { open } from "node:fs/promises";
import { ErrorCode, HypermemError } from "../errors.js";

/** The shortest token accepted, bytes (128 bits, when the bytes are random). */
export const MIN_TOKEN_BYTES = 16;
/** The longest token file read, bytes. */
export const MAX_TOKEN_BYTES = 4096;

export interface LoadTokenOptions {
  /** Called with each warning (a token file others may read). @default none */
  onWarning?: (message: string) => void;
}

const FLAG = "--token-file";
const HOW = "(e.g. openssl rand -hex 32 > FILE; chmod 600 FILE)";

const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

function refuse(file: string, why: string, details: Record<string, unknown> = {}): HypermemError {
  return new HypermemError(ErrorCode.BadOption, `${FLAG}: ${JSON.stringify(file)} ${why}`, { option: FLAG, file, ...details });
}

/** Bytes of `fh` up to `limit + 1` (one more than allowed tells that there is more). */
async function readAtMost(fh: Awaited<ReturnType<typeof open>>, limit: number): Promise<Uint8Array> {
  const out = new Uint8Array(limit + 1);
  let have = 0;
  while (have < out.length) {
    const { bytesRead } = await fh.read(out, have, out.length - have, null);
    if (bytesRead === 0) break;
    have += bytesRead;
  }
  return out.subarray(0, have);
}

/** Checks a token given to the library: a Uint8Array of MIN_TOKEN_BYTES..MAX_TOKEN_BYTES bytes. Returns it. */
export function checkToken(token: unknown, option = "token"): Uint8Array {
  if (!(token instanceof Uint8Array)) {
    throw new HypermemError(ErrorCode.BadOption, `${option} must be a Uint8Array of bytes, got ${token === null ? "null" : typeof token}`, { option });
  }
  if (token.length < MIN_TOKEN_BYTES || token.length > MAX_TOKEN_BYTES) {
    throw new HypermemError(ErrorCode.BadOption, `${option} holds ${token.length} bytes; a token has ${MIN_TOKEN_BYTES} to ${MAX_TOKEN_BYTES} ${HOW}`, { option, bytes: token.length });
  }
  return token;
}

/**
 * Reads the token in `file`: its bytes, ASCII whitespace trimmed from both
 * ends. Refuses (ERR_BAD_OPTION, naming the file) a file that cannot be
 * read, holds more than MAX_TOKEN_BYTES bytes, or fewer than MIN_TOKEN_BYTES
 * once trimmed. Warns through `onWarning` when group or others may access it.
 */
export async function loadToken(file: string, options: LoadTokenOptions = {}): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, "r");
  } catch (err) {
    throw new HypermemError(ErrorCode.BadOption, `${FLAG}: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { option: FLAG, file });
  }
  let bytes: Uint8Array;
  try {
    const st = await fh.stat();
    if (st.isFile() && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      options.onWarning?.(`${FLAG} ${file}: permissions ${mode} are too open: other users may read or change the token; chmod 600 ${file} (as ssh asks of private keys)`);
    }
    bytes = await readAtMost(fh, MAX_TOKEN_BYTES);
  } catch (err) {
    throw new HypermemError(ErrorCode.BadOption, `${FLAG}: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { option: FLAG, file });
  } finally {
    await fh.close();
  }
  if (bytes.length > MAX_TOKEN_BYTES) throw refuse(file, `holds more than ${MAX_TOKEN_BYTES} bytes; a token is a short secret ${HOW}`, { limit: MAX_TOKEN_BYTES });
  let start = 0;
  let end = bytes.length;
  while (start < end && isSpace(bytes[start])) start++;
  while (end > start && isSpace(bytes[end - 1])) end--;
  if (end === start) throw refuse(file, `is empty; put a shared secret in it ${HOW}`);
  if (end - start < MIN_TOKEN_BYTES) {
    throw refuse(file, `holds ${end - start} bytes once trimmed; a token needs at least ${MIN_TOKEN_BYTES} ${HOW}`, { bytes: end - start });
  }
  return Buffer.from(bytes.subarray(start, end));
}
