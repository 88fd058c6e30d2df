// How the command line words a refusal. Every bad value is reported the same
// way: the flag as the user typed it, the user's text, then what is wrong in
// the user's units (`--host-memory 8GiB: at most 4GiB per host (one
// WebAssembly memory)`), so the message alone says what to change.
import { ErrorCode, HypermemError } from "../errors.js";

/** The user's text in a message: bare when it is one printable ASCII word, JSON-quoted otherwise. */
export function shown(text: string): string {
  return /^[\x21-\x7e]+$/.test(text) && !text.includes('"') ? text : JSON.stringify(text);
}

/** ERR_BAD_OPTION (or `code`): `${flag} ${text}: ${why}`, with the flag and the text in the details. */
export function optionError(
  flag: string, text: string, why: string, details: Record<string, unknown> = {}, code: ErrorCode = ErrorCode.BadOption,
): HypermemError {
  return new HypermemError(code, `${flag} ${shown(text)}: ${why}`, { option: flag, value: text, ...details });
}

/**
 * A library error about the value of `flag`, re-issued with the flag and the
 * user's text in front; its code and details are kept. Anything that is not a
 * HypermemError is returned unchanged (it is a bug, reported as one).
 */
export function rewrapOptionError(flag: string, text: string, err: unknown): unknown {
  if (!(err instanceof HypermemError)) return err;
  return new HypermemError(err.code, `${flag} ${shown(text)}: ${err.message}`, { ...err.details, option: flag, value: text });
}

/** ERR_USAGE: an unknown command or flag, a missing value or argument. */
export function usageError(message: string, details: Record<string, unknown> = {}): HypermemError {
  return new HypermemError(ErrorCode.Usage, message, details);
}
